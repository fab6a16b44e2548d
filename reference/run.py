"""Drivers that run a reference algorithm the way a framework would: over named tensors in param
groups, with storage rounding to the target dtype after every step.

The formulas live in the algorithm modules; this file only sequences them.

Optimizer modules provide::

    SPEC: AlgorithmSpec
    State: NamedTuple                                         # the per-tensor state record
    init(param, hp, nx) -> State
    update(param, grad, state, hp, variant, nx, name) -> (param, State)
    state_dtype(param_dtype) -> str                           # optional; default: the param dtype
    transform_grads(grads, hparams_by_name, nx) -> grads      # optional: before the updates (clipping)

Step schedules provide ``multiplier(t, hp, variant, nx) -> λ`` (lr_g = group_lr_g · λ, LambdaLR
style) or ``learning_rate(t, hp, variant, nx) -> lr`` (Keras style, one value). Stateful schedules
provide ``run(inputs, hp, variant, nx) -> rows`` (one row of group lrs per input).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import registry
from ._dtypes import round_to
from ._numeric import FLOAT64, MAGNITUDE, NumericContext, exact

Tensors = dict[str, np.ndarray]


@dataclass(frozen=True)
class Snapshot:
    """Params and per-tensor state after ``step`` optimizer steps (step 0 = initial)."""

    step: int
    params: Tensors
    state: dict[str, Any]  # name -> State record (float64 arrays, ints)


def _state_dtype(algorithm: str, dtype: str) -> str:
    module = registry.module(algorithm)
    chooser = getattr(module, "state_dtype", None)
    return chooser(dtype) if chooser else dtype


def _store(value: Any, dtype: str, nx: NumericContext) -> Any:
    """Round a computed value to what a ``dtype`` tensor holds; ints (counters) and None (a state
    field the tensor does not use) pass unchanged."""
    if value is None or isinstance(value, (bool, int, np.integer)):
        return value
    stored = round_to(dtype, nx.to_float64(value))
    return stored if np.ndim(value) else float(stored)


def _store_state(state: Any, dtype: str, nx: NumericContext) -> Any:
    return type(state)(*(_store(v, dtype, nx) for v in state))


def _lift_state(state: Any, nx: NumericContext) -> Any:
    def lift(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, np.integer)):
            return v
        return nx.array(v) if np.ndim(v) else nx.scalar(v)

    return type(state)(*(lift(v) for v in state))


def group_hparams(algorithm: str, hparams: Mapping[str, Any], groups: Sequence[Mapping[str, Any]] | None, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Resolved hyperparameters per tensor name. ``groups``: [{"params": [names], "hparams": {...}}]."""
    spec = registry.spec(algorithm)
    if not groups:
        resolved = spec.resolve(hparams)
        return {n: resolved for n in names}
    out: dict[str, dict[str, Any]] = {}
    for group in groups:
        resolved = spec.resolve({**hparams, **group.get("hparams", {})})
        for n in group["params"]:
            out[n] = resolved
    missing = [n for n in names if n not in out]
    if missing:
        raise ValueError(f"params {missing} belong to no param group")
    return out


def init_state(algorithm: str, params: Tensors, hparams: Mapping[str, Any], groups: Sequence[Mapping[str, Any]] | None = None, dtype: str = "float64") -> dict[str, Any]:
    module = registry.module(algorithm)
    per_name = group_hparams(algorithm, hparams, groups, list(params))
    sdtype = _state_dtype(algorithm, dtype)
    return {n: _store_state(module.init(np.asarray(p, dtype=np.float64), per_name[n], FLOAT64), sdtype, FLOAT64) for n, p in params.items()}


def optimizer_step(
    algorithm: str,
    params: Tensors,
    grads: Mapping[str, np.ndarray | None],
    state: Mapping[str, Any],
    hparams: Mapping[str, Any],
    *,
    groups: Sequence[Mapping[str, Any]] | None = None,
    variant: Mapping[str, str] | None = None,
    dtype: str = "float64",
    nx: NumericContext = FLOAT64,
) -> tuple[Tensors, dict[str, Any]]:
    """One optimizer step over every named tensor; a tensor whose grad is None is left alone."""
    module = registry.module(algorithm)
    conv = module.SPEC.variant(variant)
    per_name = group_hparams(algorithm, hparams, groups, list(params))
    sdtype = _state_dtype(algorithm, dtype)
    new_params: Tensors = {}
    new_state: dict[str, Any] = {}
    with nx.precision(), np.errstate(all="ignore"):  # NaN/inf inputs propagate by IEEE rules
        present = {n: nx.array(g) for n, g in grads.items() if g is not None and n in params}
        transform = getattr(module, "transform_grads", None)
        if transform is not None and present:
            present = transform(present, {n: per_name[n] for n in present}, nx)
        for name, param in params.items():
            if name not in present:
                new_params[name], new_state[name] = np.array(param, dtype=np.float64), state[name]
                continue
            p, s = module.update(
                nx.array(param), present[name], _lift_state(state[name], nx), per_name[name], conv, nx, name
            )
            new_params[name] = _store(p, dtype, nx)
            new_state[name] = _store_state(s, sdtype, nx)
    return new_params, new_state


