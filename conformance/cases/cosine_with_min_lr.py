"""Golden cases for ``cosine_with_min_lr``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

TABLE = {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10}

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1, T−1, T, T+1, 2T; W = 0; W > T",
        cases=[
            ScheduleCase("w2-t10-rate0.1", {**TABLE, "min_lr_rate": 0.1}, steps=list(range(0, 21)), discriminates=("step_offset", "past_total"), description="transformers' test table (lr 10, W 2, T 10), past T included"),
            ScheduleCase("w0-t8-rate0.2", {"lr": 0.1, "num_warmup_steps": 0, "num_training_steps": 8, "min_lr_rate": 0.2}, steps=[0, 1, 7, 8, 9, 16], discriminates=("step_offset", "past_total"), description="no warmup: λ(0) = 1"),
            ScheduleCase("w12-t10-rate0.1", {"lr": 3e-4, "num_warmup_steps": 12, "num_training_steps": 10, "min_lr_rate": 0.1}, steps=[0, 11, 12, 13, 14, 20], discriminates=("step_offset", "past_total"), description="W > T: λ alternates 1, r, 1, … after the warmup"),
        ],
    ),
    ScheduleGroup(
        name="floor",
        description="min_lr versus min_lr_rate, and the extreme rates",
        cases=[
            ScheduleCase("min-lr", {**TABLE, "min_lr": 1.0}, steps=list(range(0, 12)), discriminates=("step_offset",), description="min_lr = 1 with lr = 10 is the rate 0.1 of the table"),
            ScheduleCase("rate0", {**TABLE, "min_lr_rate": 0.0}, steps=[0, 2, 6, 10, 14], discriminates=("step_offset",), description="rate 0 is plain cosine"),
            ScheduleCase("rate1", {**TABLE, "min_lr_rate": 1.0}, steps=[0, 1, 2, 6, 10, 14], discriminates=("step_offset",), description="rate 1: constant after the warmup"),
            ScheduleCase("min-lr-equals-lr", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "min_lr": 1e-3}, steps=[0, 1, 2, 10], discriminates=("step_offset",), description="min_lr = lr: rate 1"),
        ],
    ),
    ScheduleGroup(
        name="past-total",
        description="periodic past T (transformers) versus held at the floor (optax alpha, keras end value)",
        cases=[
            ScheduleCase("rise-again", {**TABLE, "min_lr_rate": 0.1}, steps=[10, 11, 14, 18, 26, 34], discriminates=("past_total",), description="back at the peak at t = 2T − W = 18"),
        ],
    ),
    ScheduleGroup(
        name="cycles",
        description="several num_cycles",
        cases=[
            ScheduleCase("nc1", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 1.0, "min_lr_rate": 0.25}, steps=list(range(0, 11)), discriminates=("step_offset",), description="one full wave between 1 and r"),
            ScheduleCase("nc2", {"lr": 1e-3, "num_warmup_steps": 0, "num_training_steps": 8, "num_cycles": 2, "min_lr_rate": 0.5}, steps=list(range(0, 9)), discriminates=("step_offset",), description="two full waves"),
        ],
    ),
    ScheduleGroup(
        name="param-groups",
        description="group lrs different from lr: min_lr is converted with the optimizer's default lr",
        cases=[
            ScheduleCase("min-lr-two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 4e-3], "num_warmup_steps": 2, "num_training_steps": 10, "min_lr": 1e-4}, steps=[0, 1, 2, 6, 10], discriminates=("step_offset",), description="the second group's floor is 4e-3·0.1 = 4e-4, not min_lr"),
            ScheduleCase("rate-two-groups", {"lr": 1e-3, "group_lrs": [2e-3, 5e-4], "num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.1}, steps=[0, 1, 2, 6, 10], discriminates=("step_offset",), description="each group's floor is rate·its own lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("both-floors", {**TABLE, "min_lr": 1.0, "min_lr_rate": 0.1}, "min_lr", "transformers: ValueError (only one may be set)"),
    InvalidCase("no-floor", {**TABLE}, "min_lr", "transformers: ValueError (one must be set)"),
    InvalidCase("rate-negative", {**TABLE, "min_lr_rate": -0.1}, "min_lr_rate"),
    InvalidCase("rate-above-one", {**TABLE, "min_lr_rate": 1.5}, "min_lr_rate"),
    InvalidCase("min-lr-negative", {**TABLE, "min_lr": -1.0}, "min_lr"),
    InvalidCase("min-lr-above-lr", {**TABLE, "min_lr": 20.0}, "min_lr", "a floor rate above 1"),
    InvalidCase("warmup-negative", {"num_warmup_steps": -1, "num_training_steps": 10, "min_lr_rate": 0.1}, "num_warmup_steps"),
    InvalidCase("total-zero", {"num_warmup_steps": 0, "num_training_steps": 0, "min_lr_rate": 0.1}, "num_training_steps"),
    InvalidCase("cycles-negative", {**TABLE, "num_cycles": -0.5, "min_lr_rate": 0.1}, "num_cycles"),
]
