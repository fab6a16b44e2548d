"""The benchmarks' quick mode, so they never rot: every suite runs once at a tiny scale.

``make test`` runs ``pytest benchmarks --benchmark-disable --doctest-modules`` in a child process
(each benchmark body once, no timing; the memory probe, the kernel build and ``ratios.py``'s own
tests included) on a one-layer shape set at scale 0.001, with 1000-step schedules. A separate test
runs the memory probe at a scale where temporaries are visible and checks its figures.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
QUICK_ENV = {
    "OPTIMSPEC_BENCH_SCALE": "0.001",
    "OPTIMSPEC_BENCH_LAYERS": "1",
    "OPTIMSPEC_BENCH_SCHEDULE_STEPS": "1000",
    "OPTIMSPEC_BENCH_SCHEDULE_ROUNDS": "1",
    "OPTIMSPEC_BENCH_THREADS": "1",
}


def _benchmarks_module(name: str) -> ModuleType:
    """Import ``benchmarks/NAME.py`` (``benchmarks/`` is no package; its modules import each other)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


@pytest.mark.slow
def test_every_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    junit = tmp_path / "quick.xml"
    command = [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider", "--benchmark-disable"]
    command += ["--doctest-modules", f"--junitxml={junit}"]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **QUICK_ENV}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"quick mode failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    outcomes = {f"{case.get('classname')}::{case.get('name')}": case for case in cases}
    # Only the CUDA benchmarks may skip, and only for want of a GPU.
    skipped = {name: case.find("skipped") for name, case in outcomes.items() if case.find("skipped") is not None}
    unexpected = [name for name, skip in skipped.items() if "no CUDA device" not in (skip.get("message") or "")]
    assert not unexpected, f"benchmarks skipped in quick mode: {unexpected}"
    implementations = _benchmarks_module("implementations")
    expected = [f"test_step[{g.name}-{label}]" for g in implementations.OPTIMIZER_GROUPS.values() for label in g.labels]
    expected += [f"test_lr_trace[{g.name}-{label}]" for g in implementations.SCHEDULE_GROUPS.values() for label in g.labels]
    compared = _benchmarks_module("test_optimizers").COMPARED
    assert set(compared) == {"adamw", "adafactor-default", "adafactor-trainer", "tf-adamw-eager", "tf-adamw-xla"}, compared
    expected += [f"test_interleaved_steps[{group}]" for group in compared]
    ran = {name.rsplit("::", 1)[-1] for name in outcomes}
    assert set(expected) <= ran, f"not run: {sorted(set(expected) - ran)}"
    assert any("implementations" in name and "bert_base_like_shapes" in name for name in outcomes), "doctests collected"


@pytest.mark.slow
def test_memory_probe_sees_temporaries_and_exact_state() -> None:
    """At scale 0.05 (one layer) the largest tensor is 1.1 MiB, well above glibc's mmap threshold
    of the probe: transformers' Adafactor allocates full-size temporaries (about 2 × the largest
    tensor here), optimspec's fused path none, and the state bytes are what the algorithm needs."""
    implementations, memory = _benchmarks_module("implementations"), _benchmarks_module("memory")
    shapes = implementations.bert_base_like_shapes(0.05, layers=1)
    [result] = memory.probe_groups(["adafactor-trainer"], scale=0.05, layers=1, threads=1).values()
    largest = max(math.prod(shape) for shape in shapes) * 4
    assert result.largest_param_bytes == largest == 1706 * 172 * 4
    fused, peer = result.labels["optimspec.fused"], result.labels["transformers"]
    assert peer.peak_step_bytes >= largest, f"the probe missed transformers' temporaries: {peer}"
    assert fused.peak_step_bytes <= 0.5 * largest, f"optimspec's fused Adafactor needs no full-size temporary: {fused}"
    assert fused.state_bytes == result.spec_state_bytes == 4 * sum(
        shape[0] + shape[1] if len(shape) == 2 else shape[0] for shape in shapes
    )
    assert peer.state_bytes == result.spec_state_bytes + 4 * len(shapes), "transformers keeps RMS as a 0-d tensor per param"
