"""The vocabulary case files use to declare golden cases. Inputs only: every expected value is
computed by the generator from the reference.

A case file ``conformance/cases/<algorithm>.py`` defines ``GROUPS`` (a list of the group records
below, all of one kind) and optionally ``INVALID`` (hyperparameter sets the spec rejects).

Case ids: ``optim/<algorithm>/<group>/<dtype>/<case>`` for optimizers and accumulators,
``sched/<algorithm>/<group>/<case>`` for schedules, ``<family>/<algorithm>/invalid/<case>`` for
rejected inputs. Ids are stable: never rename or renumber a case; add a new one instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DTYPE_SHORT = {"float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16"}

Tensors = Mapping[str, Any]


# --------------------------------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerCase:
    """A trajectory: initial ``params``, one dict of grads per step (None: no grad that step).

    ``checkpoints``: steps whose params and state are recorded (default: every step). Consecutive
    checkpoints (t−1, t) are the teacher-forced checks; every checkpoint is a free-running check.
    ``discriminates``: convention axes this case exists to separate; generation fails unless each
    alternative value moves the result by at least 100× the case's budget.
    ``start_step``: the step counter of the initial state (its other fields are fresh), to reach
    states past step 10⁴ without storing 10⁴ gradients. Such a case starts from its checkpoint-0
    state in free-running mode too, so an adapter needs ``load_state`` to run it.
    """

    name: str
    params: Tensors
    grads: Sequence[Mapping[str, Any]]
    hparams: Mapping[str, Any] = field(default_factory=dict)
    param_groups: Sequence[Mapping[str, Any]] | None = None
    checkpoints: Sequence[int] | None = None
    discriminates: Sequence[str] = ()
    flags: Sequence[str] = ()
    description: str = ""
    start_step: int = 0


@dataclass(frozen=True)
class OptimizerGroup:
    """Cases sharing a dtype and a tolerance budget (in units of the dtype's ε; docs/design.md, "Tolerance")."""

    name: str
    dtype: str
    cases: Sequence[OptimizerCase]
    description: str = ""
    teacher_forced_k: float | None = None  # None: the default for the dtype
    free_running_k: float | None = None
    free_running_growth: float | None = None  # extra budget per step


# --------------------------------------------------------------------------------------------------
# accumulators
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccumulatorCase:
    """A sequence of events: ``{"call": [grad | None, ...]}`` (a call with a wrong gradient count is
    an expected error) or ``{"reset": True}``. Expected sums, step and error follow every event."""

    name: str
    events: Sequence[Mapping[str, Any]]
    description: str = ""
    flags: Sequence[str] = ()


@dataclass(frozen=True)
class AccumulatorGroup:
    name: str
    dtype: str
    cases: Sequence[AccumulatorCase]
    description: str = ""


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleCase:
    """Learning rates at ``steps`` (step schedules) or after each of ``inputs`` (stateful schedules:
    metrics for plateau/greedy; grads for the Adafactor read-back)."""

    name: str
    hparams: Mapping[str, Any]
    steps: Sequence[int] | None = None
    inputs: Any = None
    discriminates: Sequence[str] = ()
    flags: Sequence[str] = ()
    description: str = ""


@dataclass(frozen=True)
class ScheduleGroup:
    name: str
    cases: Sequence[ScheduleCase]
    description: str = ""
    k: float | None = None  # budget in ε(dtype)·peak lr; None: the default


# --------------------------------------------------------------------------------------------------
# rejected inputs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidCase:
    """Hyperparameters the spec rejects at construction with ValueError naming ``argument``."""

    name: str
    hparams: Mapping[str, Any]
    argument: str
    description: str = ""


# --------------------------------------------------------------------------------------------------
# input helpers: deterministic, well-conditioned tensors
# --------------------------------------------------------------------------------------------------


def rng(seed: int) -> np.random.Generator:
    """A generator for case inputs; seeds are part of the case definition and never change."""
    return np.random.default_rng(seed)


def normal(seed: int, shape: Sequence[int], scale: float = 1.0) -> np.ndarray:
    """N(0, scale²) values rounded to float32 (so every dtype ≥ float32 holds them exactly)."""
    values = rng(seed).standard_normal(tuple(shape)) * scale
    return values.astype(np.float32).astype(np.float64)


def grad_sequence(seed: int, shapes: Mapping[str, Sequence[int]], steps: int, scale: float = 1.0) -> list[dict[str, np.ndarray]]:
    """``steps`` dicts of N(0, scale²) gradients for the named shapes."""
    generator = rng(seed)
    out = []
    for _ in range(steps):
        out.append(
            {n: (generator.standard_normal(tuple(s)) * scale).astype(np.float32).astype(np.float64) for n, s in shapes.items()}
        )
    return out


# --------------------------------------------------------------------------------------------------
# groups every elementwise optimizer has
# --------------------------------------------------------------------------------------------------

NAN_INF_GRADS = [{"p": [float("nan"), float("inf"), float("-inf"), 0.5]}, {"p": [0.1, 0.2, 0.3, 0.4]}]


def special_values_group(dtype: str, params: np.ndarray, hparams: Mapping[str, Any]) -> OptimizerGroup:
    """NaN and ±inf gradients on a 4-element tensor ``params``."""
    return OptimizerGroup(
        name="special-values",
        dtype=dtype,
        description="NaN and ±inf gradients propagate; nothing is skipped",
        cases=[
            OptimizerCase(
                name="nan-inf-grads-t2",
                params={"p": params},
                grads=NAN_INF_GRADS,
                hparams=hparams,
                flags=("special-values",),
                description="NaN and ±inf gradients: affected elements become NaN, others follow the formula",
            ),
        ],
    )


def trajectory_group(dtype: str, params: np.ndarray, seed: int, hparams: Mapping[str, Any], steps: int = 120) -> OptimizerGroup:
    """One free-running trajectory of ``steps`` steps on a vector ``params``, sparse checkpoints."""
    return OptimizerGroup(
        name="trajectory",
        dtype=dtype,
        description="long free-running trajectories (horizon bugs)",
        cases=[
            OptimizerCase(
                name=f"vector-t{steps}",
                params={"p": params},
                grads=grad_sequence(seed, {"p": np.shape(params)}, steps),
                hparams=hparams,
                checkpoints=[0, 1, 2, 10, 11, steps // 2, steps - 1, steps],
                description=f"{steps} steps with decay",
            ),
        ],
    )


#: A learning rate whose updates (≈ lr for Adam-like steps) stay below half an ulp of params in [1, 4).
SUB_ULP_LR = {"float16": 1e-5, "bfloat16": 1e-4}


def sub_ulp_group(dtype: str, seed: int, hparams: Callable[[float], Mapping[str, Any]], shapes: Mapping[str, Sequence[int]]) -> OptimizerGroup:
    """60 steps on params in [1, 4) with gradients of one sign and lr ``SUB_ULP_LR[dtype]``
    (``hparams(lr)``): each update is below half an ulp of the param and is lost, but 60 of them
    are not, so a persistent float32 copy of the weights would move the params by an ulp. The
    free-running budget is below one ulp and does not grow: a param that moves at all fails."""
    lr = SUB_ULP_LR[dtype]
    return OptimizerGroup(
        name="sub-ulp-updates",
        dtype=dtype,
        description="updates below half an ulp of the param are lost at every step: nothing may change",
        free_running_k=0.25,
        free_running_growth=0.0,
        cases=[
            OptimizerCase(
                name=f"{name}-t60",
                params={"p": 1.0 + 0.75 * np.abs(normal(seed + i, shape))},
                grads=[{"p": 0.5 + np.abs(g["p"])} for g in grad_sequence(seed + 10 + i, {"p": shape}, 60, scale=0.1)],
                hparams=hparams(lr),
                checkpoints=[0, 1, 2, 30, 59, 60],
                description=f"params in [1, 4), lr {lr:g}, gradients of one sign: each update (≈ lr) is below half an ulp, 60 of them are not",
            )
            for i, (name, shape) in enumerate(shapes.items())
        ],
    )

