"""The runner: the loop over the selected golden cases of one adapter. For each case it decides
whether it applies (the adapter's capabilities), runs it isolated, judges it under the conventions
the adapter declares, diagnoses a failure and applies the known divergence that covers it.

The parts: decoding cases is :mod:`.decode`; what a case expects (the golden values, or the
reference's under declared conventions) is :mod:`.expected`; running a case by kind and comparing
what the adapter returns is :mod:`.checks`; naming what a failure behaves like is :mod:`.diagnosis`.

Each case is isolated: an adapter that raises (``sys.exit()`` included), hangs (per-case timeout),
returns the wrong shape or something that is not real numbers, or NaN where the golden has none
gets ``error`` or ``fail`` for that case, and the run goes on. What crosses the adapter boundary
(private copies in, fresh arrays out, cleaned strings) is :mod:`.boundary`; running cases in worker
processes is :mod:`.isolate`.

Outcomes (:data:`OUTCOMES`):

* ``pass``; ``pass_with_override`` (passes only under a divergence file's tolerance override);
* ``fail``; ``error`` (the adapter crashed, hung or returned something malformed);
* ``xfail`` / ``xpass``: a divergence entry expected a failure (an ``error`` counts as expected too;
  an entry with ``when.behaves_like`` / ``when.max_error`` only where the diagnosis and the measured
  error say so); a strict ``xpass`` counts as a failure;
* ``skip``: a divergence entry said not to run it;
* ``not_applicable``: an ``invalid/`` case for an adapter that does not validate hyperparameters;
* ``unsupported``: the adapter cannot express the algorithm, dtype or setting.

An adapter that declares conventions of its own (``AlgorithmSupport.variant``) is judged under
them, every case a real pass or fail: ``CaseResult.conventions`` says which.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from optimspec.reference import registry

from . import golden
from .adapters.base import Adapter, AlgorithmSupport, Capabilities, Unsupported
from .boundary import CaseTimeout, UserInterrupts, clean_text, clean_tree, describe_exception, time_limit, watch_user_interrupts
from .checks import Check, Measured, run_accumulator, run_invalid, run_optimizer, run_schedule
from .decode import Case, iter_cases
from .diagnosis import NON_FINITE_MISMATCH, diagnose, named_conventions, where_raised
from .divergences import Divergence, DivergenceSet, decide, skips
from .expected import declared, optimizer_expectation, schedule_expectation

OUTCOMES = ("pass", "pass_with_override", "fail", "xfail", "xpass", "skip", "not_applicable", "unsupported", "error")
PASSING = ("pass", "pass_with_override")
MODES = ("teacher_forced", "free_running")
DEFAULT_TIMEOUT_S = 60.0


@dataclass
class CaseResult:
    id: str
    algorithm: str
    kind: str
    dtype: str
    outcome: str
    metric: str
    tolerance: dict[str, Any]
    measured: Measured = field(default_factory=Measured)
    modes: list[str] = field(default_factory=list)
    message: str = ""
    diagnosis: str = ""
    divergence: dict[str, Any] | None = None
    duration_s: float = 0.0
    repro: str = ""
    separates: list[str] = field(default_factory=list)  # convention axes the case was built to separate
    unchecked: list[str] = field(default_factory=list)  # parts not compared because the adapter declares it cannot export them
    conventions: dict[str, str] = field(default_factory=dict)  # declared conventions the case was judged under ({}: the spec's)
    actual: Any = field(default=None, repr=False, compare=False)  # the adapter's values (explain); not reported

    @property
    def failing(self) -> bool:
        """Does this case make the run non-conformant? (fail, error, or a strict xpass)"""
        if self.outcome == "xpass":
            return bool((self.divergence or {}).get("strict", True))
        return self.outcome in ("fail", "error")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "algorithm": self.algorithm, "kind": self.kind, "dtype": self.dtype, "outcome": self.outcome,
            "failing": self.failing, "metric": self.metric, "tolerance": self.tolerance,
            "measured": self.measured.as_dict(), "modes": self.modes, "message": self.message,
            "diagnosis": self.diagnosis, "divergence": self.divergence,
            "duration_s": round(self.duration_s, 4), "repro": self.repro, "separates": self.separates,
            "unchecked": self.unchecked, "conventions": self.conventions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        """The inverse of :meth:`as_dict` (``actual`` is not reported, so it comes back None)."""
        fields = {key: value for key, value in data.items() if key not in ("failing", "measured")}
        return cls(**fields, measured=Measured.from_dict(data["measured"]))


@dataclass(frozen=True)
class Options:
    select: Sequence[str] = ()  # id globs (or prefixes); empty = all
    dtypes: Sequence[str] = ()  # empty = all
    modes: Sequence[str] = MODES
    timeout_s: float = DEFAULT_TIMEOUT_S
    explain: bool = True  # diagnose failing convention-sensitive cases

    def as_dict(self) -> dict[str, Any]:
        return {"select": list(self.select), "dtypes": list(self.dtypes), "modes": list(self.modes), "timeout_s": self.timeout_s}




class AdapterBroken(Exception):
    """The adapter cannot be run at all: ``info()`` or ``capabilities()`` raised or returned the wrong
    type (exit 1 in the CLI, with this message)."""


def timeouts_enforced() -> bool:
    """SIGALRM (which also interrupts blocking calls) needs the main thread of a POSIX process;
    elsewhere only the watchdog's asynchronous exception, which waits for Python code, applies."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


