"""Shared setup for the multi-process tests: the helper modules importable by name, and jobs of
``dist_worker.py`` on two CPU processes (gloo) with their results loaded.

Two jobs in all: ``train`` (shared by the test modules) and ``resume`` (a fresh job that loads the
checkpoints ``train`` saved). Tests only read their results; a run that raised in the worker fails
only the tests that read it, with the worker's traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

HERE = Path(__file__).resolve().parent
JOB_TIMEOUT_S = 180.0  # a hung collective fails the module instead of hanging make test


def _import_sibling(name: str) -> None:
    """Import ``HERE/<name>.py`` as ``name`` (test modules cannot import siblings under
    --import-mode=importlib; the worker imports them the same way, from its own directory)."""
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_import_sibling("dist_launch")
_import_sibling("dist_training")

import dist_launch  # noqa: E402
import dist_training  # noqa: E402


class JobResults:
    """What every rank of a job recorded, by key: ``get(key, rank)`` or a failed test that shows
    the worker's traceback."""

    def __init__(self, out_dir: Path, output: str) -> None:
        self.ranks = [
            torch.load(out_dir / f"rank{rank}.pt", weights_only=True) for rank in range(dist_training.WORLD_SIZE)
        ]
        self.output = output

    def get(self, key: str, rank: int = 0) -> dict[str, Any]:
        recorded = self.ranks[rank].get(key)
        if recorded is None:
            pytest.fail(f"rank {rank} recorded nothing for {key!r}; job output:\n{self.output}")
        if "error" in recorded:
            pytest.fail(f"{key!r} raised on rank {rank}:\n{recorded['error']}")
        return recorded


@pytest.fixture(scope="session")
def run_worker_job(checkpoint_dir: Path) -> Callable[[str, Path], JobResults]:
    """``run_worker_job(job, out_dir)``: run ``dist_worker.py job out_dir CHECKPOINT_DIR`` on two
    processes, check that none is left, and return the results."""

    def run(job: str, out_dir: Path) -> JobResults:
        argv = [sys.executable, str(HERE / "dist_worker.py"), job, str(out_dir), str(checkpoint_dir)]
        result = dist_launch.run_job(argv, nprocs=dist_training.WORLD_SIZE, timeout=JOB_TIMEOUT_S)
        assert dist_launch.live_members(result.pgid) == [], f"job {job} left processes behind"
        return JobResults(out_dir, result.output)

    return run


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the ``train`` job saves the checkpoints that the ``resume`` job loads."""
    return tmp_path_factory.mktemp("dcp")


@pytest.fixture(scope="session")
def train_results(run_worker_job, tmp_path_factory: pytest.TempPathFactory) -> JobResults:
    """The ``train`` job (DDP, FSDP2, the per-shard control, checkpoints, one-process references),
    run once for test_training.py and test_checkpoint.py."""
    return run_worker_job("train", tmp_path_factory.mktemp("train"))
