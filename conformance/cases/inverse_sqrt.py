"""Golden cases for ``inverse_sqrt``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1 and far later; W = 0 (timescale 10 000)",
        cases=[
            ScheduleCase("w2", {"lr": 10.0, "num_warmup_steps": 2}, steps=list(range(0, 21)), discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10)"),
            ScheduleCase("w0-default-timescale", {"lr": 1e-3, "num_warmup_steps": 0}, steps=[0, 1, 100, 10000, 30000, 990000], discriminates=("step_offset",), description="W = 0: timescale 10 000, not 0; λ(30 000) = 1/2"),
            ScheduleCase("w1", {"lr": 1e-3, "num_warmup_steps": 1}, steps=[0, 1, 2, 3, 100], discriminates=("step_offset",), description="one warmup step"),
            ScheduleCase("w4000", {"lr": 7e-4, "num_warmup_steps": 4000}, steps=[0, 1, 3999, 4000, 4001, 16000, 100000], discriminates=("step_offset",), description="a Transformer-paper-like warmup"),
        ],
    ),
    ScheduleGroup(
        name="timescale",
        description="an explicit timescale",
        cases=[
            ScheduleCase("w4-timescale10", {"lr": 1e-3, "num_warmup_steps": 4, "timescale": 10}, steps=[0, 3, 4, 5, 10, 100], discriminates=("step_offset",), description="λ(W) = 1 whatever the timescale"),
            ScheduleCase("w0-timescale3", {"lr": 1e-3, "num_warmup_steps": 0, "timescale": 3}, steps=[0, 1, 2, 9, 300], discriminates=("step_offset",), description="no warmup, a short timescale"),
            ScheduleCase("w8-timescale2", {"lr": 1e-3, "num_warmup_steps": 8, "timescale": 2}, steps=[7, 8, 9, 10, 50], discriminates=("step_offset",), description="timescale < W: a fast decay after the warmup"),
        ],
    ),
    ScheduleGroup(
        name="param-groups",
        description="group lrs different from lr",
        cases=[
            ScheduleCase("two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 5e-2], "num_warmup_steps": 3}, steps=[0, 1, 3, 4, 12, 300], discriminates=("step_offset",), description="one λ scales each group's own lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-negative", {"num_warmup_steps": -1}, "num_warmup_steps"),
    InvalidCase("timescale-zero", {"num_warmup_steps": 2, "timescale": 0}, "timescale", "transformers: ZeroDivisionError at t = W"),
    InvalidCase("timescale-negative", {"num_warmup_steps": 2, "timescale": -4}, "timescale", "transformers crashes once t reaches W − τ (1/√0, then √ of a negative number)"),
]