# --------------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------------


def pattern_matches(pattern: str, case_id: str) -> bool:
    """A ``--select`` pattern: an fnmatch glob on the id, or an id prefix (``optim/adamw``)."""
    return fnmatchcase(case_id, pattern) or case_id.startswith(pattern.rstrip("*"))


def _selected(case: Case, options: Options) -> bool:
    if options.select and not any(pattern_matches(pattern, case.id) for pattern in options.select):
        return False
    if options.dtypes and not case.invalid and case.kind != "schedule" and case.dtype not in options.dtypes:
        return False
    return True


def selected_cases(files: Sequence[golden.GoldenFile], options: Options) -> list[Case]:
    return [c for c in iter_cases(files) if _selected(c, options)]


def find_case(files: Sequence[golden.GoldenFile], case_id: str) -> Case:
    """The case with this exact id; KeyError naming the closest ids otherwise."""
    cases = list(iter_cases(files))
    for case in cases:
        if case.id == case_id:
            return case
    prefix = case_id.rsplit("/", 1)[0]
    near = [c.id for c in cases if c.id.startswith(prefix)][:5]
    raise KeyError(f"no case {case_id!r}" + (f"; did you mean {', '.join(near)}?" if near else ""))


def applicability(case: Case, caps: Capabilities) -> tuple[str | None, str]:
    """(outcome, reason) when the case cannot be judged against the spec, else (None, "")."""
    support = caps.algorithms.get(case.algorithm)
    if support is None:
        return "unsupported", f"the adapter does not implement {case.algorithm}"
    if case.invalid:
        return (None, "") if caps.validates_hparams else ("not_applicable", "the adapter does not validate hyperparameters")
    if case.kind != "schedule":
        dtypes = support.dtypes or caps.dtypes
        if case.dtype not in dtypes:
            return "unsupported", f"dtype {case.dtype} not supported"
    return None, ""


def declared_conventions(caps: Capabilities, algorithm: str) -> dict[str, str]:
    """The conventions the adapter declares for ``algorithm`` where they differ from the spec's
    (AdapterBroken for an axis or value the spec does not name)."""
    support = caps.algorithms.get(algorithm)
    if support is None or not support.variant or algorithm not in registry.names():
        return {}
    try:
        return declared(algorithm, dict(support.variant))
    except (TypeError, ValueError) as exc:
        raise AdapterBroken(f"capabilities().algorithms[{algorithm!r}].variant: {clean_text(exc)}") from None


def tolerance_of(case: Case) -> tuple[str, dict[str, Any]]:
    if case.invalid:
        return "rejects", {}
    if case.kind == "optimizer":
        return case.group["tolerance"]["teacher_forced"]["metric"], dict(case.group["tolerance"])
    return case.group["tolerance"]["metric"], dict(case.group["tolerance"])


def repro_command(case_id: str, adapter_ref: str) -> str:
    return f"optimspec explain {case_id} --adapter {adapter_ref}"


# --------------------------------------------------------------------------------------------------
# running one case
# --------------------------------------------------------------------------------------------------


def _dispatch(adapter: Adapter, caps: Capabilities, case: Case, options: Options, result: CaseResult) -> Check:
    """Run the case by kind, against what it expects under ``result.conventions``; the adapter's
    values go to ``result.actual``."""
    if case.invalid:
        return run_invalid(adapter, case)
    if case.kind == "optimizer":
        unchecked: set[str] = set()
        try:
            check, result.modes, result.actual = run_optimizer(adapter, caps, case, optimizer_expectation(case, result.conventions), options.modes, unchecked)
        finally:
            result.unchecked = [f"state.{field}: not exported (declared in unexported_state)" for field in sorted(unchecked)]
        return check
    if case.kind == "schedule":
        check, result.actual = run_schedule(adapter, caps, case, schedule_expectation(case, result.conventions))
        return check
    return run_accumulator(adapter, case)


