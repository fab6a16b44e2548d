"""optimspec.tf under ``tf.distribute.MirroredStrategy`` (two logical CPUs): AdamWeightDecay and
GradientAccumulator in custom ``strategy.run`` loops and in ``fit`` end where one device ends.

The model is small (Dense 3→4 → Dense 4→1, float32), trained on 16 samples in global batches of 4
(two per replica). Budget: the largest normwise relative difference of any weight, in units of
float32 ε = 2⁻²³. The replicas' gradients are the same formulas summed in a different order (two
partial sums all-reduced instead of one sum over the batch), a few ε relative; Adam's normalized
update passes that on to steps of size lr = 0.05 on weights of size ~0.5, so after 4 updates the
weights move by about 1 ε (measured: ≤ 1.3 ε). 16 ε leaves room for other kernels' orders.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from optimspec.tf import AdamWeightDecay, GradientAccumulator

_RNG = np.random.default_rng(3)
X = _RNG.normal(size=(16, 3)).astype(np.float32)
Y = (X @ np.array([[0.5], [-1.0], [2.0]]) - 0.3).astype(np.float32)
GLOBAL_BATCH = 4
ACCUMULATION_STEPS = 2
BUDGET_EPS = 16.0
EPS32 = float(np.finfo(np.float32).eps)


def make_model() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1, name="head")])
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def make_optimizer() -> AdamWeightDecay:
    return AdamWeightDecay(learning_rate=0.05, weight_decay_rate=0.1, exclude_from_weight_decay=["bias"])


def error_in_eps(actual: list[np.ndarray], expected: list[np.ndarray]) -> float:
    """max over weights of ``max|a − e| / max|e|``, in units of float32 ε."""
    return max(float(np.max(np.abs(a - e)) / np.max(np.abs(e))) for a, e in zip(actual, expected, strict=True)) / EPS32


def global_batches() -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((X, Y)).batch(GLOBAL_BATCH)


def replica_loss(model: keras.Model, x: tf.Tensor, y: tf.Tensor, global_batch: int) -> tf.Tensor:
    """Mean squared error over the global batch: each replica's share is its sum / the global size."""
    per_example = tf.square(model(x, training=True) - y)[:, 0]
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)


