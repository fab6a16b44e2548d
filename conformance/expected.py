"""What a case expects of an adapter: the values and the scales S of their budgets (``compare.py``).

Under the spec they are the golden values. An adapter that declares conventions of its own
(``AlgorithmSupport.variant``) is judged under them: the reference runs the case under that variant
in the same numeric context as ``optimspec golden generate`` (float64 with storage rounding to the
case dtype after every step; step schedules exact and rounded once), from the same inputs and the
same initial state, and the scales come from the reference under that variant too (a schedule's
peak is never below the case's own). The budgets (``k``) stay the case's. Expectations are cached per case object and variant, so a matrix of
adapters that declare the same conventions computes them once.

>>> declared("adamw", {"eps_placement": "after_bias_correction", "decay_order": "after_update"})
{'eps_placement': 'after_bias_correction'}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimspec.reference import registry
from optimspec.reference import run as ref
from optimspec.reference._dtypes import EPS, round_to

from . import compare, golden
from .decode import Case, checkpoints, grads, schedule_inputs

Variant = Mapping[str, str]


def declared(algorithm: str, variant: Variant | None) -> dict[str, str]:
    """The convention values of ``variant`` that differ from the spec's, in the spec's axis order
    (ValueError for an axis or value the spec does not name)."""
    spec = registry.spec(algorithm)
    defaults = spec.variant()
    return {axis: value for axis, value in spec.variant(variant).items() if value != defaults[axis]}


def describe(variant: Variant) -> str:
    """``"eps_placement=after_bias_correction, decay_order=before_update"``."""
    return ", ".join(f"{axis}={value}" for axis, value in variant.items())


# --------------------------------------------------------------------------------------------------
# scales
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scales:
    """The scale S of every compared array of one checkpoint (params and state fields)."""

    params: dict[str, np.ndarray]
    state: dict[str, dict[str, Any]]


def records(algorithm: str, state: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """State in reference field names as the reference's per-tensor ``State`` records."""
    record = registry.module(algorithm).State
    return {n: record(**f) for n, f in state.items()}


def fields(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The inverse of :func:`records`."""
    return {n: dict(zip(type(r)._fields, r)) for n, r in state.items()}


def _with_fallback(magnitudes: Scales, fallback: Callable[[np.ndarray | None, np.ndarray], np.ndarray], reference: Mapping[str, Any], expected: Mapping[str, Any]) -> Scales:
    """``magnitudes`` floored by ``fallback(reference value, expected value)`` everywhere."""
    params = {n: compare.magnitude_scale(m, fallback(reference["params"][n], expected["params"][n])) for n, m in magnitudes.params.items()}
    state: dict[str, dict[str, Any]] = {}
    for name, values in expected.get("state", {}).items():
        state[name] = {}
        for key, exp in values.items():
            if exp is None or isinstance(exp, int):
                continue
            ref_value = reference["state"].get(name, {}).get(key)
            base = np.zeros_like(np.asarray(exp, dtype=np.float64)) if ref_value is None else ref_value
            state[name][key] = compare.magnitude_scale(magnitudes.state[name][key], fallback(base, exp))
    return Scales(params, state)


def teacher_forced_scales(case: Case, before: Mapping[str, Any], after: Mapping[str, Any], step_grads: Mapping[str, Any], variant: Variant | None = None) -> Scales:
    """S of a teacher-forced step: the reference step from ``before`` (under ``variant``), run on
    magnitudes, never below ``|before| + |after − before|``."""
    params, state = ref.step_scale(case.algorithm, before["params"], step_grads, records(case.algorithm, before["state"]), case.hparams(), groups=case.param_groups(), variant=variant)
    return _with_fallback(Scales(params, fields(state)), compare.teacher_forced_scale, before, after)


def free_running_scales(case: Case, by_step: Mapping[int, Mapping[str, Any]], all_grads: Sequence[Mapping[str, Any]], variant: Variant | None = None) -> dict[int, Scales]:
    """S of each free-running checkpoint: the elementwise running maximum of the per-step magnitude
    sums along the reference trajectory (under ``variant``; an error made at any earlier step is
    carried forward), never below ``|expected| + |expected − initial|``."""
    raw = _running_magnitudes(case, by_step[0], all_grads, sorted(by_step), variant)
    return {t: _with_fallback(scales, compare.free_running_scale, by_step[0], by_step[t]) for t, scales in raw.items()}


def _running_magnitudes(case: Case, start: Mapping[str, Any], all_grads: Sequence[Mapping[str, Any]], steps: Sequence[int], variant: Variant | None) -> dict[int, Scales]:
    dtype, hparams, groups = case.group["dtype"], case.hparams(), case.param_groups()
    params, state = dict(start["params"]), records(case.algorithm, start["state"])
    running: Scales | None = None
    out: dict[int, Scales] = {}
    for t in range(1, max(steps, default=0) + 1):
        mag_params, mag_state = ref.step_scale(case.algorithm, params, all_grads[t - 1], state, hparams, groups=groups, variant=variant)
        current = Scales(mag_params, fields(mag_state))
        running = current if running is None else Scales(
            {n: np.fmax(running.params[n], v) for n, v in current.params.items()},
            {n: {f: (v if v is None or running.state[n][f] is None or np.ndim(v) == 0 else np.fmax(running.state[n][f], v)) for f, v in values.items()} for n, values in current.state.items()},
        )
        params, state = ref.optimizer_step(case.algorithm, params, all_grads[t - 1], state, hparams, groups=groups, dtype=dtype, variant=variant)
        if t in steps:
            out[t] = running
    return out


# --------------------------------------------------------------------------------------------------
# expectations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerExpectation:
    """An optimizer case under ``variant`` ({} = the spec): checkpoints by step (``{"step",
    "params", "state"}``), the gradients, and the scales of each teacher-forced step t (from
    checkpoint t − 1) and of each free-running checkpoint."""

    variant: dict[str, str]
    checkpoints: dict[int, dict[str, Any]]
    grads: list[dict[str, np.ndarray | None]]
    teacher_forced: dict[int, Scales]
    free_running: dict[int, Scales]


@dataclass(frozen=True)
class ScheduleExpectation:
    """A schedule case under ``variant``: the learning rates (rows × groups), the peak that scales
    the budget (the case's, or the variant's where larger), and the rows that must be exactly 0."""

    variant: dict[str, str]
    values: np.ndarray
    scale: float
    exact_rows: tuple[int, ...]


class _Identity:
    """A case as a cache key: the same golden case object (its raw dict and group), not an equal
    one, so cases of another golden tree never share an entry. The cache keeps the key, so the id
    of a live object is never reused while its entry exists."""

    def __init__(self, case: Case) -> None:
        self.case = case

    def __hash__(self) -> int:
        return hash((id(self.case.raw), id(self.case.group)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.case.raw is self.case.raw and other.case.group is self.case.group


CACHE_SIZE = 4096


def optimizer_expectation(case: Case, variant: Variant | None = None) -> OptimizerExpectation:
    """The case's expected checkpoints and scales under ``variant`` (cached; ``variant`` as
    :func:`declared` returns it, or any mapping the spec validates)."""
    return _optimizer_expectation(_Identity(case), tuple(declared(case.algorithm, variant).items()))


def schedule_expectation(case: Case, variant: Variant | None = None) -> ScheduleExpectation:
    """The case's expected learning rates, peak and exact rows under ``variant`` (cached)."""
    return _schedule_expectation(_Identity(case), tuple(declared(case.algorithm, variant).items()))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _optimizer_expectation(key: _Identity, variant_items: tuple[tuple[str, str], ...]) -> OptimizerExpectation:
    case, variant = key.case, dict(variant_items)
    step_grads = grads(case)
    by_step = checkpoints(case)
    if variant:
        by_step = _trajectory(case, by_step, step_grads, variant)
    teacher_forced = {t: teacher_forced_scales(case, by_step[t - 1], by_step[t], step_grads[t - 1], variant) for t in by_step if t >= 1 and t - 1 in by_step}
    return OptimizerExpectation(variant, by_step, step_grads, teacher_forced, free_running_scales(case, by_step, step_grads, variant))


