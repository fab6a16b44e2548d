"""The ``adafactor`` reference against hand-computed values from its docstring's formula, and against transformers."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from optimspec.reference import run
from optimspec.reference._dtypes import round_to
from optimspec.reference._numeric import exact
from optimspec.reference.optimizers import adafactor

ALGO = "adafactor"
EPS1, EPS2 = 1e-30, 1e-3


def _trajectory(param, grads, hparams: dict | None = None, **kwargs) -> list[run.Snapshot]:
    """Snapshots of one tensor named ``p``."""
    return run.optimizer_trajectory(
        ALGO, {"p": np.asarray(param, dtype=np.float64)}, [{"p": np.asarray(g, dtype=np.float64)} for g in grads], hparams or {}, **kwargs
    )


def _rms(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    return math.sqrt(math.fsum((x * x).ravel().tolist())) / math.sqrt(x.size)


def _rng_values(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


def test_docstring_example() -> None:
    assert doctest.testmod(adafactor).failed == 0


# --------------------------------------------------------------------------------------------------
# hand-checked steps
# --------------------------------------------------------------------------------------------------


def test_first_step_with_defaults_is_a_scaled_sign() -> None:
    # At t = 1, β̂2 = 0, u = g/√(g² + 1e-30) ≈ sign(g), RMS(u) ≈ 1 (no clipping) and
    # α = 0.01·max(1e-3, RMS(p₀)): the update is 0.01·RMS(p₀)·sign(g).
    p0 = np.array([0.5, -1.5, 2.0, 0.25])
    g = np.array([0.3, -0.7, 1e-3, -2.0])
    p1 = _trajectory(p0, [g])[1].params["p"]
    alpha = 0.01 * _rms(p0)  # RMS = √(6.625/4) ≈ 1.287 > 1e-3
    np.testing.assert_allclose(p1, p0 - alpha * np.sign(g), rtol=0, atol=4 * math.ulp(alpha))
    # The same step in transformers' float order, computed independently: every rounding agrees.
    u = 1.0 / np.sqrt(g * g + EPS1) * g
    u = u / max(1.0, _rms(u) / 1.0)
    assert p1.tolist() == (p0 - u * (max(EPS2, _rms(p0)) * 0.01)).tolist()


def test_first_step_floors_the_parameter_scale_at_eps2() -> None:
    p0 = np.array([1e-5, -2e-5, 0.0])
    g = np.array([1.0, 1.0, -1.0])
    p1 = _trajectory(p0, [g])[1].params["p"]
    np.testing.assert_allclose(p1 - p0, -0.01 * EPS2 * np.sign(g), rtol=1e-15)


def test_second_step_unfactored_by_hand() -> None:
    p0, g1, g2 = np.array([1.0, -2.0, 0.5]), np.array([0.4, 0.1, -0.3]), np.array([-0.2, 0.3, 0.3])
    snaps = _trajectory(p0, [g1, g2])
    p1 = snaps[1].params["p"]
    beta2t = 1.0 - math.pow(2.0, -0.8)
    v2 = (g1 * g1 + EPS1) * beta2t + (1.0 - beta2t) * (g2 * g2 + EPS1)
    u = g2 / np.sqrt(v2)
    u = u / max(1.0, _rms(u))
    expected = p1 - 0.01 * _rms(p1) * u
    np.testing.assert_allclose(snaps[2].params["p"], expected, rtol=1e-15)
    np.testing.assert_allclose(snaps[2].state["p"].exp_avg_sq, v2, rtol=1e-15)
    assert snaps[2].state["p"].step == 2
    assert snaps[2].state["p"].RMS == pytest.approx(_rms(p1), rel=1e-15)


def test_factored_first_step_normalizes_only_the_row_statistic() -> None:
    p0, g = _rng_values(1, (2, 3)), _rng_values(2, (2, 3))
    snap = _trajectory(p0, [g])[1]
    sq = g * g + EPS1
    row, col = sq.mean(axis=1), sq.mean(axis=0)  # β̂2 = 0: the first step keeps the means
    u = (1.0 / np.sqrt(row / row.mean()))[:, None] * (1.0 / np.sqrt(col))[None, :] * g
    u = u / max(1.0, _rms(u))
    np.testing.assert_allclose(snap.params["p"], p0 - 0.01 * _rms(p0) * u, rtol=1e-14)
    np.testing.assert_allclose(snap.state["p"].exp_avg_sq_row, row, rtol=1e-15)
    np.testing.assert_allclose(snap.state["p"].exp_avg_sq_col, col, rtol=1e-15)


def test_decay_rate_zero_keeps_only_the_current_gradient() -> None:
    grads = [_rng_values(10 + k, (4,)) for k in range(3)]
    snaps = _trajectory(_rng_values(9, (4,)), grads, {"decay_rate": 0.0})
    for k, g in enumerate(grads, start=1):
        np.testing.assert_array_equal(snaps[k].state["p"].exp_avg_sq, g * g + EPS1)


def test_beta1_averages_the_lr_scaled_clipped_update() -> None:
    p0, grads = _rng_values(20, (5,)), [_rng_values(21, (5,)), _rng_values(22, (5,))]
    plain = _trajectory(p0, grads[:1])
    momentum = _trajectory(p0, grads, {"beta1": 0.9})
    update1 = p0 - plain[1].params["p"]  # α₁·u₁ without momentum (to a few ulps of p₀)
    atol = 4 * math.ulp(float(np.max(np.abs(p0))))
    np.testing.assert_allclose(momentum[1].state["p"].exp_avg, 0.1 * update1, rtol=0, atol=atol)
    np.testing.assert_allclose(momentum[1].params["p"], p0 - 0.1 * update1, rtol=0, atol=atol)
    # Step 2 from the momentum run's own p₁: the EMA takes α₂·u₂ (no bias correction).
    p1 = momentum[1].params["p"]
    step2 = run.optimizer_step(ALGO, {"p": p1}, {"p": grads[1]}, plain[1].state, {})[0]["p"]
    expected_m2 = 0.9 * (0.1 * update1) + 0.1 * (p1 - step2)
    np.testing.assert_allclose(momentum[2].state["p"].exp_avg, expected_m2, rtol=0, atol=atol)


def test_weight_decay_uses_alpha_on_the_pre_update_param() -> None:
    p0, g = _rng_values(30, (6,), 3.0), _rng_values(31, (6,))
    plain = _trajectory(p0, [g])[1].params["p"]
    decayed = _trajectory(p0, [g], {"weight_decay": 0.2})[1].params["p"]
    alpha = 0.01 * _rms(p0)
    np.testing.assert_allclose(decayed, plain - 0.2 * alpha * p0, rtol=1e-14)


def test_manual_lr_is_scaled_by_the_parameter_rms_unless_scale_parameter_is_off() -> None:
    p0, g = _rng_values(40, (4,)), np.array([1.0, -1.0, 2.0, -0.5])
    scaled = _trajectory(p0, [g], {"relative_step": False, "lr": 0.05})[1].params["p"]
    unscaled = _trajectory(p0, [g], {"relative_step": False, "lr": 0.05, "scale_parameter": False})[1].params["p"]
    np.testing.assert_allclose(scaled, p0 - 0.05 * _rms(p0) * np.sign(g), rtol=1e-15)
    np.testing.assert_allclose(unscaled, p0 - 0.05 * np.sign(g), rtol=1e-15)


@pytest.mark.parametrize(
    ("step", "warmup_init", "rho"),
    [
        (1, False, 1e-2),
        (10_000, False, 1e-2),
        (10_001, False, 1 / math.sqrt(10_001)),
        (1, True, 1e-6),
        (9_999, True, 1e-6 * 9_999),
        (10_000, True, 1e-2),
        (10_001, True, 1 / math.sqrt(10_001)),
    ],
)
def test_relative_step_crosses_over_at_ten_thousand(step: int, warmup_init: bool, rho: float) -> None:
    hp = adafactor.SPEC.resolve({"warmup_init": warmup_init, "scale_parameter": False})
    assert adafactor.get_lr(step, 0.5, hp, run.FLOAT64) == rho


# --------------------------------------------------------------------------------------------------
# factoring
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (7,), (1, 48), (48, 1), (8, 8), (2, 3, 4), (2, 2, 4, 4)])
def test_state_shapes_follow_the_last_two_dims(shape: tuple[int, ...]) -> None:
    state = _trajectory(np.ones(shape), [np.ones(shape)])[1].state["p"]
    if len(shape) >= 2:
        assert np.shape(state.exp_avg_sq_row) == shape[:-1]
        assert np.shape(state.exp_avg_sq_col) == shape[:-2] + shape[-1:]
        assert state.exp_avg_sq is None
    else:
        assert np.shape(state.exp_avg_sq) == shape
        assert state.exp_avg_sq_row is None and state.exp_avg_sq_col is None
    assert state.exp_avg is None  # no beta1


@pytest.mark.parametrize("shape", [(1, 6), (6, 1)])
def test_one_by_n_factors_exactly(shape: tuple[int, ...]) -> None:
    # One row (or one column): the factored estimate equals g² itself, as unfactored Adafactor.
    p0, grads = _rng_values(50, (6,)), [_rng_values(51 + k, (6,)) for k in range(3)]
    flat = _trajectory(p0, grads)[-1].params["p"]
    factored = _trajectory(p0.reshape(shape), [g.reshape(shape) for g in grads])[-1].params["p"]
    np.testing.assert_allclose(factored.ravel(), flat, rtol=1e-14)


def test_leading_dims_are_batch_dims() -> None:
    # Without parameter scale and clipping (both use the whole tensor) each trailing 3×4 slice of a
    # 4-D kernel steps exactly as that 3×4 matrix alone.
    hp = {"relative_step": False, "lr": 0.1, "scale_parameter": False, "clip_threshold": 1e9}
    p0, grads = _rng_values(60, (2, 2, 3, 4)), [_rng_values(61 + k, (2, 2, 3, 4)) for k in range(2)]
    kernel = _trajectory(p0, grads, hp)[-1].params["p"]
    for i in range(2):
        for j in range(2):
            alone = _trajectory(p0[i, j], [g[i, j] for g in grads], hp)[-1].params["p"]
            np.testing.assert_array_equal(kernel[i, j], alone)


# --------------------------------------------------------------------------------------------------
# update clipping
# --------------------------------------------------------------------------------------------------


def test_clip_threshold_caps_the_update_rms() -> None:
    p0, g = _rng_values(70, (8,)), _rng_values(71, (8,))
    p1 = _trajectory(p0, [g], {"clip_threshold": 0.5})[1].params["p"]
    assert _rms(p0 - p1) == pytest.approx(0.5 * 0.01 * _rms(p0), rel=1e-14)


def _step_two_update(factor: float, variant: dict | None = None) -> tuple[np.ndarray, float, float]:
    """(α₂-normalized update of step 2, RMS of the unclipped u₂) after the gradient is rescaled."""
    p0, g1 = _rng_values(80, (8,)), _rng_values(81, (8,))
    g2 = g1 * factor * (1.0 + 0.5 * _rng_values(82, (8,)) ** 2)
    snaps = _trajectory(p0, [g1, g2], variant=variant)
    beta2t = 1.0 - math.pow(2.0, -0.8)
    unclipped = g2 / np.sqrt((g1 * g1 + EPS1) * beta2t + (1.0 - beta2t) * (g2 * g2 + EPS1))
    alpha = 0.01 * _rms(snaps[1].params["p"])
    return (snaps[1].params["p"] - snaps[2].params["p"]) / alpha, _rms(unclipped), unclipped


def test_a_ten_times_smaller_gradient_is_not_clipped() -> None:
    update, unclipped_rms, unclipped = _step_two_update(0.1)
    assert unclipped_rms < 1.0
    np.testing.assert_allclose(update, unclipped, rtol=1e-13)


def test_a_ten_times_larger_gradient_is_clipped_to_rms_one() -> None:
    update, unclipped_rms, unclipped = _step_two_update(10.0)
    assert unclipped_rms > 1.0
    assert _rms(update) == pytest.approx(1.0, rel=1e-13)
    np.testing.assert_allclose(update, unclipped / unclipped_rms, rtol=1e-13)


def test_inverted_clip_divisor_inflates_small_updates_and_skips_large_ones() -> None:
    small, _, _ = _step_two_update(0.1, {"clip_divisor": "min"})
    large, _, unclipped = _step_two_update(10.0, {"clip_divisor": "min"})
    assert _rms(small) == pytest.approx(1.0, rel=1e-13)
    np.testing.assert_allclose(large, unclipped, rtol=1e-13)


# --------------------------------------------------------------------------------------------------
# special values
# --------------------------------------------------------------------------------------------------


def test_nan_or_inf_gradient_makes_the_whole_tensor_nan() -> None:
    # RMS(u) is NaN, and the clipping divisor (torch's clamp) propagates it to every element.
    for bad in (math.nan, math.inf, -math.inf):
        p1 = _trajectory([1.0, 2.0, 3.0], [[bad, 0.5, -0.5]])[1].params["p"]
        assert np.isnan(p1).all()
        kernel = _trajectory(np.ones((2, 3)), [[[bad, 0.5, -0.5], [0.1, 0.2, 0.3]]])[1].params["p"]
        assert np.isnan(kernel).all()


def test_nan_param_falls_back_to_eps2_scale() -> None:
    # max(eps2, NaN) is eps2 in Python: the finite elements move by 0.01·1e-3·sign(g).
    p0, g = np.array([math.nan, 1.0, -2.0, 0.5]), np.array([0.5, -0.5, 0.25, 1.0])
    snap = _trajectory(p0, [g])[1]
    assert math.isnan(snap.params["p"][0]) and math.isnan(snap.state["p"].RMS)
    np.testing.assert_allclose(snap.params["p"][1:], p0[1:] - 1e-5 * np.sign(g[1:]), rtol=1e-15)


def test_zero_gradients_move_only_through_weight_decay() -> None:
    p0 = _rng_values(90, (2, 3))
    snaps = _trajectory(p0, [np.zeros((2, 3))] * 2)
    np.testing.assert_array_equal(snaps[2].params["p"], p0)
    decayed = _trajectory(p0, [np.zeros((2, 3))], {"weight_decay": 0.1})[1].params["p"]
    np.testing.assert_allclose(decayed, p0 - 0.1 * 0.01 * _rms(p0) * p0, rtol=1e-15)


def test_eps1_zero_with_a_zero_gradient_is_nan_as_upstream() -> None:
    assert np.isnan(_trajectory([1.0, 2.0], [[0.0, 1.0]], {"eps": (0.0, 1e-3)})[1].params["p"]).all()


# --------------------------------------------------------------------------------------------------
# conventions
# --------------------------------------------------------------------------------------------------


def test_weight_decay_scale_alternatives() -> None:
    p0, g = _rng_values(100, (6,), 3.0), _rng_values(101, (6,))
    plain = _trajectory(p0, [g])[1].params["p"]

    def decayed(scale: str) -> np.ndarray:
        return _trajectory(p0, [g], {"weight_decay": 0.2}, variant={"weight_decay_scale": scale})[1].params["p"]

    np.testing.assert_allclose(decayed("lr"), plain - 0.2 * 0.01 * p0, rtol=1e-14)
    np.testing.assert_allclose(decayed("unscaled"), plain - 0.2 * p0, rtol=1e-14)


def test_clamped_eps1_keeps_tiny_gradients_at_full_size() -> None:
    p0, g = _rng_values(110, (4,)), _rng_values(111, (4,), 1e-16)
    added = _trajectory(p0, [g])[1].params["p"]
    clamped = _trajectory(p0, [g], variant={"eps1_placement": "clamped"})[1].params["p"]
    alpha = 0.01 * _rms(p0)
    np.testing.assert_allclose(clamped, p0 - alpha * np.sign(g), rtol=1e-15)
    np.testing.assert_allclose(added, p0 - alpha * g / np.sqrt(g * g + EPS1), rtol=1e-14)


def test_clamped_eps1_factored_matches_torch_estimate() -> None:
    p0, g = _rng_values(115, (3, 4)), _rng_values(116, (3, 4))
    p1 = _trajectory(p0, [g], variant={"eps1_placement": "clamped"})[1].params["p"]
    row, col = (g * g).mean(axis=1), (g * g).mean(axis=0)
    u = g / np.sqrt(np.outer(row, col) / row.mean())
    u = u / max(1.0, _rms(u))
    np.testing.assert_allclose(p1, p0 - 0.01 * _rms(p0) * u, rtol=1e-14)


def test_unfactored_matrix_steps_as_its_flattened_vector() -> None:
    p0, grads = _rng_values(120, (2, 3)), [_rng_values(121 + k, (2, 3)) for k in range(3)]
    matrix = _trajectory(p0, grads, variant={"factoring": "unfactored"})
    vector = _trajectory(p0.ravel(), [g.ravel() for g in grads])
    np.testing.assert_array_equal(matrix[-1].params["p"].ravel(), vector[-1].params["p"])
    # On a factored state it continues from V̂ = (R/mean R) ⊗ C, which is exact for a single row.
    row_grads = [g[:1] for g in grads]
    after_one = _trajectory(p0[:1], row_grads[:1])[1]
    step = {"p": row_grads[1]}
    alternative, _ = run.optimizer_step(ALGO, after_one.params, step, after_one.state, {}, variant={"factoring": "unfactored"})
    spec, _ = run.optimizer_step(ALGO, after_one.params, step, after_one.state, {})
    np.testing.assert_allclose(alternative["p"], spec["p"], rtol=1e-15)


def test_beta2_cap_limits_the_decay() -> None:
    hp = {"relative_step": False, "lr": 1.0, "scale_parameter": False, "decay_rate": -8.0}
    grads = [np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([2.0, 1.0])]
    capped = _trajectory([0.0, 0.0], grads, hp, variant={"beta2_cap": "0.999"})
    v2 = capped[2].state["p"].exp_avg_sq
    expected = v2 * 0.999 + (1.0 - 0.999) * (grads[2] ** 2 + EPS1)  # 1 − 3⁻⁸ > 0.999 is capped
    np.testing.assert_allclose(capped[3].state["p"].exp_avg_sq, expected, rtol=1e-15)
    uncapped = _trajectory([0.0, 0.0], grads, hp)[3].state["p"].exp_avg_sq
    beta2t = 1.0 - 3.0**-8
    np.testing.assert_allclose(uncapped, v2 * beta2t + (1.0 - beta2t) * (grads[2] ** 2 + EPS1), rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# dtypes and the oracle
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "state"), [("float64", "float64"), ("float32", "float32"), ("float16", "float32"), ("bfloat16", "float32")])
def test_state_dtype_is_the_float32_master_copy_for_half_params(dtype: str, state: str) -> None:
    assert adafactor.state_dtype(dtype) == state


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_param_is_rounded_once_per_step(dtype: str) -> None:
    p0 = round_to(dtype, _rng_values(130, (2, 3)))
    g = round_to(dtype, _rng_values(131, (2, 3)))
    half = _trajectory(p0, [g], dtype=dtype)[1]
    wide = _trajectory(p0, [g])[1]
    np.testing.assert_array_equal(half.params["p"], round_to(dtype, wide.params["p"]))
    np.testing.assert_array_equal(half.state["p"].exp_avg_sq_row, round_to("float32", wide.state["p"].exp_avg_sq_row))


def test_oracle_agrees_with_float64() -> None:
    p0, grads = _rng_values(140, (2, 3)), [_rng_values(141 + k, (2, 3)) for k in range(4)]
    hp = {"beta1": 0.9, "weight_decay": 0.1, "warmup_init": True}
    fast = _trajectory(p0, grads, hp)[-1].params["p"]
    oracle = _trajectory(p0, grads, hp, nx=exact(200))[-1].params["p"]
    np.testing.assert_allclose(fast, oracle, rtol=1e-14)


# --------------------------------------------------------------------------------------------------
# rejected inputs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hparams", "argument"),
    [
        ({"lr": 1e-3}, "lr"),  # upstream: "Cannot combine manual `lr` and `relative_step=True`"
        ({"warmup_init": True, "relative_step": False, "lr": 1e-3}, "warmup_init"),
        ({"relative_step": False}, "lr"),  # upstream: TypeError at the first step
        ({"relative_step": False, "lr": -1e-3}, "lr"),
        ({"relative_step": False, "lr": math.nan}, "lr"),
        ({"eps": (-1e-30, 1e-3)}, "eps"),
        ({"eps": (1e-30, -1e-3)}, "eps"),
        ({"eps": 1e-30}, "eps"),
        ({"clip_threshold": 0.0}, "clip_threshold"),
        ({"decay_rate": 0.8}, "decay_rate"),
        ({"beta1": 1.0}, "beta1"),
        ({"beta1": -0.1}, "beta1"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"scale_parameter": 1}, "scale_parameter"),
        ({"relative_step": None}, "relative_step"),
        ({"warmup_init": "yes"}, "warmup_init"),
    ],
)
def test_rejected_hyperparameters_name_the_argument(hparams: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=f"`{argument}`"):
        adafactor.SPEC.resolve(hparams)


def test_boundary_values_are_accepted() -> None:
    adafactor.SPEC.resolve({"decay_rate": 0.0, "eps": (0.0, 0.0), "beta1": 0.0, "clip_threshold": 1e-12})
    adafactor.SPEC.resolve({"relative_step": False, "lr": 0.0, "scale_parameter": False})


# --------------------------------------------------------------------------------------------------
# transformers (the spec's source) on float64 and half params
# --------------------------------------------------------------------------------------------------

OPTION_SETS = [
    {},
    {"beta1": 0.9, "weight_decay": 0.1},
    {"relative_step": False, "lr": 1e-2},
    {"relative_step": False, "lr": 3e-2, "scale_parameter": False, "clip_threshold": 0.5},
    {"warmup_init": True, "decay_rate": -0.5, "eps": (1e-3, 1e-2)},
    {"scale_parameter": False, "beta1": 0.5, "weight_decay": 0.05, "decay_rate": 0.0},
]
SHAPES = [(), (5,), (4, 6), (2, 3, 4), (2, 2, 3, 3)]


def _transformers_run(params: dict, grads: list[dict], hparams: dict, dtype: str, state: dict | None = None) -> list[dict]:
    """transformers' Adafactor: params after each step (float64 arrays), optionally from ``state``."""
    torch = pytest.importorskip("torch")
    optimization = pytest.importorskip("transformers.optimization")
    torch_dtype = getattr(torch, dtype)
    tensors = {n: torch.tensor(v, dtype=torch.float64).to(torch_dtype).requires_grad_(True) for n, v in params.items()}
    kwargs = {**hparams, "eps": tuple(hparams.get("eps", (EPS1, EPS2)))}
    optimizer = optimization.Adafactor(list(tensors.values()), **kwargs)
    for name, fields in (state or {}).items():
        optimizer.state[tensors[name]] = {k: v if isinstance(v, int) else torch.tensor(v, dtype=torch.float64) for k, v in fields.items()}
    out = []
    for step in grads:
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(step[name], dtype=torch.float64).to(torch_dtype)
        optimizer.step()
        out.append({n: t.detach().to(torch.float64).numpy().copy() for n, t in tensors.items()})
    return out


