"""The ``optax`` adapter: optax gradient transformations and schedules on jax (CPU).

float64: jax computes in float32 unless 64-bit mode is on. Every jax call of this adapter runs
inside ``jax.enable_x64(dtype == "float64")`` (the scoped form of
``jax.config.update("jax_enable_x64", True)``), so float64 cases get real float64 arrays and
float32 cases run as a default (32-bit) jax user would. Schedules run with 64-bit mode on.

What maps onto what (reference hyperparameter names on the left):

* ``adamw`` → ``optax.adamw(learning_rate=lr, b1, b2 = betas, eps, weight_decay)``: ε after bias
  correction, decay of θ_{t−1} with lr (torch's conventions), declared
  (:data:`ADAMW_CONVENTIONS`). ``correct_bias=False`` is unsupported.
* ``adafactor`` → ``optax.adafactor(learning_rate, decay_rate=−decay_rate,
  multiply_by_parameter_scale=scale_parameter, clipping_threshold=clip_threshold, momentum=beta1,
  weight_decay_rate=weight_decay, eps=eps[0])`` with optax's own ``min_dim_size_to_factor=128``
  (transformers has no such threshold and factors every ≥2-D tensor; every golden tensor is below
  it, so optax keeps a full second moment: declared ``factoring=unfactored``). ``relative_step`` becomes the schedule ρ(count) = min(1e-2, 1/√(count+1)) (or
  min(1e-6·(count+1), 1/√(count+1)) with ``warmup_init``), since optax takes the lr from outside.
  Unsupported: ``eps[1] ≠ 1e-3`` (optax fixes the parameter-scale floor). Declared: optax adds
  ``weight_decay·θ`` without any lr scaling (``weight_decay_scale=unscaled``). Kept and
  diverging: β̂2 = 1 − t^−0.8 is computed in float32.
* schedules (exact where optax has the shape): ``constant`` → ``constant_schedule``;
  ``constant_with_warmup`` → ``warmup_constant_schedule(0, lr, W)``; ``linear`` →
  ``join_schedules([linear(0→lr, W), linear(lr→0, T−W)], [W])``; ``cosine`` /
  ``cosine_with_min_lr`` (nc = 0.5) → ``warmup_cosine_decay_schedule(0, lr, W, T, end=lr·r)``
  (clamped past T: declared ``past_total=clamped``); ``cosine_with_restarts`` → a linear warmup joined to ``sgdr_schedule`` cycles
  of length (T−W)/nc (an integer); ``polynomial`` → a linear warmup joined to
  ``polynomial_schedule(lr, lr·lr_end/lr, power, T−W)``; ``reduce_lr_on_plateau`` →
  ``optax.contrib.reduce_on_plateau`` (mode "min", one floor). Unsupported: inverse_sqrt,
  cosine_warmup_with_min_lr, warmup_stable_decay, greedy, and the Keras-side schedules.
* ``gradient_accumulator`` → ``optax.MultiSteps(optax.identity(), every_k_schedule=2**30,
  use_grad_mean=False, accumulator_dtype=<the case dtype>)``: ``acc_grads`` are the sums, ``mini_step`` the step; reset re-initializes.
  A wrong gradient count fails as jax's pytree ``ValueError``. A None slot that later receives a
  gradient (or the reverse) is unsupported: optax pytrees have a fixed structure.

Teacher forcing builds the state pytree (``ScaleByAdamState`` mu/nu/count, ``FactoredState``
v_row/v_col/v/count, the EMA and schedule counts) by replacing those NamedTuple fields. optax keeps
one ``count`` per transformation, not one per tensor: a state with different steps within a group,
or a tensor without a gradient, is unsupported. Param groups become one transformation per group.
A factored state (a case that starts from transformers' stored state) loaded into a tensor optax
does not factor becomes its rank-1 reconstruction R ⊗ C / mean(R), as the reference continues it
under ``factoring=unfactored``; the full second moment is exported as ``exp_avg_sq``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .base import AlgorithmSupport, Capabilities, StateDict, Tensors, Unsupported, group_hparams, refuse_master_weights, unused, with_defaults

OPTAX_DTYPES = ("float64", "float32")
NP_DTYPES = {"float64": np.float64, "float32": np.float32}

ADAMW_CONVENTIONS = {"eps_placement": "after_bias_correction", "decay_order": "before_update"}  # optax#571
ADAFACTOR_CONVENTIONS = {"weight_decay_scale": "unscaled", "factoring": "unfactored"}  # optax#186; min_dim_size_to_factor=128
COSINE_CONVENTIONS = {"past_total": "clamped"}  # warmup_cosine_decay_schedule clamps at decay_steps

ADAMW_STATE = {"step": "count", "exp_avg": "mu", "exp_avg_sq": "nu"}
ADAFACTOR_STATE = {"step": "count", "exp_avg_sq_row": "v_row", "exp_avg_sq_col": "v_col", "exp_avg_sq": "v", "exp_avg": "ema"}

SCHEDULES = (
    "constant",
    "constant_with_warmup",
    "linear",
    "cosine",
    "cosine_with_min_lr",
    "cosine_with_restarts",
    "polynomial",
    "reduce_lr_on_plateau",
)


def _state_fields(node: Any, name: str) -> list[Any]:
    """Every value of the NamedTuple field ``name`` inside an optax state (tuples of NamedTuples).

    Only NamedTuple fields are searched, never dict keys: ``optax.tree_utils.tree_get`` would also
    find a tensor that happens to be named like a field (a param called "v" or "count")."""
    found = []
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        for field in node._fields:
            value = getattr(node, field)
            if field == name:
                found.append(value)
            else:
                found.extend(_state_fields(value, name))
    elif isinstance(node, (tuple, list)):
        for child in node:
            found.extend(_state_fields(child, name))
    return found


def _replace_state_fields(node: Any, updates: Mapping[str, Any]) -> Any:
    """The state with NamedTuple fields named in ``updates`` replaced (dict keys are never touched)."""
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return node._replace(**{f: updates[f] if f in updates else _replace_state_fields(getattr(node, f), updates) for f in node._fields})
    if isinstance(node, tuple):
        return tuple(_replace_state_fields(child, updates) for child in node)
    if isinstance(node, list):
        return [_replace_state_fields(child, updates) for child in node]
    return node


def _x64(enabled: bool) -> Any:
    import jax

    return jax.enable_x64(enabled)


# --------------------------------------------------------------------------------------------------
# transformations
# --------------------------------------------------------------------------------------------------


def _adamw(hp: Mapping[str, Any], dtype: str) -> Any:
    import optax

    if not hp["correct_bias"]:
        raise Unsupported("optax.adamw always bias-corrects (no correct_bias=False)")
    b1, b2 = hp["betas"]
    return optax.adamw(learning_rate=hp["lr"], b1=b1, b2=b2, eps=hp["eps"], weight_decay=hp["weight_decay"])


def _relative_step(warmup_init: bool) -> Any:
    import jax.numpy as jnp

    def schedule(count: Any) -> Any:
        t = count + 1
        return jnp.minimum(1e-6 * t if warmup_init else 1e-2, 1.0 / jnp.sqrt(t))

    return schedule


def _adafactor(hp: Mapping[str, Any], dtype: str) -> Any:
    import jax.numpy as jnp
    import optax

    eps1, eps2 = hp.get("eps", (1e-30, 1e-3))
    if eps2 != 1e-3:
        raise Unsupported("optax.adafactor fixes the parameter-scale floor at 1e-3 (eps[1] must be 1e-3)")
    if hp.get("relative_step", True):
        if hp.get("lr") is not None:
            raise Unsupported("lr with relative_step=True (transformers rejects it)")
        learning_rate = _relative_step(bool(hp.get("warmup_init", False)))
    else:
        if hp.get("warmup_init"):
            raise Unsupported("warmup_init without relative_step (transformers rejects it)")
        if hp.get("lr") is None:
            raise Unsupported("relative_step=False without an lr")
        learning_rate = hp["lr"]
    wd = hp.get("weight_decay", 0.0)
    return optax.adafactor(
        learning_rate=learning_rate,
        decay_rate=-hp.get("decay_rate", -0.8),
        multiply_by_parameter_scale=hp.get("scale_parameter", True),
        clipping_threshold=hp.get("clip_threshold", 1.0),
        momentum=hp.get("beta1"),
        dtype_momentum=jnp.float64 if dtype == "float64" else jnp.float32,
        weight_decay_rate=wd if wd else None,
        eps=eps1,
    )


TRANSFORMS = {"adamw": _adamw, "adafactor": _adafactor}
STATE_NAMES = {"adamw": ADAMW_STATE, "adafactor": ADAFACTOR_STATE}


class OptaxStepper:
    def __init__(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> None:
        if dtype not in OPTAX_DTYPES:
            raise Unsupported(f"dtype {dtype}: the optax adapter runs float32 and float64")
        self.algorithm, self.dtype, self.groups = algorithm, dtype, param_groups
        self.x64 = dtype == "float64"
        with _x64(self.x64):
            self.transforms = [TRANSFORMS[algorithm](with_defaults(algorithm, hp), dtype) for hp in group_hparams(hparams, param_groups)]
        self.names: list[list[str]] = []
        self.params: list[dict[str, Any]] = []
        self.states: list[Any] = []

    def _arrays(self, values: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
        import jax.numpy as jnp

        return {n: jnp.asarray(np.asarray(values[n], dtype=NP_DTYPES[self.dtype])) for n in names}

    def _build(self, params: Tensors) -> None:
        self.names = [list(g["params"]) for g in self.groups] if self.groups else [list(params)]
        self.params = [self._arrays(params, names) for names in self.names]
        self.states = [tx.init(p) for tx, p in zip(self.transforms, self.params)]

    def init(self, params: Tensors) -> None:
        with _x64(self.x64):
            self._build(params)

    def load_state(self, params: Tensors, state: StateDict) -> None:
        import jax.numpy as jnp

        with _x64(self.x64):
            self._build(params)
            for index, names in enumerate(self.names):
                steps = {int(state[n]["step"]) for n in names if state.get(n, {}).get("step") is not None}
                if len(steps) > 1:
                    raise Unsupported(f"optax keeps one count per transformation; the state has per-tensor steps {sorted(steps)}")
                if steps == {0}:
                    continue  # a fresh state: init's is the same
                current = self.states[index]
                updates: dict[str, Any] = {}
                if steps:
                    updates["count"] = jnp.asarray(steps.pop(), dtype=jnp.int32)
                for field, native in STATE_NAMES[self.algorithm].items():
                    if field == "step":
                        continue
                    templates = _state_fields(current, native)
                    if not templates or not isinstance(templates[0], Mapping):
                        continue
                    tree = dict(templates[0])
                    for name in names:
                        value = self._native_value(field, name, state.get(name, {}), tree[name])
                        if value is not None:
                            tree[name] = jnp.asarray(value, dtype=tree[name].dtype)
                    updates[native] = tree
                self.states[index] = _replace_state_fields(current, updates)

    def _native_value(self, field: str, name: str, fields: Mapping[str, Any], template: Any) -> Any:
        fields = {k: (None if unused(v) else v) for k, v in fields.items()}
        value = fields.get(field)
        if self.algorithm == "adafactor":
            row, col = fields.get("exp_avg_sq_row"), fields.get("exp_avg_sq_col")
            if field == "exp_avg_sq" and value is None and row is not None and template.shape != (1,):
                # transformers factored this tensor, optax does not: its rank-1 reconstruction.
                row, col = np.asarray(row, float), np.asarray(col, float)
                mean = row.mean(axis=-1, keepdims=True)
                with np.errstate(invalid="ignore", divide="ignore"):
                    normalized = np.where(mean == 0.0, 0.0, row / np.where(mean == 0.0, 1.0, mean))
                return normalized[..., :, None] * col[..., None, :]
            if field in ("exp_avg_sq_row", "exp_avg_sq_col") and template.shape == (1,):
                return None  # optax does not factor this tensor
            if field in ("exp_avg_sq_row", "exp_avg_sq_col") and value is not None and np.shape(value) != template.shape:
                # optax factors over the two largest dims; with the last two being them, the shapes agree.
                raise Unsupported("optax factors this tensor over other dims than transformers' last two")
        if value is None:
            return None
        if np.shape(value) != tuple(template.shape):
            raise Unsupported(f"state field {field} of {name}: shape {np.shape(value)} vs optax {tuple(template.shape)}")
        return value

    def step(self, grads: Mapping[str, np.ndarray | None]) -> Tensors:
        import optax

        if any(grads.get(n) is None for names in self.names for n in names):
            raise Unsupported("optax has no 'no gradient for this tensor' (a pytree gets every leaf updated)")
        with _x64(self.x64):
            for index, names in enumerate(self.names):
                g = self._arrays(grads, names)
                updates, self.states[index] = self.transforms[index].update(g, self.states[index], self.params[index])
                self.params[index] = optax.apply_updates(self.params[index], updates)
            return {n: np.asarray(p[n], dtype=np.float64) for p in self.params for n in p}

    def export_state(self) -> StateDict:
        out: StateDict = {}
        with _x64(self.x64):
            for index, names in enumerate(self.names):
                state = self.states[index]
                counts = _state_fields(state, "count")
                count = int(np.asarray(counts[0])) if counts else None
                for name in names:
                    fields: dict[str, Any] = {} if count is None else {"step": count}
                    for field, native in STATE_NAMES[self.algorithm].items():
                        if field == "step":
                            continue
                        trees = _state_fields(state, native)
                        tree = trees[0] if trees and isinstance(trees[0], Mapping) else None
                        if tree is None or name not in tree:
                            continue
                        value = np.asarray(tree[name], dtype=np.float64)
                        shape = tuple(self.params[index][name].shape)
                        if value.shape == (1,) and shape != (1,):
                            continue  # optax's placeholder for the unused factored/unfactored slot
                        fields[field] = value
                    out[name] = fields
        return out


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------


class _ScheduleRunner:
    def __init__(self, schedules: Sequence[Any]) -> None:
        self.schedules = schedules

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        with _x64(True):
            return np.array([[float(np.asarray(s(int(step)))) for s in self.schedules] for step in inputs], dtype=np.float64)


class _PlateauRunner:
    """``optax.contrib.reduce_on_plateau`` fed one metric per update; lr = group lr · scale."""

    def __init__(self, lrs: Sequence[float], kwargs: Mapping[str, Any]) -> None:
        self.lrs, self.kwargs = list(lrs), dict(kwargs)

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        import jax
        import jax.numpy as jnp
        from optax import contrib

        with _x64(True):
            tx = contrib.reduce_on_plateau(**self.kwargs)
            params = {"p": jnp.zeros((), jnp.float64)}
            state = tx.init(params)
            update = jax.jit(tx.update)  # one trace instead of re-tracing its lax.cond every call
            rows = []
            for metric in inputs:
                _, state = update(params, state, params, value=jnp.asarray(float(metric), jnp.float64))
                scale = float(np.asarray(state.scale))
                rows.append([lr * scale for lr in self.lrs])
            return np.array(rows, dtype=np.float64)


def _floor_rate(hp: Mapping[str, Any]) -> float:
    if hp.get("min_lr") is not None:
        return hp["min_lr"] / hp["lr"]
    return hp.get("min_lr_rate") or 0.0


def _warmup_then(peak: float, warmup: int, after: Any) -> Any:
    import optax

    if warmup == 0:
        return after
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


def _schedule(algorithm: str, hp: Mapping[str, Any], g: float) -> Any:
    import optax

    warmup, total = hp.get("num_warmup_steps", 0), hp.get("num_training_steps", 1)
    if algorithm == "constant":
        return optax.constant_schedule(g)
    if algorithm == "constant_with_warmup":
        return optax.warmup_constant_schedule(0.0, g, warmup) if warmup else optax.constant_schedule(g)
    if algorithm == "linear":
        if total <= warmup:
            raise Unsupported("linear with T ≤ W: optax linear_schedule needs T − W > 0 transition steps")
        return _warmup_then(g, warmup, optax.linear_schedule(g, 0.0, total - warmup))
    if algorithm in ("cosine", "cosine_with_min_lr"):
        if hp.get("num_cycles", 0.5) != 0.5:
            raise Unsupported(f"{algorithm}: optax's cosine decays over one half-wave (num_cycles must be 0.5)")
        if total <= warmup:
            raise Unsupported(f"{algorithm}: optax warmup_cosine_decay_schedule needs decay_steps T > W")
        rate = _floor_rate(hp) if algorithm == "cosine_with_min_lr" else 0.0
        return optax.warmup_cosine_decay_schedule(0.0, g, warmup, total, end_value=g * rate)
    if algorithm == "cosine_with_restarts":
        cycles = hp.get("num_cycles", 1)
        period = (total - warmup) / cycles if cycles else math.inf
        if not cycles or period != int(period) or period < 1:
            raise Unsupported("optax sgdr_schedule needs an integer cycle length (T − W) / num_cycles")
        count = int(round(cycles)) if float(cycles).is_integer() else None
        if count is None:
            raise Unsupported("cosine_with_restarts with a fractional num_cycles")
        cycle = {"init_value": g, "peak_value": g, "decay_steps": int(period), "warmup_steps": 0, "end_value": 0.0}
        return _warmup_then(g, warmup, optax.sgdr_schedule([cycle] * count))
    if algorithm == "polynomial":
        if total <= warmup:
            raise Unsupported("polynomial with T ≤ W")
        end = g * hp["lr_end"] / hp["lr"]
        return _warmup_then(g, warmup, optax.polynomial_schedule(g, end, hp["power"], total - warmup))
    raise Unsupported(f"optax has no equivalent of {algorithm}")


# --------------------------------------------------------------------------------------------------
# accumulator
# --------------------------------------------------------------------------------------------------


class _Accumulator:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.state: Any = None
        self.template: list[Any] | None = None

    def _multisteps(self) -> Any:
        import jax.numpy as jnp
        import optax

        # Sums kept in the gradients' dtype, as transformers' accumulator variables are (optax's
        # default accumulator_dtype is float32).
        dtype = jnp.float64 if self.dtype == "float64" else jnp.float32
        return optax.MultiSteps(optax.identity(), every_k_schedule=2**30, use_grad_mean=False, accumulator_dtype=dtype)

    def _tree(self, grads: Sequence[np.ndarray | None]) -> list[Any]:
        import jax.numpy as jnp

        return [None if g is None else jnp.asarray(np.asarray(g, dtype=NP_DTYPES[self.dtype])) for g in grads]

    def call(self, grads: Sequence[np.ndarray | None]) -> None:
        with _x64(self.dtype == "float64"):
            tree = self._tree(grads)
            if self.state is None:
                if not tree:
                    raise Unsupported("optax.MultiSteps fixes the gradient structure at init: a first call with no gradients cannot be followed by gradients")
                self.template = tree
                self.state = self._multisteps().init(tree)
            if len(tree) == len(self.template) and any((a is None) != (b is None) for a, b in zip(tree, self.template)):
                raise Unsupported("optax pytrees have a fixed structure: a None gradient slot cannot later hold a gradient (or the reverse)")
            _, self.state = self._multisteps().update(tree, self.state, self.template)

    def reset(self) -> None:
        if self.state is not None:
            with _x64(self.dtype == "float64"):
                self.state = self._multisteps().init(self.template)

    def read(self) -> tuple[int, list[np.ndarray | None] | None]:
        if self.state is None:
            return 0, None
        sums = [None if a is None else np.asarray(a, dtype=np.float64) for a in self.state.acc_grads]
        return int(np.asarray(self.state.mini_step)), sums


# --------------------------------------------------------------------------------------------------
# the adapter
# --------------------------------------------------------------------------------------------------


class OptaxAdapter:
    name = "optax"

    def info(self) -> dict[str, Any]:
        import jax
        import optax

        return {"name": self.name, "framework": "optax", "versions": {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__}, "device": "cpu"}

    def capabilities(self) -> Capabilities:
        algorithms = {
            "adamw": AlgorithmSupport(variant=ADAMW_CONVENTIONS, state_names=ADAMW_STATE, notes="optax.adamw"),
            # optax keeps no RMS and factors only dims of at least 128: no row/col statistics below
            "adafactor": AlgorithmSupport(
                variant=ADAFACTOR_CONVENTIONS, state_names=ADAFACTOR_STATE, unexported_state=("RMS", "exp_avg_sq_row", "exp_avg_sq_col"),
                notes="optax.adafactor (min_dim_size_to_factor=128)",
            ),
            "gradient_accumulator": AlgorithmSupport(notes="optax.MultiSteps(use_grad_mean=False)"),
        }
        for name in SCHEDULES:
            algorithms[name] = AlgorithmSupport(variant=COSINE_CONVENTIONS if name in ("cosine", "cosine_with_min_lr") else {}, notes="optax schedules")
        return Capabilities(
            algorithms=algorithms,
            dtypes=OPTAX_DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=False,
            schedule_dtype="float64",
        )

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> OptaxStepper:
        if algorithm not in TRANSFORMS:
            raise Unsupported(f"optax has no {algorithm}")
        refuse_master_weights(hparams, param_groups)
        return OptaxStepper(algorithm, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        hp = with_defaults(algorithm, hparams)
        lrs = list(hp.get("group_lrs") or [hp.get("lr", 1.0)])
        if algorithm == "reduce_lr_on_plateau":
            if hp.get("mode", "min") != "min":
                raise Unsupported("optax reduce_on_plateau only minimizes")
            floors = hp.get("min_lr", 0.0)
            floors = list(floors) if isinstance(floors, (list, tuple)) else [floors] * len(lrs)
            scales = {f / lr for f, lr in zip(floors, lrs)}
            if len(scales) > 1:
                raise Unsupported("optax reduce_on_plateau has one min_scale for every group")
            threshold = hp.get("threshold", 1e-4)
            rel = hp.get("threshold_mode", "rel") == "rel"
            if threshold == 0.0:
                raise Unsupported("optax reduce_on_plateau needs rtol or atol > 0")
            kwargs = {
                "factor": hp.get("factor", 0.1),
                "patience": hp.get("patience", 10),
                "rtol": threshold if rel else 0.0,
                "atol": 0.0 if rel else threshold,
                "cooldown": hp.get("cooldown", 0),
                "min_scale": scales.pop(),
            }
            with _x64(True):
                from optax import contrib

                contrib.reduce_on_plateau(**kwargs)  # construction errors surface here
            return _PlateauRunner(lrs, kwargs)
        with _x64(True):
            return _ScheduleRunner([_schedule(algorithm, hp, g) for g in lrs])

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        if algorithm != "gradient_accumulator":
            raise Unsupported(f"optax has no {algorithm}")
        if dtype not in OPTAX_DTYPES:
            raise Unsupported(f"dtype {dtype}")
        return _Accumulator(dtype)
