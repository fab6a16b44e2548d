"""Shared setup for the optimspec benchmarks: the scaled "bert-base-like" shape set and fixtures.

The shape set is the "bert-base-like" one: 12 layers of 4×(768,768) + 4×(768,) +
(3072,768) + (768,3072) + (3072,) + (768,) + 4×(768,), plus one (7630,768) embedding; 193 tensors,
90.9M float32 params at full scale.

``OPTIMSPEC_BENCH_SCALE`` scales the *parameter count* while keeping all 193 tensors (so the
per-tensor overheads that separate for-loop, foreach and fused optimizers stay in the picture):
every dimension is multiplied by ``sqrt(scale)`` and rounded. ``1.0`` is the full 90.9M-param set;
the default, :data:`DEFAULT_SCALE` = 0.05, gives about 4.5M params so that ``make bench`` finishes in a
couple of minutes on 2 CPU cores. Small scales weigh the per-tensor Python overhead more than full
scale does, so ratios move with the scale: compare ratios measured at the same scale only.

Each optimizer benchmark times one step per round, after ``OPTIMSPEC_BENCH_WARMUP`` (default 5)
untimed warmup rounds, for at least ``OPTIMSPEC_BENCH_ROUNDS`` rounds (default 25) and at least
``OPTIMSPEC_BENCH_MIN_TIME`` seconds (default 1.0; at most 1000 rounds): fast steps get more rounds,
so one stall of a shared CPU moves no median much.

``OPTIMSPEC_BENCH_THREADS=N`` caps torch's and TensorFlow's intra-op (and TF's inter-op) threads
at ``N``; unset, each framework uses its default (all cores). On a CPU that other processes share,
``1`` keeps the ratios reproducible: with 2 threads on 2 busy cores, one torch Adafactor step
measured here went from 12 ms to 2 s while another process ran (OpenMP threads waiting for a
descheduled sibling), with 1 thread it stayed at 12 ms.

Every benchmark is measured through the :func:`measure` fixture, which records two keys in the
benchmark's ``extra_info``: ``label`` (the implementation, e.g. ``torch.forloop``) and
``baseline`` (the label of the group's reference implementation). ``benchmarks/ratios.py`` reads
them from the saved JSON.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pytest

if TYPE_CHECKING:
    import torch
    from pytest_benchmark.fixture import BenchmarkFixture

Shape = tuple[int, ...]

#: Parameter-count fraction of the full bert-base-like set used when the environment sets none.
DEFAULT_SCALE = 0.05
DEFAULT_ROUNDS = 25
DEFAULT_WARMUP_ROUNDS = 5
DEFAULT_MIN_TIME = 1.0
MAX_ROUNDS = 1000

#: Full-scale dimensions (scale 1.0 = 90,914,304 params in 193 tensors).
HIDDEN = 768
INTERMEDIATE = 3072
VOCAB = 7630
LAYERS = 12

#: Seed of the synthetic params and gradients, so every run times the same numbers.
SEED = 20240521


def bert_base_like_shapes(scale: float = 1.0) -> tuple[Shape, ...]:
    """The 193 tensor shapes of the bert-base-like set, with about ``scale`` times its 90.9M params.

    Each dimension is multiplied by ``sqrt(scale)`` and rounded (at least 1), so ``scale=1.0``
    returns the full bert-base-like shapes exactly.
    """
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    width = math.sqrt(scale)

    def dim(full: int) -> int:
        return max(1, round(full * width))

    hidden, intermediate = dim(HIDDEN), dim(INTERMEDIATE)
    layer: list[Shape] = [
        *[(hidden, hidden)] * 4,  # query, key, value, attention output weights
        *[(hidden,)] * 4,  # their biases
        (intermediate, hidden),  # feed-forward in
        (hidden, intermediate),  # feed-forward out
        (intermediate,),
        (hidden,),
        *[(hidden,)] * 4,  # two layer norms, weight and bias
    ]
    return ((dim(VOCAB), hidden), *(layer * LAYERS))


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
    rounds: int
    warmup_rounds: int
    min_time: float
    threads: int | None
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
        """Read the ``OPTIMSPEC_BENCH_{SCALE,ROUNDS,WARMUP,MIN_TIME,THREADS}`` environment variables."""
        scale = _env_number("OPTIMSPEC_BENCH_SCALE", DEFAULT_SCALE, float, minimum=1e-9)
        return cls(
            scale=scale,
            rounds=_env_number("OPTIMSPEC_BENCH_ROUNDS", DEFAULT_ROUNDS, int, minimum=1),
            warmup_rounds=_env_number("OPTIMSPEC_BENCH_WARMUP", DEFAULT_WARMUP_ROUNDS, int, minimum=0),
            min_time=_env_number("OPTIMSPEC_BENCH_MIN_TIME", DEFAULT_MIN_TIME, float, minimum=0.0),
            threads=_env_number("OPTIMSPEC_BENCH_THREADS", None, int, minimum=1),
            shapes=bert_base_like_shapes(scale),
        )

    def describe(self) -> dict[str, Any]:
        """The JSON-ready summary saved with every run (see :func:`pytest_benchmark_update_json`)."""
        return {
            "shape_set": "bert-base-like",
            "scale": self.scale,
            "tensors": len(self.shapes),
            "params": self.numel,
            "rounds": self.rounds,
            "warmup_rounds": self.warmup_rounds,
            "min_time": self.min_time,
            "threads": self.threads,
        }


_CONFIG: BenchConfig | None = None


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
        f"after {summary['warmup_rounds']} warmup; threads: {summary['threads'] or 'framework default'}"
    )


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]) -> None:
    """Save the shape-set summary under ``"optimspec"`` in the run's JSON (read by ``ratios.py``)."""
    output_json["optimspec"] = _config().describe()


