"""Run in a fresh process by test_keras_integration: load a .keras file, train one more epoch.

Usage: python resume_worker.py MODEL.keras DATA.npz OUT.npz. Only ``import optimspec.tf`` makes the
custom classes known: the load passes no custom_objects.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import optimspec.tf  # noqa: E402, F401  (registers AdamWeightDecay and WarmUp with Keras)


def main(model_path: str, data_path: str, out_path: str) -> None:
    model = keras.saving.load_model(model_path)
    optimizer = model.optimizer
    iterations_at_load = int(optimizer.iterations.numpy())
    data = np.load(data_path)
    model.fit(data["x"], data["y"], batch_size=4, epochs=1, shuffle=False, verbose=0)
    np.savez(
        out_path,
        *model.get_weights(),
        iterations_at_load=iterations_at_load,
        optimizer=type(optimizer).__name__,
        schedule=type(optimizer._learning_rate).__name__,
        exclude=np.array(optimizer.get_config()["exclude_from_weight_decay"]),
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
