"""Shared setup for the optimspec.tf tests: quiet TensorFlow and two logical CPU devices."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from optimspec.tf.testing import ensure_two_cpu_devices  # noqa: E402

# Must run before TensorFlow starts its runtime, hence at import time rather than in a fixture.
_CPU_DEVICES = ensure_two_cpu_devices()


@pytest.fixture(scope="session")
def strategy() -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy over two logical CPUs for the whole session.

    Two strategies in one process can hand out the same collective instance keys and then fail
    with "Shape mismatch in the collective instance"; sharing one avoids that. Skips if TensorFlow
    started before the CPU could be split.
    """
    if len(_CPU_DEVICES) < 2:
        pytest.skip("TensorFlow was initialized before the CPU could be split into two devices")
    return tf.distribute.MirroredStrategy(_CPU_DEVICES[:2])
