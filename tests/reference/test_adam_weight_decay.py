"""The ``adam_weight_decay`` reference against hand-computed values from its docstring's formula."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from optimspec.reference import run
from optimspec.reference._numeric import exact
from optimspec.reference.optimizers import adam_weight_decay

ALGO = "adam_weight_decay"
B1, B2, EPS = 0.9, 0.999, 1e-7
CREATE_OPTIMIZER_EXCLUDES = ["LayerNorm", "layer_norm", "bias"]


def _trajectory(grads: list[float], hparams: dict, variant: dict | None = None, start: float = 1.0, name: str = "w"):
    """Snapshots of a one-element tensor named ``name`` over the scalar gradients ``grads``."""
    return run.optimizer_trajectory(
        ALGO, {name: np.array([start])}, [{name: np.array([g])} for g in grads], hparams, variant=variant
    )


def _param(snapshot: run.Snapshot, name: str = "w") -> float:
    return float(snapshot.params[name][0])


def test_docstring_example() -> None:
    assert doctest.testmod(adam_weight_decay).failed == 0


def test_first_step_by_hand() -> None:
    # p = 1, g = 0.5, lr = 0.1, wd = 0.1, t = 1.
    decayed = 1.0 - (0.1 * 1.0) * 0.1  # 0.99: decay first, plain lr
    m = 0.5 * (1 - B1)  # 0.05
    v = 0.25 * (1 - B2)  # 2.5e-4
    alpha = 0.1 * math.sqrt(1 - B2) / (1 - B1)  # √0.001 ≈ 0.0316228
    expected = decayed - (m * alpha) / (math.sqrt(v) + EPS)  # ≈ 0.99 − 0.1·(1 − 6.3e-6)
    snaps = _trajectory([0.5], {"learning_rate": 0.1, "weight_decay_rate": 0.1})
    assert _param(snaps[1]) == pytest.approx(expected, rel=1e-15)
    assert _param(snaps[1]) == pytest.approx(0.89000063, abs=1e-8)
    state = snaps[1].state["w"]
    assert state.step == 1
    assert float(state.m[0]) == pytest.approx(0.05, rel=1e-15)
    assert float(state.v[0]) == pytest.approx(2.5e-4, rel=1e-15)
    assert float(state.vhat[0]) == 0.0


def test_second_step_uses_lerp_moments_and_t2_bias_correction() -> None:
    lr, wd = 0.1, 0.1
    p1 = float(_param(_trajectory([0.5], {"learning_rate": lr, "weight_decay_rate": wd})[1]))
    m = 0.05 + (-0.25 - 0.05) * (1 - B1)  # 0.02
    v = 2.5e-4 + (0.0625 - 2.5e-4) * (1 - B2)  # 3.1225e-4
    alpha = lr * math.sqrt(1 - B2**2) / (1 - B1**2)
    expected = (p1 - (lr * p1) * wd) - (m * alpha) / (math.sqrt(v) + EPS)
    snaps = _trajectory([0.5, -0.25], {"learning_rate": lr, "weight_decay_rate": wd})
    assert _param(snaps[2]) == pytest.approx(expected, rel=1e-15)
    assert float(snaps[2].state["w"].m[0]) == pytest.approx(0.02, rel=1e-14)
    assert float(snaps[2].state["w"].v[0]) == pytest.approx(3.1225e-4, rel=1e-14)
    assert snaps[2].state["w"].step == 2


def test_amsgrad_divides_by_the_running_max() -> None:
    # g = 1 then 0: v falls from 1e-3 to 0.999e-3, v̂ keeps 1e-3.
    lr = 0.01
    snaps = _trajectory([1.0, 0.0], {"learning_rate": lr, "amsgrad": True})
    p1 = _param(snaps[1])
    m2 = 0.1 + (0.0 - 0.1) * (1 - B1)  # 0.09
    alpha = lr * math.sqrt(1 - B2**2) / (1 - B1**2)
    expected = p1 - (m2 * alpha) / (math.sqrt(1e-3) + EPS)
    state = snaps[2].state["w"]
    assert float(state.vhat[0]) == pytest.approx(1e-3, rel=1e-15)
    assert float(state.v[0]) == pytest.approx(0.999e-3, rel=1e-14)
    assert _param(snaps[2]) == pytest.approx(expected, rel=1e-15)
    without = _trajectory([1.0, 0.0], {"learning_rate": lr})
    assert _param(without[2]) < _param(snaps[2])  # the smaller √v takes the larger step
    assert float(without[2].state["w"].vhat[0]) == 0.0


@pytest.mark.parametrize(
    ("name", "include", "exclude", "rate", "decays"),
    [
        ("dense/kernel", None, CREATE_OPTIMIZER_EXCLUDES, 0.1, True),
        ("dense/bias", None, CREATE_OPTIMIZER_EXCLUDES, 0.1, False),
        ("layer_normalization/gamma", None, CREATE_OPTIMIZER_EXCLUDES, 0.1, False),
        ("LayerNorm/beta", None, CREATE_OPTIMIZER_EXCLUDES, 0.1, False),
        ("encoder/LayerNorm/gamma:0", None, CREATE_OPTIMIZER_EXCLUDES, 0.1, False),
        ("dense/bias", ["dense/bias"], CREATE_OPTIMIZER_EXCLUDES, 0.1, True),  # include wins
        ("layer_normalization/gamma", ["gamma"], CREATE_OPTIMIZER_EXCLUDES, 0.1, True),
        ("dense/bias", ["kernel"], None, 0.1, True),  # an include list alone excludes nothing
        ("dense/kernel", ["kernel"], ["kernel"], 0.0, False),  # rate 0: nothing decays
        ("dense/bias", [], [], 0.1, True),  # empty lists count as absent
        ("dense/kernel", None, ["^dense/"], 0.1, False),  # regex anchors
        ("encoder/dense/kernel", None, ["^dense/"], 0.1, True),
        ("dense/kernel", None, ["kernel$"], 0.1, False),
        ("dense/kernel_1", None, ["kernel$"], 0.1, True),
        ("LayerNorm/beta", None, ["(gamma|beta)$"], 0.1, False),
        ("dense/kernel", None, ["dense.kernel"], 0.1, False),  # "." is any character
    ],
)
def test_decay_name_rule(name: str, include: list | None, exclude: list | None, rate: float, decays: bool) -> None:
    # Zero gradients: Adam moves nothing, so the parameter changes exactly when it decays.
    hparams = {"learning_rate": 0.5, "weight_decay_rate": rate, "include_in_weight_decay": include, "exclude_from_weight_decay": exclude}
    snaps = _trajectory([0.0], hparams, start=2.0, name=name)
    assert _param(snaps[1], name) == (2.0 - (0.5 * 2.0) * rate if decays else 2.0)


def test_zero_grads_only_decay() -> None:
    snaps = _trajectory([0.0, 0.0, 0.0], {"learning_rate": 0.01, "weight_decay_rate": 0.1}, start=-3.0)
    expected = -3.0
    for snapshot in snaps[1:]:
        expected = expected - (0.01 * expected) * 0.1
        assert _param(snapshot) == expected
        assert float(snapshot.state["w"].m[0]) == 0.0 and float(snapshot.state["w"].v[0]) == 0.0


def test_zero_learning_rate_moves_nothing_but_the_moments() -> None:
    snaps = _trajectory([0.5, 0.5], {"learning_rate": 0.0, "weight_decay_rate": 0.1}, start=1.25)
    assert [_param(s) for s in snaps] == [1.25, 1.25, 1.25]
    assert float(snaps[2].state["w"].m[0]) == pytest.approx(0.05 + 0.45 * 0.1, rel=1e-15)


def test_nan_and_inf_grads_give_nan_only_where_they_are() -> None:
    snaps = run.optimizer_trajectory(
        ALGO, {"w": np.array([1.0, 1.0, 1.0, 1.0])}, [{"w": np.array([np.nan, np.inf, -np.inf, 0.5])}], {"weight_decay_rate": 0.01}
    )
    params, state = snaps[1].params["w"], snaps[1].state["w"]
    assert np.isnan(params[:3]).all() and np.isfinite(params[3])
    assert np.isnan(state.m[0]) and state.m[1] == np.inf and state.m[2] == -np.inf
    assert state.v[1] == np.inf and state.v[2] == np.inf


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 3), (2, 2, 1, 3)])
def test_every_shape_updates_elementwise(shape: tuple[int, ...]) -> None:
    values = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape) / 4
    snaps = run.optimizer_trajectory(ALGO, {"w": values}, [{"w": -values}], {"learning_rate": 0.1})
    # At t = 1 every element moves by lr·(1 − ε/(|g|·√(1−β2) + ε)) ≈ lr, against the gradient's sign.
    moved = snaps[1].params["w"] - values
    assert moved.shape == shape
    assert np.allclose(moved, 0.1, rtol=1e-4)


# -- conventions ---------------------------------------------------------------------------------


def test_eps_after_bias_correction() -> None:
    lr = 1e-3
    g = 1e-7  # |g| = ε: the paper-ε step (lr/2) is ~16× the ε-hat step (0.03·lr)
    m, v = g * (1 - B1), g * g * (1 - B2)
    expected = 1.0 - (m * (lr / (1 - B1))) / (math.sqrt(v) / math.sqrt(1 - B2) + EPS)  # 1 − lr/2
    snaps = _trajectory([g], {"learning_rate": lr}, {"eps_placement": "after_bias_correction"})
    assert _param(snaps[1]) == pytest.approx(expected, rel=1e-15)
    spec = _trajectory([g], {"learning_rate": lr})
    hat = 1.0 - (m * (lr * math.sqrt(1 - B2) / (1 - B1))) / (math.sqrt(v) + EPS)
    assert _param(spec[1]) == pytest.approx(hat, rel=1e-15)
    assert (1.0 - _param(snaps[1])) / (1.0 - _param(spec[1])) > 10


def test_decay_after_update() -> None:
    lr, wd = 0.5, 0.5
    m, v = 0.5 * (1 - B1), 0.25 * (1 - B2)
    updated = 1.0 - (m * (lr * math.sqrt(1 - B2) / (1 - B1))) / (math.sqrt(v) + EPS)
    expected = updated - (lr * updated) * wd
    snaps = _trajectory([0.5], {"learning_rate": lr, "weight_decay_rate": wd}, {"decay_order": "after_update"})
    assert _param(snaps[1]) == pytest.approx(expected, rel=1e-15)


def test_decay_with_bias_corrected_lr() -> None:
    lr, wd = 0.01, 0.1
    alpha = lr * math.sqrt(1 - B2) / (1 - B1)
    m, v = 0.5 * (1 - B1), 0.25 * (1 - B2)
    decayed = 1.0 - (alpha * 1.0) * wd
    expected = decayed - (m * alpha) / (math.sqrt(v) + EPS)
    snaps = _trajectory([0.5], {"learning_rate": lr, "weight_decay_rate": wd}, {"decay_lr": "bias_corrected"})
    assert _param(snaps[1]) == pytest.approx(expected, rel=1e-15)


def test_oracle_agrees_with_float64() -> None:
    grads = [{"w": np.array([0.3, -1e-6, 2.0])}, {"w": np.array([-0.7, 1e-6, 0.1])}, {"w": np.array([0.2, 0.0, -3.0])}]
    hparams = {"learning_rate": 0.05, "weight_decay_rate": 0.2, "amsgrad": True}
    params = {"w": np.array([1.5, -0.25, 0.75])}
    float64 = run.optimizer_trajectory(ALGO, params, grads, hparams)
    oracle = run.optimizer_trajectory(ALGO, params, grads, hparams, nx=exact(256))
    for a, b in zip(float64, oracle):
        assert np.allclose(a.params["w"], b.params["w"], rtol=1e-14, atol=0)


# -- rejected inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hparams", "argument"),
    [
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": math.nan}, "learning_rate"),
        ({"beta_1": 1.0}, "beta_1"),
        ({"beta_1": -0.1}, "beta_1"),
        ({"beta_2": 1.0}, "beta_2"),
        ({"beta_2": -0.5}, "beta_2"),
        ({"epsilon": -1e-7}, "epsilon"),
        ({"weight_decay_rate": -0.01}, "weight_decay_rate"),
        ({"weight_decay_rate": math.inf}, "weight_decay_rate"),
        ({"amsgrad": 1}, "amsgrad"),
        ({"include_in_weight_decay": "bias"}, "include_in_weight_decay"),
        ({"exclude_from_weight_decay": [3]}, "exclude_from_weight_decay"),
        ({"include_in_weight_decay": ["dense/(kernel"]}, "include_in_weight_decay"),
        ({"exclude_from_weight_decay": ["LayerNorm", "[bias"]}, "exclude_from_weight_decay"),
        ({"exclude_from_weight_decay": ["*kernel"]}, "exclude_from_weight_decay"),
    ],
)
def test_rejected(hparams: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=f"`{argument}`"):
        adam_weight_decay.SPEC.resolve(hparams)


# -- cross-check against Keras 3 (float32; its dense formulas are the spec's) --------------------

BETAS_F32 = {"beta_1": float(np.float32(0.9)), "beta_2": float(np.float32(0.999))}


@pytest.mark.parametrize(
    "hparams",
    [
        {"learning_rate": 1e-2, **BETAS_F32},
        {"learning_rate": 1e-2, "amsgrad": True, "beta_1": float(np.float32(0.8)), "beta_2": float(np.float32(0.99))},
        {"learning_rate": 1e-2, "weight_decay_rate": 0.05, **BETAS_F32},
    ],
    ids=["adam", "amsgrad", "adamw"],
)
def test_matches_keras_in_float32(hparams: dict) -> None:
    # β as float32 holds it: Keras rounds β inside βᵗ but not in 1 − β, which with β2 = 0.999 typed
    # as a float64 would move the step by ~50 ε (the float32 golden cases state β the same way).
    keras = pytest.importorskip("keras")
    from optimspec.conformance.cases._build import grad_sequence
    from optimspec.conformance.cases.adam_weight_decay import weights

    steps = 6
    initial = weights(7, (3, 4))
    grads = grad_sequence(8, {"w": (3, 4)}, steps)
    hp = adam_weight_decay.SPEC.resolve(hparams)
    options = {name: hp[name] for name in ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad")}
    if hp["weight_decay_rate"]:
        # Keras AdamW decays first with the plain lr: var − var·wd·lr (the same rule, other rounding order).
        optimizer = keras.optimizers.AdamW(weight_decay=hp["weight_decay_rate"], **options)
    else:
        optimizer = keras.optimizers.Adam(**options)
    variable = keras.Variable(initial.astype(np.float32), dtype="float32")
    expected = run.optimizer_trajectory(ALGO, {"w": initial}, grads, hparams, dtype="float32")
    eps32 = float(np.finfo(np.float32).eps)
    for t in range(1, steps + 1):
        optimizer.apply_gradients([(grads[t - 1]["w"].astype(np.float32), variable)])
        actual = np.asarray(variable.numpy(), dtype=np.float64)
        want = expected[t].params["w"]
        scale = np.abs(want) + np.abs(want - initial)
        assert np.all(np.abs(actual - want) <= (8 + 2 * t) * eps32 * scale), t
