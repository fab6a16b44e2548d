"""Golden cases for ``adafactor`` (transformers' Adafactor).

The relative-step crossover past t = 10⁴ is covered by cases that start from a state whose step
counter is 9 998 (``start_step``), so they store a handful of gradients instead of 10⁴.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from optimspec.reference._dtypes import round_to

from ._build import InvalidCase, OptimizerCase, OptimizerGroup, grad_sequence, normal, sub_ulp_group

NAN, INF = float("nan"), float("inf")

SHAPES = {"scalar": (), "vector": (7,), "tensor3": (2, 3, 4)}
SMALL_SHAPES = {"square-4x4": (4, 4), "kernel4": (2, 2, 2, 3)}
# Tensors at the 64-element limit: float64 only, to keep the file small.
LARGE_SHAPES = {"square-8x8": (8, 8), "row-1x48": (1, 48), "col-48x1": (48, 1), "kernel4-4x4": (2, 2, 4, 4)}


def _shape_case(name: str, shape: tuple[int, ...], seed: int) -> OptimizerCase:
    # 1×N and N×1 factor exactly (V̂ = g²), so only tensors with two real dims separate factoring.
    separates_factoring = len(shape) >= 2 and min(shape[-2:]) > 1
    return OptimizerCase(
        name=f"{name}-t2",
        params={"p": normal(seed, shape)},
        grads=grad_sequence(seed + 1, {"p": shape}, 2),
        discriminates=("factoring",) if separates_factoring else (),
        description=f"defaults on a {len(shape)}-D tensor of shape {list(shape)}",
    )


def _option_case(
    name: str,
    hparams: dict,
    seed: int,
    steps: int,
    *,
    description: str,
    shape: tuple[int, ...] = (2, 3),
    param_scale: float = 1.0,
    grad_scale: float = 1.0,
    discriminates: tuple[str, ...] = (),
) -> OptimizerCase:
    return OptimizerCase(
        name=f"{name}-t{steps}",
        params={"p": normal(seed, shape, param_scale)},
        grads=grad_sequence(seed + 1, {"p": shape}, steps, grad_scale),
        hparams=hparams,
        discriminates=discriminates,
        description=description,
    )


def _rescaled_second_step(name: str, factor: float, seed: int, description: str) -> OptimizerCase:
    first = normal(seed + 1, (8,))
    # Element ratios vary (1 to ~3×factor), so RMS clipping cannot undo the change by rescaling.
    second = round_to("float32", first * factor * (1.0 + 0.5 * normal(seed + 2, (8,)) ** 2))
    return OptimizerCase(
        name=name,
        params={"p": normal(seed, (8,))},
        grads=[{"p": first}, {"p": second}],
        discriminates=("clip_divisor",),
        description=description,
    )


def _beta2_cap_case(seed: int) -> OptimizerCase:
    # decay_rate −8 puts β̂2 = 1 − 3⁻⁸ above the 0.999 cap at t = 3. The third gradient is 1 to 2
    # times the first two elementwise, so the new term weighs in (U ≤ 4V) without the rounding of
    # 1 − β̂2 (relative error ε/3⁻⁸) being amplified by a much larger U.
    first = normal(seed + 1, (6,))
    growth = np.array([1.0, 1.25, 1.5, 1.75, 2.0, 1.125])
    return OptimizerCase(
        name="beta2-cap-t3",
        params={"p": normal(seed, (6,))},
        grads=[{"p": first}, {"p": first}, {"p": first * growth}],
        hparams={"relative_step": False, "lr": 1.0, "scale_parameter": False, "decay_rate": -8.0, "clip_threshold": 100.0},
        discriminates=("beta2_cap",),
        description="decay_rate −8: β̂2 = 1 − 3⁻⁸ > 0.999 at t = 3, where the gradient grows 1 to 2× elementwise",
    )


def _all_options_case(seed: int) -> OptimizerCase:
    # Each element's gradient keeps its sign, so the momentum never nearly cancels: a cancelled
    # exp_avg is far below the terms it combines, beyond the float32 free-running state budget.
    signs = np.sign(normal(seed + 2, (2, 2, 2)))
    grads = [{"p": np.abs(step["p"]) * signs} for step in grad_sequence(seed + 1, {"p": (2, 2, 2)}, 3)]
    return OptimizerCase(
        name="all-options-t3",
        params={"p": normal(seed, (2, 2, 2))},
        grads=grads,
        hparams={"warmup_init": True, "beta1": 0.5, "weight_decay": 0.05, "clip_threshold": 2.0, "decay_rate": -0.6, "eps": (1e-20, 1e-2)},
        description="every option away from its default at once",
    )


def _options(dtype: str, seed: int) -> OptimizerGroup:
    manual = {"relative_step": False, "lr": 1e-2}
    return OptimizerGroup(
        name="options",
        dtype=dtype,
        description="every option toggled",
        cases=[
            _option_case("manual-lr", manual, seed, 2, description="relative_step=False with lr: α = lr·max(eps2, RMS)"),
            _option_case("no-scale-parameter", {"scale_parameter": False}, seed + 20, 2, description="relative step without the parameter scale"),
            _option_case("warmup-init", {"warmup_init": True}, seed + 30, 2, description="ρ = 1e-6·t"),
            _option_case("beta1", {"beta1": 0.9}, seed + 40, 3, description="EMA of the lr-scaled, clipped update"),
            _option_case(
                "weight-decay", {"weight_decay": 0.2}, seed + 50, 2, param_scale=3.0,
                discriminates=("weight_decay_scale",),
                description="RMS(P) ≈ 3 separates decay scaled by α from decay scaled by ρ or unscaled",
            ),
            _option_case(
                "clip-threshold", {"clip_threshold": 0.5}, seed + 60, 2,
                discriminates=("clip_divisor",),
                description="d = 0.5 clips the first update (RMS ≈ 1) to RMS 0.5",
            ),
            _option_case("decay-rate", {"decay_rate": -0.5}, seed + 70, 3, description="β̂2 = 1 − t^−0.5"),
            _option_case("decay-rate-zero", {"decay_rate": 0.0}, seed + 80, 2, description="β̂2 = 0 at every step: V = g² + eps1"),
            _option_case(
                "eps-pair", {"eps": (1e-3, 0.5)}, seed + 90, 2, param_scale=0.1, grad_scale=0.03,
                discriminates=("eps1_placement",),
                description="eps1 ≈ g² damps the update; RMS(P) < eps2 makes the scale eps2",
            ),
            _all_options_case(seed + 100),
            OptimizerCase(
                name="two-param-groups-t3",
                params={"a": normal(seed + 110, (3,)), "b": normal(seed + 111, (2, 2))},
                grads=grad_sequence(seed + 112, {"a": (3,), "b": (2, 2)}, 3),
                hparams=manual,
                param_groups=[{"params": ["a"], "hparams": {}}, {"params": ["b"], "hparams": {"lr": 1e-1, "scale_parameter": False, "weight_decay": 0.01}}],
                description="two param groups with different lr; the second without parameter scale (α = lr) and with decay",
            ),
            OptimizerCase(
                name="missing-grad-t3",
                params={"a": normal(seed + 120, (3,)), "b": normal(seed + 121, (2, 2))},
                grads=[
                    {"a": normal(seed + 122, (3,)), "b": None},
                    {"a": normal(seed + 123, (3,)), "b": normal(seed + 124, (2, 2))},
                    {"a": None, "b": normal(seed + 125, (2, 2))},
                ],
                description="a tensor without a gradient is skipped: its step counter does not advance",
            ),
            OptimizerCase(
                name="zero-grads-t2",
                params={"v": normal(seed + 130, (3,)), "m": normal(seed + 131, (2, 2))},
                grads=[{"v": np.zeros(3), "m": np.zeros((2, 2))}] * 2,
                hparams={"weight_decay": 0.1},
                description="zero gradients: U = eps1, the update is 0; only the decay moves the parameter",
            ),
        ],
    )


def _conventions(dtype: str, seed: int) -> OptimizerGroup:
    return OptimizerGroup(
        name="conventions",
        dtype=dtype,
        description="cases built to separate the conventions peers follow",
        cases=[
            _option_case(
                "tiny-grads", {}, seed, 2, shape=(4, 4), grad_scale=1e-16,
                discriminates=("eps1_placement",),
                description="g² ≈ 1e-32 < eps1: eps1 added to g² damps the update ~10×, clamping at eps1² does not",
            ),
            _rescaled_second_step(
                "shrink-10x-t2", 0.1, seed + 10,
                "the gradient shrinks 10× at step 2: RMS(u) < 1, clipping inactive (the inverted divisor inflates it)",
            ),
            _rescaled_second_step(
                "grow-10x-t2", 10.0, seed + 20,
                "the gradient grows 10× at step 2: RMS(u) > 1, clipping active (the inverted divisor skips it)",
            ),
            _option_case(
                "factored-4x6", {}, seed + 30, 2, shape=(4, 6),
                discriminates=("factoring",),
                description="a 4×6 matrix: the rank-1 factored estimate differs from the full second moment",
            ),
            _beta2_cap_case(seed + 40),
        ],
    )


def _special_values(dtype: str, seed: int) -> OptimizerGroup:
    return OptimizerGroup(
        name="special-values",
        dtype=dtype,
        description="NaN and ±inf inputs propagate; nothing is skipped",
        cases=[
            OptimizerCase(
                name="nan-inf-grads-t2",
                params={"v": normal(seed, (4,)), "m": normal(seed + 1, (2, 3)), "ok": normal(seed + 2, (3,))},
                grads=[
                    {"v": [NAN, INF, -INF, 0.5], "m": [[0.1, -INF, 0.3], [NAN, 0.4, -0.6]], "ok": normal(seed + 3, (3,))},
                    {"v": [0.1, 0.2, 0.3, 0.4], "m": normal(seed + 4, (2, 3)), "ok": normal(seed + 5, (3,))},
                ],
                flags=("special-values",),
                # Each row of the factored "m" holds a non-finite value: one finite row next to an
                # infinite row mean would need rsqrt(0), which the exact oracle cannot evaluate.
                description="a NaN or ±inf gradient makes RMS(u) and the clipping divisor NaN: the whole tensor becomes NaN; other tensors are unaffected",
            ),
            OptimizerCase(
                name="nan-param-t2",
                params={"p": [NAN, 1.0, -2.0, 0.5]},
                grads=grad_sequence(seed + 10, {"p": (4,)}, 2),
                flags=("special-values",),
                description="RMS(P) = NaN: Python's max(eps2, NaN) gives eps2, so the finite elements move by 1e-2·eps2·u",
            ),
        ],
    )


def _matrix_trajectory(seed: int) -> OptimizerCase:
    return OptimizerCase(
        name="matrix-t101",
        params={"p": normal(seed, (2, 2))},
        grads=grad_sequence(seed + 1, {"p": (2, 2)}, 101),
        checkpoints=[0, 1, 2, 10, 11, 100, 101],
        description="101 steps with the defaults on a factored 2×2 matrix",
    )


def _options_trajectory(seed: int) -> OptimizerCase:
    return OptimizerCase(
        name="vector-options-t100",
        params={"p": normal(seed, (3,))},
        grads=grad_sequence(seed + 1, {"p": (3,)}, 100),
        hparams={"beta1": 0.9, "weight_decay": 0.01},
        checkpoints=[0, 1, 50, 99, 100],
        description="100 steps with momentum and decay",
    )


def _half(dtype: str, seed: int) -> OptimizerGroup:
    cases = [
        _option_case("vector", {}, seed, 3, shape=(7,), description="defaults on a vector"),
        _option_case("matrix", {}, seed + 10, 2, shape=(2, 8), description="defaults on a factored 2×8 matrix"),
        _option_case("kernel4", {}, seed + 20, 2, shape=(2, 1, 2, 3), description="defaults on a 4-D kernel"),
        _option_case("beta1-weight-decay", {"beta1": 0.9, "weight_decay": 0.1}, seed + 30, 3, shape=(2, 3), description="momentum and decay"),
        _option_case("manual-lr", {"relative_step": False, "lr": 3e-2}, seed + 40, 2, shape=(5,), description="relative_step=False with lr"),
        OptimizerCase(
            name="vector-t20",
            params={"p": normal(seed + 50, (4,))},
            grads=grad_sequence(seed + 51, {"p": (4,)}, 20),
            checkpoints=[0, 1, 2, 19, 20],
            description="20 steps with the defaults",
        ),
    ]
    return OptimizerGroup(
        name="half",
        dtype=dtype,
        description="half-precision params and grads: float32 master copy and state, the param rounded once per step",
        cases=[_half_grads(case, dtype) for case in cases],
    )


def _half_grads(case: OptimizerCase, dtype: str) -> OptimizerCase:
    """The case with its gradients rounded to ``dtype``, as a half param's ``.grad`` holds them."""
    grads = [{n: round_to(dtype, g) for n, g in step.items()} for step in case.grads]
    return dataclasses.replace(case, grads=grads)


