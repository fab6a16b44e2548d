"""Golden cases for ``polynomial``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

TABLE = {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 1e-7}

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+1, T−1, T, T+1, 2T; W = 0; W > T",
        cases=[
            ScheduleCase("w2-t10-power2", {**TABLE, "power": 2.0}, steps=list(range(0, 21)), discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10)"),
            ScheduleCase("w2-t10-power1", {**TABLE, "power": 1.0}, steps=list(range(0, 21)), discriminates=("step_offset",), description="the default power: linear down to lr_end"),
            ScheduleCase("w0-t8", {"lr": 0.1, "num_warmup_steps": 0, "num_training_steps": 8}, steps=[0, 1, 7, 8, 9, 16], discriminates=("step_offset",), description="no warmup, default lr_end and power"),
            ScheduleCase("w12-t10", {"lr": 3e-4, "num_warmup_steps": 12, "num_training_steps": 10}, steps=[0, 11, 12, 13, 20], discriminates=("step_offset",), description="W > T: lr_end / lr right after the warmup"),
            ScheduleCase("w100-t1000", {"lr": 3e-4, "num_warmup_steps": 100, "num_training_steps": 1000, "lr_end": 3e-6, "power": 1.0}, steps=[0, 99, 100, 101, 550, 999, 1000, 1001, 2000], discriminates=("step_offset",), description="a realistic length"),
        ],
    ),
    ScheduleGroup(
        name="power",
        description="power 0, 1, 2 and non-integer",
        cases=[
            ScheduleCase("power0-jump", {**TABLE, "power": 0.0}, steps=[0, 1, 2, 3, 9, 10, 11, 12], discriminates=("step_offset",), description="0.0**0 = 1: λ(T) = 1, then a jump to lr_end / lr at T + 1"),
            ScheduleCase("power0.5", {"lr": 1.0, "num_warmup_steps": 1, "num_training_steps": 9, "lr_end": 0.01, "power": 0.5}, steps=list(range(0, 11)), discriminates=("step_offset",), description="a square-root decay"),
            ScheduleCase("power3", {"lr": 2e-3, "num_warmup_steps": 3, "num_training_steps": 13, "lr_end": 1e-5, "power": 3}, steps=list(range(0, 15)), discriminates=("step_offset",), description="an int power"),
        ],
    ),
    ScheduleGroup(
        name="lr-end",
        description="where the decay ends",
        cases=[
            ScheduleCase("lr-end-zero", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 0.0}, steps=[0, 2, 9, 10, 11, 20], discriminates=("step_offset",), description="ends at 0"),
            ScheduleCase("lr-end-half", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 5e-4, "power": 2.0}, steps=[0, 2, 6, 10, 11, 20], discriminates=("step_offset",), description="a high floor"),
        ],
    ),
    ScheduleGroup(
        name="param-groups",
        description="the decay is computed on the optimizer's default lr, then scaled by each group lr",
        cases=[
            ScheduleCase(
                "group-lr-differs",
                {"lr": 1e-3, "group_lrs": [1e-3, 1e-2], "num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 1e-4},
                steps=[0, 1, 2, 6, 10, 11, 20],
                discriminates=("step_offset",),
                description="the second group ends at 1e-2·(1e-4/1e-3) = 1e-3, not at lr_end",
            ),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-negative", {"num_warmup_steps": -1, "num_training_steps": 10}, "num_warmup_steps"),
    InvalidCase("total-zero", {"num_warmup_steps": 0, "num_training_steps": 0}, "num_training_steps"),
    InvalidCase("warmup-equals-total", {"num_warmup_steps": 10, "num_training_steps": 10}, "num_training_steps", "transformers: ZeroDivisionError at t = W"),
    InvalidCase("lr-end-equals-lr", {"lr": 1e-3, "lr_end": 1e-3, "num_warmup_steps": 0, "num_training_steps": 10}, "lr_end", "transformers: ValueError, equal values included"),
    InvalidCase("lr-end-above-lr", {"lr": 1e-3, "lr_end": 1e-2, "num_warmup_steps": 0, "num_training_steps": 10}, "lr_end", "transformers: ValueError"),
    InvalidCase("power-negative", {"num_warmup_steps": 0, "num_training_steps": 10, "power": -1.0}, "power", "transformers: ZeroDivisionError (0.0 ** -1) at t = T"),
]
