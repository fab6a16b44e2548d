"""GradientAccumulator (spec 6.4): sums, step count, errors, None slots, reset, replica-local state."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from optimspec.tf import GradientAccumulator, create_optimizer


def test_spec_anchor_sums_counts_rejects_and_resets() -> None:
    accumulator = GradientAccumulator()
    for gradient in ([1.0, 2.0], [-2.0, 1.0], [-1.0, 2.0]):
        accumulator([tf.constant(gradient)])
    np.testing.assert_array_equal(accumulator.gradients[0].numpy(), [-2.0, 5.0])
    assert int(accumulator.step) == 3

    with pytest.raises(ValueError, match="Expected 1 gradients, but got 2"):
        accumulator([tf.constant([1.0, 1.0]), tf.constant([1.0, 1.0])])
    # The rejected call added nothing and did not count.
    np.testing.assert_array_equal(accumulator.gradients[0].numpy(), [-2.0, 5.0])
    assert int(accumulator.step) == 3

    accumulator.reset()
    assert int(accumulator.step) == 0
    np.testing.assert_array_equal(accumulator.gradients[0].numpy(), [0.0, 0.0])


def test_gradients_before_the_first_call_is_an_error() -> None:
    accumulator = GradientAccumulator()
    with pytest.raises(ValueError, match="should be called first"):
        accumulator.gradients  # noqa: B018 (the property raises)
    accumulator.reset()  # a no-op before the first call
    assert int(accumulator.step) == 0


def test_none_slots_stay_none_and_mismatched_nones_are_skipped() -> None:
    accumulator = GradientAccumulator()
    accumulator([tf.constant([1.0, 2.0], tf.float64), None])
    accumulator([None, tf.constant([5.0])])  # slot 0 gets nothing, slot 1 does not exist
    first, second = accumulator.gradients
    assert second is None and first.dtype == tf.float64
    np.testing.assert_array_equal(first.numpy(), [1.0, 2.0])
    assert int(accumulator.step) == 2


def test_accumulates_under_tf_function() -> None:
    accumulator = GradientAccumulator()
    accumulate = tf.function(lambda grads: accumulator(grads))
    for scale in (1.0, 2.0, 3.0):
        accumulate([tf.constant([[scale, -scale]]), tf.constant(scale)])
    matrix, scalar = accumulator.gradients
    np.testing.assert_array_equal(matrix.numpy(), [[6.0, -6.0]])
    assert float(scalar) == 6.0 and int(accumulator.step) == 3


def test_each_replica_keeps_its_own_sums(strategy: tf.distribute.MirroredStrategy) -> None:
    with strategy.scope():
        accumulator = GradientAccumulator()
        variable = tf.Variable([4.0, 3.0])
        optimizer, _ = create_optimizer(5e-5, 10, 5)
        optimizer.build([variable])

    def per_replica(first, second):
        return strategy.experimental_distribute_values_from_function(
            lambda context: tf.constant([first, second][context.replica_id_in_sync_group])
        )

    @tf.function
    def accumulate(gradient):
        strategy.run(lambda g: accumulator([g]), args=(gradient,))

    @tf.function
    def local_sums():
        return strategy.run(lambda: accumulator.gradients[0])

    @tf.function
    def apply():
        strategy.run(lambda: optimizer.apply_gradients(zip(accumulator.gradients, [variable])))

    for first, second in (([1.0, 2.0], [-1.0, 1.0]), ([3.0, -1.0], [-1.0, -1.0]), ([-2.0, 2.0], [3.0, -2.0])):
        accumulate(per_replica(first, second))
    replica_0, replica_1 = strategy.experimental_local_results(local_sums())
    np.testing.assert_array_equal(replica_0.numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(replica_1.numpy(), [1.0, -2.0])
    assert int(accumulator.step) == 3  # calls, not calls × replicas

    apply()  # lr(0) = 0 under create_optimizer's warmup: the variable does not move
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), [4.0, 3.0])
    assert keras.ops.convert_to_numpy(optimizer.iterations) == 1

    accumulator.reset()
    assert int(accumulator.step) == 0
    for local in strategy.experimental_local_results(local_sums()):
        np.testing.assert_array_equal(local.numpy(), [0.0, 0.0])


def test_a_failing_call_changes_nothing() -> None:
    """All or nothing: a shape mismatch in a later slot leaves the earlier sums and the step as they were."""
    accumulator = GradientAccumulator()
    accumulator([tf.constant([1.0, 2.0]), tf.constant([3.0])])
    with pytest.raises(ValueError, match=r"gradient 1 has shape \(2,\); its accumulator slot has shape \(1,\)"):
        accumulator([tf.constant([10.0, 10.0]), tf.constant([1.0, 1.0])])
    np.testing.assert_array_equal(accumulator.gradients[0].numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(accumulator.gradients[1].numpy(), [3.0])
    assert int(accumulator.step) == 1

