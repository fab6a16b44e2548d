"""Test helpers for code that uses optimspec.tf (importing this module imports TensorFlow)."""

from __future__ import annotations

import tensorflow as tf


def ensure_two_cpu_devices() -> list[str]:
    """Split the physical CPU into two logical devices, for ``MirroredStrategy`` tests.

    TensorFlow accepts a logical-device configuration only before its runtime starts, so call this
    early (a conftest at import time). It is a no-op when the CPU is already split, and when the
    runtime has already started it leaves the configuration alone. Returns the logical CPU device
    names, so a caller can skip when there are fewer than two.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) < 2:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
            )
        except RuntimeError:  # the runtime is already initialized: keep what it has
            pass
    return [device.name for device in tf.config.list_logical_devices("CPU")]
