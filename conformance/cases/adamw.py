"""Golden cases for ``adamw`` (transformers' legacy AdamW)."""

from ._build import InvalidCase, OptimizerCase, OptimizerGroup, grad_sequence, normal, special_values_group, sub_ulp_group, trajectory_group

SHAPES = {"scalar": (), "vector": (7,), "matrix": (4, 5), "tensor3": (2, 3, 4), "kernel4": (2, 2, 3, 3)}


def _shape_case(name: str, shape: tuple[int, ...], seed: int, steps: int = 5) -> OptimizerCase:
    return OptimizerCase(
        name=f"{name}-t{steps}",
        params={"p": normal(seed, shape)},
        grads=grad_sequence(seed + 1, {"p": shape}, steps),
        hparams={"lr": 1e-3},
        description=f"defaults on a {len(shape)}-D tensor of shape {list(shape)}",
    )


def _tiny_grads(steps: int, seed: int) -> OptimizerCase:
    # |g| ≈ 1e-6 with eps = 1e-6: ε-hat (ε/√(1−β2ᵗ) effective) and paper ε differ by ~30× at t = 1.
    return OptimizerCase(
        name=f"tiny-grads-t{steps}",
        params={"p": normal(seed, (8,))},
        grads=grad_sequence(seed + 1, {"p": (8,)}, steps, scale=1e-6),
        hparams={"lr": 1e-3, "eps": 1e-6},
        discriminates=("eps_placement",),
        description="gradients near ε separate ε on √v from ε on the bias-corrected √v̂",
    )


def _large_decay(steps: int, seed: int) -> OptimizerCase:
    # lr·wd = 0.25 and sizeable updates: (p − s·u)(1 − lr·wd) vs p(1 − lr·wd) − s·u differ by lr·wd·s·u.
    return OptimizerCase(
        name=f"large-lr-decay-t{steps}",
        params={"p": normal(seed, (3, 4))},
        grads=grad_sequence(seed + 1, {"p": (3, 4)}, steps),
        hparams={"lr": 0.5, "weight_decay": 0.5, "eps": 1e-8},
        discriminates=("decay_order", "decay_scale"),
        description="large lr·weight_decay separates decay after the update from decay before it",
    )


def _two_param_groups(seed: int, lr: float, second: dict) -> OptimizerCase:
    return OptimizerCase(
        name="two-param-groups-t3",
        params={"a": normal(seed, (4,)), "b": normal(seed + 1, (2, 2))},
        grads=grad_sequence(seed + 2, {"a": (4,), "b": (2, 2)}, 3),
        hparams={"lr": lr},
        param_groups=[{"params": ["a"], "hparams": {}}, {"params": ["b"], "hparams": second}],
        description="two param groups with different lr and weight decay",
    )


def _missing_grad(seed: int) -> OptimizerCase:
    return OptimizerCase(
        name="missing-grad-t3",
        params={"a": normal(seed, (3,)), "b": normal(seed + 1, (3,))},
        grads=[{"a": normal(seed + 2, (3,)), "b": None}, {"a": normal(seed + 3, (3,)), "b": normal(seed + 4, (3,))}, {"a": None, "b": normal(seed + 5, (3,))}],
        hparams={"lr": 1e-2},
        description="a tensor without a gradient is skipped: its step counter does not advance",
    )


def _groups(dtype: str, seed: int) -> list[OptimizerGroup]:
    return [
        OptimizerGroup(
            name="shapes",
            dtype=dtype,
            description="default hyperparameters on 0-D to 4-D tensors",
            cases=[_shape_case(n, s, seed + 10 * i) for i, (n, s) in enumerate(SHAPES.items())],
        ),
        OptimizerGroup(
            name="conventions",
            dtype=dtype,
            description="cases built to separate the conventions peers follow",
            cases=[_tiny_grads(3, seed + 100), _large_decay(3, seed + 110)],
        ),
        OptimizerGroup(
            name="options",
            dtype=dtype,
            description="every option toggled",
            cases=[
                OptimizerCase(
                    name="no-bias-correction-t4",
                    params={"p": normal(seed + 200, (6,))},
                    grads=grad_sequence(seed + 201, {"p": (6,)}, 4),
                    hparams={"lr": 1e-2, "correct_bias": False, "weight_decay": 0.01},
                    description="correct_bias=False (the original BERT step size)",
                ),
                OptimizerCase(
                    name="betas-eps-t4",
                    params={"p": normal(seed + 210, (6,))},
                    grads=grad_sequence(seed + 211, {"p": (6,)}, 4),
                    hparams={"lr": 3e-3, "betas": (0.8, 0.95), "eps": 1e-3},
                    description="non-default betas and a large ε",
                ),
                OptimizerCase(
                    name="zero-grads-t3",
                    params={"p": normal(seed + 220, (5,))},
                    grads=[{"p": [0.0] * 5}] * 3,
                    hparams={"lr": 1e-2, "weight_decay": 0.1},
                    description="zero gradients: only the decay moves the parameter",
                ),
                _two_param_groups(seed + 230, 1e-3, {"lr": 1e-1, "weight_decay": 0.1}),
                _missing_grad(seed + 240),
            ],
        ),
        special_values_group(dtype, normal(seed + 300, (4,)), {"lr": 1e-3}),
        trajectory_group(dtype, normal(seed + 400, (16,)), seed + 401, {"lr": 1e-3, "weight_decay": 0.01}),
    ]