def step_scale(
    algorithm: str,
    params: Tensors,
    grads: Mapping[str, np.ndarray | None],
    state: Mapping[str, Any],
    hparams: Mapping[str, Any],
    *,
    groups: Sequence[Mapping[str, Any]] | None = None,
    variant: Mapping[str, str] | None = None,
) -> tuple[Tensors, dict[str, Any]]:
    """The scale S of a teacher-forced check: the same step run on magnitudes, so every term the
    formula combines adds up instead of cancelling (``docs/design.md``, "Tolerance": S is the
    sum of the magnitudes of the terms combined). Returns magnitudes for the params and for each state field."""
    return optimizer_step(algorithm, params, grads, state, hparams, groups=groups, variant=variant, nx=MAGNITUDE)


def optimizer_trajectory(
    algorithm: str,
    params: Tensors,
    grads: Sequence[Mapping[str, np.ndarray | None]],
    hparams: Mapping[str, Any],
    *,
    groups: Sequence[Mapping[str, Any]] | None = None,
    variant: Mapping[str, str] | None = None,
    dtype: str = "float64",
    nx: NumericContext = FLOAT64,
    start_step: int = 0,
) -> list[Snapshot]:
    """Snapshots after 0, 1, …, len(grads) steps, starting from ``init`` (with its step counter
    set to ``start_step``)."""
    current = {n: round_to(dtype, np.asarray(p, dtype=np.float64)) for n, p in params.items()}
    state = init_state(algorithm, current, hparams, groups, dtype)
    if start_step:
        state = {n: s._replace(step=start_step) for n, s in state.items()}
    snapshots = [Snapshot(0, current, state)]
    for k, step_grads in enumerate(grads, start=1):
        current, state = optimizer_step(
            algorithm, current, step_grads, state, hparams, groups=groups, variant=variant, dtype=dtype, nx=nx
        )
        snapshots.append(Snapshot(k, current, state))
    return snapshots


# ----------------------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------------------

SCHEDULE_PREC = 256  # bits: step schedules are evaluated exactly at this precision, then rounded once
ORACLE_PREC = 512


def is_step_schedule(algorithm: str) -> bool:
    module = registry.module(algorithm)
    return hasattr(module, "multiplier") or hasattr(module, "learning_rate")


def schedule_values(
    algorithm: str,
    inputs: Sequence[Any],
    hparams: Mapping[str, Any],
    *,
    variant: Mapping[str, str] | None = None,
    nx: NumericContext | None = None,
) -> np.ndarray:
    """Learning rates, one row per input (a step, or a metric for stateful schedules), one column
    per param group.

    Step schedules are evaluated exactly (``exact(SCHEDULE_PREC)``) and rounded once, so goldens are
    the correctly rounded values; stateful schedules run in float64 in the spec's own float order,
    because their decisions (is the metric better?) depend on it.
    """
    module = registry.module(algorithm)
    conv = module.SPEC.variant(variant)
    hp = module.SPEC.resolve(hparams)
    if is_step_schedule(algorithm):
        ctx = nx or exact(SCHEDULE_PREC)
        offset = int(conv.get("step_offset", "0"))
        rows = []
        with ctx.precision():
            for t in inputs:
                rows.append(_step_schedule_row(module, t + offset, hp, conv, ctx))
        return np.array(rows, dtype=np.float64)
    ctx = nx or FLOAT64
    with ctx.precision():
        rows = module.run(list(inputs), hp, conv, ctx)
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


def _step_schedule_row(module: Any, t: int, hp: Mapping[str, Any], conv: Mapping[str, str], nx: NumericContext) -> list[float]:
    if hasattr(module, "learning_rate"):
        return [float(module.learning_rate(t, hp, conv, nx))]
    factor = module.multiplier(t, hp, conv, nx)
    group_lrs = hp.get("group_lrs") or [hp["lr"]]
    return [float(nx.scalar(lr) * factor) for lr in group_lrs]