@pytest.fixture(scope="session")
def bench_config() -> BenchConfig:
    """The session's :class:`BenchConfig`."""
    return _config()


@dataclass(frozen=True)
class HostTensors:
    """Float32 NumPy params and gradients of the shape set; frameworks copy them, never mutate."""

    params: tuple[np.ndarray, ...]
    grads: tuple[np.ndarray, ...]


@pytest.fixture(scope="session")
def host_tensors(bench_config: BenchConfig) -> HostTensors:
    """Seeded params ~ N(0, 0.02²) (BERT's init) and gradients ~ N(0, 1e-3²), as float32."""
    rng = np.random.default_rng(SEED)

    def draw(shape: Shape, std: float) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    params = tuple(draw(shape, 0.02) for shape in bench_config.shapes)
    grads = tuple(draw(shape, 1e-3) for shape in bench_config.shapes)
    return HostTensors(params, grads)


@pytest.fixture
def torch_params(host_tensors: HostTensors, bench_config: BenchConfig) -> list[torch.nn.Parameter]:
    """Fresh float32 torch params (one per shape) whose ``.grad`` is already set.

    Function-scoped: each benchmark's optimizer mutates its own copy. Applies
    ``OPTIMSPEC_BENCH_THREADS`` to torch.
    """
    torch = pytest.importorskip("torch")
    if bench_config.threads is not None:
        torch.set_num_threads(bench_config.threads)
    params = []
    for value, grad in zip(host_tensors.params, host_tensors.grads):
        param = torch.nn.Parameter(torch.from_numpy(value.copy()))
        param.grad = torch.from_numpy(grad.copy())
        params.append(param)
    return params


class Measure(Protocol):
    """Signature of the :func:`measure` fixture's callable."""

    def __call__(
        self,
        step: Callable[[], object],
        *,
        label: str,
        baseline: str,
        rounds: int | None = None,
        warmup_rounds: int | None = None,
        iterations: int = 1,
    ) -> int: ...


@pytest.fixture
def measure(benchmark: BenchmarkFixture, bench_config: BenchConfig) -> Measure:
    """Time ``step`` with ``benchmark.pedantic`` and label the result for ``ratios.py``.

    With ``rounds=None`` (optimizer steps), ``step`` first runs once untimed (creating the
    optimizer state, tracing and compiling a ``tf.function``) and once timed, and that time sets
    the rounds (:meth:`BenchConfig.rounds_for`); explicit ``rounds`` (with ``iterations`` calls per
    round) skip this probe. ``warmup_rounds`` defaults to the session's. The group comes from the
    test's ``@pytest.mark.benchmark(group=...)``. Returns how many times ``step`` ran at least (once
    under ``--benchmark-disable``; pytest-benchmark adds a call after looped rounds and under
    ``--benchmark-cprofile``), so a test can check that the steps really happened.
    """

    def run(
        step: Callable[[], object],
        *,
        label: str,
        baseline: str,
        rounds: int | None = None,
        warmup_rounds: int | None = None,
        iterations: int = 1,
    ) -> int:
        benchmark.extra_info.update(label=label, baseline=baseline)
        if benchmark.disabled:
            benchmark.pedantic(step)
            return 1
        probe_calls = 0
        if rounds is None:
            step()
            start = time.perf_counter()
            step()
            rounds, probe_calls = bench_config.rounds_for(time.perf_counter() - start), 2
        warmup_rounds = bench_config.warmup_rounds if warmup_rounds is None else warmup_rounds
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=warmup_rounds, iterations=iterations)
        return probe_calls + (warmup_rounds + rounds) * iterations

    return run
