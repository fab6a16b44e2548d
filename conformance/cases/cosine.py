"""Golden cases for ``cosine``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1, T−1, T, T+1, 2T; W = 0; W > T; W = T",
        cases=[
            ScheduleCase("w2-t10", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10}, steps=list(range(0, 21)), discriminates=("step_offset", "past_total"), description="transformers' test table (lr 10, W 2, T 10), past T included"),
            ScheduleCase("w0-t8", {"lr": 0.1, "num_warmup_steps": 0, "num_training_steps": 8}, steps=[0, 1, 7, 8, 9, 16], discriminates=("step_offset", "past_total"), description="no warmup: λ(0) = 1"),
            ScheduleCase("w12-t10", {"lr": 3e-4, "num_warmup_steps": 12, "num_training_steps": 10}, steps=[0, 11, 12, 13, 14, 15, 20], discriminates=("step_offset", "past_total"), description="W > T: p = t − W, so λ alternates 1, 0, 1, … after the warmup"),
            ScheduleCase("w10-t10", {"lr": 3e-4, "num_warmup_steps": 10, "num_training_steps": 10}, steps=[0, 9, 10, 11, 12, 20], discriminates=("past_total",), description="W = T"),
            ScheduleCase("w100-t1000", {"lr": 3e-4, "num_warmup_steps": 100, "num_training_steps": 1000}, steps=[0, 1, 99, 100, 101, 550, 999, 1000, 1001, 1900, 2000], discriminates=("step_offset", "past_total"), description="a realistic length"),
        ],
    ),
    ScheduleGroup(
        name="past-total",
        description="periodic past T (transformers) versus held at the final value (optax, keras)",
        cases=[
            ScheduleCase("rise-again", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10}, steps=[10, 11, 14, 18, 19, 26, 34], discriminates=("past_total",), description="back at the peak at t = 2T − W = 18"),
            ScheduleCase("full-cycle-past-t", {"lr": 1e-3, "num_warmup_steps": 0, "num_training_steps": 16, "num_cycles": 1.0}, steps=[16, 20, 24, 32], discriminates=("past_total",), description="nc = 1 ends at the peak; periodic keeps waving, clamped holds the peak"),
        ],
    ),
    ScheduleGroup(
        name="cycles",
        description="several num_cycles",
        cases=[
            ScheduleCase("nc0", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 0.0}, steps=[0, 1, 2, 5, 10, 20], discriminates=("step_offset",), description="nc = 0: constant after the warmup"),
            ScheduleCase("nc1", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 1.0}, steps=list(range(0, 11)), discriminates=("step_offset",), description="one full wave: 0 at the middle, back to the peak at T"),
            ScheduleCase("nc1.5", {"lr": 1e-3, "num_warmup_steps": 4, "num_training_steps": 16, "num_cycles": 1.5}, steps=list(range(0, 17)), discriminates=("step_offset",), description="one and a half waves: ends at 0"),
            ScheduleCase("nc3", {"lr": 1e-3, "num_warmup_steps": 0, "num_training_steps": 12, "num_cycles": 3}, steps=list(range(0, 13)), discriminates=("step_offset",), description="an int nc, three full waves"),
        ],
    ),
    ScheduleGroup(
        name="param-groups",
        description="group lrs different from lr",
        cases=[
            ScheduleCase("two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 5e-2], "num_warmup_steps": 3, "num_training_steps": 30}, steps=[0, 1, 3, 4, 16, 29, 30, 31], discriminates=("step_offset",), description="one λ scales each group's own lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-negative", {"num_warmup_steps": -1, "num_training_steps": 10}, "num_warmup_steps"),
    InvalidCase("total-zero", {"num_warmup_steps": 0, "num_training_steps": 0}, "num_training_steps"),
    InvalidCase("cycles-negative", {"num_warmup_steps": 0, "num_training_steps": 10, "num_cycles": -0.5}, "num_cycles"),
]
