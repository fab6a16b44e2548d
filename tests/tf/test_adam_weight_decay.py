"""AdamWeightDecay against the spec's formulas (section 6.3), written out here in float64 NumPy."""

from __future__ import annotations

import contextlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from optimspec.tf import AdamWeightDecay, WarmUp

KERNEL0 = np.array([[0.5, -1.25], [2.0, 0.75], [-1.5, 1.0]])
BIAS0 = np.array([0.25, -0.5])
# Three steps of (kernel, bias) gradients; magnitudes shrink so that amsgrad's max(v̂, v) bites.
GRADS = [
    (np.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]]), np.array([0.6, -0.1])),
    (np.array([[-0.02, 0.01], [0.03, -0.01], [0.02, 0.01]]), np.array([-0.03, 0.02])),
    (np.array([[0.01, 0.02], [-0.01, 0.01], [0.01, -0.02]]), np.array([0.01, 0.01])),
]


def spec_trajectory(w0, grads, lrs, *, beta_1, beta_2, epsilon, weight_decay_rate, amsgrad=False):
    """The spec's per-variable step, in float64: decay with the scheduled lr, then ε-hat Adam."""
    w = np.asarray(w0, np.float64)
    m = v = v_hat = np.zeros_like(w)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        w = w - (lr * w) * weight_decay_rate
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        v_hat = np.maximum(v_hat, v)
        w = w - (m * alpha) / (np.sqrt(v_hat if amsgrad else v) + epsilon)
    return w


def assert_float32_close(actual, expected, w0) -> None:
    """~1e-6 relative to the problem's scale (float32 ε is 1.2e-7; a result may cancel to near 0)."""
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6 * np.max(np.abs(w0)))


def dense(dtype: str = "float32") -> keras.layers.Dense:
    """A built Dense layer (paths ``dense/kernel``, ``dense/bias``) holding KERNEL0 and BIAS0."""
    layer = keras.layers.Dense(2, name="dense", dtype=dtype)
    layer.build((None, 3))
    layer.set_weights([KERNEL0, BIAS0])
    return layer


def train(optimizer: keras.optimizers.Optimizer, layer: keras.layers.Layer, grads=GRADS) -> list[np.ndarray]:
    for step_grads in grads:
        optimizer.apply_gradients(
            [(tf.constant(g, v.dtype), v) for g, v in zip(step_grads, layer.trainable_variables)]
        )
    return [v.numpy() for v in layer.trainable_variables]


# β2 = 0.5 with shrinking gradients makes v decrease, so amsgrad's v̂ = max(v̂, v) changes the result.
@pytest.mark.parametrize(("amsgrad", "beta_2"), [(False, 0.999), (False, 0.5), (True, 0.5)])
def test_three_steps_match_the_spec_formulas(amsgrad: bool, beta_2: float) -> None:
    hp = dict(beta_1=0.9, beta_2=beta_2, epsilon=1e-7, amsgrad=amsgrad)
    optimizer = AdamWeightDecay(
        learning_rate=0.1, weight_decay_rate=0.2, exclude_from_weight_decay=["bias"], **hp
    )
    kernel, bias = train(optimizer, dense())

    lr = float(np.float32(0.1))  # Keras keeps a float learning rate in a float32 variable
    kernel_grads, bias_grads = zip(*GRADS)
    expected_kernel = spec_trajectory(KERNEL0, kernel_grads, [lr] * 3, weight_decay_rate=0.2, **hp)
    expected_bias = spec_trajectory(BIAS0, bias_grads, [lr] * 3, weight_decay_rate=0.0, **hp)
    assert_float32_close(kernel, expected_kernel, KERNEL0)
    assert_float32_close(bias, expected_bias, BIAS0)
    assert int(optimizer.iterations) == 3


