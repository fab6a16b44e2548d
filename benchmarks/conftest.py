"""Session setup of the optimspec benchmarks: configuration, kernel build, memory probe, ``measure``.

The workload and the implementations live in ``implementations.py`` (shared with the memory
probe, ``memory.py``); this file reads the environment once per session, builds the fused CPU
kernels in a fresh cache (so their compile time is measured), runs the memory probe of each
optimizer framework in a child process, and provides :func:`measure`, which times a step with
``benchmark.pedantic`` and labels the result for ``ratios.py``.

Environment (an invalid value stops the run before any benchmark):

* ``OPTIMSPEC_BENCH_SCALE`` (default :data:`DEFAULT_SCALE` = 0.05): fraction of the full
  bert-base-like param count (``1.0`` = 90.9M params in 193 tensors). Small scales weigh the
  per-tensor overhead more than full scale does, so ratios move with the scale: compare ratios
  measured at the same scale only.
* ``OPTIMSPEC_BENCH_LAYERS`` (12): encoder layers of the shape set; ``1`` (17 tensors) makes a
  quick smoke run (``make test`` runs the suites that way).
* ``OPTIMSPEC_BENCH_ROUNDS`` (10), ``OPTIMSPEC_BENCH_MIN_TIME`` (1.0 s), ``OPTIMSPEC_BENCH_WARMUP``
  (5): each optimizer benchmark times one step per round, after the warmup rounds, for at least
  that many rounds and seconds (at most :data:`MAX_ROUNDS` rounds), so one stall of a shared CPU
  moves no median much.
* ``OPTIMSPEC_BENCH_SCHEDULE_STEPS`` (10⁶) and ``OPTIMSPEC_BENCH_SCHEDULE_ROUNDS`` (3): a schedule
  round computes the lr of that many steps.
* ``OPTIMSPEC_BENCH_THREADS``: cap torch's and TensorFlow's threads; unset, each framework uses
  its default (all cores). On a shared CPU ``1`` keeps ratios reproducible: with 2 threads on 2
  busy cores one torch Adafactor step went from 12 ms to 2 s here (OpenMP threads waiting for a
  descheduled sibling), with 1 thread it stayed at 12 ms.

``extra_info`` of every benchmark: ``label`` (the implementation) and ``baseline`` (its group's
peer); optimizer benchmarks add ``state_bytes``, ``peak_step_bytes``, ``largest_param_bytes`` and
``spec_state_bytes`` from the memory probe; schedule benchmarks add ``steps``. The run's JSON gets
an ``"optimspec"`` object: the configuration and the kernels' build (``kernel_build_seconds``).

:func:`measure_interleaved` times several implementations of one group in turns instead (one step
of each per round): its benchmark is named ``GROUP (interleaved)`` and its ``extra_info`` holds
``interleaved_group`` and, per label, the median, min, mean and IQR of that label's own step times.
A drift of the machine's speed during a run (memory bandwidth shared with other guests moved one
AdamW step from 31 to 49 ms within minutes here) then moves every implementation of the pair
alike, so ``ratios.py`` checks the time targets on these.
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # benchmarks/ is no package: make its modules importable

from implementations import LAYERS, OPTIMIZER_GROUPS, HostTensors, Shape, bert_base_like_shapes  # noqa: E402
from memory import GroupMemory, probe_groups  # noqa: E402

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

#: Parameter-count fraction of the full bert-base-like set used when the environment sets none.
DEFAULT_SCALE = 0.05
DEFAULT_ROUNDS = 10
DEFAULT_WARMUP_ROUNDS = 5
DEFAULT_MIN_TIME = 1.0
MAX_ROUNDS = 1000
DEFAULT_SCHEDULE_STEPS = 1_000_000
DEFAULT_SCHEDULE_ROUNDS = 3


def _env_number(name: str, default: float | None, convert: Callable[[str], float], minimum: float) -> Any:
    """The environment variable ``name`` parsed by ``convert``; a usage error if it is invalid."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = convert(raw)
    except ValueError:
        raise pytest.UsageError(f"{name}={raw!r} is not a number") from None
    if not (math.isfinite(value) and value >= minimum):
        raise pytest.UsageError(f"{name}={raw!r} must be finite and >= {minimum}")
    return value


