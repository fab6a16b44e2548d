"""Golden cases for ``constant``. λ = 1 at every step, so no case can separate the step offsets."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="the same lr at the first step, later, and far later",
        cases=[
            ScheduleCase("lr10", {"lr": 10.0}, steps=list(range(0, 10)) + [20, 1000], description="transformers' test table (lr 10, W 2, T 10)"),
            ScheduleCase("two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 5e-2, 0.0]}, steps=[0, 1, 100], description="each group keeps its own lr, 0 included"),
        ],
    ),
]

INVALID = [
    InvalidCase("group-lr-negative", {"group_lrs": [1e-3, -1e-3]}, "group_lrs", "a negative base lr (torch rejects it when building the optimizer)"),
]
