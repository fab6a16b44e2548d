"""Run a command as a small multi-process job, as ``torchrun`` would, bounded in time and leaving
no process behind.

Every rank is started in one new process group (the first rank leads it) with the usual
``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` environment and a free port. When the job
ends, fails or runs past its timeout, the whole group, grandchildren included, gets ``SIGKILL``, and
:func:`run_job` returns only once no live process of the group remains.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REAP_SECONDS = 10.0  # how long killed processes get to disappear before run_job gives up


class JobError(RuntimeError):
    """A rank exited non-zero or the job ran past its timeout; the message holds every rank's output."""

    def __init__(self, message: str, pgid: int) -> None:
        super().__init__(message)
        self.pgid = pgid


@dataclass(frozen=True)
class JobResult:
    pgid: int
    output: str  # every rank's stdout and stderr, one labelled block per rank


def free_port() -> int:
    """A TCP port that was free a moment ago (the usual race is harmless on a CI machine)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_members(pgid: int) -> list[int]:
    """PIDs of the processes of group ``pgid`` that have not exited (zombies count as exited)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ')'.
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + REAP_SECONDS
    while live_members(pgid):
        if time.monotonic() > deadline:
            raise JobError(f"processes {live_members(pgid)} of group {pgid} survived SIGKILL", pgid)
        time.sleep(0.05)


def run_job(
    argv: Sequence[str], *, nprocs: int, timeout: float, env: Mapping[str, str] | None = None
) -> JobResult:
    """Run ``argv`` as ranks ``0..nprocs-1`` of one job; raise :class:`JobError` if a rank fails
    or the job is still running after ``timeout`` seconds."""
    port = str(free_port())
    procs: list[subprocess.Popen] = []
    pgid = 0  # 0: the first rank starts a new group, the others join it
    with tempfile.TemporaryDirectory(prefix="optimspec-job-") as logs:
        log_files = [open(Path(logs) / f"rank{rank}.log", "w+") for rank in range(nprocs)]  # noqa: SIM115
        timed_out = False
        try:
            for rank, log in enumerate(log_files):
                rank_env = {
                    **os.environ,
                    **(env or {}),
                    "RANK": str(rank),
                    "WORLD_SIZE": str(nprocs),
                    "MASTER_ADDR": "127.0.0.1",
                    "MASTER_PORT": port,
                }
                proc = subprocess.Popen(
                    list(argv), env=rank_env, stdout=log, stderr=subprocess.STDOUT, process_group=pgid
                )
                procs.append(proc)
                pgid = pgid or proc.pid
            deadline = time.monotonic() + timeout
            for proc in procs:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
                    break
        finally:
            if pgid:
                _kill_group(pgid)
            for proc in procs:
                proc.wait()
            output = ""
            for rank, log in enumerate(log_files):
                log.seek(0)
                output += f"--- rank {rank} ---\n{log.read()}"
                log.close()
    if timed_out:
        raise JobError(f"job {list(argv)} still running after {timeout} s; killed\n{output}", pgid)
    failed = {rank: proc.returncode for rank, proc in enumerate(procs) if proc.returncode != 0}
    if failed:
        raise JobError(f"job {list(argv)}: ranks exited with {failed}\n{output}", pgid)
    return JobResult(pgid=pgid, output=output)
