"""Golden cases for ``create_optimizer`` (the schedule transformers' TF create_optimizer builds)."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

# W = 10, T = 100: t = 0, 1, W−1, W, W+1, mid, T−1, T, T+1, 2T.
STEPS = [0, 1, 9, 10, 11, 55, 99, 100, 101, 200]
BASE = {"init_lr": 5e-5, "num_train_steps": 100, "num_warmup_steps": 10}

GROUPS = [
    ScheduleGroup(
        name="warmup",
        description="linear warmup (power is not passed on), then the polynomial decay of t − W",
        cases=[
            ScheduleCase("w10-t100", BASE, steps=STEPS, discriminates=("step_offset",), description="defaults: decay to 0, power 1"),
            ScheduleCase("w10-t100-power0.5-ratio0.1", {**BASE, "power": 0.5, "min_lr_ratio": 0.1}, steps=STEPS, discriminates=("step_offset",)),
            ScheduleCase("w10-t100-power2-ratio0.1", {**BASE, "power": 2.0, "min_lr_ratio": 0.1}, steps=STEPS, discriminates=("step_offset",), description="power 2 shapes the decay only; the warmup stays linear"),
            ScheduleCase("w99-t100", {**BASE, "num_warmup_steps": 99, "min_lr_ratio": 0.5}, steps=[0, 1, 98, 99, 100, 101, 200], discriminates=("step_offset",), description="W = T − 1: a one-step decay"),
            ScheduleCase("ratio-one", {**BASE, "min_lr_ratio": 1.0}, steps=STEPS, description="end = init: warmup, then constant"),
        ],
    ),
    ScheduleGroup(
        name="no-warmup",
        description="W = 0: the bare PolynomialDecay, lr(0) = init_lr",
        cases=[
            ScheduleCase("w0-t100", {**BASE, "num_warmup_steps": 0}, steps=[0, 1, 50, 99, 100, 101, 200], discriminates=("step_offset",)),
            ScheduleCase("w0-t100-power2-ratio0.2", {**BASE, "num_warmup_steps": 0, "power": 2.0, "min_lr_ratio": 0.2}, steps=[0, 1, 50, 99, 100, 101, 200], discriminates=("step_offset",)),
            ScheduleCase("w0-t1", {"init_lr": 1e-3, "num_train_steps": 1, "num_warmup_steps": 0, "min_lr_ratio": 0.01}, steps=[0, 1, 2], discriminates=("step_offset",)),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-equals-total", {**BASE, "num_warmup_steps": 100}, "num_warmup_steps", "upstream: decay_steps = 0, a NaN lr after the warmup"),
    InvalidCase("warmup-above-total", {**BASE, "num_warmup_steps": 150}, "num_warmup_steps"),
    InvalidCase("warmup-negative", {**BASE, "num_warmup_steps": -1}, "num_warmup_steps"),
    InvalidCase("total-zero", {"init_lr": 5e-5, "num_train_steps": 0, "num_warmup_steps": 0}, "num_train_steps"),
    InvalidCase("ratio-negative", {**BASE, "min_lr_ratio": -0.1}, "min_lr_ratio"),
    InvalidCase("ratio-above-one", {**BASE, "min_lr_ratio": 1.5}, "min_lr_ratio"),
    InvalidCase("power-negative", {**BASE, "power": -1.0}, "power"),
    InvalidCase("init-lr-zero", {**BASE, "init_lr": 0.0}, "init_lr"),
]
