"""Golden cases for ``constant_with_warmup``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1 and far later",
        cases=[
            ScheduleCase("w4", {"lr": 10.0, "num_warmup_steps": 4}, steps=list(range(0, 10)) + [20], discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10)"),
            ScheduleCase("w0", {"lr": 0.1, "num_warmup_steps": 0}, steps=[0, 1, 5], description="no warmup: constant from t = 0"),
            ScheduleCase("w1", {"lr": 3e-4, "num_warmup_steps": 1}, steps=[0, 1, 2, 50], discriminates=("step_offset",), description="one warmup step at lr 0"),
            ScheduleCase("w1000", {"lr": 3e-4, "num_warmup_steps": 1000}, steps=[0, 1, 333, 999, 1000, 1001, 2000], discriminates=("step_offset",), description="a long warmup: ramp values that are not dyadic"),
            ScheduleCase("two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 5e-2], "num_warmup_steps": 3}, steps=[0, 1, 2, 3, 4, 6], discriminates=("step_offset",), description="each group ramps to its own lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-negative", {"num_warmup_steps": -1}, "num_warmup_steps"),
]