def _crossover(dtype: str, seed: int) -> OptimizerGroup:
    """ρ = min(1e-2, 1/√t) switches to 1/√t after t = 10⁴; with warmup_init, min(1e-6·t, 1/√t)
    switches from 1e-6·t to 1/√t at the same step."""
    shape = (3, 4)
    cases = [
        OptimizerCase(
            name=f"{name}-t9999-t10003",
            params={"p": normal(seed + i, shape)},
            grads=grad_sequence(seed + 10 + i, {"p": shape}, 5),
            hparams=hparams,
            start_step=9998,
            description=f"steps 9 999 to 10 003 ({name}): the relative step crosses over at 10⁴",
        )
        for i, (name, hparams) in enumerate({"relative-step": {}, "warmup-init": {"warmup_init": True}}.items())
    ]
    return OptimizerGroup(name="crossover", dtype=dtype, description="states past step 10⁴", cases=cases)


def _full(dtype: str, seed: int, shapes: dict[str, tuple[int, ...]], trajectory: Callable[[int], OptimizerCase]) -> list[OptimizerGroup]:
    return [
        OptimizerGroup(
            name="shapes",
            dtype=dtype,
            description="default hyperparameters on 0-D to 4-D tensors; factoring over the last two dims",
            cases=[_shape_case(n, s, seed + 10 * i) for i, (n, s) in enumerate(shapes.items())],
        ),
        _options(dtype, seed + 200),
        _conventions(dtype, seed + 400),
        _special_values(dtype, seed + 600),
        _crossover(dtype, seed + 700),
        OptimizerGroup(
            name="trajectory",
            dtype=dtype,
            description="a long free-running trajectory (horizon bugs)",
            cases=[trajectory(seed + 800)],
        ),
    ]


