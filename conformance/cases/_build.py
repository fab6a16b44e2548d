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

from optimspec.reference._dtypes import EPS, round_to

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
    ``start_state``: fields of the initial state that are not fresh, per tensor name (rounded to
    the state dtype): ``{"p": {"step": 9998}}`` reaches states past step 10⁴ without storing 10⁴
    gradients, a ``master_param`` ahead of its half param resumes sub-ulp progress. Such a case
    starts from its checkpoint-0 state in free-running mode too, so an adapter needs
    ``load_state`` to run it.
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
    start_state: Mapping[str, Mapping[str, Any]] | None = None


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

SUB_ULP_CHECKPOINTS = (0, 1, 2, 30, 59, 60)


def _sub_ulp_cases(dtype: str, seed: int, hparams: Mapping[str, Any], shapes: Mapping[str, Sequence[int]], outcome: str) -> list[OptimizerCase]:
    """60 steps of updates below half an ulp on params in [1, 4), gradients of one sign."""
    return [
        OptimizerCase(
            name=f"{name}-t60",
            params={"p": 1.0 + 0.75 * np.abs(normal(seed + i, shape))},
            grads=[{"p": 0.5 + np.abs(g["p"])} for g in grad_sequence(seed + 10 + i, {"p": shape}, 60, scale=0.1)],
            hparams=hparams,
            checkpoints=list(SUB_ULP_CHECKPOINTS),
            description=f"params in [1, 4), lr {SUB_ULP_LR[dtype]:g}, gradients of one sign: each update (≈ lr) is below half an ulp, {outcome}",
        )
        for i, (name, shape) in enumerate(shapes.items())
    ]


def sub_ulp_group(dtype: str, seed: int, hparams: Callable[[float], Mapping[str, Any]], shapes: Mapping[str, Sequence[int]]) -> OptimizerGroup:
    """60 steps on params in [1, 4) with gradients of one sign and lr ``SUB_ULP_LR[dtype]``
    (``hparams(lr)``): each update is below half an ulp of the param and is lost, but 60 of them
    are not, so a persistent float32 copy of the weights would move the params by an ulp. The
    free-running budget is below one ulp and does not grow: a param that moves at all fails."""
    return OptimizerGroup(
        name="sub-ulp-updates",
        dtype=dtype,
        description="updates below half an ulp of the param are lost at every step: nothing may change",
        free_running_k=0.25,
        free_running_growth=0.0,
        cases=_sub_ulp_cases(dtype, seed, hparams(SUB_ULP_LR[dtype]), shapes, "60 of them are not"),
    )


def master_weights_group(dtype: str, seed: int, hparams: Callable[[float], Mapping[str, Any]], shapes: Mapping[str, Sequence[int]]) -> OptimizerGroup:
    """``master_weights=True`` on half params, where it changes what is stored.

    * The cases of :func:`sub_ulp_group` (same ``seed``, so the same inputs) with master weights:
      the updates accumulate in the float32 copy, and a param moves by one ulp once they pass half
      of it (after about 40 steps in [1, 2)).
    * ``resume-master-ahead``: a state whose master copy is 0.4 ulp ahead of its param (past step
      100, moments fresh), then updates of about 0.2 ulp: the param moves at the first step, so an
      implementation that does not restore the saved copy (or rebuilds it from the param) fails.

    Checkpoints stay at least 0.08 ulp from a rounding boundary, so a correct float32 computation
    rounds every param as the reference does, and the free-running budget is below one ulp and
    does not grow: a param that moves one step early or late fails.
    """
    eps = EPS[dtype]  # the ulp of params in [1, 2)
    params = np.linspace(1.0625, 1.9375, 6)
    ahead = round_to(dtype, params) - 0.4 * eps
    resume = OptimizerCase(
        name="resume-master-ahead-t3",
        params={"p": params},
        grads=[{"p": 0.5 + np.abs(g["p"])} for g in grad_sequence(seed + 50, {"p": (6,)}, 3, scale=0.1)],
        hparams={**hparams(0.2 * eps), "master_weights": True},
        start_state={"p": {"step": 100, "master_param": ahead}},
        description="params in [1, 2) whose master copies are 0.4 ulp ahead (step 100, fresh moments); updates of about 0.2 ulp move the params at the first step",
    )
    return OptimizerGroup(
        name="master-weights",
        dtype=dtype,
        description="master_weights=True: a float32 copy of each half param accumulates updates below half an ulp, and is saved and resumed",
        free_running_k=0.25,
        free_running_growth=0.0,
        cases=[
            *_sub_ulp_cases(dtype, seed, {**hparams(SUB_ULP_LR[dtype]), "master_weights": True}, shapes, "but they accumulate in the float32 master copy and move a param by an ulp once they pass half of it"),
            resume,
        ],
    )


def no_copy_group(case: OptimizerCase) -> OptimizerGroup:
    """``case`` (with ``master_weights=True``) on float32 params, which keep no master copy: their
    state and trajectory are those without the flag."""
    return OptimizerGroup(
        name="master-weights",
        dtype="float32",
        description="master_weights=True keeps no copy of float32 params: the state and the trajectory are those without it",
        cases=[case],
    )