def test_schedule_is_evaluated_at_the_pre_increment_iteration() -> None:
    schedule = WarmUp(0.1, keras.optimizers.schedules.PolynomialDecay(0.1, 10, 0.0), warmup_steps=2)
    optimizer = AdamWeightDecay(learning_rate=schedule, weight_decay_rate=0.2)
    layer = dense()
    first = train(optimizer, layer, GRADS[:1])
    # lr(0) = 0: neither the decay nor the Adam step moves the weights on the first update.
    np.testing.assert_array_equal(first[0], KERNEL0.astype(np.float32))
    kernel, _ = train(optimizer, layer, GRADS[1:])
    lrs = [float(schedule(k)) for k in range(3)]
    assert lrs == [0.0, pytest.approx(0.05), pytest.approx(0.1)]
    expected = spec_trajectory(
        KERNEL0, [g for g, _ in GRADS], lrs, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay_rate=0.2
    )
    assert_float32_close(kernel, expected, KERNEL0)


def test_float64_variables_compute_in_float64() -> None:
    # lr 2⁻⁴ is exact in the float32 lr variable, so the whole step is float64 math.
    optimizer = AdamWeightDecay(learning_rate=0.0625, weight_decay_rate=0.25, amsgrad=True)
    kernel, bias = train(optimizer, dense("float64"))
    assert kernel.dtype == np.float64
    hp = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay_rate=0.25, amsgrad=True)
    np.testing.assert_allclose(kernel, spec_trajectory(KERNEL0, [g for g, _ in GRADS], [0.0625] * 3, **hp), rtol=1e-12)
    np.testing.assert_allclose(bias, spec_trajectory(BIAS0, [b for _, b in GRADS], [0.0625] * 3, **hp), rtol=1e-12)


def _float64_kernel_after(optimizer: AdamWeightDecay, lrs_by_step=None, compiled: bool = False) -> np.ndarray:
    layer = dense("float64")
    optimizer.build(layer.trainable_variables)

    def apply(kernel_grad: tf.Tensor, bias_grad: tf.Tensor) -> None:
        optimizer.apply_gradients([(kernel_grad, layer.kernel), (bias_grad, layer.bias)])

    if compiled:
        apply = tf.function(apply)
    for t, (kernel_grad, bias_grad) in enumerate(GRADS):
        if lrs_by_step and t in lrs_by_step:
            lrs_by_step[t](optimizer)
        apply(tf.constant(kernel_grad, tf.float64), tf.constant(bias_grad, tf.float64))
    return layer.kernel.numpy()


def _float64_spec_kernel(lrs: list[float]) -> np.ndarray:
    hp = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay_rate=0.25)
    return spec_trajectory(KERNEL0, [g for g, _ in GRADS], lrs, **hp)


@pytest.mark.parametrize("compiled", [False, True])
def test_float64_variables_use_the_exact_python_learning_rate(compiled: bool) -> None:
    # 1e-3 is not a float32 value: Keras' float32 lr variable holds 1.0000000474974513e-3.
    kernel = _float64_kernel_after(AdamWeightDecay(learning_rate=1e-3, weight_decay_rate=0.25), compiled=compiled)
    np.testing.assert_allclose(kernel, _float64_spec_kernel([1e-3] * 3), rtol=1e-14)
    rounded = _float64_spec_kernel([float(np.float32(1e-3))] * 3)
    assert np.max(np.abs(kernel - rounded)) > 1e-12  # the float32 lr would be visibly off


def test_float64_learning_rate_follows_assignments() -> None:
    # An assigned number is used exactly; a value put into the variable directly is used as held.
    changes = {
        1: lambda opt: setattr(opt, "learning_rate", 3e-3),
        2: lambda opt: opt.learning_rate.assign(0.2),
    }
    kernel = _float64_kernel_after(AdamWeightDecay(learning_rate=1e-3, weight_decay_rate=0.25), changes)
    np.testing.assert_allclose(kernel, _float64_spec_kernel([1e-3, 3e-3, float(np.float32(0.2))]), rtol=1e-14)


