"""Saving mid-run and resuming in a fresh process continues bit-identically (every optimizer and schedule)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import torch

WORKER_PATH = Path(__file__).with_name("resume_worker.py")


def _load_worker():
    spec = importlib.util.spec_from_file_location("optimspec_torch_resume_worker", WORKER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resume_in_a_fresh_process_is_bit_identical(tmp_path):
    worker = _load_worker()
    expected = {}
    for case in worker.CASES:
        params, optimizer, schedule = worker.build(case)
        worker.train(params, optimizer, schedule, range(worker.FIRST_STEPS))
        torch.save(worker.checkpoint(params, optimizer, schedule), tmp_path / f"{case}.pt")
        rest = range(worker.FIRST_STEPS, worker.FIRST_STEPS + worker.MORE_STEPS)
        lrs = worker.train(params, optimizer, schedule, rest)
        expected[case] = ([p.detach() for p in params], lrs)
        assert not torch.equal(params[0], torch.load(tmp_path / f"{case}.pt")["params"][0]), f"{case}: no update"

    result_file = tmp_path / "resumed.pt"
    subprocess.run(
        [sys.executable, str(WORKER_PATH), str(tmp_path), str(result_file)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    resumed = torch.load(result_file, weights_only=True)

    assert resumed.keys() == expected.keys()
    for case, (params, lrs) in expected.items():
        resumed_params, resumed_lrs = resumed[case]
        assert resumed_lrs == lrs, case
        for a, b in zip(resumed_params, params):
            assert a.dtype == b.dtype and torch.equal(a, b), case
