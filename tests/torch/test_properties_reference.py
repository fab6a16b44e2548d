"""optimspec.torch against the in-process reference (``optimspec.reference.run``), on generated inputs.

Optimizers: random shapes (0-D to 4-D), hyperparameters, dtypes and step counts; every param and
state field after every step is compared with the reference trajectory in the same storage dtype,
under the goldens' metric ``|a − e| ≤ k·ε·S`` with ``k = k0 + growth·t``: 8 + 2t for both dtypes
(the goldens' float32 budget; tighter than their float64 32 + 4t). ``S`` is the reference's magnitude scale of each step (``run.step_scale``: the
sum of the magnitudes of the terms the step combines, never below ``|prev| + |e − prev|``), carried
as a running maximum along the trajectory, so a value that cancels (an EMA of gradients of
opposite sign) is judged against the size of what cancelled.

Schedules: every LambdaLR schedule against ``run.schedule_values`` (correctly rounded) within
4 ε·peak (times 1 + |cosine argument| for the cosine rows); ReduceLROnPlateau and GreedyLR bit for
bit (the reference runs them in float64 in the spec's float order).

Derandomized and small (the ``optimspec-torch`` profile with fewer examples): the same examples on
every run.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optimspec.torch as ot
from optimspec.conformance import compare
from optimspec.reference import run as ref
from optimspec.reference._dtypes import EPS, round_to

OPTIMIZER_EXAMPLES = settings(settings.get_profile("optimspec-torch"), max_examples=80)
SCHEDULE_EXAMPLES = settings(settings.get_profile("optimspec-torch"), max_examples=150)

# (k0, growth per step): float32 the goldens'; float64 tighter than their 32 + 4t (measured < 4)
BUDGET = {"float64": (8.0, 2.0), "float32": (8.0, 2.0)}
TORCH_DTYPE = {"float64": torch.float64, "float32": torch.float32}
SCHEDULE_K = 4.0  # ε(float64)·peak

# --------------------------------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=4).map(tuple)


@st.composite
def problems(draw: Any) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]], str]:
    """(params, grads per step, dtype): one or two tensors, values already in the dtype."""
    dtype = draw(st.sampled_from(("float64", "float32")))
    tensor_shapes = draw(st.lists(shapes, min_size=1, max_size=2))
    steps = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    grad_scale = draw(st.sampled_from((1e-4, 1.0, 30.0)))
    params = {f"p{i}": round_to(dtype, rng.normal(size=s)) for i, s in enumerate(tensor_shapes)}
    grads = []
    for _ in range(steps):
        step = {}
        for name, p in params.items():
            g = rng.normal(size=p.shape) * grad_scale
            if draw(st.booleans()) and p.size > 1:  # some exact zeros
                g = np.where(rng.random(p.shape) < 0.3, 0.0, g)
            step[name] = round_to(dtype, g)
        grads.append(step)
    return params, grads, dtype


adamw_hparams = st.fixed_dictionaries(
    {
        "lr": st.floats(1e-4, 0.1),
        "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.5, 0.9999)),
        "eps": st.sampled_from((1e-8, 1e-6, 1e-3)),
        "weight_decay": st.one_of(st.just(0.0), st.floats(0.0, 0.2)),
        "correct_bias": st.booleans(),
    }
)


@st.composite
def adafactor_hparams(draw: Any) -> dict[str, Any]:
    hp: dict[str, Any] = {"relative_step": draw(st.booleans()), "scale_parameter": draw(st.booleans())}
    if hp["relative_step"]:
        hp["warmup_init"] = draw(st.booleans())
    else:
        hp["lr"] = draw(st.floats(1e-4, 0.1))
    hp["beta1"] = draw(st.one_of(st.none(), st.floats(0.0, 0.95)))
    hp["weight_decay"] = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.1)))
    hp["clip_threshold"] = draw(st.sampled_from((1.0, 0.5, 2.0, 1e3)))  # the spec has no inf (no clipping)
    hp["decay_rate"] = draw(st.sampled_from((-0.8, -0.5, -1.0, 0.0)))
    hp["eps"] = draw(st.sampled_from(((1e-30, 1e-3), (1e-20, 1e-2))))
    return hp


def _run_impl(cls: type, hparams: dict[str, Any], params: dict[str, np.ndarray], grads: list[dict[str, np.ndarray]], dtype: str):
    """Params and state (as float64 NumPy, reference field names) after each step."""
    tensors = {n: torch.tensor(p, dtype=TORCH_DTYPE[dtype], requires_grad=True) for n, p in params.items()}
    optimizer = cls(list(tensors.values()), **hparams)
    snapshots = []
    for step in grads:
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(step[name], dtype=TORCH_DTYPE[dtype])
        optimizer.step()
        state = {}
        for name, tensor in tensors.items():
            native = optimizer.state[tensor]
            state[name] = {k: v if isinstance(v, int) else _float64(v) for k, v in native.items()}
        snapshots.append(({n: t.detach().double().numpy().copy() for n, t in tensors.items()}, state))
    return snapshots


def _float64(value: Any) -> np.ndarray:
    """A state value (a tensor, or a Python float such as the fused path's ``RMS``) as float64."""
    if isinstance(value, torch.Tensor):
        return value.detach().double().numpy().copy()
    return np.asarray(value, dtype=np.float64)


def _fields(record: Any) -> dict[str, Any]:
    """A reference State record's fields the tensor uses (None and empty arrays dropped)."""
    return {k: v for k, v in record._asdict().items() if v is not None and not (isinstance(v, np.ndarray) and v.shape == (0,))}


def _check_against_reference(algorithm: str, cls: type, hparams: dict[str, Any], problem) -> None:
    params, grads, dtype = problem
    eps = EPS[dtype]
    k0, growth = BUDGET[dtype]
    trajectory = ref.optimizer_trajectory(algorithm, params, grads, hparams, dtype=dtype)
    actual = _run_impl(cls, hparams, params, grads, dtype)
    scale: dict[str, np.ndarray] = {}  # running max of the per-step magnitude scale, per value
    for t in range(1, len(grads) + 1):
        before, after = trajectory[t - 1], trajectory[t]
        magnitudes, state_magnitudes = ref.step_scale(algorithm, before.params, grads[t - 1], before.state, hparams)
        got_params, got_state = actual[t - 1]
        k = k0 + growth * t
        checks = []
        for name in params:
            checks.append((f"params[{name}]", got_params[name], after.params[name], magnitudes[name], before.params[name]))
            expected_state, previous_state = _fields(after.state[name]), _fields(before.state[name])
            state_mags = _fields(state_magnitudes[name])
            assert set(got_state[name]) == set(expected_state), (name, set(got_state[name]), set(expected_state))
            for field, expected in expected_state.items():
                if isinstance(expected, int):
                    assert got_state[name][field] == expected, (name, field, t)
                    continue
                previous = previous_state.get(field, np.zeros_like(np.asarray(expected)))
                checks.append((f"state[{name}].{field}", got_state[name][field], expected, state_mags[field], previous))
        for where, got, expected, magnitude, previous in checks:
            step_scale = compare.magnitude_scale(magnitude, compare.teacher_forced_scale(previous, expected))
            scale[where] = np.maximum(scale.get(where, step_scale), step_scale)
            result = compare.compare(np.asarray(got), np.asarray(expected), scale[where], eps, k)
            assert result.passed, f"{where} at step {t} ({dtype}, {hparams}): {result.describe()}"


@OPTIMIZER_EXAMPLES
@given(hparams=adamw_hparams, problem=problems(), impl=st.sampled_from(ot.AdamW.IMPLS))
def test_adamw_matches_the_reference(hparams, problem, impl):
    def adamw(params: list[torch.Tensor], **kwargs: Any) -> ot.AdamW:
        return ot.AdamW(params, impl=impl, **kwargs)

    _check_against_reference("adamw", adamw, hparams, problem)


@OPTIMIZER_EXAMPLES
@given(hparams=adafactor_hparams(), problem=problems(), impl=st.sampled_from(ot.Adafactor.IMPLS))
def test_adafactor_matches_the_reference(hparams, problem, impl):
    def adafactor(params: list[torch.Tensor], **kwargs: Any) -> ot.Adafactor:
        return ot.Adafactor(params, impl=impl, **kwargs)

    _check_against_reference("adafactor", adafactor, hparams, problem)


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------

counts = st.integers(0, 40)


@st.composite
def lambda_schedules(draw: Any) -> tuple[str, dict[str, Any]]:
    """A LambdaLR schedule name and in-domain hyperparameters (reference names)."""
    name = draw(
        st.sampled_from(
            (
                "constant",
                "constant_with_warmup",
                "linear",
                "cosine",
                "cosine_with_restarts",
                "polynomial",
                "inverse_sqrt",
                "cosine_with_min_lr",
                "cosine_warmup_with_min_lr",
                "warmup_stable_decay",
            )
        )
    )
    lr = draw(st.floats(1e-5, 10.0))
    hp: dict[str, Any] = {"lr": lr}
    if name != "constant":
        hp["num_warmup_steps"] = draw(counts)
    if draw(st.booleans()):
        hp["group_lrs"] = draw(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=3))
    if name not in ("constant", "constant_with_warmup", "inverse_sqrt", "warmup_stable_decay"):
        hp["num_training_steps"] = draw(st.integers(1, 80))
    if name in ("cosine", "cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        hp["num_cycles"] = draw(st.floats(0.0, 3.0))
    if name == "cosine_with_restarts":
        hp["num_cycles"] = draw(st.one_of(st.integers(0, 4), st.floats(0.0, 4.0)))
    if name == "polynomial":
        if hp["num_training_steps"] == hp["num_warmup_steps"]:
            hp["num_training_steps"] += 1
        hp["lr_end"] = lr * draw(st.floats(0.0, 0.9))
        hp["power"] = draw(st.floats(0.0, 3.0))
    if name == "inverse_sqrt" and draw(st.booleans()):
        hp["timescale"] = draw(st.integers(1, 50))
    if name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        if draw(st.booleans()):
            hp["min_lr_rate"] = draw(st.floats(0.0, 1.0))
        else:
            hp["min_lr"] = lr * draw(st.floats(0.0, 1.0))
    if name == "cosine_warmup_with_min_lr" and draw(st.booleans()):
        hp["warmup_lr_rate"] = draw(st.floats(0.0, 1.0))
    if name == "warmup_stable_decay":
        hp["num_decay_steps"] = draw(counts)
        if draw(st.booleans()):
            hp["num_stable_steps"] = draw(counts)
        else:
            hp["num_training_steps"] = draw(st.integers(1, 100))
        hp["warmup_type"] = draw(st.sampled_from(ot.schedules.WSD_SHAPES))
        hp["decay_type"] = draw(st.sampled_from(ot.schedules.WSD_SHAPES))
        hp["min_lr_ratio"] = draw(st.floats(0.0, 1.0))
        hp["num_cycles"] = draw(st.floats(0.0, 2.0))
    return name, hp


def _optimizer(hp: dict[str, Any]) -> torch.optim.Optimizer:
    lrs = hp.get("group_lrs") or [hp["lr"]]
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": g} for g in lrs]
    return torch.optim.SGD(groups, lr=hp["lr"])


def _scheduler(name: str, optimizer: torch.optim.Optimizer, hp: dict[str, Any]) -> Any:
    specific = {k: v for k, v in hp.items() if k not in ("lr", "group_lrs", "num_warmup_steps", "num_training_steps")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # WSD given both S and T
        return ot.get_scheduler(
            name, optimizer, hp.get("num_warmup_steps"), hp.get("num_training_steps"), scheduler_specific_kwargs=specific
        )


def _cosine_argument(name: str, hp: dict[str, Any], t: int) -> float:
    """|argument| of the cosine a schedule evaluates at step t (0 for the others).

    transformers' float formula (which optimspec.torch keeps bit for bit) rounds the argument
    π·nc·2·progress before the cosine, an error of a few ε·|argument|, and the progress is not
    clamped past T; so the scale of a cosine row is peak·(1 + |argument|) rather than the peak.
    """
    nc = hp.get("num_cycles", 0.5)
    warmup, total = hp.get("num_warmup_steps", 0), hp.get("num_training_steps", 1)
    if name in ("cosine", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "cosine_with_restarts"):
        shift = 1 if name == "cosine_warmup_with_min_lr" else 0
        progress = max(0, t - warmup + shift) / max(1, total - warmup)
        return math.pi * nc * progress * (1 if name == "cosine_with_restarts" else 2)
    if name == "warmup_stable_decay":
        return math.pi * (1 + 2 * nc)  # progress <= 1 in both phases
    return 0.0


def _assert_close(actual: np.ndarray, expected: np.ndarray, what: str, condition: np.ndarray | float = 0.0) -> None:
    finite = expected[np.isfinite(expected)]
    peak = float(np.max(np.abs(finite))) if finite.size else 0.0
    scale = peak * (1.0 + np.asarray(condition, dtype=np.float64).reshape(-1, *([1] * (expected.ndim - 1))))
    result = compare.compare(actual, expected, scale, EPS["float64"], SCHEDULE_K)
    assert result.passed, f"{what}: {result.describe()}"


@SCHEDULE_EXAMPLES
@given(schedule=lambda_schedules(), horizon=st.integers(1, 200))
def test_lambda_schedules_match_the_reference(schedule, horizon):
    name, hp = schedule
    optimizer = _optimizer(hp)
    scheduler = _scheduler(name, optimizer, hp)
    rows = []
    for _ in range(horizon):
        rows.append([float(g["lr"]) for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    expected = ref.schedule_values(name, list(range(horizon)), hp)
    condition = [_cosine_argument(name, hp, t) for t in range(horizon)]
    _assert_close(np.array(rows), expected, f"{name} {hp}", condition)


metrics = st.lists(st.sampled_from((1.0, 0.9, 0.99, 0.999, 1.1, 0.5, 2.0)), min_size=1, max_size=60)


@SCHEDULE_EXAMPLES
@given(
    name=st.sampled_from(("reduce_lr_on_plateau", "greedy")),
    values=metrics,
    lr=st.floats(1e-3, 1.0),
    options=st.fixed_dictionaries(
        {"mode": st.sampled_from(("min", "max")), "threshold_mode": st.sampled_from(("rel", "abs"))},
        optional={
            "factor": st.floats(0.1, 0.9),
            "patience": st.integers(0, 3),
            "threshold": st.sampled_from((0.0, 1e-4, 0.05)),
            "cooldown": st.integers(0, 3),
            "eps": st.sampled_from((0.0, 1e-8)),
        },
    ),
    greedy_only=st.fixed_dictionaries(
        {},
        optional={
            "warmup": st.integers(0, 3),
            "max_lr": st.floats(1.0, 4.0),
            "min_lr": st.floats(0.0, 1e-3),
            "smooth": st.booleans(),
            "window_size": st.integers(1, 5),
            "reset_start": st.integers(0, 4),
        },
    ),
)
def test_metric_schedules_match_the_reference(name, values, lr, options, greedy_only):
    hp = {"lr": lr, **options, **(greedy_only if name == "greedy" else {})}
    optimizer = _optimizer(hp)
    scheduler = _scheduler(name, optimizer, hp)
    rows = []
    for value in values:
        scheduler.step(value)
        rows.append([float(g["lr"]) for g in optimizer.param_groups])
    expected = ref.schedule_values(name, values, hp)
    result = compare.compare(np.array(rows), expected, 0.0, EPS["float64"], 0.0, exact=True)
    assert result.passed, f"{name} {hp}: {result.describe()}"