def _manual_lr(lr: float) -> dict:
    return {"relative_step": False, "scale_parameter": False, "lr": lr}


def _underflow(seed: int) -> OptimizerGroup:
    return OptimizerGroup(
        name="underflow",
        dtype="float16",
        description="gradients whose squares underflow in float16 (the float32 statistics hold them)",
        cases=[
            _option_case(
                name, {}, seed + 10 * i, 2, shape=shape, grad_scale=1e-4,
                description="|g| ≈ 1e-4: g·g ≈ 1e-8 is below float16's smallest subnormal; computed in float16, U would be eps1 alone",
            )
            for i, (name, shape) in enumerate({"tiny-grads-vector": (6,), "tiny-grads-matrix": (3, 4)}.items())
        ],
    )


GROUPS = [
    *_full("float64", 1000, {**SHAPES, **LARGE_SHAPES}, _matrix_trajectory),
    *_full("float32", 2000, {**SHAPES, **SMALL_SHAPES}, _options_trajectory),
    _half("float16", 3000),
    _half("bfloat16", 4000),
    *(sub_ulp_group(dtype, seed, _manual_lr, {"vector": (6,), "matrix": (2, 3)}) for dtype, seed in (("float16", 5000), ("bfloat16", 5100))),
    _underflow(5200),
]

