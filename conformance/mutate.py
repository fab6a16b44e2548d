"""Mutation testing of the suite itself: how many realistic bugs in optimspec's own implementations
does ``optimspec check`` catch?

Each :class:`Mutant` of the catalogue (:mod:`optimspec.conformance.mutants`) is one plausible bug in
optimspec.torch (Python or ``kernels.c``) or optimspec.tf, written as exact text edits. For each
mutant the runner copies the whole ``optimspec`` package into a temporary folder (the working tree
and the installed package are never touched), applies the edits there, and runs ``optimspec check``
on the adapters whose code the edit reaches, in a subprocess that imports the copy. The mutant is
*killed* when a check exits 1 (a case fails or errors), *survived* when every check exits 0.
Precision-only mutants (another rounding order, the kind of difference real peers show) are
reported as *tolerated* with the error measured, when they pass.

Before the mutants, the unmutated copy is checked the same way (every adapter must pass: otherwise
a kill would mean nothing), and every mutant must apply: each edit's text occurs exactly once in
its file. The kernels are built into a cache folder of the run, so the user's cache stays clean.

    optimspec mutate                      # the whole catalogue: rich table, kill rate, survivors
    optimspec mutate -k adafactor --report mutation.json
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib.util import find_spec
from pathlib import Path
from typing import Any

#: The subpackages of ``optimspec`` copied for each mutant (all of them: checks import the harness too).
SUBPACKAGES = ("reference", "torch", "tf", "conformance", "golden")
KINDS = ("behavioural", "precision")
VERDICTS = ("killed", "survived", "tolerated", "invalid")
CHECK_TIMEOUT_S = 900.0


class MutationError(Exception):
    """The catalogue or the unmutated package is not usable (exit 3: nothing was measured)."""


@dataclass(frozen=True)
class Mutant:
    """One plausible bug: ``edits`` are ``(old, new)`` replacements in ``file`` (relative to the
    ``optimspec`` package, e.g. ``"torch/adamw.py"``); each ``old`` occurs exactly once there.

    ``adapters``: the built-in adapters whose code the edit reaches; ``select``: the case ids to
    check them on (``--select`` globs or prefixes). ``kind``: ``"behavioural"`` (must be killed)
    or ``"precision"`` (another rounding of the same math; may pass, as peers' do).
    """

    id: str
    file: str
    edits: tuple[tuple[str, str], ...]
    adapters: tuple[str, ...]
    select: tuple[str, ...]
    description: str
    kind: str = "behavioural"

    def apply(self, source: str) -> str:
        """``source`` with every edit made; :class:`MutationError` unless each ``old`` occurs once."""
        for old, new in self.edits:
            count = source.count(old)
            if count != 1:
                raise MutationError(f"{self.id}: {old!r} occurs {count} times in {self.file} (must be exactly once)")
            source = source.replace(old, new)
        return source


@dataclass
class CheckRun:
    """One ``optimspec check`` of one adapter on a (mutated or not) copy."""

    adapter: str
    exit_code: int
    failing: int = 0
    first_failure: str = ""  # "case id: message"
    worst: str = ""  # the largest error measured, as "k / budget at case id"
    seconds: float = 0.0
    errors: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)  # case id -> (max_k, budget_k)

    def compared_with(self, unmutated: CheckRun | None) -> str:
        """The largest error of this run, beside the same case's error without the mutant."""
        if not self.errors:
            return self.worst
        case_id, (k, budget) = max(self.errors.items(), key=lambda item: item[1][0] / item[1][1])
        before = unmutated.errors.get(case_id) if unmutated else None
        return f"{k:.3g} / budget {budget:g} at {case_id}" + (f" (unmutated: {before[0]:.3g})" if before else "")

    def as_dict(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "exit_code": self.exit_code, "failing": self.failing, "first_failure": self.first_failure, "worst": self.worst, "seconds": round(self.seconds, 2)}


@dataclass
class MutantResult:
    mutant: Mutant
    verdict: str
    checks: list[CheckRun] = field(default_factory=list)

    @property
    def evidence(self) -> str:
        """Why the verdict: the first failing case, or the largest error of a passing run."""
        for run in self.checks:
            if run.exit_code != 0:
                return f"{run.adapter}: {run.first_failure or f'exit code {run.exit_code}'}"
        return "; ".join(f"{run.adapter}: {run.worst}" for run in self.checks if run.worst)

    def as_dict(self) -> dict[str, Any]:
        m = self.mutant
        return {
            "id": m.id, "kind": m.kind, "file": m.file, "description": m.description, "adapters": list(m.adapters),
            "select": list(m.select), "verdict": self.verdict, "evidence": self.evidence, "checks": [c.as_dict() for c in self.checks],
        }


@dataclass
class MutationRun:
    results: list[MutantResult]
    baseline: list[CheckRun]
    seconds: float

    def behavioural(self) -> list[MutantResult]:
        return [r for r in self.results if r.mutant.kind == "behavioural"]

    @property
    def survivors(self) -> list[MutantResult]:
        return [r for r in self.results if r.verdict == "survived"]

    def kill_rate(self) -> tuple[int, int]:
        """(killed, total) over the behavioural mutants."""
        behavioural = self.behavioural()
        return sum(r.verdict == "killed" for r in behavioural), len(behavioural)

    def as_dict(self) -> dict[str, Any]:
        killed, total = self.kill_rate()
        return {
            "summary": {
                "behavioural": total, "killed": killed, "kill_rate": killed / total if total else 1.0,
                "survivors": [r.mutant.id for r in self.survivors],
                "tolerated": [r.mutant.id for r in self.results if r.verdict == "tolerated"],
                "precision_killed": [r.mutant.id for r in self.results if r.mutant.kind == "precision" and r.verdict == "killed"],
                "seconds": round(self.seconds, 1),
            },
            "baseline": [c.as_dict() for c in self.baseline],
            "mutants": [r.as_dict() for r in self.results],
        }


# --------------------------------------------------------------------------------------------------
# the package copy
# --------------------------------------------------------------------------------------------------


def package_dirs() -> dict[str, Path]:
    """Where each ``optimspec`` subpackage of this installation lives (an editable install maps
    them to ``impl/torch`` and so on)."""
    dirs = {}
    for name in SUBPACKAGES:
        spec = find_spec(f"optimspec.{name}")
        if spec is None or not spec.submodule_search_locations:
            raise MutationError(f"optimspec.{name} is not installed: mutation runs need every subpackage")
        dirs[name] = Path(list(spec.submodule_search_locations)[0])
    return dirs


def copy_package(target: Path, mutant: Mutant | None = None, source: Path | None = None) -> Path:
    """A private copy of the ``optimspec`` package under ``target`` (a regular package, so it is
    imported instead of the installed one when ``target`` is first on ``sys.path``), with
    ``mutant`` applied. ``source``: an earlier copy to copy from (default: the installed package).
    Returns ``target``."""
    root = target / "optimspec"
    origins = {name: source / "optimspec" / name for name in SUBPACKAGES} if source else package_dirs()
    for name, origin in origins.items():
        shutil.copytree(origin, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (root / "__init__.py").write_text('"""A private copy of optimspec for one mutation run."""\n')
    if mutant is not None:
        path = root / mutant.file
        if not path.is_file():
            raise MutationError(f"{mutant.id}: no file {mutant.file} in the optimspec package")
        path.write_text(mutant.apply(path.read_text()))
    return target


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------

_CHECK = "import sys; from optimspec.conformance.cli import main; sys.argv[0] = 'optimspec'; main()"


def _environment(copy: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPTIMSPEC_GOLDEN", "OPTIMSPEC_ADAPTER")}
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["OPTIMSPEC_CACHE_DIR"] = str(cache)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def imported_from(copy: Path, cache: Path) -> str:
    """Where a subprocess set up like the checks imports ``optimspec.torch`` from."""
    code = "import optimspec.conformance, optimspec.torch; print(optimspec.torch.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=_environment(copy, cache), cwd=copy, capture_output=True, text=True, timeout=300)
    return done.stdout.strip()


def _summarize(run: CheckRun, report: Mapping[str, Any]) -> None:
    """Fill ``run`` from its JSON report: failing cases, the first one with its message, and the
    measured error of every case with a budget."""
    cases = report.get("cases", [])
    failing = [c for c in cases if c.get("failing")]
    run.failing = len(failing)
    run.first_failure = f"{failing[0]['id']}: {failing[0].get('message', '')}"[:300] if failing else ""
    for case in cases:
        measured = case.get("measured") or {}
        budget, k = float(measured.get("budget_k") or 0.0), measured.get("max_k")
        if budget > 0 and isinstance(k, (int, float)):
            run.errors[case["id"]] = (float(k), budget)
    run.worst = run.compared_with(None)


def run_check(copy: Path, cache: Path, adapter: str, select: Sequence[str], workdir: Path) -> CheckRun:
    """``optimspec check --adapter ADAPTER --select ...`` on the copy."""
    report = workdir / f"{adapter}.json"
    command = [sys.executable, "-c", _CHECK, "check", "--adapter", adapter, "--report", str(report)]
    for pattern in select:
        command += ["--select", pattern]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=_environment(copy, cache), cwd=copy, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        code, stderr = -9, f"timed out after {CHECK_TIMEOUT_S:g} s"
    run = CheckRun(adapter, code, seconds=time.perf_counter() - started)
    if report.exists():
        try:
            _summarize(run, json.loads(report.read_text()))
        except (ValueError, KeyError, TypeError):
            run.first_failure = "unreadable report"
    if code not in (0, 1) and not run.first_failure:
        run.first_failure = (stderr.strip().splitlines() or [f"exit code {code}"])[-1][:300]
    return run


def _verdict(mutant: Mutant, checks: Sequence[CheckRun]) -> str:
    if any(c.exit_code == 1 for c in checks):
        return "killed"
    if any(c.exit_code not in (0, 1) for c in checks):
        # The check itself broke (crash, usage or integrity error, timeout): not a verdict on the
        # suite, and a realistic bug would not do this.
        return "invalid"
    return "tolerated" if mutant.kind == "precision" else "survived"


def run_mutant(mutant: Mutant, scratch: Path, cache: Path, source: Path | None = None) -> MutantResult:
    """Copy (from ``source``, a snapshot, or the installed package), mutate, check every affected
    adapter (stopping at the first kill)."""
    with tempfile.TemporaryDirectory(prefix=f"{mutant.id}-", dir=scratch) as folder:
        copy = copy_package(Path(folder) / "pkg", mutant, source)
        checks = []
        for adapter in mutant.adapters:
            checks.append(run_check(copy, cache, adapter, mutant.select, Path(folder)))
            if checks[-1].exit_code == 1:
                break
    return MutantResult(mutant, _verdict(mutant, checks), checks)


def baseline(mutants: Sequence[Mutant], copy: Path, cache: Path) -> list[CheckRun]:
    """Every adapter the mutants use, on the unmutated ``copy``, over the union of their
    selections: each must pass, and the copy (not the installed package) must be what the checks
    import."""
    where = imported_from(copy, cache)
    if not where.startswith(str(copy)):
        raise MutationError(f"the checks import optimspec.torch from {where or '(nothing)'}, not from the copy {copy}")
    selects: dict[str, set[str]] = {}
    for mutant in mutants:
        for adapter in mutant.adapters:
            selects.setdefault(adapter, set()).update(mutant.select)
    runs = [run_check(copy, cache, adapter, sorted(select), copy) for adapter, select in sorted(selects.items())]
    broken = [r for r in runs if r.exit_code != 0]
    if broken:
        raise MutationError("the unmutated package fails its own check: " + "; ".join(f"{r.adapter}: {r.first_failure or r.exit_code}" for r in broken))
    return runs


def problems(mutants: Iterable[Mutant]) -> list[str]:
    """What is wrong with the catalogue: duplicate ids, unknown kinds, no adapter or edit, a file
    that does not exist, an edit whose text does not occur exactly once, edits that change nothing."""
    dirs = package_dirs()
    found, seen = [], set()
    for mutant in mutants:
        if mutant.id in seen:
            found.append(f"duplicate mutant id {mutant.id}")
        seen.add(mutant.id)
        if mutant.kind not in KINDS:
            found.append(f"{mutant.id}: kind {mutant.kind!r} is not one of {', '.join(KINDS)}")
        if not mutant.adapters or not mutant.edits:
            found.append(f"{mutant.id}: needs at least one adapter and one edit")
        package, _, rest = mutant.file.partition("/")
        path = dirs.get(package, Path("/nonexistent")) / rest
        if not path.is_file():
            found.append(f"{mutant.id}: no file {mutant.file} in the optimspec package")
            continue
        source = path.read_text()
        try:
            if mutant.apply(source) == source:
                found.append(f"{mutant.id}: the edits change nothing")
        except MutationError as exc:
            found.append(str(exc))
    return found


def validate(mutants: Iterable[Mutant]) -> None:
    """:class:`MutationError` listing every :func:`problems` of the catalogue."""
    found = problems(mutants)
    if found:
        raise MutationError("the mutation catalogue does not apply:\n  " + "\n  ".join(found))


def selected(mutants: Sequence[Mutant], patterns: Sequence[str]) -> list[Mutant]:
    """Mutants whose id matches a glob, or contains the text, of ``patterns`` (all when empty)."""
    if not patterns:
        return list(mutants)
    return [m for m in mutants if any(fnmatchcase(m.id, p) or p in m.id for p in patterns)]


def run(
    mutants: Sequence[Mutant],
    *,
    jobs: int = 1,
    on_result: Callable[[MutantResult], None] | None = None,
    scratch: Path | None = None,
) -> MutationRun:
    """Validate, snapshot the package (later edits to it do not reach this run), check the
    snapshot, then every mutant of it (``jobs`` at a time)."""
    validate(mutants)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="optimspec-mutate-", dir=scratch) as folder:
        scratch_dir = Path(folder)
        cache = scratch_dir / "kernels"
        snapshot = copy_package(scratch_dir / "snapshot")
        base = baseline(mutants, snapshot, cache)

        def one(mutant: Mutant) -> MutantResult:
            result = run_mutant(mutant, scratch_dir, cache, snapshot)
            if on_result:
                on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(one, mutants))
    unmutated = {run.adapter: run for run in base}
    for result in results:  # a passing mutant's largest error, beside the same case without it
        for check in result.checks:
            check.worst = check.compared_with(unmutated.get(check.adapter))
    return MutationRun(results, base, time.perf_counter() - started)
