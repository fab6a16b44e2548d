"""``--isolate``: run an untrusted adapter's cases in a worker process.

In-process isolation (:mod:`~optimspec.conformance.boundary`) turns exceptions, ``sys.exit()`` and
most hangs into ``error`` outcomes, but nothing in-process survives ``os._exit()``, a crash of the
interpreter (a segfault in an extension), or an adapter that catches ``BaseException`` around an
endless loop. With isolation the adapter is imported and run only in a worker process (started
with ``spawn``, so it shares no state with the harness): the harness sends it one case id at a time
and waits at most the case's time limit plus ``KILL_GRACE_S``. A worker that exits, crashes, hangs
or answers garbage is killed, that case is an ``error`` naming what happened, and a fresh worker
takes the next case. Answers cross as JSON (never pickles), so a worker cannot run code in the
harness.

Loading the adapter in the worker is limited to ``STARTUP_TIMEOUT_S`` (importing a framework takes
seconds); an adapter that cannot start (its import exits, ``info()`` raises) makes the run fail as
a broken adapter.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from . import golden
from .boundary import clean_text, describe_exception
from .runner import AdapterBroken, Case, CaseResult, Options, RunRecord, run_case, run_warnings, selected_cases, tolerance_of, unchecked_warnings

STARTUP_TIMEOUT_S = 300.0
KILL_GRACE_S = 5.0
_CONTEXT = multiprocessing.get_context("spawn")


# --------------------------------------------------------------------------------------------------
# the worker (runs in the child process)
# --------------------------------------------------------------------------------------------------


def _send(conn: Connection, message: dict[str, Any]) -> None:
    conn.send_bytes(json.dumps(message, allow_nan=False).encode("utf-8"))


def _worker(conn: Connection, adapter_ref: str, root: str, options: Options, divergence_files: Sequence[str]) -> None:
    """Load the adapter, announce its info and capabilities, then answer case ids until EOF."""
    from . import adapters, divergences, report
    from .runner import describe_adapter, framework_versions

    try:
        adapter = adapters.load(adapter_ref)
        info, caps = describe_adapter(adapter)
        known = divergences.load(adapter_ref, [Path(p) for p in divergence_files], adapter)  # its own file too
        cases = {case.id: case for case in selected_cases(golden.load_all(Path(root)), options)}
    except BaseException as exc:  # whatever stops the adapter from starting is reported, not raised
        _send(conn, {"type": "broken", "message": describe_exception(exc) if not isinstance(exc, AdapterBroken) else str(exc)})
        return
    versions = framework_versions(info)
    _send(conn, {"type": "ready", "info": info, "capabilities": report.capabilities_dict(caps)})
    while True:
        try:
            case_id = conn.recv_bytes().decode("utf-8")
        except EOFError:
            return
        case = cases[case_id]
        result = run_case(adapter, caps, case, options, known.lookup(case.id, case.dtype, versions), adapter_ref)
        _send(conn, {"type": "result", "result": result.as_dict()})


# --------------------------------------------------------------------------------------------------
# the harness side
# --------------------------------------------------------------------------------------------------


class _Worker:
    """One worker process and the harness's end of its pipe."""

    def __init__(self, adapter_ref: str, root: Path, options: Options, divergence_files: Sequence[Path]) -> None:
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_worker, args=(child, adapter_ref, str(root), options, [str(p) for p in divergence_files]), daemon=True,
            name=f"optimspec-isolated-{adapter_ref}",
        )
        self.process.start()
        child.close()

    def receive(self, timeout_s: float) -> dict[str, Any] | str:
        """The next message, or why there is none ("timed out", "exited with code N", "sent ...")."""
        try:
            if not self.conn.poll(timeout_s if timeout_s > 0 else None):
                return f"timed out after {timeout_s:g} s; the worker was killed"
            message = json.loads(self.conn.recv_bytes().decode("utf-8"))
        except (EOFError, OSError):
            self.process.join(1.0)
            return f"the worker process ended (exit code {self.process.exitcode})"
        except ValueError as exc:
            return f"the worker sent something that is not a JSON message ({clean_text(exc)})"
        return message if isinstance(message, dict) else "the worker sent something that is not a message"

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def _start(adapter_ref: str, root: Path, options: Options, divergence_files: Sequence[Path]) -> tuple[_Worker, dict[str, Any]]:
    worker = _Worker(adapter_ref, root, options, divergence_files)
    hello = worker.receive(STARTUP_TIMEOUT_S)
    if isinstance(hello, dict) and hello.get("type") == "ready":
        return worker, hello
    worker.stop()
    reason = hello.get("message", "?") if isinstance(hello, dict) else hello
    raise AdapterBroken(f"the adapter could not start in its worker process: {reason}")


def _errored(case: Case, adapter_ref: str, message: str, duration_s: float) -> CaseResult:
    from .runner import repro_command

    metric, tolerance = tolerance_of(case)
    result = CaseResult(case.id, case.algorithm, case.kind, case.dtype, "error", metric, tolerance, message=message)
    result.duration_s, result.repro = duration_s, repro_command(case.id, adapter_ref)
    result.separates = sorted(case.raw.get("discriminates") or {})
    return result


def execute_isolated(
    adapter_ref: str,
    root: Path,
    options: Options,
    divergence_files: Sequence[Path] = (),
    on_result: Callable[[CaseResult], None] | None = None,
) -> RunRecord:
    """:func:`~optimspec.conformance.runner.execute`, with the adapter in worker processes. Raises
    AdapterBroken if the adapter cannot start."""
    from . import divergences, report
    from .runner import framework_versions

    started = time.perf_counter()
    files = golden.load_all(root)
    known = divergences.load(adapter_ref, divergence_files)
    cases = selected_cases(files, options)
    worker, hello = _start(adapter_ref, root, options, divergence_files)
    info, caps = hello["info"], report.capabilities_from_dict(hello["capabilities"])
    results = []
    try:
        for case in cases:
            if worker is None:
                worker, _ = _start(adapter_ref, root, options, divergence_files)
            case_started = time.perf_counter()
            try:
                worker.conn.send_bytes(case.id.encode("utf-8"))
            except OSError:  # the worker ended after its last answer: a fresh one takes this case
                worker.stop()
                worker, _ = _start(adapter_ref, root, options, divergence_files)
                worker.conn.send_bytes(case.id.encode("utf-8"))
            answer = worker.receive(options.timeout_s + KILL_GRACE_S if options.timeout_s > 0 else 0.0)
            if isinstance(answer, dict) and answer.get("type") == "result":
                result = CaseResult.from_dict(answer["result"])
            else:
                reason = answer if isinstance(answer, str) else "the worker sent an unexpected message"
                result = _errored(case, adapter_ref, f"isolated: {reason}", time.perf_counter() - case_started)
                worker.stop()
                worker = None
            results.append(result)
            if on_result:
                on_result(result)
    finally:
        if worker is not None:
            worker.stop()
    versions = framework_versions(info)
    warnings = run_warnings(files, cases, caps, options, known, versions) + unchecked_warnings(results)
    return RunRecord(adapter_ref, info, caps, options, known, results, warnings, time.perf_counter() - started)