def test_config_keeps_the_exact_learning_rate() -> None:
    optimizer = AdamWeightDecay(learning_rate=1e-3)
    assert optimizer.get_config()["learning_rate"] == 1e-3
    assert AdamWeightDecay.from_config(optimizer.get_config()).get_config()["learning_rate"] == 1e-3
    optimizer.learning_rate.assign(0.5)  # the exact value no longer applies: Keras' value is reported
    assert optimizer.get_config()["learning_rate"] == 0.5


@pytest.mark.parametrize(
    ("clip", "grads", "clipped"),
    [
        ({"clipnorm": 1.0}, [[30.0, 40.0], [0.0, 0.5]], [[0.6, 0.8], [0.0, 0.5]]),
        ({"global_clipnorm": 1.0}, [[3.0, 4.0], [0.0, 0.5]], [[0.6, 0.8], [0.0, 0.5]]),
        ({"clipvalue": 0.5}, [[3.0, 0.7], [0.0, -0.7]], [[0.5, 0.5], [0.0, -0.5]]),
    ],
)
def test_clipping_arguments_reach_keras(clip: dict, grads: list, clipped: list) -> None:
    w0 = np.array([1.0, -2.0])
    optimizer = AdamWeightDecay(learning_rate=0.5, **clip)
    variable = keras.Variable(w0.astype(np.float32))
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g, tf.float32), variable)])
    expected = spec_trajectory(
        w0, np.array(clipped), [0.5, 0.5], beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay_rate=0
    )
    assert_float32_close(variable.numpy(), expected, w0)


def test_sparse_gradients_take_the_dense_formulas() -> None:
    rows = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    sparse = tf.IndexedSlices(tf.constant([[0.5, -0.5]]), indices=tf.constant([1]), dense_shape=tf.constant([3, 2]))
    variable = keras.Variable(rows.astype(np.float32))
    AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.1).apply_gradients([(sparse, variable)])
    dense_grad = np.array([[0.0, 0.0], [0.5, -0.5], [0.0, 0.0]])
    expected = spec_trajectory(rows, [dense_grad], [0.1], beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay_rate=0.1)
    assert_float32_close(variable.numpy(), expected, rows)


# ---- which variables decay -----------------------------------------------------------------------

NAMES = ["dense/kernel", "dense/bias", "layer_normalization/gamma", "encoder/LayerNorm/beta"]


@pytest.fixture(scope="module")
def probe() -> dict[str, keras.Variable]:
    """One variable per path in NAMES, created under the matching Keras name scopes."""
    variables = {}
    for path in NAMES:
        *scopes, name = path.split("/")
        with contextlib.ExitStack() as stack:
            for scope in scopes:
                stack.enter_context(keras.name_scope(scope))
            variables[path] = keras.Variable(np.ones(2, np.float32), name=name)
    return variables


def decayed(probe: dict[str, keras.Variable], **kwargs) -> set[str]:
    """The paths that one zero-gradient step moves (with g = 0 the Adam step is 0, only decay is left)."""
    for variable in probe.values():
        variable.assign(np.ones(2, np.float32))
    optimizer = AdamWeightDecay(learning_rate=0.5, **kwargs)
    optimizer.apply_gradients([(tf.zeros(2), v) for v in probe.values()])
    moved = {path for path, v in probe.items() if not np.array_equal(v.numpy(), np.ones(2))}
    for path in moved:  # var − (lr·var)·wd with var = 1
        np.testing.assert_allclose(probe[path].numpy(), 1 - 0.5 * kwargs["weight_decay_rate"], rtol=1e-7)
    return moved


def test_probe_variables_have_keras_paths(probe: dict[str, keras.Variable]) -> None:
    assert [v.path for v in probe.values()] == NAMES


def test_transformers_exclusions_match_keras_paths(probe: dict[str, keras.Variable]) -> None:
    moved = decayed(probe, weight_decay_rate=0.1, exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])
    assert moved == {"dense/kernel"}


