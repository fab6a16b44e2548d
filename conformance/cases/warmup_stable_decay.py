"""Golden cases for ``warmup_stable_decay``."""

from ._build import InvalidCase, ScheduleCase, ScheduleGroup

SHAPES = ("linear", "cosine", "1-sqrt")
TABLE = {"lr": 10.0, "num_warmup_steps": 2, "num_stable_steps": 3, "num_decay_steps": 4, "min_lr_ratio": 0.1}


def _shape_pair(warmup_type: str, decay_type: str) -> ScheduleCase:
    # W = D = 4 puts the phase progress on 0, ¼, ½, ¾, where every shape has a closed form.
    return ScheduleCase(
        f"warmup-{warmup_type}-decay-{decay_type}",
        {"lr": 1e-3, "num_warmup_steps": 4, "num_stable_steps": 2, "num_decay_steps": 4, "warmup_type": warmup_type, "decay_type": decay_type, "min_lr_ratio": 0.05},
        steps=list(range(0, 13)),
        discriminates=("step_offset",),
        description=f"{warmup_type} warmup from r, {decay_type} decay to r",
    )


GROUPS = [
    ScheduleGroup(
        name="boundaries",
        description="t = 0, W−1, W, W+S−1, W+S, W+S+D−1, W+S+D and later; W = 0; D = 0",
        cases=[
            ScheduleCase("w2-s3-d4-r0.1", TABLE, steps=list(range(0, 13)) + [20], discriminates=("step_offset",), description="transformers' test table (lr 10, W 2, T 10): the warmup starts at r"),
            ScheduleCase("w2-t9-d4-r0.1", {"lr": 10.0, "num_warmup_steps": 2, "num_training_steps": 9, "num_decay_steps": 4, "min_lr_ratio": 0.1}, steps=list(range(0, 13)), discriminates=("step_offset",), description="the same schedule with S inferred from T"),
            ScheduleCase("r0", {"lr": 1e-3, "num_warmup_steps": 3, "num_stable_steps": 2, "num_decay_steps": 5}, steps=list(range(0, 12)) + [20], discriminates=("step_offset",), description="the defaults: linear warmup from 0, cosine decay to 0"),
            ScheduleCase("w0", {"lr": 1e-3, "num_warmup_steps": 0, "num_stable_steps": 3, "num_decay_steps": 3, "min_lr_ratio": 0.2}, steps=list(range(0, 8)), discriminates=("step_offset",), description="no warmup: the stable phase starts at t = 0"),
            ScheduleCase("d0", {"lr": 1e-3, "num_warmup_steps": 2, "num_stable_steps": 3, "num_decay_steps": 0, "min_lr_ratio": 0.2}, steps=list(range(0, 8)), discriminates=("step_offset",), description="no decay: straight from the peak to r"),
            ScheduleCase("s0", {"lr": 1e-3, "num_warmup_steps": 2, "num_stable_steps": 0, "num_decay_steps": 4, "min_lr_ratio": 0.2, "decay_type": "linear"}, steps=list(range(0, 8)), discriminates=("step_offset",), description="no stable phase: the decay starts at t = W"),
        ],
    ),
    ScheduleGroup(
        name="shapes",
        description="every warmup_type × decay_type pair",
        cases=[_shape_pair(w, d) for w in SHAPES for d in SHAPES],
    ),
    ScheduleGroup(
        name="stable-steps",
        description="how S is chosen",
        cases=[
            ScheduleCase("explicit-s-wins", {"lr": 1e-3, "num_warmup_steps": 2, "num_training_steps": 100, "num_stable_steps": 3, "num_decay_steps": 4, "min_lr_ratio": 0.1}, steps=list(range(0, 12)), discriminates=("step_offset",), description="T and S both given: S wins (transformers warns), T is ignored"),
            ScheduleCase(
                "negative-inferred-stable",
                {"lr": 1e-3, "num_warmup_steps": 3, "num_training_steps": 8, "num_decay_steps": 8, "min_lr_ratio": 0.1},
                steps=list(range(0, 11)),
                discriminates=("step_offset",),
                description="S = T − W − D = −3 is kept as transformers does: the decay starts mid-curve at t = W (p = 3/8) and ends at T",
            ),
        ],
    ),
    ScheduleGroup(
        name="cycles",
        description="num_cycles of the cosine decay",
        cases=[
            ScheduleCase("nc1", {"lr": 1e-3, "num_warmup_steps": 2, "num_stable_steps": 1, "num_decay_steps": 8, "min_lr_ratio": 0.1, "num_cycles": 1.0}, steps=list(range(0, 13)), discriminates=("step_offset",), description="a full wave: back near the peak just before the end, then r"),
            ScheduleCase("nc0.25", {"lr": 1e-3, "num_warmup_steps": 2, "num_stable_steps": 1, "num_decay_steps": 8, "num_cycles": 0.25, "decay_type": "cosine"}, steps=list(range(0, 13)), discriminates=("step_offset",), description="a quarter wave: halfway down at the end of the decay, then a drop to r = 0"),
        ],
    ),
    ScheduleGroup(
        name="param-groups",
        description="group lrs different from lr",
        cases=[
            ScheduleCase("two-groups", {"lr": 1e-3, "group_lrs": [1e-3, 5e-2], "num_warmup_steps": 2, "num_stable_steps": 2, "num_decay_steps": 4, "min_lr_ratio": 0.1}, steps=list(range(0, 10)), discriminates=("step_offset",), description="warmup and floor are ratios of each group's own lr"),
        ],
    ),
]

_VALID = {"num_warmup_steps": 2, "num_training_steps": 20, "num_decay_steps": 4}

INVALID = [
    InvalidCase("neither-total-nor-stable", {"num_warmup_steps": 2, "num_decay_steps": 4}, "num_training_steps", "transformers: ValueError"),
    InvalidCase("decay-missing", {"num_warmup_steps": 2, "num_training_steps": 20}, "num_decay_steps", "a required argument"),
    InvalidCase("warmup-type-unknown", {**_VALID, "warmup_type": "exponential"}, "warmup_type", "transformers: ValueError"),
    InvalidCase("decay-type-unknown", {**_VALID, "decay_type": "sqrt"}, "decay_type", "transformers: ValueError"),
    InvalidCase("stable-negative", {"num_warmup_steps": 2, "num_stable_steps": -1, "num_decay_steps": 4}, "num_stable_steps", "an explicit negative stable phase"),
    InvalidCase("decay-negative", {**_VALID, "num_decay_steps": -4}, "num_decay_steps"),
    InvalidCase("warmup-negative", {**_VALID, "num_warmup_steps": -1}, "num_warmup_steps"),
    InvalidCase("total-zero", {**_VALID, "num_training_steps": 0}, "num_training_steps"),
    InvalidCase("ratio-negative", {**_VALID, "min_lr_ratio": -0.1}, "min_lr_ratio"),
    InvalidCase("ratio-above-one", {**_VALID, "min_lr_ratio": 1.5}, "min_lr_ratio"),
    InvalidCase("cycles-negative", {**_VALID, "num_cycles": -0.5}, "num_cycles"),
]
