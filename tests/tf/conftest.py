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
    with "Shape mismatch in the collective instance"; sharing one avoids that. Fails (never skips:
    the distribution tests must run in CI) if something started the TensorFlow runtime before this
    conftest could split the CPU.
    """
    if len(_CPU_DEVICES) < 2:
        pytest.fail("TensorFlow was initialized before the CPU could be split into two devices: "
                    "a module collected earlier starts the TF runtime at import time")
    return tf.distribute.MirroredStrategy(_CPU_DEVICES[:2])