def train_custom_loop(
    strategy: tf.distribute.Strategy | None, *, accumulate: bool, build_first: bool = False, compiled: bool = True
) -> tuple[list[np.ndarray], AdamWeightDecay]:
    """One epoch of a custom loop, on one device (``strategy=None``) or under ``strategy.run``.

    Without ``accumulate`` every batch is an optimizer step; with it, a GradientAccumulator sums
    the gradients of ``ACCUMULATION_STEPS`` batches and their mean is applied. Steps run under
    ``tf.function`` unless ``compiled=False``.
    """
    with strategy.scope() if strategy else tf.distribute.get_strategy().scope():
        model, optimizer = make_model(), make_optimizer()
        if build_first:
            optimizer.build(model.trainable_variables)
    accumulator = GradientAccumulator()

    def batch_step(x: tf.Tensor, y: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = replica_loss(model, x, y, GLOBAL_BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        if accumulate:
            accumulator(grads)
        else:
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

    def apply_accumulated() -> None:
        mean = [g / ACCUMULATION_STEPS for g in accumulator.gradients]
        optimizer.apply_gradients(zip(mean, model.trainable_variables))
        accumulator.reset()

    def on_replicas(fn: Callable) -> Callable:
        run = (lambda *args: strategy.run(fn, args=args)) if strategy else fn
        return tf.function(run) if compiled else run

    step, apply_step = on_replicas(batch_step), on_replicas(apply_accumulated)
    batches = strategy.experimental_distribute_dataset(global_batches()) if strategy else global_batches()
    for index, (x, y) in enumerate(batches, start=1):
        step(x, y)
        if accumulate and index % ACCUMULATION_STEPS == 0:
            apply_step()
    return model.get_weights(), optimizer


@pytest.fixture(scope="module")
def one_device() -> dict[bool, list[np.ndarray]]:
    """The one-device weights after the epoch, without and with accumulation."""
    return {accumulate: train_custom_loop(None, accumulate=accumulate)[0] for accumulate in (False, True)}


def assert_mirrored(optimizer: AdamWeightDecay) -> None:
    for variable in optimizer.variables:
        assert isinstance(variable.value, tf.distribute.DistributedValues), f"{variable.path} is not mirrored"


@pytest.mark.parametrize("compiled", [True, False], ids=["tf.function", "eager"])
def test_custom_loop_under_strategy_run_matches_one_device(
    strategy: tf.distribute.MirroredStrategy, one_device: dict, compiled: bool
) -> None:
    """No ``optimizer.build`` first: the first ``apply_gradients`` inside ``strategy.run`` builds it."""
    weights, optimizer = train_custom_loop(strategy, accumulate=False, compiled=compiled)
    assert error_in_eps(weights, one_device[False]) <= BUDGET_EPS
    assert_mirrored(optimizer)
    for variable in optimizer._trainable_variables:  # every replica applied the same update
        first, second = strategy.experimental_local_results(variable.value)
        np.testing.assert_array_equal(first.numpy(), second.numpy(), err_msg=variable.path)
    assert int(optimizer.iterations.numpy()) == len(X) // GLOBAL_BATCH


def test_building_first_gives_the_same_run(strategy: tf.distribute.MirroredStrategy) -> None:
    built_inside, _ = train_custom_loop(strategy, accumulate=False)
    built_first, optimizer = train_custom_loop(strategy, accumulate=False, build_first=True)
    for a, b in zip(built_inside, built_first, strict=True):
        np.testing.assert_array_equal(a, b)
    assert_mirrored(optimizer)


def test_a_keras_optimizer_needs_building_before_strategy_run(strategy: tf.distribute.MirroredStrategy) -> None:
    """Why AdamWeightDecay builds itself: Keras' Adam (what create_optimizer returns without weight
    decay) fails when first applied inside ``strategy.run``, and runs once built in the scope."""
    with strategy.scope():
        variable = tf.Variable([1.0, 2.0])
        unbuilt, built = keras.optimizers.Adam(), keras.optimizers.Adam()
        built.build([variable])

    def apply(optimizer: keras.optimizers.Optimizer) -> None:
        strategy.run(lambda: optimizer.apply_gradients([(tf.constant([1.0, 1.0]), variable)]))

    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.function(apply)(unbuilt)
    tf.function(apply)(built)
    assert int(built.iterations.numpy()) == 1


def test_gradient_accumulation_under_strategy_run_matches_one_device(
    strategy: tf.distribute.MirroredStrategy, one_device: dict
) -> None:
    weights, optimizer = train_custom_loop(strategy, accumulate=True)
    assert error_in_eps(weights, one_device[True]) <= BUDGET_EPS
    assert int(optimizer.iterations.numpy()) == len(X) // GLOBAL_BATCH // ACCUMULATION_STEPS
    assert error_in_eps(weights, one_device[False]) > 1000 * BUDGET_EPS  # accumulation did change the run


class AccumulatingModel(keras.Model):
    """A model whose ``train_step`` accumulates and applies every ``ACCUMULATION_STEPS`` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.body = make_model()
        self.accumulator = GradientAccumulator()

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.body(x)

    def train_step(self, data: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True), training=True)
        self.accumulator(tape.gradient(loss, self.trainable_variables))

        def apply() -> tf.Tensor:
            mean = [g / ACCUMULATION_STEPS for g in self.accumulator.gradients]
            self.optimizer.apply_gradients(zip(mean, self.trainable_variables))
            self.accumulator.reset()
            return tf.constant(True)

        tf.cond(self.accumulator.step >= ACCUMULATION_STEPS, apply, lambda: tf.constant(False))
        return {"loss": loss}


def fit(model: keras.Model, optimizer: AdamWeightDecay) -> list[np.ndarray]:
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X, Y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def test_fit_under_strategy_matches_one_device(strategy: tf.distribute.MirroredStrategy, one_device: dict) -> None:
    with strategy.scope():  # the model and the optimizer, as for any Keras optimizer
        model, optimizer = make_model(), make_optimizer()
    assert error_in_eps(fit(model, optimizer), one_device[False]) <= BUDGET_EPS


def test_accumulation_inside_fit_is_a_tf_distribute_limit(strategy: tf.distribute.MirroredStrategy) -> None:
    """Under fit, train_step runs inside ``strategy.run``, where applying gradients only every k
    steps puts a synchronization point inside ``tf.cond``: tf.distribute refuses. Accumulate in a
    custom loop instead (above), applying in a ``strategy.run`` of its own."""
    fit(AccumulatingModel(), make_optimizer())  # one device: works
    with strategy.scope():
        accumulating, optimizer = AccumulatingModel(), make_optimizer()
    with pytest.raises(RuntimeError, match="control flow statement which contains a synchronization point"):
        fit(accumulating, optimizer)