@dataclass(frozen=True)
class BenchConfig:
    """What every benchmark of one session runs on, read once from the environment."""

    scale: float
    layers: int
    rounds: int
    warmup_rounds: int
    min_time: float
    threads: int | None
    schedule_steps: int
    schedule_rounds: int
    shapes: tuple[Shape, ...]

    @property
    def numel(self) -> int:
        """Total number of params in :attr:`shapes`."""
        return sum(math.prod(shape) for shape in self.shapes)

    def rounds_for(self, seconds_per_round: float) -> int:
        """Timed rounds for a step of about ``seconds_per_round``: at least :attr:`rounds`, enough
        to fill :attr:`min_time`, at most :data:`MAX_ROUNDS`."""
        wanted = math.ceil(self.min_time / max(seconds_per_round, 1e-9))
        return max(self.rounds, min(MAX_ROUNDS, wanted))

    @classmethod
    def from_env(cls) -> BenchConfig:
        """Read the ``OPTIMSPEC_BENCH_*`` environment variables (see the module docstring)."""
        scale = _env_number("OPTIMSPEC_BENCH_SCALE", DEFAULT_SCALE, float, minimum=1e-9)
        layers = _env_number("OPTIMSPEC_BENCH_LAYERS", LAYERS, int, minimum=0)
        return cls(
            scale=scale,
            layers=layers,
            rounds=_env_number("OPTIMSPEC_BENCH_ROUNDS", DEFAULT_ROUNDS, int, minimum=1),
            warmup_rounds=_env_number("OPTIMSPEC_BENCH_WARMUP", DEFAULT_WARMUP_ROUNDS, int, minimum=0),
            min_time=_env_number("OPTIMSPEC_BENCH_MIN_TIME", DEFAULT_MIN_TIME, float, minimum=0.0),
            threads=_env_number("OPTIMSPEC_BENCH_THREADS", None, int, minimum=1),
            schedule_steps=_env_number("OPTIMSPEC_BENCH_SCHEDULE_STEPS", DEFAULT_SCHEDULE_STEPS, int, minimum=1),
            schedule_rounds=_env_number("OPTIMSPEC_BENCH_SCHEDULE_ROUNDS", DEFAULT_SCHEDULE_ROUNDS, int, minimum=1),
            shapes=bert_base_like_shapes(scale, layers),
        )

    def describe(self) -> dict[str, Any]:
        """The JSON-ready summary saved with every run (see :func:`pytest_benchmark_update_json`)."""
        return {
            "shape_set": "bert-base-like",
            "scale": self.scale,
            "layers": self.layers,
            "tensors": len(self.shapes),
            "params": self.numel,
            "rounds": self.rounds,
            "warmup_rounds": self.warmup_rounds,
            "min_time": self.min_time,
            "threads": self.threads,
            "schedule_steps": self.schedule_steps,
            "schedule_rounds": self.schedule_rounds,
        }


_CONFIG: BenchConfig | None = None
#: ``kernel_build_seconds`` and ``kernel_build_cached`` once :func:`kernel_build` ran.
_KERNEL_BUILD: dict[str, Any] = {}


def _config() -> BenchConfig:
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = BenchConfig.from_env()
    return _CONFIG


def pytest_configure(config: pytest.Config) -> None:
    """Read the environment once, so an invalid ``OPTIMSPEC_BENCH_*`` value stops the run up front."""
    _config()


def pytest_report_header(config: pytest.Config) -> str:
    """Show the shape set in the pytest header, so a pasted result says what it measured."""
    summary = _config().describe()
    return (
        f"optimspec bench: bert-base-like x{summary['scale']:g} = {summary['params']:,} params in "
        f"{summary['tensors']} tensors; >= {summary['rounds']} rounds and >= {summary['min_time']:g} s "
        f"after {summary['warmup_rounds']} warmup; schedules: {summary['schedule_rounds']} rounds of "
        f"{summary['schedule_steps']:,} steps; threads: {summary['threads'] or 'framework default'}"
    )


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]) -> None:
    """Save the configuration and the kernel build under ``"optimspec"`` in the run's JSON."""
    output_json["optimspec"] = _config().describe() | _KERNEL_BUILD


@pytest.fixture(scope="session")
def bench_config() -> BenchConfig:
    """The session's :class:`BenchConfig`."""
    return _config()


@pytest.fixture(scope="session")
def host_tensors(bench_config: BenchConfig) -> HostTensors:
    """The seeded float32 params and gradients of the session's shape set."""
    return HostTensors.draw(bench_config.shapes)


@pytest.fixture(scope="session")
def kernel_build() -> Iterator[None]:
    """Build optimspec.torch's fused kernels in a fresh, temporary ``OPTIMSPEC_CACHE_DIR`` and record
    the compile time (``cached`` is true only if this process had loaded them before; both are
    ``None`` where the kernels cannot be built, and then the fused rows time the compiler-free
    fallback).

    The memory probes inherit the directory, so they load this build instead of compiling again.
    """
    kernels = pytest.importorskip("optimspec.torch._kernels")
    previous = os.environ.get(kernels.CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix="optimspec-bench-kernels-") as cache:
        os.environ[kernels.CACHE_ENV] = cache
        info = kernels.build_info()  # None without a C compiler: the fused rows time the fallback
        _KERNEL_BUILD.update(
            kernel_build_seconds=None if info is None else info.seconds,
            kernel_build_cached=None if info is None else info.cached,
        )
        try:
            yield
        finally:
            if previous is None:
                del os.environ[kernels.CACHE_ENV]
            else:
                os.environ[kernels.CACHE_ENV] = previous


