"""WarmUp (spec 6.1), PolynomialDecay and create_optimizer (spec 6.2): schedule values, optimizer
choice, serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from optimspec.tf import AdamWeightDecay, PolynomialDecay, WarmUp, create_optimizer


def values(schedule, steps) -> np.ndarray:
    return np.array([float(schedule(tf.constant(k, tf.int64))) for k in steps])


def polynomial(init: float, steps: int, end: float = 0.0, power: float = 1.0):
    return keras.optimizers.schedules.PolynomialDecay(init, steps, end, power)


# ---- WarmUp ----------------------------------------------------------------------------------------


def test_warmup_with_power_then_shifted_decay() -> None:
    schedule = WarmUp(0.4, polynomial(0.4, 8, end=0.1, power=2.0), warmup_steps=4, power=0.5)
    warm = [0.4 * (k / 4) ** 0.5 for k in range(4)]
    decay = [(0.4 - 0.1) * (1 - min(k, 8) / 8) ** 2.0 + 0.1 for k in range(11)]
    np.testing.assert_allclose(values(schedule, range(15)), warm + decay, rtol=1e-6)


def test_at_the_boundary_the_decay_starts_from_its_own_step_zero() -> None:
    decay = polynomial(0.3, 5, power=3.0)
    schedule = WarmUp(0.3, decay, warmup_steps=7, power=2.0)
    assert float(schedule(7)) == float(decay(0)) == float(np.float32(0.3))
    assert float(schedule(6)) == pytest.approx(0.3 * (6 / 7) ** 2, rel=1e-6)


def test_decay_receives_the_shifted_step_in_the_incoming_dtype() -> None:
    received = []

    def decay(step):
        received.append(step.dtype)
        return tf.cast(step, tf.float32) * 0.5

    schedule = WarmUp(1.0, decay, warmup_steps=3)
    assert float(schedule(tf.constant(8, tf.int64))) == 2.5
    assert float(schedule(tf.constant(8.0))) == 2.5
    assert received == [tf.int64, tf.float32]


def test_warmup_under_xla() -> None:
    schedule = WarmUp(0.2, polynomial(0.2, 10), warmup_steps=4)
    compiled = tf.function(schedule, jit_compile=True)
    np.testing.assert_allclose(
        [float(compiled(tf.constant(k, tf.int64))) for k in (0, 2, 4, 9)], values(schedule, (0, 2, 4, 9)), rtol=0
    )


@settings(derandomize=True, max_examples=10, deadline=None)
@given(init=st.floats(1e-6, 1.0), warmup=st.integers(1, 1000), power=st.floats(0.25, 4.0))
def test_warmup_is_continuous_at_the_boundary(init: float, warmup: int, power: float) -> None:
    schedule = WarmUp(init, polynomial(init, 100), warmup_steps=warmup, power=power)
    before, at = float(schedule(warmup - 1)), float(schedule(warmup))
    assert at == float(np.float32(init))  # the warmup's limit init·(W/W)^p is the decay's start
    assert before == pytest.approx(init * ((warmup - 1) / warmup) ** power, rel=2e-5, abs=1e-12)
    assert before <= at


def test_nested_schedules_round_trip_without_custom_objects() -> None:
    inner = WarmUp(0.1, polynomial(0.1, 6, end=0.01, power=2.0), warmup_steps=2, power=1.5, name="inner")
    outer = WarmUp(0.1, inner, warmup_steps=3, name="outer")
    assert outer.get_config()["decay_schedule_fn"] is inner  # as upstream: the live object
    assert WarmUp.from_config(outer.get_config()).get_config() == outer.get_config()

    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(outer))
    assert isinstance(restored, WarmUp) and isinstance(restored.decay_schedule_fn, WarmUp)
    assert restored.decay_schedule_fn.name == "inner" and restored.decay_schedule_fn.power == 1.5
    np.testing.assert_array_equal(values(restored, range(14)), values(outer, range(14)))


def test_power_zero_holds_the_warmup_at_the_initial_rate() -> None:
    schedule = WarmUp(0.25, polynomial(0.25, 4, end=0.05), warmup_steps=3, power=0.0)
    np.testing.assert_array_equal(values(schedule, range(4)), [0.25] * 4)  # pow(0, 0) = 1 at step 0


# ---- PolynomialDecay -------------------------------------------------------------------------------


def test_polynomial_decay_is_keras_polynomial_decay_checked() -> None:
    ours, theirs = PolynomialDecay(0.3, 7, 0.01, 1.5), polynomial(0.3, 7, end=0.01, power=1.5)
    assert isinstance(ours, keras.optimizers.schedules.PolynomialDecay)
    assert ours.get_config() == theirs.get_config()
    np.testing.assert_array_equal(values(ours, range(10)), values(theirs, range(10)))


def test_polynomial_decay_round_trips_as_itself() -> None:
    schedule = WarmUp(0.1, PolynomialDecay(0.1, 6, end_learning_rate=0.01, power=2.0), warmup_steps=2)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(restored.decay_schedule_fn) is PolynomialDecay
    np.testing.assert_array_equal(values(restored, range(10)), values(schedule, range(10)))


def test_decay_schedule_fn_must_be_callable() -> None:
    with pytest.raises(TypeError, match="decay_schedule_fn"):
        WarmUp(0.1, 0.5, warmup_steps=2)


# ---- create_optimizer --------------------------------------------------------------------------------


def test_create_optimizer_schedule_closed_form() -> None:
    init, total, warmup, ratio, power = 0.01, 12, 4, 0.1, 2.0
    _, schedule = create_optimizer(init, total, warmup, min_lr_ratio=ratio, power=power)
    end = init * ratio
    decay_steps = total - warmup
    expected = [init * k / warmup for k in range(warmup)] + [
        (init - end) * (1 - min(k - warmup, decay_steps) / decay_steps) ** power + end for k in range(warmup, total + 3)
    ]
    actual = values(schedule, range(total + 3))
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    # The warmup stays linear although power=2 (upstream does not pass power on), and is exact:
    assert actual[0] == 0.0 and actual[warmup] == np.float32(init)
    assert actual[1] == pytest.approx(init / warmup, rel=1e-7)
    assert actual[total] == actual[total + 2] == np.float32(end)


def test_without_warmup_the_schedule_is_the_polynomial_decay() -> None:
    _, schedule = create_optimizer(0.02, 10, 0, min_lr_ratio=0.5)
    assert type(schedule) is keras.optimizers.schedules.PolynomialDecay
    assert float(schedule(0)) == np.float32(0.02) and float(schedule(10)) == np.float32(0.01)


def test_weight_decay_selects_adam_weight_decay_with_transformers_exclusions() -> None:
    optimizer, schedule = create_optimizer(
        1e-3,
        10,
        2,
        adam_beta1=0.8,
        adam_beta2=0.99,
        adam_epsilon=1e-6,
        adam_clipnorm=1.0,
        weight_decay_rate=0.01,
        include_in_weight_decay=["LayerNorm/gamma"],
    )
    config = optimizer.get_config()
    assert type(optimizer) is AdamWeightDecay and optimizer._learning_rate is schedule
    assert config["exclude_from_weight_decay"] == ["LayerNorm", "layer_norm", "bias"]
    assert config["include_in_weight_decay"] == ["LayerNorm/gamma"]
    assert (config["beta_1"], config["beta_2"], config["epsilon"], config["clipnorm"]) == (0.8, 0.99, 1e-6, 1.0)
    assert config["weight_decay_rate"] == 0.01


def test_no_weight_decay_selects_plain_keras_adam() -> None:
    optimizer, schedule = create_optimizer(1e-3, 10, 2, adam_epsilon=1e-6, adam_global_clipnorm=0.5)
    config = optimizer.get_config()
    assert type(optimizer) is keras.optimizers.Adam and optimizer._learning_rate is schedule
    assert (config["epsilon"], config["global_clipnorm"], config["clipnorm"]) == (1e-6, 0.5, None)


@pytest.mark.parametrize("weight_decay_rate", [0.0, 0.1])
def test_first_update_leaves_the_variables_unchanged(weight_decay_rate: float) -> None:
    optimizer, _ = create_optimizer(5e-5, 10, 5, weight_decay_rate=weight_decay_rate)
    variable = keras.Variable([4.0, 3.0])
    optimizer.apply_gradients([(tf.constant([1.0, -2.0]), variable)])
    np.testing.assert_array_equal(variable.numpy(), [4.0, 3.0])
    optimizer.apply_gradients([(tf.constant([1.0, -2.0]), variable)])
    assert np.all(variable.numpy() != [4.0, 3.0])  # lr(1) = init/5 moves them
