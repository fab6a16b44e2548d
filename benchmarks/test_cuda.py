"""The torch optimizer groups on a CUDA device, where one is available: every optimspec path runs
there too (the fused one as the foreach / per-tensor ops, the CPU kernels being CPU-only) beside
torch's and transformers' optimizers. Groups ``<group>-cuda``; no targets (the CPU's hold
regardless of a GPU). Without CUDA every case skips with that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from implementations import OPTIMIZER_GROUPS, HostTensors

if TYPE_CHECKING:
    from conftest import Measure

torch = pytest.importorskip("torch")

#: The skip reason of every case on a machine without CUDA (the quick-mode test accepts only it).
NO_CUDA = "no CUDA device: the CUDA benchmarks run where torch.cuda.is_available()"

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)

CASES = [(group.name, label) for group in OPTIMIZER_GROUPS.values() if group.framework == "torch" for label in group.labels]


@pytest.mark.parametrize(("group", "label"), CASES)
def test_cuda_step(measure: Measure, host_tensors: HostTensors, group: str, label: str) -> None:
    """One optimizer step over every param of the shape set, on the GPU (synchronized, so the time
    is the step's, not its launch's)."""
    spec = OPTIMIZER_GROUPS[group]
    instance = spec.build(label, host_tensors, device="cuda")

    def step() -> None:
        instance.step()
        torch.cuda.synchronize()

    calls = measure(step, group=f"{group}-cuda", label=label, baseline=spec.baseline)
    assert instance.steps_taken() >= calls, f"{label} took {instance.steps_taken()} steps, expected >= {calls}"