def _execute(adapter: Adapter, caps: Capabilities, case: Case, options: Options, result: CaseResult) -> Check | None:
    """Run and judge the case against its own budgets: fills outcome (pass, fail, error or
    unsupported), measured, message, diagnosis and duration. The comparisons, or None if it raised.

    Whatever the adapter raises is this case's ``error``, never the run's: ``sys.exit()`` and a
    KeyboardInterrupt it raises itself included (a Ctrl-C from the terminal still stops the run), and
    a timeout it caught and carried on after."""
    started = time.perf_counter()
    deadline = interrupts = None
    try:
        with watch_user_interrupts() as interrupts, time_limit(options.timeout_s) as deadline:
            check = _dispatch(adapter, caps, case, options, result)
    except Unsupported as exc:
        result.outcome, result.message = "unsupported", clean_text(exc) or "unsupported setting"
        return None
    except CaseTimeout:
        result.outcome, result.message = "error", deadline.message if deadline else "timed out"
        return None
    except KeyboardInterrupt as exc:
        _reraise_if_user(exc, interrupts)
        result.outcome, result.message, result.diagnosis = "error", describe_exception(exc), where_raised(exc)
        return None
    except BaseException as exc:  # an adapter crash or exit is this case's error, never the run's
        result.outcome, result.message, result.diagnosis = "error", describe_exception(exc), where_raised(exc)
        if deadline is not None and deadline.expired:
            result.message = f"{deadline.message}, then {result.message}"
        return None
    finally:
        result.duration_s = time.perf_counter() - started
    if deadline.expired:
        result.outcome, result.message = "error", f"{deadline.message} (the adapter caught the timeout and went on)"
        return None
    passed, result.measured, result.message = check.verdict()
    result.outcome = "pass" if passed else "fail"
    if not passed:
        if check.nonfinite_mismatch():  # in params or state: no convention explains it
            result.diagnosis = NON_FINITE_MISMATCH
        elif options.explain:
            result.diagnosis = diagnose(case, caps.schedule_dtype, result.actual, result.conventions)
    return check


def _reraise_if_user(exc: KeyboardInterrupt, interrupts: UserInterrupts | None) -> None:
    if interrupts is None or interrupts.seen:
        raise exc


def apply_divergence(result: CaseResult, divergence: Divergence, check: Check | None) -> None:
    """Turn a judged result into what the known-divergence entry says it should read as."""
    result.divergence = divergence.as_dict()
    if divergence.outcome == "xfail":
        if result.outcome in ("fail", "error"):
            result.outcome = "xfail"
        elif result.outcome in PASSING:
            result.outcome = "xpass"
            result.message = f"passes although {divergence.label} expects a failure" + (" (strict)" if divergence.strict else "")
    elif divergence.outcome == "tolerance" and check is not None and result.outcome in ("pass", "fail"):
        k = float(divergence.tolerance or 0.0)
        result.tolerance = {**result.tolerance, "override_k": k}
        if check.passes_with_budget(k):
            result.outcome, result.message = "pass_with_override", f"within the override budget k = {k:g} ({divergence.label})"
            result.diagnosis = ""  # the spec's convention, within the declared numerics
        else:
            result.outcome = "fail"
            result.message = f"{result.message} (fails even with the override budget k = {k:g})"


def run_case(
    adapter: Adapter,
    caps: Capabilities,
    case: Case,
    options: Options = Options(),
    divergences: Sequence[Divergence] = (),
    adapter_ref: str | None = None,
) -> CaseResult:
    """Run one case and judge it, under the conventions the adapter declares for its algorithm.
    ``divergences``: the entries that may cover it (:meth:`DivergenceSet.lookup`); the one that
    decides it is applied. ``adapter_ref`` is how the repro command names the adapter (default:
    ``adapter.name``)."""
    metric, tolerance = tolerance_of(case)
    result = CaseResult(case.id, case.algorithm, case.kind, case.dtype, "pass", metric, tolerance)
    result.separates = sorted(case.raw.get("discriminates") or {})
    result.repro = repro_command(case.id, adapter_ref or adapter.name)
    outcome, reason = applicability(case, caps)
    if outcome is not None:
        result.outcome, result.message = outcome, reason
        return result
    skip = skips(divergences)
    if skip is not None:
        result.outcome, result.message, result.divergence = "skip", skip.reason, skip.as_dict()
        return result
    if not case.invalid:
        result.conventions = declared_conventions(caps, case.algorithm)
    check = _execute(adapter, caps, case, options, result)
    if result.outcome in ("pass", "fail", "error"):
        entry = decide(divergences, result.outcome == "pass", named_conventions(result.diagnosis), result.measured.max_k if check is not None else None)
        if entry is not None and entry.outcome == "skip":
            result.outcome, result.message, result.divergence = "skip", entry.reason, entry.as_dict()
        elif entry is not None:
            apply_divergence(result, entry, check)
    return result


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """Everything a report needs about one run of one adapter."""

    adapter_ref: str  # how the adapter was named (built-in name, entry point, module:Factory)
    info: dict[str, Any]
    capabilities: Capabilities
    options: Options
    divergences: DivergenceSet
    results: list[CaseResult]
    warnings: list[str]
    duration_s: float

    @property
    def failing(self) -> list[CaseResult]:
        return [r for r in self.results if r.failing]