@pytest.mark.parametrize("hparams", OPTION_SETS, ids=lambda hp: ",".join(f"{k}={v}" for k, v in hp.items()) or "defaults")
def test_matches_transformers_in_float64(hparams: dict) -> None:
    params = {f"p{i}": _rng_values(200 + i, s) for i, s in enumerate(SHAPES)}
    grads = [{n: _rng_values(300 + 10 * k + i, np.shape(p), 10.0 if k % 7 == 3 else 1.0) for i, (n, p) in enumerate(params.items())} for k in range(20)]
    expected = _transformers_run(params, grads, hparams, "float64")
    snapshots = run.optimizer_trajectory(ALGO, params, grads, hparams)
    for k in range(20):
        for name in params:
            np.testing.assert_allclose(snapshots[k + 1].params[name], expected[k][name], rtol=1e-12, atol=0, err_msg=f"step {k + 1} {name}")


@pytest.mark.parametrize("warmup_init", [False, True])
def test_matches_transformers_across_the_relative_step_crossover(warmup_init: bool) -> None:
    # Teacher-forced from a state at t = 9998: steps 9999 … 10002 straddle the crossover at 10⁴.
    hp = {"warmup_init": warmup_init, "beta1": 0.9}
    params = {"p": _rng_values(400, (2, 3))}
    start = {"step": 9998, "RMS": 1.0, "exp_avg_sq_row": np.array([0.8, 1.3]), "exp_avg_sq_col": np.array([0.5, 1.1, 0.9]), "exp_avg": _rng_values(401, (2, 3), 1e-3)}
    grads = [{"p": _rng_values(402 + k, (2, 3))} for k in range(4)]
    expected = _transformers_run(params, grads, hp, "float64", state={"p": start})
    state = {"p": adafactor.State(start["step"], start["RMS"], start["exp_avg_sq_row"], start["exp_avg_sq_col"], np.zeros(0), start["exp_avg"])}
    current = params
    for k, step in enumerate(grads):
        current, state = run.optimizer_step(ALGO, current, step, state, hp)
        np.testing.assert_allclose(current["p"], expected[k]["p"], rtol=1e-13, atol=0, err_msg=f"step {9999 + k}")
    assert state["p"].step == 10_002


