"""Golden cases for ``greedy`` (transformers GreedyLR): metric sequences in, the group lrs after
each ``step(metric)`` out."""

import math

from ._build import InvalidCase, ScheduleCase, ScheduleGroup
from .reduce_lr_on_plateau import metric_walk

FALLING = [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125]
FLAT = [1.0] * 12
# Falls for 6 steps, then stays flat for 10: raises, then cuts.
FALL_THEN_FLAT = [6.0, 5.0, 4.0, 3.0, 2.0, 1.0] + [1.0] * 10

GROUPS = [
    ScheduleGroup(
        name="moves",
        description="increase on improvement, reduce on a plateau, and the counters that pause them",
        cases=[
            ScheduleCase("increase-to-max", {"lr": 0.1, "factor": 0.5, "patience": 1, "max_lr": 0.5, "min_lr": 0.0}, inputs=FALLING, description="lr/factor every second improving step, capped at max_lr"),
            ScheduleCase("reduce-to-min", {"lr": 0.1, "factor": 0.5, "patience": 2, "min_lr": 0.02, "reset_start": 100}, inputs=FLAT, description="lr·factor after each 3 bad steps, floored at min_lr"),
            ScheduleCase("increase-then-reduce", {"lr": 0.1, "factor": 0.5, "patience": 1, "min_lr": 0.0}, inputs=FALL_THEN_FLAT),
            ScheduleCase("warmup-counter", {"lr": 0.1, "factor": 0.5, "patience": 0, "warmup": 2, "min_lr": 0.0}, inputs=FALLING, description="two ignored steps after each raise"),
            ScheduleCase("cooldown-counter", {"lr": 0.8, "factor": 0.5, "patience": 0, "cooldown": 2, "min_lr": 0.0}, inputs=FLAT, description="two ignored steps after each cut"),
            ScheduleCase("cooldown-then-warmup", {"lr": 0.1, "factor": 0.5, "patience": 0, "cooldown": 1, "warmup": 3, "min_lr": 0.0}, inputs=[3.0, 3.0, 3.0, 2.0, 1.0, 0.5, 0.5, 0.5, 0.4, 0.3], description="a cut starts the cooldown, a raise the warmup; the metric is ignored during either"),
            ScheduleCase("eps-blocks", {"lr": 1e-8, "factor": 0.5, "patience": 0, "min_lr": 0.0, "eps": 1e-8}, inputs=[1.0, 1.0, 0.5, 0.25, 0.25], description="changes of 5e-9 and 1e-8 are not above eps"),
        ],
    ),
    ScheduleGroup(
        name="modes",
        cases=[
            ScheduleCase("min-abs-default-threshold", {"lr": 0.1, "factor": 0.5, "patience": 0, "min_lr": 0.0}, inputs=[1.0, 0.9999995, 0.999998, 0.999997, 0.999996, 0.999996], flags=("float-order",), description="abs 1e-6: a drop of 5e-7 does not count, one of 1.5e-6 does"),
            ScheduleCase("min-rel", {"lr": 0.1, "factor": 0.5, "patience": 1, "threshold_mode": "rel", "threshold": 0.1, "min_lr": 0.0}, inputs=[1.0, 0.95, 0.85, 0.8, 0.7, 0.6, 0.55, 0.5]),
            ScheduleCase("max-rel", {"lr": 0.1, "mode": "max", "factor": 0.5, "patience": 1, "threshold_mode": "rel", "threshold": 0.1, "min_lr": 0.0}, inputs=[1.0, 1.05, 1.2, 1.35, 1.5, 1.6, 1.6, 1.6, 1.6]),
            ScheduleCase("max-abs", {"lr": 0.1, "mode": "max", "factor": 0.5, "patience": 1, "threshold": 0.1, "min_lr": 0.0}, inputs=[0.0, 0.05, 0.2, 0.31, 0.4, 0.55, 0.5, 0.5, 0.5]),
        ],
    ),
    ScheduleGroup(
        name="reset",
        description="reset_start counts cuts that end with every group at its floor",
        cases=[
            ScheduleCase("reset-after-2", {"lr": 0.1, "factor": 0.5, "patience": 0, "min_lr": 0.025, "reset_start": 2}, inputs=FLAT, description="raised to 0.2 by the first metric, cut to 0.025 (the floor: 1 left), cut again (0 left): reset to 0.1, and best = inf makes the next metric an improvement"),
            ScheduleCase("reset-then-cooldown", {"lr": 0.1, "factor": 0.5, "patience": 0, "min_lr": 0.05, "reset_start": 1, "cooldown": 2}, inputs=FLAT, description="the cut that resets still starts the cooldown"),
            ScheduleCase("reset-start-0", {"lr": 0.1, "factor": 0.5, "patience": 0, "min_lr": 0.05, "reset_start": 0}, inputs=FLAT[:6], description="reset_start = 0 resets on the first cut that reaches the floor"),
            ScheduleCase("increase-restores-countdown", {"lr": 0.1, "factor": 0.5, "patience": 0, "min_lr": 0.05, "reset_start": 3}, inputs=[2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], description="a cut to the floor (2 left), a raise (back to 3), then three floor cuts before the reset"),
            ScheduleCase("groups-not-all-at-floor", {"lr": 0.1, "group_lrs": [0.1, 0.8], "factor": 0.5, "patience": 0, "min_lr": [0.05, 0.1], "reset_start": 1}, inputs=FLAT, description="no countdown until every group is at its floor"),
        ],
    ),
    ScheduleGroup(
        name="smooth",
        description="rolling mean of the metrics (a running sum)",
        cases=[
            ScheduleCase("window-3", {"lr": 0.1, "factor": 0.5, "patience": 1, "min_lr": 0.0, "smooth": True, "window_size": 3}, inputs=[3.0, 1.0, 2.0, 2.0, 0.5, 3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0]),
            ScheduleCase("window-1", {"lr": 0.1, "factor": 0.5, "patience": 1, "min_lr": 0.0, "smooth": True, "window_size": 1}, inputs=FALL_THEN_FLAT, description="a window of one: the mean is (o + v) − o, not always v"),
            ScheduleCase(
                "running-sum-drift",
                {"lr": 0.1, "factor": 0.5, "patience": 1, "threshold": 0.0, "min_lr": 0.0, "smooth": True, "window_size": 3},
                inputs=[0.71, 0.59, 0.3] * 6,
                flags=("float-order",),
                description="the window mean is constant, but the running sum drifts an ulp below it: an improvement with threshold 0",
            ),
            ScheduleCase("inf-poisons-until-reset", {"lr": 0.1, "factor": 0.5, "patience": 0, "min_lr": 0.05, "reset_start": 2, "smooth": True, "window_size": 2}, inputs=[1.0, 0.5, math.inf, 0.25, 0.1, 0.05, 0.01, 0.005, 0.001, 0.0005, 0.0001], description="inf enters the sum; its removal leaves NaN (never better) until the reset restarts the window"),
            ScheduleCase("reset-restarts-window", {"lr": 0.1, "factor": 0.5, "patience": 1, "min_lr": 0.05, "reset_start": 1, "smooth": True, "window_size": 4}, inputs=[1.0, 2.0, 2.0, 2.0, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3]),
        ],
    ),
    ScheduleGroup(
        name="groups",
        cases=[
            ScheduleCase("per-group-bounds", {"lr": 0.1, "group_lrs": [0.1, 0.01, 1.0], "factor": 0.5, "patience": 1, "min_lr": [0.05, 0.001, 0.9], "max_lr": [0.3, 0.02, 1.5]}, inputs=FALL_THEN_FLAT + FLAT, description="each group raised and cut within its own bounds"),
            ScheduleCase("shared-bounds", {"lr": 0.1, "group_lrs": [0.2, 0.05], "factor": 0.8, "patience": 2, "min_lr": 0.03, "max_lr": 0.25}, inputs=FALL_THEN_FLAT + FLAT),
        ],
    ),
    ScheduleGroup(
        name="random",
        description="noisy metrics (seeded random walks)",
        cases=[
            ScheduleCase("defaults-walk-200", {"lr": 0.1}, inputs=metric_walk(21, 200, scale=0.02), description="GreedyLR defaults: factor 0.95, patience 10, abs 1e-6"),
            ScheduleCase("smooth-walk-120", {"lr": 0.1, "factor": 0.8, "patience": 2, "cooldown": 1, "warmup": 1, "min_lr": 0.01, "max_lr": 0.5, "smooth": True, "window_size": 5, "reset_start": 3}, inputs=metric_walk(22, 120)),
            ScheduleCase("max-rel-walk-120", {"lr": 0.1, "group_lrs": [0.1, 0.02], "mode": "max", "factor": 0.7, "patience": 1, "threshold_mode": "rel", "threshold": 1e-3, "min_lr": [0.01, 0.005], "max_lr": [1.0, 0.1], "reset_start": 4}, inputs=metric_walk(23, 120, start=0.2, drift=0.0, scale=0.02)),
        ],
    ),
]

