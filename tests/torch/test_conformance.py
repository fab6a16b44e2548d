"""optimspec.torch against every golden case, through its conformance adapter.

* The whole golden tree runs through :mod:`optimspec.conformance.runner` with the
  ``optimspec.torch`` adapter (no divergence file): no case may fail or error; every invalid case
  is rejected at construction. So does every other implementation path, as its own adapter.
* Every schedule golden case that both support gives bit-identical learning rates through the
  ``optimspec.torch`` adapter and the ``transformers`` adapter (transformers 5.x is the source
  the schedules were written from).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from optimspec.conformance import compare, decode, golden, runner
from optimspec.conformance.adapters.torch_helpers import LambdaScheduleRunner
from optimspec.conformance.adapters.base import Unsupported
from optimspec.conformance.adapters.optimspec_torch import PATHS, OptimspecTorchAdapter
from optimspec.conformance.adapters.transformers_v5 import TransformersAdapter
from optimspec.reference._dtypes import round_to


@pytest.fixture(scope="module")
def golden_files() -> list[golden.GoldenFile]:
    return golden.load_all()


@pytest.fixture(scope="module")
def record(golden_files) -> runner.RunRecord:
    return runner.execute(OptimspecTorchAdapter(), golden_files, runner.Options(explain=False))


def _failing(results) -> dict[str, str]:
    return {r.id: f"{r.outcome}: {r.message}" for r in results if r.outcome in ("fail", "error")}


def test_every_applicable_golden_case_passes(record):
    counts = Counter(r.outcome for r in record.results)
    failing = _failing(record.results)
    assert not failing, f"{counts}: {failing}"
    # What is left: the TF-only algorithms (AdamWeightDecay, GradientAccumulator, the Keras
    # schedules) are unsupported; nothing is not_applicable, skipped or xfailed.
    assert set(counts) <= {"pass", "unsupported"}
    unsupported = {r.algorithm for r in record.results if r.outcome == "unsupported"}
    assert unsupported == {"adam_weight_decay", "gradient_accumulator", "create_optimizer", "polynomial_decay", "warmup"}


def test_every_invalid_case_is_rejected(record):
    invalid = [r for r in record.results if r.metric == "rejects" and r.outcome != "unsupported"]
    assert len(invalid) > 80
    assert all(r.outcome == "pass" for r in invalid), [r.id for r in invalid if r.outcome != "pass"]


@pytest.mark.parametrize("variant", [v for v in PATHS if v != "default"])
def test_every_other_path_conforms(golden_files, variant):
    """Each non-default path is an adapter of its own, covering exactly the optimizers that have it."""
    adapter = OptimspecTorchAdapter(variant)
    results = runner.run(adapter, golden_files, runner.Options(explain=False))
    ran = {r.algorithm for r in results if r.outcome != "unsupported"}
    assert ran == set(PATHS[variant])
    assert len([r for r in results if r.outcome == "pass"]) > 30 * len(ran)
    assert not _failing(results)


def test_the_torch_fused_route_passes_the_adamw_goldens_on_the_cpu(golden_files, monkeypatch):
    """AdamW's fused path hands CUDA tensors to torch's fused kernel with transformed
    hyperparameters. torch has the same kernel on the CPU, so routing CPU tensors there (and
    leaving optimspec's own kernel out) judges the transformation by every AdamW golden case. The
    one difference is the CPU kernel's own: it computes m as lerp(m, g, 1−β1), which gives inf−inf =
    NaN where m and g are both +inf; its CUDA kernel computes β1·m + (1−β1)·g, as the spec does, and
    :func:`test_every_path_passes_the_goldens_on_cuda` holds it to every case there."""
    from optimspec.torch import _kernels, adamw

    monkeypatch.setattr(adamw, "TORCH_FUSED_DEVICES", ("cpu",))
    monkeypatch.setattr(_kernels, "library", lambda: None)
    routed = []
    real = adamw._torch_fused_math
    monkeypatch.setattr(adamw, "_torch_fused_math", lambda *args: routed.append(len(args[0])) or real(*args))
    results = runner.run(OptimspecTorchAdapter(), golden_files, runner.Options(select=("optim/adamw/",), explain=False))
    assert sum(routed) > 500, "the route must have stepped the tensors"
    failing = _failing(results)
    lerp_nan = {i for i, message in failing.items() if "/nan-inf-grads-" in i and "expected inf, got nan" in message}
    assert set(failing) == lerp_nan and len(lerp_nan) == 4, failing
    assert len([r for r in results if r.outcome == "pass"]) == len(results) - 4


def test_the_torch_fused_route_leaves_a_decay_of_lr_wd_at_least_1_to_foreach():
    """torch's kernel cannot express p ← (p − s·m/(√v+ε))·(1 − lr·wd) when lr·wd >= 1 (its lr_t
    would be 0 or negative): such a group is not routed."""
    from optimspec.torch.adamw import _Hyper, _torch_fused_routable

    assert _torch_fused_routable(_Hyper(0.5, 0.9, 0.999, 1e-6, 1.9, True))
    assert not _torch_fused_routable(_Hyper(0.5, 0.9, 0.999, 1e-6, 2.0, True))


@pytest.mark.parametrize("cls_name", ["AdamW", "Adafactor"])
def test_a_state_dict_that_drops_the_step_fails_the_check(golden_files, monkeypatch, cls_name):
    """The adapter resumes through state_dict()/load_state_dict() bytes after every step."""
    import optimspec.torch as impl

    cls = getattr(impl, cls_name)
    original = cls.state_dict

    def without_step(self):
        saved = original(self)
        return {**saved, "state": {i: {k: v for k, v in fields.items() if k != "step"} for i, fields in saved["state"].items()}}

    monkeypatch.setattr(cls, "state_dict", without_step)
    options = runner.Options(select=(f"optim/{cls_name.lower()}/options/",), dtypes=("float32",), explain=False)
    results = runner.run(OptimspecTorchAdapter(), golden_files, options)
    assert results and all(r.outcome in ("fail", "error") for r in results if r.metric != "rejects"), [(r.id, r.outcome) for r in results]


# --------------------------------------------------------------------------------------------------
# half precision is budgeted in ulps: two ulps off fails every case
# --------------------------------------------------------------------------------------------------

HALF = ("float16", "bfloat16")


class _TwoUlpsOffStepper:
    """optimspec.torch's stepper with every returned param moved two ulps of its dtype up."""

    def __init__(self, stepper, dtype: str) -> None:
        self.stepper, self.dtype = stepper, dtype
        self.init, self.load_state, self.export_state = stepper.init, stepper.load_state, stepper.export_state

    def step(self, grads):
        return {n: p + 2 * compare.ulp(self.dtype, p) for n, p in self.stepper.step(grads).items()}


