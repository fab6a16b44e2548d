"""optimspec.tf against the spec: every applicable golden case through the conformance runner, and
property tests against the in-process reference (``optimspec.reference``).

The goldens fix the cases; the properties draw fresh ones from the spec's domains (derandomized, so
a run is reproducible), turn each into a golden-format case with the generator (expected values from
the reference, the golden files' budgets) and judge it with the runner: the same teacher-forced and
free-running checks, scales and budgets as ``optimspec check``.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimspec.conformance import divergences, generate, golden, runner
from optimspec.conformance.adapters import load
from optimspec.conformance.adapters.optimspec_tf import OptimspecTfAdapter
from optimspec.conformance.cases._build import (
    AccumulatorCase,
    AccumulatorGroup,
    OptimizerCase,
    OptimizerGroup,
    ScheduleCase,
    ScheduleGroup,
)

ALGORITHMS = ("adam_weight_decay", "gradient_accumulator", "warmup", "polynomial_decay", "create_optimizer")
PROPERTY = settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def adapter() -> OptimspecTfAdapter:
    return OptimspecTfAdapter()


@functools.cache
def golden_files() -> dict[str, golden.GoldenFile]:
    return {f.algorithm: f for f in golden.load_all()}


def _tolerance(algorithm: str, dtype: str) -> dict:
    """The budget of the algorithm's golden groups of ``dtype`` (checked to be one budget)."""
    # groups of the file's own kind ("kind" marks create_optimizer's optimizer groups in its schedule file)
    budgets = [g["tolerance"] for g in golden_files()[algorithm].data["groups"] if g["dtype"] == dtype and "kind" not in g]
    assert budgets and all(b == budgets[0] for b in budgets)
    return budgets[0]


def _judge(adapter: OptimspecTfAdapter, algorithm: str, kind: str, group: dict) -> None:
    """Run a generated golden-format group through the runner; every case must pass."""
    file = golden.GoldenFile(f"property/{algorithm}", {"algorithm": algorithm, "kind": kind, "groups": [group], "invalid": []})
    caps = adapter.capabilities()
    for group_data, raw in file.cases():
        result = runner.run_case(adapter, caps, runner.Case(file, group_data, raw), runner.Options(explain=False))
        assert result.outcome == "pass", f"{result.outcome}: {result.message} {result.diagnosis}"


# --------------------------------------------------------------------------------------------------
# the golden cases
# --------------------------------------------------------------------------------------------------


def test_builtin_name_loads_this_adapter() -> None:
    loaded = load("optimspec.tf")
    assert isinstance(loaded, OptimspecTfAdapter) and loaded.name == "optimspec.tf"
    assert divergences.shipped_file("optimspec.tf") is None  # conformant without known divergences


def test_every_applicable_golden_case_passes(adapter: OptimspecTfAdapter) -> None:
    files = golden_files()
    record = runner.execute(adapter, list(files.values()), divergences=divergences.load("optimspec.tf"))
    ours = [r for r in record.results if r.algorithm in ALGORITHMS]
    others = Counter(r.outcome for r in record.results if r.algorithm not in ALGORITHMS)
    problems = [f"{r.outcome} {r.id}: {r.message}" for r in ours if r.outcome != "pass"]
    assert not problems, "\n".join(problems)
    assert set(others) <= {"unsupported"}
    # Nothing was left out: both dtypes, both modes, the invalid cases and every kind ran.
    assert len(ours) == sum(f.data["number_of_cases"] for a, f in files.items() if a in ALGORITHMS)  # invalid ones included
    optimizer_cases = [r for r in ours if r.kind == "optimizer"]
    assert {r.dtype for r in optimizer_cases if r.metric == "scaled"} == {"float32", "float64"}
    assert all(r.modes == list(runner.MODES) for r in optimizer_cases if r.metric == "scaled")
    assert {r.kind for r in ours} == {"optimizer", "schedule", "accumulator"}
    assert "rejects" in {r.metric for r in ours} and not record.failing
    assert not [w for w in record.warnings if "cannot load state" in w]


@pytest.mark.parametrize("lost", ["weight_decay_rate", "exclude_from_weight_decay"])
def test_a_get_config_that_loses_a_setting_fails_the_check(adapter: OptimspecTfAdapter, monkeypatch: pytest.MonkeyPatch, lost: str) -> None:
    """The adapter resumes every optimizer from its serialized config and saved variables."""
    import optimspec.tf as otf

    original = otf.AdamWeightDecay.get_config
    monkeypatch.setattr(otf.AdamWeightDecay, "get_config", lambda self: {k: v for k, v in original(self).items() if k != lost})
    options = runner.Options(select=("optim/adam_weight_decay/decay-names/",), explain=False)
    results = [r for r in runner.run(adapter, list(golden_files().values()), options) if r.outcome != "unsupported"]
    assert results and any(r.outcome == "fail" for r in results), [(r.id, r.outcome) for r in results]


