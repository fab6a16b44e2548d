"""Golden cases for ``linear``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

BOUNDARIES = [0, 1, 2, 3, 9, 10, 11, 20]

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1, T−1, T, T+1, 2T",
        cases=[
            ScheduleCase("w2-t10", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10}, steps=list(range(0, 21)), discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10) and past the end"),
            ScheduleCase("w0-t8", {"lr": 0.1, "num_warmup_steps": 0, "num_training_steps": 8}, steps=[0, 1, 7, 8, 9, 16], discriminates=("step_offset",), description="no warmup: λ(0) = 1"),
            ScheduleCase("w12-t10", {"lr": 3e-4, "num_warmup_steps": 12, "num_training_steps": 10}, steps=[0, 9, 10, 11, 12, 13, 20], description="W > T: zero after the warmup"),
            ScheduleCase("w10-t10", {"lr": 3e-4, "num_warmup_steps": 10, "num_training_steps": 10}, steps=[0, 9, 10, 11, 20], description="W = T"),
            ScheduleCase("two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 5e-2], "num_warmup_steps": 3, "num_training_steps": 30}, steps=[0, 1, 2, 3, 4, 29, 30, 31, 60], description="each group scales its own base lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-negative", {"num_warmup_steps": -1, "num_training_steps": 10}, "num_warmup_steps"),
    InvalidCase("total-zero", {"num_warmup_steps": 0, "num_training_steps": 0}, "num_training_steps"),
]