def test_include_wins_over_exclude(probe: dict[str, keras.Variable]) -> None:
    moved = decayed(
        probe, weight_decay_rate=0.1, include_in_weight_decay=["gamma"], exclude_from_weight_decay=["norm", "Norm"]
    )
    assert moved == {"dense/kernel", "dense/bias", "layer_normalization/gamma"}


def test_patterns_are_regular_expressions_searched_anywhere(probe: dict[str, keras.Variable]) -> None:
    moved = decayed(probe, weight_decay_rate=0.1, exclude_from_weight_decay=[r"^dense/", r"Layer.orm/b"])
    assert moved == {"layer_normalization/gamma"}


def test_zero_weight_decay_rate_decays_nothing(probe: dict[str, keras.Variable]) -> None:
    assert decayed(probe, weight_decay_rate=0.0, include_in_weight_decay=["kernel"]) == set()


@settings(derandomize=True, max_examples=8, deadline=None)
@given(
    include=st.lists(st.sampled_from(["kernel", "bias", "norm", "Norm", "dense", "^enc"]), max_size=2),
    exclude=st.lists(st.sampled_from(["kernel", "bias", "norm", "Norm", "dense", "gamma$"]), max_size=2),
)
def test_decay_rule_property(probe: dict[str, keras.Variable], include: list[str], exclude: list[str]) -> None:
    expected = {
        path
        for path in NAMES
        if any(re.search(p, path) for p in include) or not any(re.search(p, path) for p in exclude)
    }
    kwargs = dict(weight_decay_rate=0.1, include_in_weight_decay=include, exclude_from_weight_decay=exclude)
    assert decayed(probe, **kwargs) == expected


# ---- equivalences and serialization ---------------------------------------------------------------


@settings(derandomize=True, max_examples=8, deadline=None)
@given(
    lr=st.floats(1e-3, 0.5),
    beta_1=st.floats(0.0, 0.99),
    beta_2=st.floats(0.5, 0.9999),
    epsilon=st.sampled_from([1e-7, 1e-3, 0.1]),
    amsgrad=st.booleans(),
    grads=st.lists(st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3), min_size=1, max_size=3),
)
def test_without_weight_decay_it_is_keras_adam(lr, beta_1, beta_2, epsilon, amsgrad, grads) -> None:
    hp = dict(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)
    w0 = np.array([0.5, -1.0, 2.0], np.float32)
    results = []
    for optimizer in (AdamWeightDecay(**hp), keras.optimizers.Adam(**hp)):
        variable = keras.Variable(w0)
        for g in grads:
            optimizer.apply_gradients([(tf.constant(g, tf.float32), variable)])
        results.append(variable.numpy())
    # Keras Adam rounds 1 − β on its own (see update_step): agreement to ~1e-5 of the update size.
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-5 * lr * len(grads) + 1e-7)


def test_config_round_trip_keeps_the_pattern_lists() -> None:
    optimizer = AdamWeightDecay(
        learning_rate=0.01,
        beta_2=0.98,
        epsilon=1e-6,
        amsgrad=True,
        weight_decay_rate=0.05,
        include_in_weight_decay=["gamma"],
        exclude_from_weight_decay=["bias", "LayerNorm"],
        clipnorm=2.0,
    )
    config = optimizer.get_config()
    assert config["include_in_weight_decay"] == ["gamma"]
    assert config["exclude_from_weight_decay"] == ["bias", "LayerNorm"]
    assert config["weight_decay_rate"] == 0.05 and config["amsgrad"] is True and config["clipnorm"] == 2.0
    assert AdamWeightDecay.from_config(config).get_config() == config
    # No custom_objects: the class is registered under the "optimspec" package.
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is AdamWeightDecay and restored.get_config() == config


def test_keras_exclusion_method_points_to_the_constructor() -> None:
    with pytest.raises(NotImplementedError, match="exclude_from_weight_decay"):
        AdamWeightDecay().exclude_from_weight_decay(var_names=["bias"])
