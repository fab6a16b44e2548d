"""Memory of one optimizer step: state bytes and peak extra memory, measured in a child process.

For each implementation of some groups of one framework (``implementations.OPTIMIZER_GROUPS``),
one after the other in a fresh Python process started by :func:`probe_groups`:

1. build params, gradients and the optimizer; run two steps (state created, functions traced);
2. reset the peak resident set size (``echo 5 > /proc/self/clear_refs``) and read ``VmRSS``;
3. run one step and read ``VmHWM``, the peak resident set size since the reset.

The **peak step memory** is ``VmHWM − VmRSS``: what one step needs above the params, gradients and
state, i.e. its temporaries. The child runs with ``MALLOC_MMAP_THRESHOLD_=65536`` and
``MALLOC_TRIM_THRESHOLD_=0``, so glibc hands freed blocks back to the OS at once and a temporary
freed before the reset does not hide one allocated during the step. The **state bytes** are the
bytes of the optimizer's state tensors (torch) or variables (Keras) after the steps.

A separate process keeps the benchmarks' timings free of the probe and its heap history; one
process per framework (not per group) saves a framework import per group. Linux only (``/proc``).

Command line (what :func:`probe_groups` runs; writes a JSON list, one object per group)::

    python benchmarks/memory.py GROUP [GROUP ...] --scale 0.05 --layers 12 --out memory.json [--threads N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from implementations import OPTIMIZER_GROUPS, HostTensors, bert_base_like_shapes, largest_param_bytes, set_threads

#: glibc settings of the child: large blocks are mmap'd and returned to the OS when freed.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


@dataclass(frozen=True)
class StepMemory:
    """Memory figures of one implementation, in bytes."""

    state_bytes: int
    peak_step_bytes: int


@dataclass(frozen=True)
class GroupMemory:
    """Memory figures of every implementation of one group, with the yardsticks of the targets."""

    group: str
    largest_param_bytes: int
    spec_state_bytes: int
    labels: dict[str, StepMemory]

    @classmethod
    def from_json(cls, data: dict) -> GroupMemory:
        labels = {label: StepMemory(**figures) for label, figures in data["labels"].items()}
        return cls(data["group"], data["largest_param_bytes"], data["spec_state_bytes"], labels)


def _status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    """Set ``VmHWM`` back to the current ``VmRSS`` (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")


def measure_group(name: str, scale: float, layers: int) -> GroupMemory:
    """Measure every implementation of group ``name`` in this process, one after the other."""
    group = OPTIMIZER_GROUPS[name]
    shapes = bert_base_like_shapes(scale, layers)
    host = HostTensors.draw(shapes)
    labels = {}
    for label in group.labels:
        instance = group.build(label, host)
        instance.step()
        instance.step()
        _reset_peak()
        before = _status_bytes("VmRSS")
        instance.step()
        peak = _status_bytes("VmHWM")
        labels[label] = StepMemory(instance.state_bytes(), max(0, peak - before))
        del instance
        gc.collect()  # free this optimizer's params and state before the next one is built
    return GroupMemory(name, largest_param_bytes(shapes), group.spec_state_bytes(shapes), labels)


def probe_groups(names: Sequence[str], scale: float, layers: int, threads: int | None, timeout: float = 900.0) -> dict[str, GroupMemory]:
    """Run :func:`measure_group` for each of ``names`` (groups of one framework) in one child process
    with :data:`MALLOC_ENV`, and return the results by group.

    The child inherits the environment (so ``OPTIMSPEC_CACHE_DIR`` and ``TF_CPP_MIN_LOG_LEVEL``);
    a failure raises ``RuntimeError`` with the child's last lines of stderr.
    """
    with tempfile.TemporaryDirectory(prefix="optimspec-memory-") as tmp:
        out = Path(tmp) / "memory.json"
        command = [sys.executable, str(Path(__file__).resolve()), *names]
        command += ["--scale", repr(scale), "--layers", str(layers), "--out", str(out)]
        if threads is not None:
            command += ["--threads", str(threads)]
        done = subprocess.run(command, env={**os.environ, **MALLOC_ENV}, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"memory probe of {', '.join(names)} failed (exit {done.returncode}):\n{tail}")
        return {data["group"]: GroupMemory.from_json(data) for data in json.loads(out.read_text())}


def main(argv: Sequence[str] | None = None) -> int:
    """The child's command line; exit status 2 for groups of different frameworks."""
    parser = argparse.ArgumentParser(prog="memory.py", description="Measure the step memory of benchmark groups.")
    parser.add_argument("groups", nargs="+", choices=sorted(OPTIMIZER_GROUPS), metavar="GROUP")
    parser.add_argument("--scale", type=float, required=True, help="OPTIMSPEC_BENCH_SCALE of the run")
    parser.add_argument("--layers", type=int, required=True, help="OPTIMSPEC_BENCH_LAYERS of the run")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("--threads", type=int, default=None, help="OPTIMSPEC_BENCH_THREADS of the run")
    args = parser.parse_args(argv)
    frameworks = {OPTIMIZER_GROUPS[name].framework for name in args.groups}
    if len(frameworks) != 1:
        parser.error(f"the groups must share one framework, got {', '.join(sorted(frameworks))}")
    set_threads(args.threads, frameworks.pop())
    results = [asdict(measure_group(name, args.scale, args.layers)) for name in args.groups]
    args.out.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
