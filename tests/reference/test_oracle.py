"""The float64 reference against the mpmath-throughout oracle (the same code on exact numbers),
on every golden case.

* step schedules: the golden value is the correctly rounded value, so it must agree with a
  higher-precision oracle within 1 ulp;
* stateful schedules (plateau, greedy, the Adafactor read-back) run in float64 in the spec's own
  order; the oracle must agree within the case's budget, except in cases flagged ``float-order``,
  built so that float64 rounding decides (greedy's running sum, a threshold met by one ulp): there
  the oracle must disagree, which shows the flag is needed;
* optimizer steps (teacher-forced from each golden state): the unrounded float64 step must agree
  with the oracle within 1e-3 of the budget for float32 and half-precision cases. A float64 case's
  budget is itself a few dozen float64 ε, below what any float64 computation can be held to at
  1e-3 (the spec's 1 − fl(βᵗ) alone costs ~12 ε·S); there the reference must stay within half of
  the budget.
"""

from __future__ import annotations

import math

import pytest

from optimspec.conformance import compare, golden
from optimspec.conformance.decode import decode_inputs, decode_state, decode_tensors, iter_cases
from optimspec.reference import registry
from optimspec.reference import run as ref
from optimspec.reference._dtypes import EPS
from optimspec.reference._numeric import exact

FILES = golden.load_all()
CASES = [c for c in iter_cases(FILES) if not c.invalid and c.kind != "accumulator"]
ORACLE = exact(ref.ORACLE_PREC)
OPTIMIZER_ORACLE = exact(160)  # bits: far beyond float64, cheap enough for every checkpoint


def _ulp_distance(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "schedule"], ids=lambda c: c.id)
def test_schedule_agrees_with_oracle(case) -> None:
    expected = golden.decode_tensor(case.raw["expected"])
    inputs = case.raw["steps"] if "steps" in case.raw else case.raw["inputs"]
    if "inputs" in case.raw:
        inputs = decode_inputs(inputs)
    oracle = ref.schedule_values(case.algorithm, inputs, case.hparams(), nx=ORACLE)
    if ref.is_step_schedule(case.algorithm):
        worst = max(_ulp_distance(float(a), float(b)) for a, b in zip(expected.ravel(), oracle.ravel()))
        assert worst <= 1.0, f"{case.id}: {worst:g} ulp from the oracle"
    else:
        k = case.group["tolerance"]["k"]
        result = compare.compare(expected, oracle, case.raw["scale"], EPS["float64"], k)
        if "float-order" in case.raw["flags"]:
            assert not result.passed, f"{case.id}: flagged float-order, but exact arithmetic decides the same way"
        else:
            assert result.passed, f"{case.id}: {result.describe()}"


def _teacher_forced_pairs(case):
    checkpoints = {c["step"]: c for c in case.raw["checkpoints"]}
    return [(checkpoints[t - 1], t) for t in sorted(checkpoints) if t >= 1 and t - 1 in checkpoints]


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "optimizer"], ids=lambda c: c.id)
def test_optimizer_step_agrees_with_oracle(case) -> None:
    dtype = case.group["dtype"]
    k = case.group["tolerance"]["teacher_forced"]["k"]
    allowed = 0.5 * k if dtype == "float64" else 1e-3 * k * EPS[dtype] / EPS["float64"]
    module = registry.module(case.algorithm)
    grads = [decode_tensors(g) for g in case.raw["grads"]]
    worst = 0.0
    for before, t in _teacher_forced_pairs(case):
        params = decode_tensors(before["params"])
        state = {n: module.State(**f) for n, f in decode_state(before["state"]).items()}
        kwargs = dict(groups=case.param_groups(), dtype="float64")
        float64_step, _ = ref.optimizer_step(case.algorithm, params, grads[t - 1], state, case.hparams(), **kwargs)
        oracle_step, _ = ref.optimizer_step(case.algorithm, params, grads[t - 1], state, case.hparams(), nx=OPTIMIZER_ORACLE, **kwargs)
        magnitudes, _ = ref.step_scale(case.algorithm, params, grads[t - 1], state, case.hparams(), groups=case.param_groups())
        for name, value in oracle_step.items():
            scale = compare.magnitude_scale(magnitudes[name], compare.teacher_forced_scale(params[name], value))
            result = compare.compare(float64_step[name], value, scale, EPS["float64"], allowed)
            assert result.passed, f"{case.id} step {t} {name}: {result.describe()} (in float64 ε·S)"
            worst = max(worst, result.max_k)
    assert worst <= allowed
