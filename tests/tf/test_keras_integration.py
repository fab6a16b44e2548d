"""AdamWeightDecay and create_optimizer as Keras citizens: fit, custom loops, XLA, saving, checkpoints,
MirroredStrategy. One tiny model (Dense → LayerNormalization → Dense) and 16 samples throughout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from optimspec.tf import AdamWeightDecay, create_optimizer

_RNG = np.random.default_rng(0)
X = _RNG.normal(size=(16, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.1).astype(np.float32)
BATCH = 4  # four steps per epoch


def make_model() -> keras.Model:
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="dense")(inputs)
    hidden = keras.layers.LayerNormalization(name="layer_norm")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def make_optimizer() -> AdamWeightDecay:
    return AdamWeightDecay(learning_rate=0.05, weight_decay_rate=0.1, exclude_from_weight_decay=["bias", "layer_norm"])


def fit(model: keras.Model, optimizer: keras.optimizers.Optimizer, epochs: int = 1, **compile_args) -> list[np.ndarray]:
    model.compile(optimizer=optimizer, loss="mse", **compile_args)
    model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)
    return model.get_weights()


def assert_weights_close(actual: list[np.ndarray], expected: list[np.ndarray], rtol: float = 1e-5) -> None:
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol)


def train_step_fn(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    loss_fn = keras.losses.MeanSquaredError()

    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    return train_step


def run_custom_loop(train_step, batches=range(0, len(X), BATCH)) -> None:
    for start in batches:
        train_step(tf.constant(X[start : start + BATCH]), tf.constant(Y[start : start + BATCH]))


@pytest.fixture(scope="module")
def fit_weights() -> list[np.ndarray]:
    """One epoch of model.fit without XLA: the baseline the other training paths must reproduce."""
    return fit(make_model(), make_optimizer(), jit_compile=False)


def test_fit_trains_and_decays_only_the_kernels(fit_weights: list[np.ndarray]) -> None:
    assert all(not np.allclose(w, s) for w, s in zip(fit_weights, make_model().get_weights()))
    model, optimizer = make_model(), make_optimizer()
    optimizer.build(model.trainable_variables)
    decaying = {v.path for v, decays in zip(model.trainable_variables, optimizer._decays) if decays}
    assert decaying == {"dense/kernel", "head/kernel"}


def test_fit_under_xla_matches(fit_weights: list[np.ndarray]) -> None:
    assert_weights_close(fit(make_model(), make_optimizer(), jit_compile=True), fit_weights)


@pytest.mark.parametrize("mode", ["eager", "tf.function", "xla"])
def test_custom_gradient_tape_loop_matches_fit(mode: str, fit_weights: list[np.ndarray]) -> None:
    model, optimizer = make_model(), make_optimizer()
    optimizer.build(model.trainable_variables)  # variables must exist before tracing
    train_step = train_step_fn(model, optimizer)
    if mode != "eager":
        train_step = tf.function(train_step, jit_compile=mode == "xla")
    run_custom_loop(train_step)
    assert_weights_close(model.get_weights(), fit_weights)


def test_keras_file_resumes_in_a_fresh_process(tmp_path: Path) -> None:
    def make_create_optimizer():
        return create_optimizer(1e-2, num_train_steps=8, num_warmup_steps=2, weight_decay_rate=0.01)[0]

    uninterrupted = fit(make_model(), make_create_optimizer(), epochs=2)

    model = make_model()
    fit(model, make_create_optimizer(), epochs=1)
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=X, y=Y)
    worker = Path(__file__).with_name("resume_worker.py")
    files = [str(tmp_path / name) for name in ("model.keras", "data.npz", "out.npz")]
    subprocess.run(
        [sys.executable, str(worker), *files],
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=120,
    )
    out = np.load(tmp_path / "out.npz")
    loaded = (str(out["optimizer"]), str(out["schedule"]), int(out["iterations_at_load"]))
    assert loaded == ("AdamWeightDecay", "WarmUp", 4)
    assert out["exclude"].tolist() == ["LayerNorm", "layer_norm", "bias"]
    resumed = [out[f"arr_{i}"] for i in range(len(uninterrupted))]
    for r, u in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_array_equal(r, u)


def test_checkpoint_round_trip_continues_identically(tmp_path: Path) -> None:
    def trained(restore_from: str | None = None):
        model, optimizer = make_model(), make_optimizer()
        optimizer.build(model.trainable_variables)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
        step = tf.function(train_step_fn(model, optimizer))
        if restore_from is None:
            run_custom_loop(step, [0, 4])
            path = checkpoint.write(str(tmp_path / "ckpt"))
        else:
            checkpoint.read(restore_from).assert_consumed()
            path = restore_from
        run_custom_loop(step, [8, 12])
        return model.get_weights(), [v.numpy() for v in optimizer.variables], path

    weights, state, path = trained()
    weights_restored, state_restored, _ = trained(restore_from=path)
    for a, b in zip(weights + state, weights_restored + state_restored, strict=True):
        np.testing.assert_array_equal(a, b)
    assert state[0] == 4  # iterations


def test_mirrored_fit_matches_one_device(
    strategy: tf.distribute.MirroredStrategy, fit_weights: list[np.ndarray]
) -> None:
    with strategy.scope():
        model, optimizer = make_model(), make_optimizer()
    assert_weights_close(fit(model, optimizer, jit_compile=False), fit_weights)


def test_keras_file_without_the_import_fails_with_keras_error_showing_the_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a process that never imported optimspec.tf sees: Keras finds no registered class. Keras
    # has no hook for a library to add to that message; its printed config shows our module.
    model = make_model()
    fit(model, create_optimizer(1e-2, num_train_steps=8, num_warmup_steps=2, weight_decay_rate=0.01)[0])
    model.save(tmp_path / "model.keras")
    registry = keras.saving.get_custom_objects()
    for name in [name for name in registry if name.startswith("optimspec>")]:
        monkeypatch.delitem(registry, name)
    with pytest.raises(TypeError, match=r"Could not locate class 'AdamWeightDecay'.*'module': 'optimspec\.tf\.adam_weight_decay'"):
        keras.saving.load_model(tmp_path / "model.keras")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_under_another_keras_backend_raises_import_error_naming_keras_backend(backend: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import optimspec.tf"],
        env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, "optimspec.tf imported under KERAS_BACKEND=" + backend
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: optimspec.tf runs on Keras' TensorFlow backend only"), last_line
    assert f"using '{backend}'" in last_line and "KERAS_BACKEND=tensorflow" in last_line, last_line