def _half_ulp(values: np.ndarray, dtype: str) -> np.ndarray:
    significand_bits = {"float16": 11, "bfloat16": 8}[dtype]
    exponents = np.frexp(np.abs(values))[1]
    return np.ldexp(1.0, exponents - significand_bits)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("hparams", [{}, {"beta1": 0.9, "weight_decay": 0.1}, {"relative_step": False, "lr": 3e-2}], ids=["defaults", "beta1-wd", "manual-lr"])
def test_matches_transformers_on_half_params_within_one_ulp(dtype: str, hparams: dict) -> None:
    params = {"v": round_to(dtype, _rng_values(500, (7,))), "m": round_to(dtype, _rng_values(501, (3, 4)))}
    grads = [{n: round_to(dtype, _rng_values(510 + 2 * k + i, np.shape(p))) for i, (n, p) in enumerate(params.items())} for k in range(8)]
    expected = _transformers_run(params, grads, hparams, dtype)
    snapshots = run.optimizer_trajectory(ALGO, params, grads, hparams, dtype=dtype)
    for k in range(8):
        for name in params:
            actual, wanted = snapshots[k + 1].params[name], expected[k][name]
            assert np.all(np.abs(actual - wanted) <= _half_ulp(wanted, dtype)), f"step {k + 1} {name}: {actual} vs {wanted}"
