"""Golden cases for ``warmup`` (transformers' TF WarmUp around a Keras PolynomialDecay)."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

# W = 4, decay_steps = 16, so the decay ends at T = 20: t = 0, 1, W−1, W, W+1, mid, T−1, T, T+1, 2T.
STEPS = [0, 1, 3, 4, 5, 12, 19, 20, 21, 40]
BASE = {"initial_learning_rate": 1e-3, "warmup_steps": 4, "decay_steps": 16, "end_learning_rate": 1e-5}

GROUPS = [
    ScheduleGroup(
        name="powers",
        description="warmup power 0.5, 1, 2 before the same decay",
        cases=[
            ScheduleCase("w4-power1", BASE, steps=STEPS, discriminates=("step_offset",)),
            ScheduleCase("w4-power0.5", {**BASE, "power": 0.5}, steps=STEPS, discriminates=("step_offset",)),
            ScheduleCase("w4-power2", {**BASE, "power": 2.0}, steps=STEPS, discriminates=("step_offset",)),
            ScheduleCase("w4-decay-power2", {**BASE, "decay_power": 2.0}, steps=STEPS, discriminates=("step_offset",), description="the decay's own power"),
        ],
    ),
    ScheduleGroup(
        name="edges",
        cases=[
            ScheduleCase("w1", {"initial_learning_rate": 0.5, "warmup_steps": 1, "decay_steps": 3, "end_learning_rate": 0.0}, steps=[0, 1, 2, 3, 4, 5, 8], discriminates=("step_offset",), description="one warmup step at lr 0"),
            ScheduleCase("power-zero", {**BASE, "power": 0.0}, steps=STEPS, description="pow(0, 0) = 1: the warmup holds the initial lr, t = 0 included"),
            ScheduleCase("decay-defaults", {"initial_learning_rate": 2e-5, "warmup_steps": 100, "decay_steps": 900}, steps=[0, 1, 50, 99, 100, 101, 999, 1000, 1001, 2000], discriminates=("step_offset",), description="Keras' defaults for the decay: end 1e-4, above the initial lr"),
        ],
    ),
]

INVALID = [
    InvalidCase("warmup-zero", {**BASE, "warmup_steps": 0}, "warmup_steps", "the warmup branch divides by W"),
    InvalidCase("warmup-negative", {**BASE, "warmup_steps": -2}, "warmup_steps"),
    InvalidCase("power-negative", {**BASE, "power": -0.5}, "power", "an infinite lr at t = 0"),
    InvalidCase("decay-steps-zero", {**BASE, "decay_steps": 0}, "decay_steps"),
    InvalidCase("decay-power-negative", {**BASE, "decay_power": -1.0}, "decay_power"),
]
