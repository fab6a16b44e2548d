"""Golden cases for ``adafactor_schedule`` (transformers' ``AdafactorSchedule`` lr read-back).

Inputs: the optimizer at construction, then one dict of gradients per step (see the reference
module); one expected row per input.
"""

from typing import Any

from ._build import InvalidCase, ScheduleCase, ScheduleGroup, grad_sequence, normal


def _inputs(shapes: dict[str, tuple[int, ...]], steps: int, seed: int, param_scale: float = 1.0) -> list[dict[str, Any]]:
    """One param group: the construction record, then ``steps`` gradient dicts."""
    params = {n: normal(seed + i, s, param_scale).tolist() for i, (n, s) in enumerate(shapes.items())}
    grads = [{n: g.tolist() for n, g in step.items()} for step in grad_sequence(seed + 100, shapes, steps)]
    return [{"params": params}, *grads]


def _grouped_inputs(groups: list[tuple[dict[str, tuple[int, ...]], dict[str, Any]]], steps: int, seed: int) -> list[dict[str, Any]]:
    """Several param groups, each (its param shapes, its hparams)."""
    construction, *grads = _inputs({n: s for shapes, _ in groups for n, s in shapes.items()}, steps, seed)
    params = construction["params"]
    return [{"groups": [{"params": {n: params[n] for n in shapes}, "hparams": hp} for shapes, hp in groups]}, *grads]


GROUPS = [
    ScheduleGroup(
        name="read-back",
        description="initial_lr at construction, then the α of each group's first param after every step",
        cases=[
            ScheduleCase("relative-step", {}, inputs=_inputs({"w": (2, 3)}, 4, 10), description="defaults: 0.01·max(1e-3, RMS)"),
            ScheduleCase("warmup-init", {"warmup_init": True}, inputs=_inputs({"w": (4,)}, 4, 20), description="1e-6·t·max(1e-3, RMS)"),
            ScheduleCase("no-scale-parameter", {"scale_parameter": False}, inputs=_inputs({"w": (3,)}, 3, 30), description="ρ alone: 0.01 for t ≤ 10⁴"),
            ScheduleCase(
                "small-params", {}, inputs=_inputs({"w": (2, 2)}, 3, 40, param_scale=1e-4),
                description="RMS(P) < eps2: the scale is eps2, so the read-back is 1e-5",
            ),
            ScheduleCase("initial-lr", {"initial_lr": 1e-3}, inputs=_inputs({"w": (5,)}, 3, 50), description="an explicit initial_lr fills row 0 only"),
            ScheduleCase(
                "two-groups", {},
                inputs=_grouped_inputs([({"a1": (3,), "a2": (2, 2)}, {}), ({"b": (4,)}, {"warmup_init": True})], 3, 60),
                description="one lr per group, read from the group's first param only (a1, not a2)",
            ),
        ],
    ),
    ScheduleGroup(
        name="manual-lr",
        description="relative_step=False: the schedule overwrites the manual lr the optimizer then uses",
        cases=[
            ScheduleCase(
                "zeroed", {"relative_step": False, "lr": 1e-3}, inputs=_inputs({"w": (4,)}, 3, 70),
                description="the manual lr becomes initial_lr = 0: every row is 0 and the params never move",
            ),
            ScheduleCase(
                "compounds", {"relative_step": False, "lr": 1e-3, "initial_lr": 0.05}, inputs=_inputs({"w": (4,)}, 4, 80, param_scale=0.1),
                description="each read-back multiplies in max(eps2, RMS) again: 0.05·RMS₀, then ·RMS₁, …",
            ),
            ScheduleCase(
                "no-scale-parameter", {"relative_step": False, "lr": 1e-3, "scale_parameter": False, "initial_lr": 0.02},
                inputs=_inputs({"w": (3,)}, 3, 90),
                description="without the parameter scale the lr stays at initial_lr, not the manual lr",
            ),
        ],
    ),
]

INVALID = [
    InvalidCase("initial-lr-negative", {"initial_lr": -1e-3}, "initial_lr", "a negative lr"),
    InvalidCase("lr-with-relative-step", {"lr": 1e-3}, "lr", "the optimizer's own rule"),
    InvalidCase("no-lr-without-relative-step", {"relative_step": False}, "lr", "the optimizer's own rule"),
    InvalidCase("warmup-init-without-relative-step", {"warmup_init": True, "relative_step": False, "lr": 1e-3}, "warmup_init", "the optimizer's own rule"),
]
