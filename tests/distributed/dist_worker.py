"""One rank of a distributed test job: ``python dist_worker.py JOB OUT_DIR CHECKPOINT_DIR``.

Started by ``dist_launch.run_job`` (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``).
Each rank writes ``OUT_DIR/rank<r>.pt``: ``{key: {"params": ..., "lrs": ...} | {"error": traceback}}``,
rewritten atomically after every run so that a job killed at its timeout still shows how far it got.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

import dist_training as training


class Results:
    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / f"rank{dist.get_rank()}.pt"
        self.values: dict[str, dict[str, Any]] = {}

    def record(self, key: str, run: Callable[[], dict[str, Any]]) -> None:
        try:
            self.values[key] = run()
        except Exception:  # one broken run must not hide the others
            self.values[key] = {"error": traceback.format_exc()}
        tmp = self.path.with_suffix(".tmp")
        torch.save(self.values, tmp)
        os.replace(tmp, self.path)


def _trained(run_id: str, mode: str, optimizer_cls: Any = None) -> dict[str, Any]:
    run = training.build(run_id, mode, optimizer_cls)
    collectives = training.count_step_collectives(run.optimizer)
    training.train(run, mode, range(training.STEPS))
    return {**training.result(run), "step_collectives": dict(collectives)}


def _checkpoint_path(checkpoint_dir: Path, mode: str, run_id: str, step: int) -> str:
    return str(checkpoint_dir / mode / run_id / f"step{step}")


def _trained_with_checkpoints(run_id: str, mode: str, checkpoint_dir: Path) -> dict[str, Any]:
    run = training.build(run_id, mode)
    for start, stop in zip(training.CHECKPOINT_STEPS, training.CHECKPOINT_STEPS[1:] + (training.STEPS,)):
        training.save_checkpoint(run, _checkpoint_path(checkpoint_dir, mode, run_id, start))
        training.train(run, mode, range(start, stop))
    return training.result(run)


def _resumed(run_id: str, mode: str, checkpoint_dir: Path, start: int) -> dict[str, Any]:
    run = training.build(run_id, mode)
    training.load_checkpoint(run, _checkpoint_path(checkpoint_dir, mode, run_id, start))
    training.train(run, mode, range(start, training.STEPS))
    return training.result(run)


def train_job(results: Results, checkpoint_dir: Path) -> None:
    """Every run under DDP and FSDP2: untouched, with the per-shard control (FSDP2), and saving
    checkpoints before its first step and mid-run; then the one-process references (rank 0 the
    whole-batch run, rank 1 the averaged-gradient run, side by side)."""
    for run_id in training.run_ids():
        case, _ = training.parse_run_id(run_id)
        for mode in training.DISTRIBUTED_MODES:
            results.record(f"{mode}/{run_id}", lambda: _trained(run_id, mode))
            results.record(f"{mode}/uninterrupted/{run_id}", lambda: _trained_with_checkpoints(run_id, mode, checkpoint_dir))
        results.record(f"fsdp-per-shard/{run_id}", lambda: _trained(run_id, "fsdp", training.per_shard(case.optimizer)))
    reference_mode = ("single", "averaged")[dist.get_rank()]
    for run_id in training.run_ids():
        results.record(f"{reference_mode}/{run_id}", lambda: _trained(run_id, reference_mode))


def resume_job(results: Results, checkpoint_dir: Path) -> None:
    """Every run resumed in this fresh job from each checkpoint of ``train_job`` and trained to the end."""
    for run_id in training.run_ids():
        for mode in training.DISTRIBUTED_MODES:
            for start in training.CHECKPOINT_STEPS:
                results.record(f"{mode}/resumed-from-{start}/{run_id}", lambda: _resumed(run_id, mode, checkpoint_dir, start))


JOBS = {"train": train_job, "resume": resume_job}


def main() -> None:
    job, out_dir = sys.argv[1], Path(sys.argv[2])
    checkpoint_dir = Path(sys.argv[3])
    torch.set_num_threads(1)  # two ranks on a shared CPU; also keeps kernels' reduction order fixed
    dist.init_process_group("gloo")
    try:
        JOBS[job](Results(out_dir), checkpoint_dir)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