INVALID = [
    InvalidCase("factor-one", {"factor": 1.0}, "factor", "upstream: ValueError('Factor should be < 1.0.')"),
    InvalidCase("factor-zero", {"factor": 0.0}, "factor", "unchecked upstream: the increase divides by zero"),
    InvalidCase("factor-negative", {"factor": -0.5}, "factor", "unchecked upstream"),
    InvalidCase("min-lr-list-length", {"group_lrs": [0.1, 0.2], "min_lr": [0.0]}, "min_lr", "upstream: ValueError('expected 2 min_lrs, got 1')"),
    InvalidCase("max-lr-list-length", {"max_lr": [1.0, 1.0]}, "max_lr", "upstream: ValueError('expected 1 max_lrs, got 2')"),
    InvalidCase("mode-unknown", {"mode": "maximum"}, "mode", "upstream: ValueError('mode maximum is unknown!')"),
    InvalidCase("threshold-mode-unknown", {"threshold_mode": "absolute"}, "threshold_mode", "upstream: ValueError('threshold mode absolute is unknown!')"),
    InvalidCase("window-size-zero", {"smooth": True, "window_size": 0}, "window_size", "upstream: ZeroDivisionError at the first step"),
    InvalidCase("patience-negative", {"patience": -1}, "patience"),
    InvalidCase("warmup-negative", {"warmup": -1}, "warmup"),
    InvalidCase("reset-start-negative", {"reset_start": -1}, "reset_start"),
]