@pytest.fixture(scope="session")
def memory_of(bench_config: BenchConfig, request: pytest.FixtureRequest) -> Callable[[str], GroupMemory]:
    """The memory probe's figures of an optimizer group. The first request for a framework probes
    all of its groups that this session benchmarks, in one child process."""
    measured: dict[str, GroupMemory] = {}

    def of(group: str) -> GroupMemory:
        if group not in measured:
            framework = OPTIMIZER_GROUPS[group].framework
            selected = {item.callspec.params.get("group") for item in request.session.items if hasattr(item, "callspec")}
            names = [name for name, spec in OPTIMIZER_GROUPS.items() if spec.framework == framework and name in selected | {group}]
            measured.update(probe_groups(names, bench_config.scale, bench_config.layers, bench_config.threads))
        return measured[group]

    return of


class Measure(Protocol):
    """Signature of the :func:`measure` fixture's callable."""

    def __call__(
        self,
        step: Callable[[], object],
        *,
        group: str,
        label: str,
        baseline: str,
        rounds: int | None = None,
        warmup_rounds: int | None = None,
        **extra_info: Any,
    ) -> int: ...


@pytest.fixture
def measure(benchmark: BenchmarkFixture, bench_config: BenchConfig) -> Measure:
    """Time ``step`` with ``benchmark.pedantic`` in ``group``, and label the result for ``ratios.py``.

    With ``rounds=None`` (optimizer steps), ``step`` first runs once untimed (creating the
    optimizer state, tracing and compiling a ``tf.function``) and once timed, and that time sets
    the rounds (:meth:`BenchConfig.rounds_for`); explicit ``rounds`` skip this probe.
    ``warmup_rounds`` defaults to the session's. ``extra_info`` keywords are saved with the result.
    Returns how many times ``step`` ran at least (once under ``--benchmark-disable``;
    pytest-benchmark adds a call under ``--benchmark-cprofile``), so a test can check that the
    steps really happened.
    """

    def run(
        step: Callable[[], object],
        *,
        group: str,
        label: str,
        baseline: str,
        rounds: int | None = None,
        warmup_rounds: int | None = None,
        **extra_info: Any,
    ) -> int:
        benchmark.group = group
        benchmark.extra_info.update(label=label, baseline=baseline, **extra_info)
        return _pedantic(benchmark, bench_config, step, rounds, warmup_rounds)[0]

    return run


def _pedantic(
    benchmark: BenchmarkFixture, bench_config: BenchConfig, call: Callable[[], object], rounds: int | None = None,
    warmup_rounds: int | None = None,
) -> tuple[int, int]:
    """Time ``call`` with ``benchmark.pedantic`` as :func:`measure` describes (the probe when
    ``rounds`` is None, the session's warmup unless given); returns how many times ``call`` ran at
    least and how many of those were timed rounds (once each under ``--benchmark-disable``)."""
    if benchmark.disabled:
        benchmark.pedantic(call)
        return 1, 1
    probe_calls = 0
    if rounds is None:
        call()
        start = time.perf_counter()
        call()
        rounds, probe_calls = bench_config.rounds_for(time.perf_counter() - start), 2
    warmup_rounds = bench_config.warmup_rounds if warmup_rounds is None else warmup_rounds
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=warmup_rounds)
    return probe_calls + warmup_rounds + rounds, rounds


def _summary(samples: list[float]) -> dict[str, float | int | None]:
    """Median, min, mean and IQR (``None`` below two samples) of one label's step times."""
    quartiles = statistics.quantiles(samples, n=4) if len(samples) >= 2 else None
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "mean": statistics.fmean(samples),
        "iqr": None if quartiles is None else quartiles[2] - quartiles[0],
        "rounds": len(samples),
    }


@pytest.fixture
def measure_interleaved(benchmark: BenchmarkFixture, bench_config: BenchConfig) -> Callable[..., int]:
    """Time the ``steps`` of ``group`` (label -> step) in turns: each round steps every label once,
    each timed on its own, and the label that goes first rotates, so no label always follows the
    same one. Untimed first round, a timed probe round that sets the rounds, then the warmup
    rounds, as :func:`measure`. Returns how many times each step ran at least."""

    def run(steps: dict[str, Callable[[], object]], *, group: str) -> int:
        labels = list(steps)
        times: dict[str, list[float]] = {label: [] for label in labels}
        rotation = itertools.count()

        def one_round() -> None:
            first = next(rotation) % len(labels)
            for label in labels[first:] + labels[:first]:
                start = time.perf_counter()
                steps[label]()
                times[label].append(time.perf_counter() - start)

        benchmark.group = f"{group} (interleaved)"
        benchmark.extra_info.update(label="interleaved", interleaved_group=group)
        calls, rounds = _pedantic(benchmark, bench_config, one_round)
        benchmark.extra_info["interleaved"] = {label: _summary(samples[-rounds:]) for label, samples in times.items()}
        return calls

    return run