def framework_versions(info: Mapping[str, Any]) -> dict[str, str]:
    """``info()["versions"]`` as strings (what divergence conditions test)."""
    versions = info.get("versions")
    return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, Mapping) else {}


def describe_adapter(adapter: Adapter) -> tuple[dict[str, Any], Capabilities]:
    """``adapter.info()`` (its strings cleaned) and ``adapter.capabilities()``; AdapterBroken with
    the reason if either raises or returns the wrong type."""
    answers = []
    for method, expected in (("info", Mapping), ("capabilities", Capabilities)):
        try:
            with watch_user_interrupts() as interrupts:
                answer = getattr(adapter, method)()
        except KeyboardInterrupt as exc:
            _reraise_if_user(exc, interrupts)
            raise AdapterBroken(f"{method}() raised: {describe_exception(exc)}") from None
        except BaseException as exc:
            raise AdapterBroken(f"{method}() raised: {describe_exception(exc)}") from None
        if not isinstance(answer, expected):
            raise AdapterBroken(f"{method}() returned {type(answer).__name__}, expected {expected.__name__}")
        answers.append(answer)
    info, caps = answers
    if not all(isinstance(support, AlgorithmSupport) for support in dict(caps.algorithms).values()):
        raise AdapterBroken("capabilities().algorithms must map algorithm names to AlgorithmSupport")
    for algorithm in caps.algorithms:
        declared_conventions(caps, algorithm)  # an unknown axis or value breaks the adapter, up front
    return clean_tree(dict(info)), caps


def run_warnings(files: Sequence[golden.GoldenFile], cases: Sequence[Case], caps: Capabilities, options: Options, divergences: DivergenceSet, versions: Mapping[str, str]) -> list[str]:
    """What the run should say about itself besides verdicts."""
    warnings = []
    all_ids = [c.id for c in iter_cases(files)]
    for pattern in options.select:
        if not any(pattern_matches(pattern, case_id) for case_id in all_ids):
            warnings.append(f"--select {pattern!r} matches no case")
    # entries are checked against the whole tree: one the selection left out is no typo
    warnings.extend(divergences.warnings([(c.id, c.dtype) for c in iter_cases(files)], versions))
    if not caps.can_load_state and "teacher_forced" in options.modes:
        warnings.append("the adapter cannot load state: no teacher-forced checks; optimizer verdicts rest on free-running checks")
    if options.timeout_s > 0 and not timeouts_enforced():
        warnings.append("outside the main thread, per-case timeouts interrupt Python code only (not a blocking call)")
    return warnings


def unchecked_warnings(results: Sequence[CaseResult]) -> list[str]:
    """One line per algorithm and part the adapter declared it cannot export, with the case count."""
    counts: dict[tuple[str, str], int] = {}
    for result in results:
        for part in result.unchecked:
            counts[(result.algorithm, part)] = counts.get((result.algorithm, part), 0) + 1
    return [f"{algorithm}: {part}; not compared in {n} case{'s' if n > 1 else ''}" for (algorithm, part), n in sorted(counts.items())]


def execute(
    adapter: Adapter,
    files: Sequence[golden.GoldenFile],
    options: Options = Options(),
    divergences: DivergenceSet | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
    adapter_ref: str | None = None,
) -> RunRecord:
    """Run every selected case (``on_result`` is called after each, for progress bars)."""
    started = time.perf_counter()
    divergences = divergences or DivergenceSet()
    info, caps = describe_adapter(adapter)
    versions = framework_versions(info)
    cases = selected_cases(files, options)
    results = []
    for case in cases:
        result = run_case(adapter, caps, case, options, divergences.lookup(case.id, case.dtype, versions), adapter_ref)
        results.append(result)
        if on_result:
            on_result(result)
    warnings = run_warnings(files, cases, caps, options, divergences, versions) + unchecked_warnings(results)
    return RunRecord(adapter_ref or adapter.name, info, caps, options, divergences, results, warnings, time.perf_counter() - started)


def run(
    adapter: Adapter,
    files: Sequence[golden.GoldenFile],
    options: Options = Options(),
    on_result: Callable[[CaseResult], None] | None = None,
    divergences: DivergenceSet | None = None,
) -> list[CaseResult]:
    """The results of :func:`execute`, alone."""
    return execute(adapter, files, options, divergences, on_result).results
