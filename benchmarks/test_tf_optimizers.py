"""Per-step time of optimspec.tf.AdamWeightDecay against keras.optimizers.AdamW.

Both are measured with eager ``apply_gradients`` (group ``tf-adamw-eager``) and with
``apply_gradients`` inside ``tf.function(jit_compile=True)`` (group ``tf-adamw-xla``), on float32
Keras variables of the bert-base-like shape set; the baseline of both groups is ``keras``. The
untimed first call creates the optimizer state (and traces and compiles the function).

The algorithms differ in details (ε placement, how the decay is scaled), not in the tensors read
and written per variable, so the ratio measures implementation overhead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
optimspec_tf = pytest.importorskip("optimspec.tf")

if TYPE_CHECKING:
    from conftest import BenchConfig, HostTensors, Measure

OptimizerFactory = Callable[[], keras.optimizers.Optimizer]
Pairs = list[tuple[tf.Tensor, keras.Variable]]

BASELINE = "keras"
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
EPSILON = 1e-6

OPTIMIZERS: dict[str, OptimizerFactory] = {
    "optimspec": lambda: optimspec_tf.AdamWeightDecay(
        learning_rate=LEARNING_RATE, weight_decay_rate=WEIGHT_DECAY, epsilon=EPSILON
    ),
    "keras": lambda: keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY, epsilon=EPSILON),
}


@pytest.fixture(scope="session", autouse=True)
def _tf_threads(bench_config: BenchConfig) -> None:
    """Apply ``OPTIMSPEC_BENCH_THREADS`` to TensorFlow before its runtime starts."""
    if bench_config.threads is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(bench_config.threads)
        tf.config.threading.set_inter_op_parallelism_threads(bench_config.threads)
    except RuntimeError as error:  # the runtime already started in this process
        warnings.warn(f"OPTIMSPEC_BENCH_THREADS not applied to TensorFlow: {error}", stacklevel=1)


@pytest.fixture
def keras_variables(host_tensors: HostTensors) -> Pairs:
    """Fresh ``(gradient, variable)`` pairs of the shape set (function-scoped: steps mutate them)."""
    return [
        (tf.constant(grad), keras.Variable(value, name=f"param_{i}"))
        for i, (value, grad) in enumerate(zip(host_tensors.params, host_tensors.grads))
    ]


def _step(
    optimizer: keras.optimizers.Optimizer,
    pairs: Pairs,
    jit_compile: bool,
) -> Callable[[], object]:
    """One ``apply_gradients`` of every pair: eager, or an XLA-compiled ``tf.function``."""
    if not jit_compile:
        return lambda: optimizer.apply_gradients(pairs)
    optimizer.build([variable for _, variable in pairs])  # variables must exist before tracing
    return tf.function(lambda: optimizer.apply_gradients(pairs), jit_compile=True)


def _time_steps(measure: Measure, pairs: Pairs, label: str, jit_compile: bool) -> None:
    """Build the optimizer outside the timer, then time one step per round."""
    optimizer = OPTIMIZERS[label]()
    calls = measure(_step(optimizer, pairs, jit_compile), label=label, baseline=BASELINE)
    assert int(optimizer.iterations.numpy()) >= calls


@pytest.mark.benchmark(group="tf-adamw-eager")
@pytest.mark.parametrize("label", list(OPTIMIZERS))
def test_adamw_eager_step(measure: Measure, keras_variables: Pairs, label: str) -> None:
    """One eager ``apply_gradients`` over every variable."""
    _time_steps(measure, keras_variables, label, jit_compile=False)


@pytest.mark.benchmark(group="tf-adamw-xla")
@pytest.mark.parametrize("label", list(OPTIMIZERS))
def test_adamw_xla_step(measure: Measure, keras_variables: Pairs, label: str) -> None:
    """One ``apply_gradients`` over every variable in ``tf.function(jit_compile=True)``."""
    _time_steps(measure, keras_variables, label, jit_compile=True)