def _half(dtype: str, seed: int) -> list[OptimizerGroup]:
    """float16/bfloat16 params: float32 moments and compute, the param rounded once per step."""
    groups = [
        OptimizerGroup(
            name="half",
            dtype=dtype,
            description="half-precision params and grads: float32 moments, the step computed in float32 and the param rounded once",
            cases=[
                _shape_case("vector", (7,), seed, steps=3),
                _shape_case("matrix", (4, 5), seed + 10, steps=2),
                OptimizerCase(
                    name="large-lr-decay-t3",
                    params={"p": normal(seed + 20, (3, 4))},
                    grads=grad_sequence(seed + 21, {"p": (3, 4)}, 3),
                    hparams={"lr": 0.1, "weight_decay": 0.5, "eps": 1e-8},
                    description="updates of many ulps: the decay after the update and the bias-corrected step show in the rounded param",
                ),
                OptimizerCase(
                    name="no-bias-correction-t3",
                    params={"p": normal(seed + 30, (6,))},
                    grads=grad_sequence(seed + 31, {"p": (6,)}, 3),
                    hparams={"lr": 3e-2, "correct_bias": False, "betas": (0.8, 0.95), "eps": 1e-3},
                    description="correct_bias=False, non-default betas and a large ε",
                ),
                _two_param_groups(seed + 40, 1e-2, {"lr": 5e-2, "weight_decay": 0.1}),
                _missing_grad(seed + 50),
                OptimizerCase(
                    name="vector-t20",
                    params={"p": normal(seed + 60, (8,))},
                    grads=grad_sequence(seed + 61, {"p": (8,)}, 20),
                    hparams={"lr": 1e-2, "weight_decay": 0.01},
                    checkpoints=[0, 1, 2, 10, 19, 20],
                    description="20 steps with decay",
                ),
            ],
        ),
        special_values_group(dtype, normal(seed + 70, (4,)), {"lr": 1e-2}),
        sub_ulp_group(dtype, seed + 80, lambda lr: {"lr": lr}, {"same-sign-grads": (6,)}),
    ]
    if dtype == "float16":
        groups.append(
            OptimizerGroup(
                name="underflow",
                dtype=dtype,
                description="gradients whose squares underflow in float16 (the float32 moments hold them)",
                cases=[
                    OptimizerCase(
                        name="tiny-grads-t3",
                        params={"p": normal(seed + 90, (8,))},
                        grads=grad_sequence(seed + 91, {"p": (8,)}, 3, scale=1e-4),
                        hparams={"lr": 1e-2},
                        description="|g| ≈ 1e-4: g·g ≈ 1e-8 is below float16's smallest subnormal; computed in float16 the second moment would be 0",
                    ),
                ],
            )
        )
    return groups


GROUPS = _groups("float64", 1000) + _groups("float32", 2000) + _half("float16", 3000) + _half("bfloat16", 4000)

INVALID = [
    InvalidCase("lr-negative", {"lr": -1e-3}, "lr", "a negative learning rate"),
    InvalidCase("beta1-one", {"betas": (1.0, 0.999)}, "betas", "β1 must be < 1"),
    InvalidCase("beta2-negative", {"betas": (0.9, -0.1)}, "betas", "β2 must be ≥ 0"),
    InvalidCase("eps-negative", {"eps": -1e-8}, "eps", "ε must be ≥ 0"),
    InvalidCase("weight-decay-negative", {"weight_decay": -0.1}, "weight_decay", "transformers silently skipped a negative decay"),
    InvalidCase("lr-nan", {"lr": float("nan")}, "lr", "NaN is not a learning rate"),
]
