"""Golden cases for ``reduce_lr_on_plateau`` (torch ReduceLROnPlateau): metric sequences in, the
group lrs after each ``step(metric)`` out."""

import math

from ._build import InvalidCase, ScheduleCase, ScheduleGroup, rng

PLATEAU = [1.0, 0.9, 0.8, 0.8, 0.79995, 0.8, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
RISING = [0.5, 0.6, 0.7, 0.7, 0.70003, 0.69, 0.9, 0.9, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9]


def metric_walk(seed: int, steps: int, start: float = 2.0, drift: float = -0.01, scale: float = 0.05) -> list[float]:
    """A noisy metric rounded to 3 decimals, so ties and long plateaus occur."""
    values = start + (drift + scale * rng(seed).standard_normal(steps)).cumsum()
    return [round(float(v), 3) for v in values]


GROUPS = [
    ScheduleGroup(
        name="modes",
        description="min/max × rel/abs: which metrics count as better",
        cases=[
            ScheduleCase("min-rel", {"lr": 0.1, "factor": 0.5, "patience": 2}, inputs=PLATEAU, description="0.79995 is below 0.8 but not by the relative threshold 1e-4"),
            ScheduleCase("min-abs", {"lr": 0.1, "factor": 0.5, "patience": 2, "threshold_mode": "abs", "threshold": 0.15}, inputs=PLATEAU, description="improvements of 0.15 or less do not count"),
            ScheduleCase("max-rel", {"lr": 0.1, "factor": 0.5, "patience": 2, "mode": "max"}, inputs=RISING, description="a rising metric; 0.70003 is not better than 0.7·(1 + 1e-4)"),
            ScheduleCase("max-abs", {"lr": 0.1, "factor": 0.5, "patience": 1, "mode": "max", "threshold_mode": "abs", "threshold": 0.1}, inputs=RISING, description="only rises of more than 0.1 count"),
            ScheduleCase("rel-boundary", {"lr": 1.0, "factor": 0.5, "patience": 0, "threshold": 0.25}, inputs=[1.0, 0.75, 0.7499999, 0.5625, 0.56249], description="better means strictly below best·(1 − thr): 0.75 is not, 0.7499999 is"),
            ScheduleCase("patience-0", {"lr": 1.0, "factor": 0.5, "patience": 0}, inputs=[3.0, 3.0, 2.0, 2.5, 2.5, 1.0, 1.0], description="every bad step cuts"),
        ],
    ),
    ScheduleGroup(
        name="cooldown",
        cases=[
            ScheduleCase("cooldown-2", {"lr": 1.0, "factor": 0.5, "patience": 1, "cooldown": 2}, inputs=[1.0] * 12, description="after a cut, two steps whose bad counts are dropped"),
            ScheduleCase("cooldown-improving", {"lr": 1.0, "factor": 0.5, "patience": 0, "cooldown": 3}, inputs=[5.0, 5.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.0], description="best keeps updating during the cooldown"),
        ],
    ),
    ScheduleGroup(
        name="floors",
        description="min_lr floors and the eps rule",
        cases=[
            ScheduleCase("min-lr", {"lr": 1.0, "factor": 0.1, "patience": 0, "min_lr": 0.015}, inputs=[1.0] * 6, description="1 → 0.1 → 0.015 (floored) → stays"),
            ScheduleCase("eps-blocks-cut", {"lr": 1e-7, "factor": 0.5, "patience": 0, "eps": 1e-7}, inputs=[1.0] * 4, description="a cut of 5e-8 is below eps: the lr never moves"),
            ScheduleCase("eps-near-floor", {"lr": 0.0150000001, "factor": 0.5, "patience": 0, "min_lr": 0.015}, inputs=[1.0] * 3, description="lr − floor = 1e-10 < eps: stays above the floor"),
            ScheduleCase("eps-zero", {"lr": 1e-300, "factor": 0.5, "patience": 0, "eps": 0.0}, inputs=[1.0] * 90, description="eps = 0 with min_lr = 0: halving on through the subnormals to exactly 0"),
        ],
    ),
    ScheduleGroup(
        name="groups",
        cases=[
            ScheduleCase("three-groups-per-group-floor", {"lr": 0.1, "group_lrs": [0.1, 1.0, 0.01], "factor": 0.5, "patience": 0, "min_lr": [0.001, 0.5, 0.0]}, inputs=[1.0] * 10, description="each group cut and floored separately"),
            ScheduleCase("two-groups-shared-floor", {"lr": 0.1, "group_lrs": [0.1, 0.3], "factor": 0.2, "patience": 1, "min_lr": 0.01}, inputs=PLATEAU, description="one min_lr for all groups"),
        ],
    ),
    ScheduleGroup(
        name="nonfinite",
        description="NaN and infinite metrics",
        cases=[
            ScheduleCase("nan-is-bad", {"lr": 1.0, "factor": 0.5, "patience": 1}, inputs=[1.0, math.nan, math.nan, 0.5, math.nan, 0.4], description="a NaN metric is never better"),
            ScheduleCase("minus-inf-best", {"lr": 1.0, "factor": 0.5, "patience": 1}, inputs=[1.0, -math.inf, 0.0, -1e300, 0.0, 0.0], description="once best is −inf nothing is better"),
            ScheduleCase("inf-first", {"lr": 1.0, "factor": 0.5, "patience": 1, "mode": "max"}, inputs=[math.inf, 1.0, 2.0, 3.0], description="max mode: +inf first, then nothing is better"),
        ],
    ),
    ScheduleGroup(
        name="random",
        description="noisy metrics with plateaus (seeded random walks)",
        cases=[
            ScheduleCase("defaults-walk-120", {"lr": 1e-3}, inputs=metric_walk(11, 120), description="torch defaults: patience 10, factor 0.1, rel 1e-4"),
            ScheduleCase("min-abs-walk-80", {"lr": 0.1, "factor": 0.7, "patience": 3, "threshold_mode": "abs", "threshold": 0.02, "cooldown": 2, "min_lr": 0.01}, inputs=metric_walk(12, 80)),
            ScheduleCase("max-rel-walk-80", {"lr": 0.1, "group_lrs": [0.1, 0.02], "mode": "max", "factor": 0.5, "patience": 2, "threshold": 1e-3, "cooldown": 1, "min_lr": [0.005, 0.004]}, inputs=metric_walk(13, 80, start=0.2, drift=0.005, scale=0.02)),
            ScheduleCase("max-abs-walk-80", {"lr": 0.3, "mode": "max", "factor": 0.8, "patience": 4, "threshold_mode": "abs", "threshold": 0.01}, inputs=metric_walk(14, 80, start=0.0, drift=0.002, scale=0.03)),
        ],
    ),
]

INVALID = [
    InvalidCase("factor-one", {"factor": 1.0}, "factor", "upstream: ValueError('Factor should be < 1.0.')"),
    InvalidCase("factor-negative", {"factor": -0.5}, "factor"),
    InvalidCase("mode-unknown", {"mode": "minimum"}, "mode", "upstream: ValueError('mode minimum is unknown!')"),
    InvalidCase("threshold-mode-unknown", {"threshold_mode": "relative"}, "threshold_mode", "upstream: ValueError('threshold mode relative is unknown!')"),
    InvalidCase("min-lr-list-length", {"group_lrs": [0.1, 0.2], "min_lr": [0.0, 0.0, 0.0]}, "min_lr", "upstream: ValueError('expected 2 min_lrs, got 3')"),
    InvalidCase("min-lr-negative", {"min_lr": -1e-3}, "min_lr"),
    InvalidCase("patience-negative", {"patience": -1}, "patience"),
    InvalidCase("cooldown-negative", {"cooldown": -1}, "cooldown"),
    InvalidCase("threshold-negative", {"threshold": -1e-4}, "threshold"),
    InvalidCase("eps-negative", {"eps": -1e-8}, "eps"),
]
