"""The ``keras`` adapter: Keras 3 optimizers and schedules on the TensorFlow backend.

Keras holds its learning rate in a float32 variable (``floatx``), whatever the variables' dtype,
and the adapter keeps Keras' defaults: float64 cases therefore see a float32-rounded lr (a
``numerics`` divergence, calibrated in ``divergences/keras.toml``). The backend is chosen by
``KERAS_BACKEND`` (set to ``tensorflow`` here unless the environment already says otherwise, and
before keras is first imported); ``info()`` records the one in use.

What maps onto what (reference hyperparameter names on the left):

* ``adamw`` → ``keras.optimizers.AdamW(learning_rate=lr, beta_1, beta_2 = betas, epsilon=eps,
  weight_decay)``. Keras puts ε on the uncorrected √v (ε-hat, like transformers) and decays θ_{t−1}
  before the update (unlike transformers' PyTorch AdamW): declared, ``decay_order=before_update``.
  ``correct_bias=False`` is unsupported.
* ``adam_weight_decay`` → ``keras.optimizers.AdamW(learning_rate, beta_1, beta_2, epsilon, amsgrad,
  weight_decay=weight_decay_rate)`` and ``exclude_from_weight_decay(var_names=exclude)``: Keras
  joins the names into one regex and ``re.search``-es it against the variable's name. The golden
  tensor names become variable paths through name scopes (``"dense/bias"`` is a variable ``bias``
  under scope ``dense``); on the TensorFlow backend the name searched is the tf.Variable's,
  ``"dense/bias:0"``, so ``$``-anchored patterns never match (a named divergence).
  ``include_in_weight_decay`` has no Keras equivalent: alone it changes nothing (everything decays
  anyway), with an exclude list it is unsupported.
* ``adafactor`` → ``keras.optimizers.Adafactor(learning_rate, beta_2_decay=decay_rate,
  epsilon_1, epsilon_2 = eps, clip_threshold, relative_step, weight_decay)``. Keras always uses
  ρ = min(lr, 1/√t) and always scales by max(ε2, RMS(θ)) (its ``relative_step`` flag is a no-op):
  ``relative_step=True`` maps to ``learning_rate=1e-2`` (transformers' ρ); ``relative_step=False,
  scale_parameter=True`` to ``learning_rate=lr`` (the same α while t ≤ 1/lr²). Unsupported:
  ``beta1``, ``warmup_init``, ``scale_parameter=False``. Weight decay is Keras' θ − θ·wd·lr
  (before the update, with the learning-rate variable), not transformers' −wd·α·θ: declared,
  ``weight_decay_scale=lr``.
* schedules (float32): ``polynomial_decay`` → ``PolynomialDecay`` (exact); ``create_optimizer``
  with W = 0 → ``PolynomialDecay(init_lr, T, init_lr·min_lr_ratio, power)``; HF ``linear`` /
  ``polynomial`` with W = 0 → ``PolynomialDecay``; ``cosine`` / ``cosine_with_min_lr`` (nc = 0.5)
  → ``CosineDecay(0, T − W, alpha=r, warmup_target=lr, warmup_steps=W)`` (clamped past T: declared,
  ``past_total=clamped``);
  ``constant_with_warmup`` → the same with ``alpha=1`` (decay_steps 1); ``cosine_with_restarts``
  (W = 0, T/nc an integer) → ``CosineDecayRestarts``; ``constant`` → the float32 lr;
  ``reduce_lr_on_plateau`` → the ``keras.callbacks.ReduceLROnPlateau`` callback driven by hand
  (abs threshold only, one param group). One schedule per param group (``group_lrs``).
  Unsupported: warmups other than Keras' linear one from ``initial_learning_rate`` (TF ``WarmUp``
  with power, create_optimizer with W > 0, linear/polynomial with W > 0), inverse_sqrt,
  cosine_warmup_with_min_lr, warmup_stable_decay, greedy.

Teacher forcing: the optimizer is built, then its slot variables (momentums, velocities, r/c/v)
and ``iterations`` are assigned. Keras keeps one ``iterations`` per optimizer, not one step per
tensor: a state whose tensors have different steps cannot be loaded (unsupported), and a tensor
without a gradient still advances the shared counter. Param groups with their own
hyperparameters become one Keras optimizer per group.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from .base import AlgorithmSupport, Capabilities, StateDict, Tensors, Unsupported, group_hparams, refuse_master_weights, unused, with_defaults

KERAS_DTYPES = ("float64", "float32")

# reference field -> (Keras slot list attribute, reshape?) per algorithm
ADAMW_SLOTS = {"exp_avg": "_momentums", "exp_avg_sq": "_velocities"}
AWD_SLOTS = {"m": "_momentums", "v": "_velocities", "vhat": "_velocity_hats"}
ADAFACTOR_SLOTS = {"exp_avg_sq_row": "_r", "exp_avg_sq_col": "_c", "exp_avg_sq": "_v"}
SLOTS = {"adamw": ADAMW_SLOTS, "adam_weight_decay": AWD_SLOTS, "adafactor": ADAFACTOR_SLOTS}

CONVENTIONS = {  # what Keras follows instead of the spec, declared (every case is judged under them)
    "adamw": {"decay_order": "before_update"},
    "adafactor": {"weight_decay_scale": "lr"},
    "cosine": {"past_total": "clamped"},
    "cosine_with_min_lr": {"past_total": "clamped"},
}

SCHEDULES = (
    "polynomial_decay",
    "create_optimizer",
    "constant",
    "constant_with_warmup",
    "linear",
    "polynomial",
    "cosine",
    "cosine_with_min_lr",
    "cosine_with_restarts",
    "reduce_lr_on_plateau",
)


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


# --------------------------------------------------------------------------------------------------
# hyperparameter translation
# --------------------------------------------------------------------------------------------------


def _adamw(hp: Mapping[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    if not hp["correct_bias"]:
        raise Unsupported("keras AdamW always bias-corrects (no correct_bias=False)")
    beta1, beta2 = hp["betas"]
    kwargs = {"learning_rate": hp["lr"], "beta_1": beta1, "beta_2": beta2, "epsilon": hp["eps"], "weight_decay": hp["weight_decay"]}
    return "AdamW", kwargs, []


def _adam_weight_decay(hp: Mapping[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    include, exclude = list(hp.get("include_in_weight_decay") or ()), list(hp.get("exclude_from_weight_decay") or ())
    if include and exclude and hp["weight_decay_rate"] != 0.0:
        raise Unsupported("keras AdamW has no include_in_weight_decay override of exclude_from_weight_decay")
    kwargs = {
        "learning_rate": hp["learning_rate"],
        "beta_1": hp["beta_1"],
        "beta_2": hp["beta_2"],
        "epsilon": hp["epsilon"],
        "amsgrad": hp["amsgrad"],
        "weight_decay": hp["weight_decay_rate"],
    }
    return "AdamW", kwargs, exclude


def _adafactor(hp: Mapping[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    if hp.get("beta1") is not None:
        raise Unsupported("keras Adafactor has no first moment (beta1)")
    if hp.get("warmup_init"):
        raise Unsupported("keras Adafactor has no warmup_init")
    if not hp.get("scale_parameter", True):
        raise Unsupported("keras Adafactor always scales by max(epsilon_2, RMS(θ)) (no scale_parameter=False)")
    if hp.get("relative_step", True):
        if hp.get("lr") is not None:
            raise Unsupported("lr with relative_step=True (transformers rejects it)")
        lr = 1e-2
    else:
        if hp.get("lr") is None:
            raise Unsupported("relative_step=False without an lr")
        lr = hp["lr"]
    eps1, eps2 = hp.get("eps", (1e-30, 1e-3))
    wd = hp.get("weight_decay", 0.0)
    kwargs = {
        "learning_rate": lr,
        "beta_2_decay": hp.get("decay_rate", -0.8),
        "epsilon_1": eps1,
        "epsilon_2": eps2,
        "clip_threshold": hp.get("clip_threshold", 1.0),
        "relative_step": hp.get("relative_step", True),
        "weight_decay": wd if wd else None,
    }
    return "Adafactor", kwargs, []


TRANSLATE = {"adamw": _adamw, "adam_weight_decay": _adam_weight_decay, "adafactor": _adafactor}


# --------------------------------------------------------------------------------------------------
# the stepper
# --------------------------------------------------------------------------------------------------


def make_variable(keras: Any, name: str, value: np.ndarray, dtype: str) -> Any:
    """A Keras variable whose ``.path`` is ``name`` ("a/b/c": scopes a, b; variable c)."""
    *scopes, leaf = name.split("/")
    if not leaf or any(not s for s in scopes):
        raise Unsupported(f"tensor name {name!r} is not a Keras variable path")
    entered = []
    try:
        for scope in scopes:
            context = keras.name_scope(scope)
            context.__enter__()
            entered.append(context)
        variable = keras.Variable(np.asarray(value, dtype=dtype), name=leaf, dtype=dtype)
    finally:
        for context in reversed(entered):
            context.__exit__(None, None, None)
    if variable.path != name:
        raise Unsupported(f"cannot give a Keras variable the path {name!r} (got {variable.path!r})")
    return variable


class KerasStepper:
    def __init__(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> None:
        if dtype not in KERAS_DTYPES:
            raise Unsupported(f"dtype {dtype}: the keras adapter runs float32 and float64 variables")
        self.algorithm, self.dtype, self.groups = algorithm, dtype, param_groups
        self.translated = [TRANSLATE[algorithm](with_defaults(algorithm, hp)) for hp in group_hparams(hparams, param_groups)]
        self.slots = SLOTS[algorithm]
        self.variables: dict[str, Any] = {}
        self.optimizers: list[tuple[Any, list[str]]] = []  # (optimizer, tensor names)

    def _build(self, params: Tensors) -> None:
        keras = _keras()
        self.variables = {name: make_variable(keras, name, value, self.dtype) for name, value in params.items()}
        names_per_group = [list(g["params"]) for g in self.groups] if self.groups else [list(params)]
        self.optimizers = []
        for (cls, kwargs, exclude), names in zip(self.translated, names_per_group):
            optimizer = getattr(keras.optimizers, cls)(**kwargs)
            if exclude:
                optimizer.exclude_from_weight_decay(var_names=exclude)
            optimizer.build([self.variables[n] for n in names])
            self.optimizers.append((optimizer, names))

    def init(self, params: Tensors) -> None:
        self._build(params)

    def load_state(self, params: Tensors, state: StateDict) -> None:
        self._build(params)
        for optimizer, names in self.optimizers:
            steps = {int(state[n]["step"]) for n in names if n in state and state[n].get("step") is not None}
            if len(steps) > 1:
                raise Unsupported(f"keras keeps one iterations counter per optimizer; the state has per-tensor steps {sorted(steps)}")
            if steps:
                optimizer.iterations.assign(steps.pop())
            for name in names:
                variable = self.variables[name]
                index = optimizer._get_variable_index(variable)
                for field, attribute in self.slots.items():
                    value = state.get(name, {}).get(field)
                    slots = getattr(optimizer, attribute, None)
                    if unused(value) or slots is None or slots[index] is None:
                        continue
                    slot = slots[index]
                    if tuple(slot.shape) != np.shape(value):
                        continue  # e.g. Adafactor's scalar r/c placeholders of a 1-D tensor
                    slot.assign(np.asarray(value, dtype=slot.dtype))

    def step(self, grads: Mapping[str, np.ndarray | None]) -> Tensors:
        for optimizer, names in self.optimizers:
            values = [None if grads.get(n) is None else np.asarray(grads[n], dtype=self.dtype) for n in names]
            optimizer.apply(values, [self.variables[n] for n in names])
        return {n: np.asarray(v.numpy(), dtype=np.float64) for n, v in self.variables.items()}

    def export_state(self) -> StateDict:
        out: StateDict = {}
        for optimizer, names in self.optimizers:
            step = int(optimizer.iterations.numpy())
            for name in names:
                index = optimizer._get_variable_index(self.variables[name])
                fields: dict[str, Any] = {"step": step}
                for field, attribute in self.slots.items():
                    slots = getattr(optimizer, attribute, None)
                    if slots is None or slots[index] is None:
                        continue
                    value = np.asarray(slots[index].numpy(), dtype=np.float64)
                    if value.shape != tuple(self.variables[name].shape) and field == "exp_avg_sq":
                        continue
                    if self.algorithm == "adafactor" and len(self.variables[name].shape) < 2 and field != "exp_avg_sq":
                        continue  # placeholders
                    if self.algorithm == "adafactor" and len(self.variables[name].shape) >= 2 and field == "exp_avg_sq":
                        continue  # Keras keeps the full rank-1 reconstruction here; transformers has none
                    fields[field] = value
                out[name] = fields
        return out


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------


class _KerasScheduleRunner:
    """One Keras schedule per param group, each called at every step (float32 values)."""

    def __init__(self, schedules: Sequence[Any]) -> None:
        self.schedules = schedules

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        rows = []
        for step in inputs:
            rows.append([float(np.asarray(s(int(step)) if callable(s) else s)) for s in self.schedules])
        return np.array(rows, dtype=np.float64)


class _PlateauRunner:
    """``keras.callbacks.ReduceLROnPlateau`` driven by hand: ``on_epoch_end(i, {"loss": metric})``."""

    def __init__(self, lr: float, kwargs: Mapping[str, Any]) -> None:
        self.lr, self.kwargs = lr, dict(kwargs)

    def values(self, inputs: Sequence[Any]) -> np.ndarray:
        keras = _keras()
        optimizer = keras.optimizers.SGD(learning_rate=self.lr)
        callback = keras.callbacks.ReduceLROnPlateau(monitor="loss", **self.kwargs)
        callback.set_model(SimpleNamespace(optimizer=optimizer))
        callback.on_train_begin()
        rows = []
        for epoch, metric in enumerate(inputs):
            callback.on_epoch_end(epoch, {"loss": float(metric)})
            rows.append([float(np.asarray(optimizer.learning_rate))])
        return np.array(rows, dtype=np.float64)


def _group_lrs(hp: Mapping[str, Any]) -> list[float]:
    return list(hp.get("group_lrs") or [hp["lr"]])


def _floor_rate(hp: Mapping[str, Any]) -> float:
    if hp.get("min_lr") is not None:
        return hp["min_lr"] / hp["lr"]
    return hp.get("min_lr_rate") or 0.0


def _make_schedules(algorithm: str, hp: Mapping[str, Any]) -> list[Any]:
    S = _keras().optimizers.schedules
    if algorithm == "polynomial_decay":
        return [S.PolynomialDecay(hp["initial_learning_rate"], hp["decay_steps"], hp["end_learning_rate"], hp["power"])]
    if algorithm == "create_optimizer":
        if hp["num_warmup_steps"] > 0:
            raise Unsupported("keras has no polynomial decay with a warmup (transformers' WarmUp was its own TF class)")
        init = hp["init_lr"]
        return [S.PolynomialDecay(init, hp["num_train_steps"], init * hp["min_lr_ratio"], hp["power"])]
    if algorithm in ("warmup", "inverse_sqrt", "cosine_warmup_with_min_lr", "warmup_stable_decay", "greedy"):
        raise Unsupported(f"keras has no equivalent of {algorithm}")
    lrs = _group_lrs(hp)
    warmup, total = hp.get("num_warmup_steps", 0), hp.get("num_training_steps", 1)
    if algorithm == "constant":
        return [float(np.float32(g)) for g in lrs]
    if algorithm == "constant_with_warmup":
        if warmup == 0:
            return [float(np.float32(g)) for g in lrs]
        return [S.CosineDecay(0.0, 1, alpha=1.0, warmup_target=g, warmup_steps=warmup) for g in lrs]
    if algorithm in ("linear", "polynomial"):
        if warmup > 0:
            raise Unsupported(f"{algorithm}: keras PolynomialDecay has no warmup")
        if algorithm == "linear":
            return [S.PolynomialDecay(g, total, 0.0, 1.0) for g in lrs]
        return [S.PolynomialDecay(g, total, g * hp["lr_end"] / hp["lr"], hp["power"]) for g in lrs]
    if algorithm in ("cosine", "cosine_with_min_lr"):
        if hp.get("num_cycles", 0.5) != 0.5:
            raise Unsupported(f"{algorithm}: keras CosineDecay is one half-wave (num_cycles must be 0.5)")
        if total <= warmup:
            raise Unsupported(f"{algorithm}: keras CosineDecay needs decay_steps = T − W > 0")
        alpha = _floor_rate(hp) if algorithm == "cosine_with_min_lr" else 0.0
        if warmup == 0:
            return [S.CosineDecay(g, total, alpha=alpha) for g in lrs]
        return [S.CosineDecay(0.0, total - warmup, alpha=alpha, warmup_target=g, warmup_steps=warmup) for g in lrs]
    if algorithm == "cosine_with_restarts":
        cycles = hp.get("num_cycles", 1)
        period = total / cycles if cycles else math.inf
        if warmup > 0 or not cycles or period != int(period) or period < 1:
            raise Unsupported("keras CosineDecayRestarts has no warmup and needs an integer cycle length T / num_cycles")
        return [S.CosineDecayRestarts(g, int(period), t_mul=1.0, m_mul=1.0, alpha=0.0) for g in lrs]
    raise Unsupported(f"keras has no equivalent of {algorithm}")


# --------------------------------------------------------------------------------------------------
# the adapter
# --------------------------------------------------------------------------------------------------


class KerasAdapter:
    name = "keras"

    def info(self) -> dict[str, Any]:
        keras = _keras()
        versions = {"keras": keras.__version__, "numpy": np.__version__}
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            versions["tensorflow"] = tf.__version__
        return {"name": self.name, "framework": f"keras ({backend} backend)", "versions": versions, "device": "cpu", "floatx": keras.config.floatx()}

    def capabilities(self) -> Capabilities:
        algorithms = {
            "adamw": AlgorithmSupport(variant=CONVENTIONS["adamw"], state_names=ADAMW_SLOTS, notes="keras.optimizers.AdamW"),
            # no vhat slot without amsgrad; Keras' Adafactor keeps no RMS
            "adam_weight_decay": AlgorithmSupport(state_names=AWD_SLOTS, unexported_state=("vhat",), notes="keras.optimizers.AdamW + exclude_from_weight_decay"),
            "adafactor": AlgorithmSupport(variant=CONVENTIONS["adafactor"], state_names=ADAFACTOR_SLOTS, unexported_state=("RMS",), notes="keras.optimizers.Adafactor"),
        }
        for name in SCHEDULES:
            algorithms[name] = AlgorithmSupport(variant=CONVENTIONS.get(name, {}), notes="keras.optimizers.schedules")
        return Capabilities(
            algorithms=algorithms,
            dtypes=KERAS_DTYPES,
            can_load_state=True,
            can_export_state=True,
            validates_hparams=False,
            schedule_dtype="float32",
        )

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> KerasStepper:
        if algorithm not in TRANSLATE:
            raise Unsupported(f"keras has no {algorithm}")
        refuse_master_weights(hparams, param_groups)
        return KerasStepper(algorithm, hparams, param_groups, dtype)

    def make_schedule(self, algorithm: str, hparams: Mapping[str, Any]) -> Any:
        hp = with_defaults(algorithm, hparams)
        if algorithm == "reduce_lr_on_plateau":
            if len(_group_lrs(hp)) > 1:
                raise Unsupported("keras ReduceLROnPlateau drives one optimizer lr (no param groups)")
            if hp.get("threshold_mode", "rel") != "abs":
                raise Unsupported("keras ReduceLROnPlateau's min_delta is an absolute threshold (threshold_mode='rel' has no equivalent)")
            if isinstance(hp.get("min_lr"), (list, tuple)):
                raise Unsupported("keras ReduceLROnPlateau has one min_lr")
            kwargs = {
                "mode": hp.get("mode", "min"),
                "factor": hp.get("factor", 0.1),
                "patience": hp.get("patience", 10),
                "min_delta": hp.get("threshold", 1e-4),
                "cooldown": hp.get("cooldown", 0),
                "min_lr": hp.get("min_lr", 0.0),
            }
            return _PlateauRunner(hp["lr"], kwargs)
        return _KerasScheduleRunner(_make_schedules(algorithm, hp))

    def make_accumulator(self, algorithm: str, dtype: str) -> Any:
        raise Unsupported("keras has no standalone gradient accumulator (gradient_accumulation_steps averages inside the optimizer)")