# --------------------------------------------------------------------------------------------------
# adam_weight_decay against the reference trajectory
# --------------------------------------------------------------------------------------------------

SHAPES = {"dense/kernel": (2, 3), "dense/bias": (3,), "encoder/LayerNorm/gamma": (3,)}


def _signed(dtype: str, low: float, high: float, zero: bool = False) -> st.SearchStrategy[float]:
    """±[low, high] in ``dtype`` (and 0.0 if ``zero``)."""
    magnitude = st.floats(low, high, width=32 if dtype == "float32" else 64)
    signed = st.tuples(magnitude, st.sampled_from([-1.0, 1.0])).map(lambda pair: pair[0] * pair[1])
    return st.one_of(st.just(0.0), signed) if zero else signed


def _tensor(draw: st.DrawFn, values: st.SearchStrategy[float], shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape))
    return np.array(draw(st.lists(values, min_size=size, max_size=size)), dtype=np.float64).reshape(shape)


@st.composite
def awd_cases(draw: st.DrawFn, dtype: str) -> tuple[dict, dict, list]:
    # |p| ≥ 0.5 and lr ≤ 1e-2 keep |Δp| ≪ |p|: the budget's scale |p| + |Δp| then covers the ~125 ε
    # a float32 step can put into 1 − βᵗ (see conformance/cases/adam_weight_decay.py, weights()).
    # Gradients are 0 or ≥ 2⁻¹⁰ in magnitude: TensorFlow flushes subnormals to zero, and a float32
    # g² that underflows (|g| < 1e-19) makes 0/0 or m/0 with ε = 0 where the spec's float64
    # intermediates do not.
    params = {name: _tensor(draw, _signed(dtype, 0.5, 3.0), shape) for name, shape in SHAPES.items()}
    grads = [
        {name: _tensor(draw, _signed(dtype, 2.0**-10, 3.0, zero=True), shape) for name, shape in SHAPES.items()}
        for _ in range(draw(st.integers(1, 5)))
    ]
    hparams = {
        "learning_rate": draw(st.floats(0.0, 1e-2)),
        "beta_1": draw(st.sampled_from([0.0, 0.5, 0.8, 0.9])),
        "beta_2": draw(st.sampled_from([0.5, 0.95, 0.99, 0.999])),
        "epsilon": draw(st.sampled_from([0.0, 1e-7, 1e-3])),
        "amsgrad": draw(st.booleans()),
        "weight_decay_rate": draw(st.sampled_from([0.0, 0.01, 0.5])),
        "include_in_weight_decay": draw(st.sampled_from([None, [], ["gamma"], ["dense/bias$"]])),
        "exclude_from_weight_decay": draw(st.sampled_from([None, ["LayerNorm", "layer_norm", "bias"], ["^dense/"]])),
    }
    if dtype == "float32":  # TF holds β in the variable dtype; the spec uses the given values exactly
        hparams["beta_1"], hparams["beta_2"] = (float(np.float32(hparams[b])) for b in ("beta_1", "beta_2"))
    return params, hparams, grads


def _check_awd(adapter: OptimspecTfAdapter, dtype: str, case: tuple[dict, dict, list]) -> None:
    params, hparams, grads = case
    budget = _tolerance("adam_weight_decay", dtype)
    group = OptimizerGroup(
        name="property",
        dtype=dtype,
        cases=[OptimizerCase(name="drawn", params=params, grads=grads, hparams=hparams)],
        teacher_forced_k=budget["teacher_forced"]["k"],
        free_running_k=budget["free_running"]["k"],
        free_running_growth=budget["free_running"]["growth_per_step"],
    )
    _judge(adapter, "adam_weight_decay", "optimizer", generate._optimizer_group("adam_weight_decay", group))


@PROPERTY
@given(case=awd_cases("float32"))
def test_adam_weight_decay_float32_follows_the_reference(adapter: OptimspecTfAdapter, case) -> None:
    _check_awd(adapter, "float32", case)


@settings(PROPERTY, max_examples=20)
@given(case=awd_cases("float64"))
def test_adam_weight_decay_float64_follows_the_reference(adapter: OptimspecTfAdapter, case) -> None:
    _check_awd(adapter, "float64", case)


# --------------------------------------------------------------------------------------------------
# schedules against the reference values
# --------------------------------------------------------------------------------------------------