class _TwoUlpsOffAdapter(OptimspecTorchAdapter):
    def make_optimizer(self, algorithm, hparams, param_groups, dtype):
        return _TwoUlpsOffStepper(super().make_optimizer(algorithm, hparams, param_groups, dtype), dtype)


def test_two_ulps_of_error_on_every_half_precision_adafactor_output_fails(golden_files):
    options = runner.Options(select=("optim/adafactor/",), dtypes=HALF, explain=False)
    honest = [r for r in runner.run(OptimspecTorchAdapter(), golden_files, options) if r.dtype in HALF]
    off = [r for r in runner.run(_TwoUlpsOffAdapter(), golden_files, options) if r.dtype in HALF]
    assert len(off) >= 16 and all(r.outcome == "pass" for r in honest), _failing(honest)
    assert [r.id for r in off if r.outcome != "fail"] == [], "2 ulps off must fail every half-precision Adafactor case"
    assert all("ulp" in r.message for r in off), [r.message for r in off]


class _StateAsStepper:
    """optimspec.torch's stepper exporting its state arrays through ``transform``."""

    def __init__(self, stepper, transform) -> None:
        self.stepper, self.transform = stepper, transform
        self.init, self.load_state, self.step = stepper.init, stepper.load_state, stepper.step

    def export_state(self):
        return {n: {k: v if isinstance(v, int) else self.transform(v) for k, v in f.items()} for n, f in self.stepper.export_state().items()}