INVALID = [
    InvalidCase("lr-with-relative-step", {"lr": 1e-3}, "lr", "transformers: Cannot combine manual `lr` and `relative_step=True`"),
    InvalidCase("warmup-init-without-relative-step", {"warmup_init": True, "relative_step": False, "lr": 1e-3}, "warmup_init", "transformers: `warmup_init=True` requires `relative_step=True`"),
    InvalidCase("no-lr-without-relative-step", {"relative_step": False}, "lr", "transformers accepts it and fails at the first step (None × float)"),
    InvalidCase("lr-negative", {"relative_step": False, "lr": -1e-3}, "lr", "a negative learning rate"),
    InvalidCase("lr-nan", {"relative_step": False, "lr": NAN}, "lr", "NaN is not a learning rate"),
    InvalidCase("eps1-negative", {"eps": (-1e-30, 1e-3)}, "eps", "eps1 must be ≥ 0"),
    InvalidCase("eps2-negative", {"eps": (1e-30, -1e-3)}, "eps", "eps2 must be ≥ 0"),
    InvalidCase("eps-not-a-pair", {"eps": 1e-30}, "eps", "eps is the pair (eps1, eps2)"),
    InvalidCase("clip-threshold-zero", {"clip_threshold": 0.0}, "clip_threshold", "d = 0 divides by zero"),
    InvalidCase("decay-rate-positive", {"decay_rate": 0.8}, "decay_rate", "β̂2 = 1 − t^0.8 < 0: the second moment turns negative, then NaN"),
    InvalidCase("beta1-one", {"beta1": 1.0}, "beta1", "β1 must be < 1"),
    InvalidCase("beta1-negative", {"beta1": -0.1}, "beta1", "β1 must be ≥ 0"),
    InvalidCase("weight-decay-negative", {"weight_decay": -0.1}, "weight_decay", "a negative decay"),
    InvalidCase("scale-parameter-not-bool", {"scale_parameter": 1}, "scale_parameter", "a boolean flag"),
]
