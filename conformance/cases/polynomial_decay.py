"""Golden cases for ``polynomial_decay`` (Keras PolynomialDecay, cycle=False)."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

D10 = [0, 1, 2, 5, 9, 10, 11, 20]  # t = 0, …, D − 1, D, D + 1, 2D

GROUPS = [
    ScheduleGroup(
        name="powers",
        description="t = 0, 1, 2, D/2, D − 1, D, D + 1, 2D for power 0.5, 1, 2",
        cases=[
            ScheduleCase("d10-power1", {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.001}, steps=D10, discriminates=("step_offset",)),
            ScheduleCase("d10-power0.5", {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.001, "power": 0.5}, steps=D10, discriminates=("step_offset",)),
            ScheduleCase("d10-power2", {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.001, "power": 2.0}, steps=D10, discriminates=("step_offset",)),
            ScheduleCase("d1000-defaults", {"initial_learning_rate": 3e-4, "decay_steps": 1000}, steps=[0, 1, 250, 500, 999, 1000, 1001, 2000], discriminates=("step_offset",), description="Keras defaults: end 1e-4, power 1"),
        ],
    ),
    ScheduleGroup(
        name="edges",
        cases=[
            ScheduleCase("end-zero", {"initial_learning_rate": 1.0, "decay_steps": 8, "end_learning_rate": 0.0, "power": 3.0}, steps=[0, 1, 4, 7, 8, 9, 16], description="decays to exactly 0"),
            ScheduleCase("end-above-initial", {"initial_learning_rate": 1e-3, "decay_steps": 10, "end_learning_rate": 1e-2}, steps=D10, description="the 'decay' rises to the end lr"),
            ScheduleCase("power-zero", {"initial_learning_rate": 0.5, "decay_steps": 4, "end_learning_rate": 0.1, "power": 0.0}, steps=[0, 3, 4, 5], description="pow(0, 0) = 1: the initial lr throughout"),
            ScheduleCase("d1", {"initial_learning_rate": 0.5, "decay_steps": 1, "end_learning_rate": 0.1, "power": 2.0}, steps=[0, 1, 2], description="the shortest decay: initial, then end"),
        ],
    ),
]

INVALID = [
    InvalidCase("decay-steps-zero", {"initial_learning_rate": 0.1, "decay_steps": 0}, "decay_steps", "Keras 3: ValueError('Argument `decay_steps` must be > 0.')"),
    InvalidCase("initial-zero", {"initial_learning_rate": 0.0, "decay_steps": 10}, "initial_learning_rate"),
    InvalidCase("end-negative", {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": -1e-4}, "end_learning_rate"),
    InvalidCase("power-negative", {"initial_learning_rate": 0.1, "decay_steps": 10, "power": -1.0}, "power", "an infinite lr from decay_steps on"),
]