def _state_as(transform):
    class Adapter(OptimspecTorchAdapter):
        def make_optimizer(self, algorithm, hparams, param_groups, dtype):
            return _StateAsStepper(super().make_optimizer(algorithm, hparams, param_groups, dtype), transform)

    return Adapter()


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("algorithm", ["adamw", "adafactor"])
def test_state_kept_in_the_half_dtype_fails(golden_files, dtype, algorithm):
    """Half params keep float32 state: moments rounded to the param's dtype fail, and say why."""
    options = runner.Options(select=(f"optim/{algorithm}/half/",), dtypes=(dtype,), explain=False)
    results = [r for r in runner.run(_state_as(lambda v: round_to(dtype, v)), golden_files, options) if r.dtype == dtype]
    assert results and all(r.outcome == "fail" and f"the state is kept in {dtype}" in r.message for r in results), [(r.id, r.message) for r in results]


# --------------------------------------------------------------------------------------------------
# schedules: bit-identical to the transformers adapter
# --------------------------------------------------------------------------------------------------


def _schedule_cases() -> list[runner.Case]:
    return [c for c in runner.iter_cases(golden.load_all()) if c.kind == "schedule" and not c.invalid]


SCHEDULE_CASES = _schedule_cases()
OURS, THEIRS = OptimspecTorchAdapter(), TransformersAdapter()
BOTH = set(OURS.capabilities().algorithms) & set(THEIRS.capabilities().algorithms)


def _values(adapter, case: runner.Case) -> np.ndarray | None:
    try:
        schedule = adapter.make_schedule(case.algorithm, case.hparams())
    except Unsupported:
        return None
    return np.asarray(schedule.values(decode.schedule_inputs(case)), dtype=np.float64)


def _bits(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.uint64)


def test_jumping_over_long_gaps_gives_the_walked_values():
    """The LambdaLR runners jump gaps longer than max_walk; walking every step gives the same bits."""
    for case_id in ("sched/cosine/boundaries/w100-t1000", "sched/polynomial/boundaries/w100-t1000"):
        case = next(c for c in SCHEDULE_CASES if c.id == case_id)
        build = OURS.make_schedule(case.algorithm, case.hparams()).build
        steps = decode.schedule_inputs(case)
        jumped = LambdaScheduleRunner(build, max_walk=0).values(steps)
        walked = LambdaScheduleRunner(build, max_walk=10**9).values(steps)
        assert max(steps) >= 2000 and (_bits(jumped) == _bits(walked)).all()


def test_both_adapters_cover_every_transformers_schedule():
    assert set(THEIRS.capabilities().algorithms) <= set(OURS.capabilities().algorithms)
    assert len([c for c in SCHEDULE_CASES if c.algorithm in BOTH]) > 150


@pytest.mark.filterwarnings("ignore:Both num_training_steps and num_stable_steps")
@pytest.mark.parametrize("case", [c for c in SCHEDULE_CASES if c.algorithm in BOTH], ids=lambda c: c.id)
def test_schedule_values_bit_identical_to_transformers(case):
    ours, theirs = _values(OURS, case), _values(THEIRS, case)
    assert ours is not None and theirs is not None
    assert ours.shape == theirs.shape
    same = (_bits(ours) == _bits(theirs)) | (np.isnan(ours) & np.isnan(theirs))
    assert same.all(), (np.argwhere(~same)[:5].tolist(), ours[~same][:5], theirs[~same][:5])
