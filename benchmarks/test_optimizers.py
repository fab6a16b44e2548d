"""Per-step time of every optimspec optimizer path against its peers, on the bert-base-like set.

One benchmark per implementation of each group of ``implementations.OPTIMIZER_GROUPS`` (``adamw``,
``adafactor-default``, ``adafactor-trainer``, ``tf-adamw-eager``, ``tf-adamw-xla``). Each is built
outside the timer over its own copy of the params and gradients, then one step is timed per round
(torch: ``optimizer.step()``; Keras: ``apply_gradients``, eager or in an XLA-compiled
``tf.function``). Before the first benchmark of a group, the memory probe measures the group's state
bytes and peak step memory in a child process (``memory.py``); the figures go into each benchmark's
``extra_info``.

The algorithms of a group are not all identical (optimspec's AdamW is transformers' legacy one: ε on
the uncorrected sqrt(v), decay after the update; torch.optim.Adafactor is another variant; Keras'
AdamW scales its decay differently), but they read and write the same state per param, so the
ratios measure implementation cost.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from implementations import OPTIMIZER_GROUPS, HostTensors, set_threads
from ratios import DEFAULT_TARGETS, load_targets

if TYPE_CHECKING:
    from conftest import BenchConfig, Measure
    from memory import GroupMemory

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads, here and in the probes

#: The modules each framework's groups need; a missing one skips those groups with its name.
REQUIRED = {"torch": ("torch", "optimspec.torch", "transformers.optimization"), "tf": ("tensorflow", "keras", "optimspec.tf")}
CASES = [(group.name, label) for group in OPTIMIZER_GROUPS.values() for label in group.labels]


@pytest.fixture(scope="session")
def use_framework(bench_config: BenchConfig, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Make a framework ready once per session: its modules importable (else skip), its threads set,
    and for torch the fused kernels built (the ``kernel_build`` fixture)."""
    ready: set[str] = set()

    def use(framework: str) -> None:
        for module in REQUIRED[framework]:
            pytest.importorskip(module)
        if framework in ready:
            return
        if framework == "torch":
            request.getfixturevalue("kernel_build")
        try:
            set_threads(bench_config.threads, framework)
        except RuntimeError as error:  # TensorFlow's runtime already started in this process
            warnings.warn(f"OPTIMSPEC_BENCH_THREADS not applied to {framework}: {error}", stacklevel=1)
        ready.add(framework)

    return use


@pytest.mark.parametrize(("group", "label"), CASES)
def test_step(
    measure: Measure,
    host_tensors: HostTensors,
    memory_of: Callable[[str], GroupMemory],
    use_framework: Callable[[str], None],
    group: str,
    label: str,
) -> None:
    """One optimizer step over every param of the shape set."""
    spec = OPTIMIZER_GROUPS[group]
    use_framework(spec.framework)
    memory = memory_of(group)
    instance = spec.build(label, host_tensors)
    calls = measure(
        instance.step,
        group=group,
        label=label,
        baseline=spec.baseline,
        state_bytes=memory.labels[label].state_bytes,
        peak_step_bytes=memory.labels[label].peak_step_bytes,
        largest_param_bytes=memory.largest_param_bytes,
        spec_state_bytes=memory.spec_state_bytes,
    )
    assert instance.steps_taken() >= calls, f"{label} took {instance.steps_taken()} steps, expected >= {calls}"


def _compared_labels() -> dict[str, tuple[str, ...]]:
    """Per optimizer group, the labels its time targets (``targets.toml``) compare, in the group's order."""
    compared: dict[str, set[str]] = {}
    for gate in load_targets(DEFAULT_TARGETS):
        if gate.metric == "time" and gate.group in OPTIMIZER_GROUPS:
            spec = OPTIMIZER_GROUPS[gate.group]
            compared.setdefault(gate.group, set()).update({gate.label, gate.other or spec.baseline})
    return {group: tuple(label for label in OPTIMIZER_GROUPS[group].labels if label in labels) for group, labels in compared.items()}


COMPARED = _compared_labels()


@pytest.mark.parametrize("group", sorted(COMPARED))
def test_interleaved_steps(
    measure_interleaved: Callable[..., int], host_tensors: HostTensors, use_framework: Callable[[str], None], group: str
) -> None:
    """The implementations that a group's time targets compare, stepped in turns in one test, so a
    change of the machine's speed during the run moves them alike (the targets use these times)."""
    spec = OPTIMIZER_GROUPS[group]
    use_framework(spec.framework)
    instances = {label: spec.build(label, host_tensors) for label in COMPARED[group]}
    calls = measure_interleaved({label: instance.step for label, instance in instances.items()}, group=group)
    for label, instance in instances.items():
        assert instance.steps_taken() >= calls, f"{label} took {instance.steps_taken()} steps, expected >= {calls}"
