"""Golden cases for ``adam_weight_decay`` (transformers' TF AdamWeightDecay)."""

import dataclasses

import numpy as np

from optimspec.reference.optimizers.adam_weight_decay import SPEC

from ._build import InvalidCase, OptimizerCase, OptimizerGroup, grad_sequence, normal, special_values_group, trajectory_group

SHAPES = {"scalar": (), "vector": (7,), "matrix": (3, 4), "tensor3": (2, 3, 2), "kernel4": (3, 3, 1, 2)}

# Keras 3 style variable paths, and the exclude list create_optimizer passes.
LAYER_SHAPES = {
    "dense/kernel": (2, 2),
    "dense/bias": (2,),
    "output/bias": (2,),
    "encoder/dense/kernel": (2,),
    "layer_normalization/gamma": (2,),
    "LayerNorm/beta": (2,),
}
CREATE_OPTIMIZER_EXCLUDES = ["LayerNorm", "layer_norm", "bias"]


def weights(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """N(0, 1) values pushed 0.5 away from zero (float32-exact).

    A float32 step rounds βᵗ before 1 − βᵗ (TF's kernel does), which puts up to ~125 ε of relative
    error into the step at t = 2; the budget k·ε·(|p| + |Δp|) absorbs that only while |Δp| ≪ |p|.
    """
    values = normal(seed, shape)
    return (np.sign(values) * (0.5 + np.abs(values))).astype(np.float32).astype(np.float64)


def _shape_case(name: str, shape: tuple[int, ...], seed: int, steps: int = 3) -> OptimizerCase:
    return OptimizerCase(
        name=f"{name}-t{steps}",
        params={"p": weights(seed, shape)},
        grads=grad_sequence(seed + 1, {"p": shape}, steps),
        hparams={"weight_decay_rate": 0.01},
        description=f"defaults with weight decay on a {len(shape)}-D tensor of shape {list(shape)}",
    )


def _names_case(name: str, seed: int, hparams: dict, description: str) -> OptimizerCase:
    return OptimizerCase(
        name=name,
        params={n: weights(seed + i, s) for i, (n, s) in enumerate(LAYER_SHAPES.items())},
        grads=grad_sequence(seed + 50, LAYER_SHAPES, 1),
        hparams={"learning_rate": 1e-2, "weight_decay_rate": 0.1, **hparams},
        description=description,
    )


def _names_group(dtype: str, seed: int) -> OptimizerGroup:
    return OptimizerGroup(
        name="decay-names",
        dtype=dtype,
        description="which tensors decay: include wins over exclude, patterns are regexes (re.search)",
        cases=[
            _names_case(
                "create-optimizer-excludes-t1", seed, {"exclude_from_weight_decay": CREATE_OPTIMIZER_EXCLUDES},
                "create_optimizer's exclude list: kernels decay; biases, LayerNorm and layer_normalization do not",
            ),
            _names_case(
                "include-wins-t1", seed + 100,
                {"include_in_weight_decay": ["output/bias", "gamma"], "exclude_from_weight_decay": CREATE_OPTIMIZER_EXCLUDES},
                "output/bias and layer_normalization/gamma match both lists and decay: include wins",
            ),
            _names_case(
                "regex-patterns-t1", seed + 200, {"exclude_from_weight_decay": ["^dense/", "(gamma|beta)$"]},
                "anchors and alternation are regex syntax: ^dense/ spares encoder/dense/kernel (a substring test would exclude nothing)",
            ),
            _names_case(
                "include-only-t1", seed + 300, {"include_in_weight_decay": ["kernel"]},
                "an include list alone excludes nothing: every tensor decays",
            ),
            _names_case(
                "empty-lists-t1", seed + 400, {"include_in_weight_decay": [], "exclude_from_weight_decay": []},
                "empty lists count as absent: every tensor decays",
            ),
            _names_case(
                "zero-rate-t1", seed + 500,
                {"weight_decay_rate": 0.0, "include_in_weight_decay": ["kernel"]},
                "weight_decay_rate = 0: nothing decays, whatever the include list says",
            ),
        ],
    )


def _conventions_group(dtype: str, seed: int) -> OptimizerGroup:
    return OptimizerGroup(
        name="conventions",
        dtype=dtype,
        description="cases built to separate the conventions peers follow",
        cases=[
            # |g| ≈ ε = 1e-7: at t = 1 the ε-hat step is ~0.03·lr per element, the paper-ε step ~0.5·lr.
            OptimizerCase(
                name="tiny-grads-t3",
                params={"p": weights(seed, (8,))},
                grads=grad_sequence(seed + 1, {"p": (8,)}, 3, scale=1e-7),
                hparams={"learning_rate": 1e-2},
                discriminates=("eps_placement",),
                description="gradients near ε separate ε on √v from ε on the bias-corrected √v̂",
            ),
            # lr·wd = 0.25 with steps of ~lr: decaying before or after the update differs by lr·wd·step.
            OptimizerCase(
                name="large-lr-decay-t3",
                params={"p": weights(seed + 10, (3, 4))},
                grads=grad_sequence(seed + 11, {"p": (3, 4)}, 3),
                hparams={"learning_rate": 1e-2, "weight_decay_rate": 25.0},
                discriminates=("decay_order", "decay_lr"),
                description="large lr·weight_decay_rate separates decay before the update from decay after it",
            ),
            # Early on α = lr·√(1−β2ᵗ)/(1−β1ᵗ) ≈ 0.2–0.3·lr, so decaying with α instead of lr shows at
            # a realistic lr·wd = 1e-3.
            OptimizerCase(
                name="decay-lr-t4",
                params={"p": weights(seed + 20, (6,))},
                grads=grad_sequence(seed + 21, {"p": (6,)}, 4),
                hparams={"learning_rate": 1e-2, "weight_decay_rate": 0.1},
                discriminates=("decay_lr",),
                description="a realistic lr·wd separates decay scaled by the plain lr from decay scaled by α",
            ),
        ],
    )


def _shrinking_grads(seed: int, shape: tuple[int, ...]) -> list[dict[str, np.ndarray]]:
    # Two large steps, then small ones: v falls below its running max, so v̂ ≠ v.
    return grad_sequence(seed, {"p": shape}, 2) + grad_sequence(seed + 1, {"p": shape}, 4, scale=0.01)


def _options_group(dtype: str, seed: int) -> OptimizerGroup:
    return OptimizerGroup(
        name="options",
        dtype=dtype,
        description="defaults and every option toggled",
        cases=[
            OptimizerCase(
                name="defaults-t5",
                params={"p": weights(seed, (6,))},
                grads=grad_sequence(seed + 1, {"p": (6,)}, 5),
                description="every hyperparameter at its default, no weight decay (float32: β as float32 holds them)",
            ),
            OptimizerCase(
                name="amsgrad-t6",
                params={"p": weights(seed + 10, (2, 3))},
                grads=_shrinking_grads(seed + 11, (2, 3)),
                hparams={"learning_rate": 1e-2, "amsgrad": True, "weight_decay_rate": 0.01},
                description="amsgrad: shrinking gradients make v̂ = max(v̂, v) differ from v",
            ),
            OptimizerCase(
                name="betas-eps-t4",
                params={"p": weights(seed + 20, (6,))},
                grads=grad_sequence(seed + 21, {"p": (6,)}, 4),
                hparams={"learning_rate": 3e-3, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3, "weight_decay_rate": 0.05},
                description="non-default betas and a large ε",
            ),
            OptimizerCase(
                name="zero-grads-t3",
                params={"p": weights(seed + 30, (5,))},
                grads=[{"p": [0.0] * 5}] * 3,
                hparams={"learning_rate": 1e-2, "weight_decay_rate": 0.1},
                description="zero gradients: only the decay moves the parameter",
            ),
            OptimizerCase(
                name="zero-lr-t2",
                params={"p": weights(seed + 40, (5,))},
                grads=grad_sequence(seed + 41, {"p": (5,)}, 2),
                hparams={"learning_rate": 0.0, "weight_decay_rate": 0.1},
                description="learning_rate = 0 (a warmup's first step): params stay, m and v advance",
            ),
        ],
    )


def _betas_as_held(dtype: str, group: OptimizerGroup) -> OptimizerGroup:
    """The group with β1, β2 stated as a ``dtype`` optimizer holds them.

    TF and Keras keep β as float32 tensors, and 1 − β magnifies that rounding ~1000× for β2 = 0.999
    (1.3e-5 relative in 1 − β2, ~100 float32 ε). Implementations differ in where they round (legacy
    TF: β before 1 − β; Keras 3: β only inside βᵗ), so the float32 cases give the float32 values and
    every float32 implementation then computes the same thing.
    """
    if dtype == "float64":
        return group
    cases = []
    for case in group.cases:
        hparams = dict(case.hparams)
        for name in ("beta_1", "beta_2"):
            hparams[name] = float(np.float32(hparams.get(name, SPEC.hparam(name).default)))
        cases.append(dataclasses.replace(case, hparams=hparams))
    return dataclasses.replace(group, cases=cases)


def _groups(dtype: str, seed: int) -> list[OptimizerGroup]:
    groups = [
        OptimizerGroup(
            name="shapes",
            dtype=dtype,
            description="default hyperparameters with weight decay on 0-D to 4-D tensors",
            cases=[_shape_case(n, s, seed + 10 * i) for i, (n, s) in enumerate(SHAPES.items())],
        ),
        _names_group(dtype, seed + 1000),
        _conventions_group(dtype, seed + 2000),
        _options_group(dtype, seed + 3000),
        special_values_group(dtype, weights(seed + 4000, (4,)), {"weight_decay_rate": 0.01}),
        trajectory_group(dtype, weights(seed + 5000, (10,)), seed + 5001, {"weight_decay_rate": 0.01}),
    ]
    return [_betas_as_held(dtype, group) for group in groups]


GROUPS = _groups("float32", 30000) + _groups("float64", 40000)

INVALID = [
    InvalidCase("learning-rate-negative", {"learning_rate": -1e-3}, "learning_rate", "a negative learning rate"),
    InvalidCase("learning-rate-nan", {"learning_rate": float("nan")}, "learning_rate", "NaN is not a learning rate"),
    InvalidCase("beta1-one", {"beta_1": 1.0}, "beta_1", "β1 must be < 1 (1 − β1ᵗ = 0 divides by zero)"),
    InvalidCase("beta1-negative", {"beta_1": -0.1}, "beta_1", "β1 must be ≥ 0"),
    InvalidCase("beta2-one", {"beta_2": 1.0}, "beta_2", "β2 must be < 1"),
    InvalidCase("epsilon-negative", {"epsilon": -1e-7}, "epsilon", "ε must be ≥ 0"),
    InvalidCase("weight-decay-rate-negative", {"weight_decay_rate": -0.1}, "weight_decay_rate", "a negative decay grows the weights"),
    InvalidCase("include-not-a-list", {"include_in_weight_decay": "bias"}, "include_in_weight_decay", "a bare string would be iterated character by character"),
    InvalidCase("include-bad-regex", {"include_in_weight_decay": ["dense/(kernel"]}, "include_in_weight_decay", "an unbalanced parenthesis is not a regex"),
    InvalidCase("exclude-bad-regex", {"exclude_from_weight_decay": ["[bias"]}, "exclude_from_weight_decay", "an unterminated character set is not a regex"),
]
