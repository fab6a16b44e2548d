"""The job launcher the multi-process tests rely on: environment, failures, the hard timeout, and
no process left behind (grandchildren included)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dist_launch
import pytest

# A rank that starts a grandchild in the background (same process group), reports its pid, then
# sleeps for SLEEP seconds (or exits at once with 0).
SPAWNING_RANK = """
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "600"])
with open(os.path.join(sys.argv[1], f"grandchild{os.environ['RANK']}"), "w") as f:
    f.write(str(child.pid))
time.sleep(float(sys.argv[2]))
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_each_rank_gets_the_torchrun_environment() -> None:
    script = "import os; print('env', *(os.environ[k] for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR')))"
    result = dist_launch.run_job([sys.executable, "-c", script], nprocs=2, timeout=60)
    assert "env 0 2 127.0.0.1" in result.output and "env 1 2 127.0.0.1" in result.output, result.output
    assert dist_launch.live_members(result.pgid) == []


def test_a_failing_rank_raises_with_its_output() -> None:
    script = "import os, sys; print('rank', os.environ['RANK'], 'fails'); sys.exit(int(os.environ['RANK']) * 3)"
    with pytest.raises(dist_launch.JobError, match=r"exited with \{1: 3\}") as failure:
        dist_launch.run_job([sys.executable, "-c", script], nprocs=2, timeout=60)
    assert "rank 1 fails" in str(failure.value)
    assert dist_launch.live_members(failure.value.pgid) == []


def test_a_job_past_its_timeout_is_killed_with_its_grandchildren(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(dist_launch.JobError, match="still running after 3.0 s; killed"):
        dist_launch.run_job([sys.executable, "-c", SPAWNING_RANK, str(tmp_path), "600"], nprocs=2, timeout=3.0)
    assert time.monotonic() - start < 3.0 + dist_launch.REAP_SECONDS
    grandchildren = [int((tmp_path / f"grandchild{rank}").read_text()) for rank in range(2)]
    assert not any(_alive(pid) for pid in grandchildren), "a grandchild outlived the timeout"


def test_a_finished_job_leaves_no_background_process(tmp_path: Path) -> None:
    result = dist_launch.run_job([sys.executable, "-c", SPAWNING_RANK, str(tmp_path), "0"], nprocs=2, timeout=60)
    grandchildren = [int((tmp_path / f"grandchild{rank}").read_text()) for rank in range(2)]
    assert not any(_alive(pid) for pid in grandchildren), "a background grandchild survived the job"
    assert dist_launch.live_members(result.pgid) == []
    assert os.getpgid(0) != result.pgid  # the job had a group of its own, not pytest's
