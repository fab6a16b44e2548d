"""Golden cases for ``cosine_with_restarts``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1, T−1, T, T+1, 2T; W = 0; W > T; W = T",
        cases=[
            ScheduleCase("w2-t10-nc2", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 2}, steps=list(range(0, 21)), discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10): restart at t = 6, 0 from T on"),
            ScheduleCase("w0-t8", {"lr": 0.1, "num_warmup_steps": 0, "num_training_steps": 8}, steps=[0, 1, 7, 8, 9, 16], discriminates=("step_offset",), description="no warmup, the default nc = 1"),
            ScheduleCase("w12-t10", {"lr": 3e-4, "num_warmup_steps": 12, "num_training_steps": 10}, steps=[0, 11, 12, 13, 20], discriminates=("step_offset",), description="W > T: 1 at t = W, then 0"),
            ScheduleCase("w10-t10", {"lr": 3e-4, "num_warmup_steps": 10, "num_training_steps": 10, "num_cycles": 3}, steps=[0, 9, 10, 11, 20], discriminates=("step_offset",), description="W = T"),
        ],
    ),
    ScheduleGroup(
        name="restarts",
        description="the steps just before, at and after each restart",
        cases=[
            ScheduleCase("nc3-w0-t30", {"lr": 1e-3, "num_warmup_steps": 0, "num_training_steps": 30, "num_cycles": 3}, steps=[0, 1, 9, 10, 11, 19, 20, 21, 29, 30, 31, 60], discriminates=("step_offset",), description="restarts at t = 10 and 20"),
            ScheduleCase("nc1.5-w5-t17", {"lr": 1e-3, "num_warmup_steps": 5, "num_training_steps": 17, "num_cycles": 1.5}, steps=[0, 4, 5, 6, 12, 13, 14, 16, 17, 18, 34], discriminates=("step_offset",), description="a fractional nc: the last cycle is cut at half height (restart at t = 13)"),
            ScheduleCase("nc0", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 0}, steps=[0, 1, 2, 5, 9, 10, 11], discriminates=("step_offset",), description="nc = 0: the peak until T, then 0"),
            ScheduleCase(
                "float-phase-snap",
                {"lr": 1e-3, "num_warmup_steps": 0, "num_training_steps": 33, "num_cycles": 3.3},
                steps=[0, 9, 10, 11, 19, 20, 21, 30, 32, 33],
                description="the real phase 3.3·10/33 lies just below 1, transformers' float64 phase is exactly 0: "
                "λ(10) = λ(20) = 1 (a restart), where exact arithmetic would give ≈ 0",
            ),
        ],
    ),
    ScheduleGroup(
        name="param-groups",
        description="group lrs different from lr",
        cases=[
            ScheduleCase("two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 5e-2], "num_warmup_steps": 3, "num_training_steps": 23, "num_cycles": 2}, steps=[0, 1, 3, 4, 12, 13, 14, 22, 23, 24], discriminates=("step_offset",), description="one λ scales each group's own lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-negative", {"num_warmup_steps": -1, "num_training_steps": 10}, "num_warmup_steps"),
    InvalidCase("total-zero", {"num_warmup_steps": 0, "num_training_steps": 0}, "num_training_steps"),
    InvalidCase("cycles-negative", {"num_warmup_steps": 0, "num_training_steps": 10, "num_cycles": -1}, "num_cycles"),
]