def _trajectory(case: Case, golden_checkpoints: Mapping[int, Mapping[str, Any]], step_grads: Sequence[Mapping[str, Any]], variant: Variant) -> dict[int, dict[str, Any]]:
    """The case's checkpoints recomputed under ``variant``, from its initial params and state (so a
    case that starts from a stored state starts from it here too), as generation computes them."""
    start = golden_checkpoints[0]
    params, state = dict(start["params"]), records(case.algorithm, start["state"])
    out = {0: {"step": 0, "params": params, "state": fields(state)}}
    for t in range(1, max(golden_checkpoints) + 1):
        params, state = ref.optimizer_step(
            case.algorithm, params, step_grads[t - 1], state, case.hparams(), groups=case.param_groups(), variant=variant, dtype=case.group["dtype"]
        )
        if t in golden_checkpoints:  # params as arrays (the reference gives 0-d ones as floats), as decoded
            out[t] = {"step": t, "params": {n: np.asarray(p, dtype=np.float64) for n, p in params.items()}, "state": fields(state)}
    return out


def schedule_eps(case: Case, schedule_dtype: str) -> float:
    """The ε of a schedule's budget: the coarser of the case's dtype and the one the adapter computes
    schedules in (``Capabilities.schedule_dtype``)."""
    return max(EPS[case.group["dtype"]], EPS[schedule_dtype])


@functools.lru_cache(maxsize=CACHE_SIZE)
def _schedule_expectation(key: _Identity, variant_items: tuple[tuple[str, str], ...]) -> ScheduleExpectation:
    case, variant = key.case, dict(variant_items)
    if not variant:
        values = golden.decode_tensor(case.raw["expected"])
        return ScheduleExpectation(variant, values, float(case.raw["scale"]), tuple(case.raw["exact_rows"]))
    exact = ref.schedule_values(case.algorithm, schedule_inputs(case), case.hparams(), variant=variant)
    finite = exact[np.isfinite(exact)]
    # the case's peak, or the variant's where it is larger: a clamped cosine sampled past T is ≈1e-32
    # throughout, and an lr of 1e-32 is not the magnitude of that schedule
    peak = max(float(case.raw["scale"]), float(np.max(np.abs(finite))) if finite.size else 0.0)
    zero_rows = tuple(i for i, row in enumerate(exact) if all(v == 0.0 for v in row))
    return ScheduleExpectation(variant, round_to(case.group["dtype"], exact), peak, zero_rows)
