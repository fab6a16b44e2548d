"""Golden cases for ``cosine_warmup_with_min_lr``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

TABLE = {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10, "min_lr_rate": 0.1}

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1, T−1, T, T+1, 2T; W = 0, 1; W > T",
        cases=[
            ScheduleCase("w2-t10-rate0.1", TABLE, steps=list(range(0, 21)), discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10): the +1 shift, floor at T − 1, periodic after"),
            ScheduleCase("w2-t10-warmup-rate0.2", {**TABLE, "warmup_lr_rate": 0.2}, steps=list(range(0, 12)), discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10): the ramp starts at wr and reaches 1 at W − 1"),
            ScheduleCase("w0-t8", {"lr": 0.1, "num_warmup_steps": 0, "num_training_steps": 8, "min_lr_rate": 0.2}, steps=[0, 1, 6, 7, 8, 9, 16], discriminates=("step_offset",), description="no warmup: already decayed at t = 0"),
            ScheduleCase("w1-t10", {"lr": 1e-3, "num_warmup_steps": 1, "num_training_steps": 10, "min_lr_rate": 0.1}, steps=[0, 1, 2, 9, 10], discriminates=("step_offset",), description="W = 1: λ(0) = 1"),
            ScheduleCase("w12-t10", {"lr": 3e-4, "num_warmup_steps": 12, "num_training_steps": 10, "min_lr_rate": 0.1}, steps=[0, 11, 12, 13, 14, 20], discriminates=("step_offset",), description="W > T: p = t − W + 1 after the warmup"),
        ],
    ),
    ScheduleGroup(
        name="warmup-rate",
        description="the warmup start rate wr",
        cases=[
            ScheduleCase("w1-warmup-rate0.3", {"lr": 1e-3, "num_warmup_steps": 1, "num_training_steps": 10, "min_lr_rate": 0.1, "warmup_lr_rate": 0.3}, steps=[0, 1, 2, 9], discriminates=("step_offset",), description="W = 1: λ(0) = wr"),
            ScheduleCase("w5-warmup-rate0", {"lr": 1e-3, "num_warmup_steps": 5, "num_training_steps": 20, "min_lr_rate": 0.0, "warmup_lr_rate": 0.0}, steps=list(range(0, 8)) + [19, 20], discriminates=("step_offset",), description="wr = 0: starts at 0 like the other schedules, peak at W − 1"),
            ScheduleCase("w7-warmup-rate0.01", {"lr": 1e-3, "num_warmup_steps": 7, "num_training_steps": 30, "min_lr": 1e-5, "warmup_lr_rate": 0.01}, steps=list(range(0, 9)) + [29, 30], discriminates=("step_offset",), description="a ramp over W − 1 = 6 steps with non-dyadic values"),
        ],
    ),
    ScheduleGroup(
        name="floor",
        description="min_lr versus min_lr_rate, and num_cycles",
        cases=[
            ScheduleCase("min-lr", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10, "min_lr": 1.0}, steps=list(range(0, 12)), discriminates=("step_offset",), description="min_lr = 1 with lr = 10 is the rate 0.1 of the table"),
            ScheduleCase("nc1", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 1.0, "min_lr_rate": 0.25}, steps=list(range(0, 12)), discriminates=("step_offset",), description="one full wave, shifted by one step"),
        ],
    ),
    ScheduleGroup(
        name="param-groups",
        description="group lrs different from lr: min_lr is converted with the optimizer's default lr",
        cases=[
            ScheduleCase("min-lr-two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 4e-3], "num_warmup_steps": 2, "num_training_steps": 10, "min_lr": 1e-4}, steps=[0, 1, 2, 5, 9, 10], discriminates=("step_offset",), description="the second group's floor is 4e-3·0.1 = 4e-4, not min_lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("both-floors", {**TABLE, "min_lr": 1.0}, "min_lr", "transformers: ValueError (only one may be set)"),
    InvalidCase("no-floor", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10}, "min_lr", "transformers: ValueError (one must be set)"),
    InvalidCase("rate-negative", {**TABLE, "min_lr_rate": -0.1}, "min_lr_rate"),
    InvalidCase("rate-above-one", {**TABLE, "min_lr_rate": 1.5}, "min_lr_rate"),
    InvalidCase("min-lr-negative", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10, "min_lr": -1.0}, "min_lr"),
    InvalidCase("min-lr-above-lr", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10, "min_lr": 20.0}, "min_lr", "a floor rate above 1"),
    InvalidCase("warmup-rate-negative", {**TABLE, "warmup_lr_rate": -0.2}, "warmup_lr_rate"),
    InvalidCase("warmup-rate-above-one", {**TABLE, "warmup_lr_rate": 1.2}, "warmup_lr_rate"),
    InvalidCase("warmup-negative", {**TABLE, "num_warmup_steps": -1}, "num_warmup_steps"),
    InvalidCase("total-zero", {**TABLE, "num_warmup_steps": 0, "num_training_steps": 0}, "num_training_steps"),
    InvalidCase("cycles-negative", {**TABLE, "num_cycles": -0.5}, "num_cycles"),
]