def _check_schedule(adapter: OptimspecTfAdapter, algorithm: str, hparams: dict, steps: list[int]) -> None:
    """Within the goldens' budget k·ε32·peak (float32 computation; exact reference values)."""
    group = ScheduleGroup(name="property", cases=[ScheduleCase(name="drawn", hparams=hparams, steps=steps)], k=_tolerance(algorithm, "float32")["k"])
    _judge(adapter, algorithm, "schedule", generate._schedule_group(algorithm, group))


# Keras computes schedules in float32, which bounds the domain where k·ε32·peak is the right budget:
# * decay_steps ≤ 64: for power < 1, the rounding of 1 − t/D near t = D is amplified by
#   power·D^(1−power)/2 (~2.4 ε at D = 64, power ≈ 0.25); longer decays need a wider budget;
# * powers are 0 or ≥ 0.01 (well clear of float32's smallest normal): a smaller power becomes 0 in
#   float32, and pow(0, 0) = 1 where the spec's pow(0, tiny) = 0 (at t ≥ decay_steps, or t = 0 of
#   a warmup).
POWERS = st.one_of(st.just(0.0), st.floats(0.01, 4.0))


@PROPERTY
@given(
    initial=st.floats(1e-6, 1.0),
    warmup_steps=st.integers(1, 40),
    power=POWERS,
    decay_steps=st.integers(1, 64),
    end_ratio=st.floats(0.0, 2.0),
    decay_power=POWERS,
)
def test_warmup_follows_the_reference(adapter, initial, warmup_steps, power, decay_steps, end_ratio, decay_power) -> None:
    hparams = {
        "initial_learning_rate": initial, "warmup_steps": warmup_steps, "power": power,
        "decay_steps": decay_steps, "end_learning_rate": initial * end_ratio, "decay_power": decay_power,
    }
    _check_schedule(adapter, "warmup", hparams, list(range(warmup_steps + decay_steps + 3)))


@PROPERTY
@given(
    init_lr=st.floats(1e-6, 1.0),
    num_train_steps=st.integers(1, 64),
    warmup_fraction=st.floats(0.0, 1.0, exclude_max=True),
    min_lr_ratio=st.floats(0.0, 1.0),
    power=POWERS,
)
def test_create_optimizer_schedule_follows_the_reference(adapter, init_lr, num_train_steps, warmup_fraction, min_lr_ratio, power) -> None:
    hparams = {
        "init_lr": init_lr, "num_train_steps": num_train_steps, "num_warmup_steps": int(warmup_fraction * num_train_steps),
        "min_lr_ratio": min_lr_ratio, "power": power,
    }
    _check_schedule(adapter, "create_optimizer", hparams, list(range(num_train_steps + 3)))


# --------------------------------------------------------------------------------------------------
# GradientAccumulator against the reference replay
# --------------------------------------------------------------------------------------------------


@st.composite
def accumulator_events(draw: st.DrawFn, dtype: str) -> list[dict]:
    """Calls with a fixed slot layout (some slots None), wrong-count calls, resets; NaN and ±inf too.

    No subnormals: TensorFlow's CPU kernels flush them to zero (FTZ/DAZ), IEEE addition keeps them.
    """
    value = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False, width=32 if dtype == "float32" else 64)
    shapes = draw(st.lists(st.sampled_from([(), (2,), (2, 3)]), min_size=1, max_size=3))

    def gradient(shape: tuple[int, ...], none_ok: bool) -> np.ndarray | None:
        if none_ok and draw(st.booleans()):
            return None
        return _tensor(draw, value, shape)

    events: list[dict] = []
    if draw(st.booleans()):
        events.append({"reset": True})  # before the first call: a no-op
    events.append({"call": [gradient(s, none_ok=True) for s in shapes]})
    for kind in draw(st.lists(st.sampled_from(["call", "call", "call", "reset", "wrong-count"]), max_size=8)):
        if kind == "reset":
            events.append({"reset": True})
        elif kind == "call":
            events.append({"call": [gradient(s, none_ok=True) for s in shapes]})
        else:
            count = draw(st.sampled_from([len(shapes) - 1, len(shapes) + 1]))
            events.append({"call": [gradient((2,), none_ok=False) for _ in range(count)]})
    return events


def _check_accumulator(adapter: OptimspecTfAdapter, dtype: str, events: list[dict]) -> None:
    group = AccumulatorGroup(name="property", dtype=dtype, cases=[AccumulatorCase(name="drawn", events=events)])
    _judge(adapter, "gradient_accumulator", "accumulator", generate._accumulator_group("gradient_accumulator", group))


@PROPERTY
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]))
def test_gradient_accumulator_replays_like_the_reference(adapter: OptimspecTfAdapter, data: st.DataObject, dtype: str) -> None:
    _check_accumulator(adapter, dtype, data.draw(accumulator_events(dtype)))
