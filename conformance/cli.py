"""The ``optimspec`` command line.

Commands: ``golden generate|verify``, ``list``, ``catalogue``, ``check``, ``explain``, ``report``
(``report diff``), ``matrix``, ``divergences suggest``, ``mutate`` (the suite's own mutation
score), ``new-adapter`` and ``plot`` (matplotlib, imported only by that command).

Exit codes: 0 ok / conformant, 1 conformance failures (or nothing checked, or a broken adapter),
2 usage error (unknown or unavailable adapter, malformed divergence file, an option the command does
not honour, an output path that cannot be written), 3 integrity error (golden hash, schema, manifest
or size; a file that is not a valid report). A closed pipe (``| head``) exits with the verdict's
code. User and adapter text is printed literally (see console.py). Frameworks are imported only by the adapter that needs them, so ``--help``, ``list``,
``catalogue`` and ``golden verify`` import none of them; the harness modules themselves are
imported inside the commands that use them, to keep ``--help`` fast.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import golden
from .console import TextTable, exit_with, labelled, make_console, print_table, quiet_broken_pipe, quiet_frameworks, say, silence_framework_logs

if TYPE_CHECKING:
    from .divergences import DivergenceSet
    from .runner import Options, RunRecord

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTEGRITY = 0, 1, 2, 3
MAX_TIMEOUT_S = 7 * 24 * 3600.0

console = make_console()
errors = make_console(stderr=True)

ROOT_OPTION = click.option(
    "--golden",
    "golden_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Golden folder (default: $OPTIMSPEC_GOLDEN or the installed optimspec.golden).",
)


def _root(path: Path | None) -> Path:
    return path or golden.default_root()


def fail(code: int, label: str, message: str) -> NoReturn:
    labelled(errors, label, "bold red", message)
    sys.exit(code)


def fail_integrity(message: str) -> NoReturn:
    fail(EXIT_INTEGRITY, "integrity error:", message)


def fail_usage(message: str) -> NoReturn:
    fail(EXIT_USAGE, "error:", message)


@contextmanager
def progress_bar(label: str, total: int, summary: bool = False) -> Iterator[Callable[[str], None]]:
    """A progress bar on a terminal (stderr, gone when done); yields a callback that advances it by
    one named item. Elsewhere nothing, or with ``summary`` one line when done (CI logs)."""
    started = time.perf_counter()
    if not errors.is_terminal:
        yield lambda item: None
        if summary:
            say(errors, f"{label}: {total} cases in {time.perf_counter() - started:.1f} s")
        return
    with Progress(
        TextColumn(label, markup=False), TextColumn("{task.fields[item]}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=errors, transient=True,
    ) as progress:
        task = progress.add_task(label, total=total, item="")
        yield lambda item: progress.update(task, advance=1, item=item)


class _Main(click.Group):
    """The command group: framework log noise silenced, and a closed stdout pipe ends a command
    with its verdict's exit code instead of click's 1."""

    def invoke(self, ctx: click.Context) -> Any:
        silence_framework_logs()
        with quiet_broken_pipe():
            return super().invoke(ctx)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="optimspec", prog_name="optimspec", message="%(prog)s %(version)s")
def main() -> None:
    """optimspec: the executable specification of the transformers optimizers and schedules, its
    golden vectors, and the conformance suite."""


# --------------------------------------------------------------------------------------------------
# golden
# --------------------------------------------------------------------------------------------------


@main.group("golden")
def golden_group() -> None:
    """Generate or verify the golden vectors."""


@golden_group.command("generate")
@ROOT_OPTION
def golden_generate(golden_root: Path | None) -> None:
    """Regenerate every golden file and the manifest from the reference (atomic writes)."""
    from optimspec.reference import registry

    from . import generate

    root = _root(golden_root)
    algorithms = registry.names()
    _check_output_dir(root, "--golden")
    try:
        golden.install_schemas(root)
        with progress_bar("generating", len(algorithms)) as advance:
            rendered = generate.render_all(algorithms, progress=advance, root=root)
        generate.write_all(root, rendered)
    except generate.GenerationError as exc:
        fail(EXIT_INTEGRITY, "generation failed:", exc)
    except (golden.IntegrityError, OSError) as exc:
        fail(EXIT_INTEGRITY, "generation failed:", f"{root}: {exc}")
    size = sum(len(v) for v in rendered.values())
    say(console, f"wrote {len(rendered) - 1} golden files and {golden.MANIFEST_NAME} ({size / 1e6:.2f} MB) to {root}")


@golden_group.command("verify")
@ROOT_OPTION
@click.option("--no-regenerate", is_flag=True, help="Skip the byte-for-byte regeneration check.")
def golden_verify(golden_root: Path | None, no_regenerate: bool) -> None:
    """Check hashes, schemas, ids and counts, then regenerate and compare byte for byte."""
    from optimspec.reference import registry

    from . import verify as verifier

    root = _root(golden_root)
    try:
        with progress_bar("regenerating", len(registry.names())) as advance:
            summary = verifier.verify(root, regenerate=not no_regenerate, progress=advance)
    except golden.IntegrityError as exc:
        fail_integrity(verifier.locate_tampering(root, str(exc)))
    labelled(console, "ok:", "green", f"{summary.files} golden files, {summary.cases} cases verified in {root}")


# --------------------------------------------------------------------------------------------------
# list / catalogue
# --------------------------------------------------------------------------------------------------


def _load(root: Path) -> list[golden.GoldenFile]:
    try:
        return golden.load_all(root)
    except golden.IntegrityError as exc:
        fail_integrity(str(exc))


@main.command("list")
@ROOT_OPTION
@click.option("--algorithm", "-a", multiple=True, help="Only these algorithms.")
@click.option("--family", type=click.Choice(["optim", "sched"]), default=None, help="Only optimizers or schedules.")
def list_cases(golden_root: Path | None, algorithm: tuple[str, ...], family: str | None) -> None:
    """Print every golden case id, one per line."""
    for file in _load(_root(golden_root)):
        if algorithm and file.algorithm not in algorithm:
            continue
        for case_id in [c["id"] for _, c in file.cases()] + [c["id"] for c in file.data["invalid"]]:
            if family is None or case_id.startswith(family + "/"):
                click.echo(case_id)


FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["auto", "table", "plain", "markdown", "json"]), default="auto", show_default=True,
    help="auto: a boxed table on a terminal, full-width plain text when piped.",
)


@main.command("catalogue")
@ROOT_OPTION
@FORMAT_OPTION
def catalogue(golden_root: Path | None, fmt: str) -> None:
    """A table of the catalogue: algorithm, kind, number of cases, conventions."""
    table = TextTable(("algorithm", "kind", "cases", "invalid", "dtypes", "conventions"), title="optimspec catalogue", right=("cases", "invalid"))
    files = sorted(_load(_root(golden_root)), key=lambda f: (f.kind, f.algorithm))
    for file in files:
        data = file.data
        dtypes = sorted({g["dtype"] for g in data["groups"]})
        table.add_row(
            file.algorithm, file.kind, str(sum(1 for _ in file.cases())), str(len(data["invalid"])),
            ", ".join(dtypes), ", ".join(data["conventions"]) or "—",
        )
    total = sum(f.data["number_of_cases"] for f in files)
    table.caption = f"{len(files)} algorithms, {total} cases"
    print_table(console, table, fmt)


# --------------------------------------------------------------------------------------------------
# check / matrix
# --------------------------------------------------------------------------------------------------

DTYPE_CHOICES = ("float64", "float32", "float16", "bfloat16")
MODE_CHOICES = {"teacher_forced": ("teacher_forced",), "free_running": ("free_running",), "both": ("teacher_forced", "free_running")}
DEFAULT_REPORTS_DIR = Path("reports")
DEFAULT_DOC = Path("docs/conformance.md")


class Seconds(click.ParamType):
    """A time limit: a finite number of seconds, 0 (none) to ``MAX_TIMEOUT_S``."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_TIMEOUT_S):
            self.fail(f"{value!r} is out of range: must be a finite number of seconds from 0 (no limit) to {MAX_TIMEOUT_S:g}", param, ctx)
        return seconds


TIMEOUT_OPTION = click.option("--timeout", type=Seconds(), default=60.0, show_default=True, help="Per-case time limit in seconds (0: none).")


def _adapter(name: str) -> Any:
    """Build the named adapter (framework start-up noise silenced); exit 2 with the reason if it is
    unknown, unavailable or fails to build."""
    from .adapters import AdapterError, AdapterUnavailable, load
    from .boundary import describe_exception

    try:
        with quiet_frameworks():
            return load(name)
    except (AdapterError, AdapterUnavailable) as exc:
        fail_usage(str(exc))
    except Exception as exc:  # the adapter's own constructor crashed
        fail_usage(f"adapter {name!r} failed to load: {describe_exception(exc)}")


def _generic_torch_adapter(target: str, mapping: Sequence[str], algorithm: str) -> Any:
    """The generic adapter for a torch.optim.Optimizer class; exit 2 with the reason if it cannot be built."""
    from .adapters import AdapterError

    try:
        from .adapters.generic_torch import TorchOptimizerAdapter, parse_mapping

        return TorchOptimizerAdapter(target, parse_mapping(mapping), algorithm)
    except (AdapterError, ImportError) as exc:
        fail_usage(str(exc))


def _divergences(adapter_name: str, user_files: Sequence[Path], adapter: Any = None) -> DivergenceSet:
    """The adapter's known divergences: its own file, the one shipped for its name, then ``user_files``."""
    from .divergences import DivergenceError, load

    try:
        return load(adapter_name, user_files, adapter)
    except DivergenceError as exc:
        fail_usage(str(exc))


def _options(select: Sequence[str], dtypes: Sequence[str], mode: str, timeout: float) -> Options:
    from .runner import Options

    return Options(select=tuple(select), dtypes=tuple(dtypes), modes=MODE_CHOICES[mode], timeout_s=timeout)


def _run(name: str, root: Path, files: Sequence[golden.GoldenFile], options: Options, known: DivergenceSet, user_files: Sequence[Path], isolate: bool, adapter: Any = None) -> RunRecord:
    """Run the selected cases with a progress bar, in-process (``adapter``, or ``name`` loaded here)
    or in worker processes; runner.AdapterBroken if the adapter cannot be run at all."""
    from . import isolate as isolation
    from . import runner

    total = len(runner.selected_cases(files, options))
    with quiet_frameworks(), progress_bar(name, total, summary=True) as advance:
        if isolate:
            return isolation.execute_isolated(name, root, options, user_files, on_result=lambda r: advance(r.id))
        adapter = adapter if adapter is not None else _adapter(name)
        return runner.execute(adapter, files, options, known, on_result=lambda r: advance(r.id), adapter_ref=name)


# --------------------------------------------------------------------------------------------------
# output files: checked before the run, written atomically after it
# --------------------------------------------------------------------------------------------------


def _writable_dir(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` (``path`` included) if it is a writable directory."""
    import os

    for folder in (path, *path.parents):
        if folder.exists():
            return folder if folder.is_dir() and os.access(folder, os.W_OK | os.X_OK) else None
    return None


def _check_output_file(path: Path, option: str) -> None:
    if path.is_dir():
        fail_usage(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        fail_usage(f"{option} {path}: exists and is not a regular file")
    if _writable_dir(path.parent) is None:
        fail_usage(f"{option} {path}: cannot write there (no writable folder on the way); choose another path")


def _check_output_dir(path: Path, option: str) -> None:
    if path.exists() and not path.is_dir():
        fail_usage(f"{option} {path}: exists and is not a folder")
    if _writable_dir(path) is None:
        fail_usage(f"{option} {path}: cannot write there (no writable folder on the way); choose another path")


def _planned_outputs(paths: dict[str, Path | None]) -> dict[str, Path]:
    """The output files named by options, each checked writable, none named twice."""
    named = {option: path for option, path in paths.items() if path is not None}
    seen: dict[Path, str] = {}
    for option, path in named.items():
        _check_output_file(path, option)
        key = path.resolve()
        if key in seen:
            fail_usage(f"{seen[key]} and {option} name the same file {path}")
        seen[key] = option
    return named


def _write_files(files: dict[Path, bytes | str]) -> None:
    """Write every output atomically (all rendered before the first is written)."""
    from . import report as reports

    for path, data in files.items():
        try:
            reports.write(path, data)
        except OSError as exc:
            fail_usage(f"{path}: cannot write: {exc.strerror or exc}")
        say(errors, f"wrote {path}")


SELECTION_OPTIONS = (
    click.option("--select", "-s", multiple=True, metavar="GLOB", help="Case ids to run: fnmatch globs or id prefixes (repeatable)."),
    click.option("--dtype", "dtypes", multiple=True, type=click.Choice(DTYPE_CHOICES), help="Only optimizer cases of these dtypes (repeatable)."),
    click.option("--mode", type=click.Choice(list(MODE_CHOICES)), default="both", show_default=True, help="Teacher-forced single steps, free-running trajectories, or both."),
    TIMEOUT_OPTION,
    click.option("--isolate", is_flag=True, help="Run the adapter in worker processes: contains os._exit, crashes and hangs that ignore the timeout (slower)."),
    click.option("--show-unsupported", is_flag=True, help="Also list the algorithms the adapter does not implement (matrix rows, JUnit test cases)."),
)


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(SELECTION_OPTIONS):
        command = option(command)
    return command


def _given(ctx: click.Context, *params: str) -> list[str]:
    """The options among ``params`` that were typed on the command line."""
    return [f"--{p.replace('_', '-')}" for p in params if ctx.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE]


@main.command("check")
@click.option("--adapter", "-a", "adapter", envvar="OPTIMSPEC_ADAPTER", metavar="NAME", help="Built-in name, entry-point name, or package.module:Factory ($OPTIMSPEC_ADAPTER).")
@click.option("--all", "all_adapters", is_flag=True, help="Every available built-in adapter: prints the combined matrix and writes nothing (`optimspec matrix` writes reports).")
@click.option("--torch-optimizer", metavar="PACKAGE.MODULE.CLASS", help="Check this torch.optim.Optimizer class with no adapter code (instead of --adapter).")
@click.option("--map", "mapping", multiple=True, metavar="SPEC=NATIVE", help="With --torch-optimizer: the class's name for a spec hyperparameter or state field (eps=epsilon, betas=beta1,beta2, exp_avg=m); repeatable.")
@click.option("--algorithm", default="adamw", show_default=True, metavar="NAME", help="With --torch-optimizer: the spec optimizer it implements.")
@selection_options
@click.option("--divergences", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Known-divergence TOML files, layered over the adapter's shipped one (repeatable).")
@click.option("--report", type=click.Path(path_type=Path), help="Write the JSON report here.")
@click.option("--junit", type=click.Path(path_type=Path), help="Write JUnit XML here.")
@click.option("--markdown", type=click.Path(path_type=Path), help="Write a Markdown report here.")
@ROOT_OPTION
@click.pass_context
def check(
    ctx: click.Context, adapter: str | None, all_adapters: bool, torch_optimizer: str | None, mapping: tuple[str, ...], algorithm: str,
    select: tuple[str, ...], dtypes: tuple[str, ...], mode: str, timeout: float,
    isolate: bool, show_unsupported: bool, divergences: tuple[Path, ...], report: Path | None, junit: Path | None, markdown: Path | None,
    golden_root: Path | None,
) -> None:
    """Run the golden cases against one adapter and print the verdict matrix.

    Exit 0 when no case fails, errors or passes against a strict xfail and at least one case was
    checked; 1 otherwise (also for an adapter whose info() or capabilities() fails)."""
    from . import report as reports
    from .runner import AdapterBroken, selected_cases

    options = _options(select, dtypes, mode, timeout)
    if all_adapters:
        ignored = _given(ctx, "adapter", "torch_optimizer", "divergences", "report", "junit", "markdown")
        if ignored:
            fail_usage(f"--all does not take {', '.join(ignored)}: it checks the built-in adapters with their shipped divergences and writes no file (`optimspec matrix` writes reports)")
        sys.exit(_matrix(_root(golden_root), options, None, None, isolate=isolate, show_unsupported=show_unsupported))
    if torch_optimizer and adapter:
        fail_usage("give --adapter NAME or --torch-optimizer CLASS, not both")
    if torch_optimizer and isolate:
        fail_usage("--isolate loads the adapter by name in worker processes: give --adapter package.module:Factory instead of --torch-optimizer")
    if not (adapter or torch_optimizer):
        fail_usage("--adapter NAME is required (or --torch-optimizer CLASS, or --all); `optimspec check --help` lists the ways to name one")
    outputs = _planned_outputs({"--report": report, "--junit": junit, "--markdown": markdown})
    # In-process, the adapter is built first so that a divergence file it ships is layered in.
    built = None if isolate else _generic_torch_adapter(torch_optimizer, mapping, algorithm) if torch_optimizer else _adapter(adapter)
    adapter = adapter or built.name
    known = _divergences(adapter, divergences, built)
    root = _root(golden_root)
    files = _load(root)
    if not selected_cases(files, options):
        picked = " ".join([*(f"--select {s!r}" for s in select), *(f"--dtype {d}" for d in dtypes)])
        fail_usage(f"the selection ({picked}) matches no case in {root} (see `optimspec list`)")
    try:
        record = _run(adapter, root, files, options, known, divergences, isolate, built)
    except AdapterBroken as exc:
        fail(EXIT_FAILURES, "adapter error:", f"{adapter}: {exc}")
    result = reports.build(record, root)
    renderers = {"--report": reports.to_json, "--junit": lambda r: reports.render_junit(r, show_unsupported), "--markdown": lambda r: reports.render_markdown(r, show_unsupported)}
    rendered = {path: renderers[option](result) for option, path in outputs.items()}
    code = EXIT_OK if result["summary"]["conformant"] else EXIT_FAILURES
    exit_with(code)
    _write_files(rendered)
    reports.render_table(result, console, show_unsupported)
    sys.exit(code)


def _matrix(root: Path, options: Options, reports_dir: Path | None, doc_path: Path | None, names: Sequence[str] = (), *, isolate: bool = False, show_unsupported: bool = False, fmt: str = "auto") -> int:
    """Check every available built-in adapter (or ``names``); write reports (when ``reports_dir``)
    and the published doc (when ``doc_path``). Returns the exit code: 1 if any adapter fails a case
    or cannot be run, or if no adapter checked anything."""
    from . import adapters
    from . import report as reports
    from .runner import AdapterBroken

    if reports_dir is not None:
        _check_output_dir(reports_dir, "--reports-dir")
    if doc_path is not None:
        _check_output_file(doc_path, "--doc")
    files = _load(root)
    results: dict[str, dict[str, Any]] = {}
    unavailable: dict[str, str] = {}
    broken = False
    for name in names or adapters.builtin_names():
        reason = adapters.unavailable_reason(name)
        try:
            if reason:
                raise adapters.AdapterUnavailable(name, reason)
            adapter = None
            if not isolate:
                with quiet_frameworks():
                    adapter = adapters.load(name)
            record = _run(name, root, files, options, _divergences(name, (), adapter), (), isolate, adapter)
        except adapters.AdapterUnavailable as exc:
            unavailable[name] = exc.reason
            continue
        except Exception as exc:  # a built-in that cannot be built or run is a failure of the run
            from .boundary import describe_exception

            labelled(errors, "error:", "bold red", f"adapter {name!r} failed: {exc if isinstance(exc, AdapterBroken) else describe_exception(exc)}")
            broken = True
            continue
        results[name] = reports.build(record, root)
    code = EXIT_FAILURES if broken or any(r["summary"]["failing"] for r in results.values()) or not any(r["summary"]["checked"] for r in results.values()) else EXIT_OK
    exit_with(code)
    written: dict[Path, bytes | str] = {}
    if reports_dir is not None:
        written.update({reports_dir / f"{name}.json": reports.to_json(report) for name, report in results.items()})
    if doc_path is not None:
        picture = _heatmap(doc_path.with_suffix(".png"), results)
        if picture is not None:
            written[doc_path.with_suffix(".png")] = picture
        written[doc_path] = reports.render_conformance_doc(results, unavailable, doc_path.with_suffix(".png").name if picture else None)
    _write_files(written)
    reports.render_combined(results, unavailable, console, show_unsupported=show_unsupported, fmt=fmt)
    return code


def _heatmap(path: Path, results: dict[str, dict[str, Any]]) -> bytes | None:
    """The verdict heat map (PNG) to write beside the Markdown matrix at ``path``; None without matplotlib."""
    from . import plot as plots
    from . import report as reports

    try:
        plots.require_matplotlib()
    except plots.PlotError as exc:
        say(errors, f"no heat map: {exc}")
        return None
    cells, algorithms = reports.verdict_cells(results)
    return plots.render_heatmap(cells, list(results), algorithms)


@main.command("matrix")
@click.option("--adapter", "-a", "names", multiple=True, metavar="NAME", help="Only these built-in adapters (default: every available one).")
@selection_options
@click.option("--reports-dir", type=click.Path(path_type=Path), default=DEFAULT_REPORTS_DIR, show_default=True, help="Where reports/<adapter>.json go.")
@click.option("--doc", "doc_path", type=click.Path(path_type=Path), default=DEFAULT_DOC, show_default=True, help="The published matrix (Markdown).")
@click.option("--no-doc", is_flag=True, help="Do not write the Markdown matrix.")
@FORMAT_OPTION
@ROOT_OPTION
def matrix(
    names: tuple[str, ...], select: tuple[str, ...], dtypes: tuple[str, ...], mode: str, timeout: float, isolate: bool, show_unsupported: bool,
    reports_dir: Path, doc_path: Path, no_doc: bool, fmt: str, golden_root: Path | None,
) -> None:
    """Check every available built-in adapter; print the combined matrix (adapter × algorithm, with
    the conventions each follows), write reports/<adapter>.json and docs/conformance.md.
    Adapters whose framework is not installed are skipped with a note."""
    from . import adapters

    unknown = [n for n in names if n not in adapters.BUILTINS]
    if unknown:
        fail_usage(f"not built-in adapters: {', '.join(unknown)}; built-in: {', '.join(adapters.builtin_names())}")
    options = _options(select, dtypes, mode, timeout)
    sys.exit(_matrix(_root(golden_root), options, reports_dir, None if no_doc else doc_path, names, isolate=isolate, show_unsupported=show_unsupported, fmt=fmt))


# --------------------------------------------------------------------------------------------------
# new-adapter
# --------------------------------------------------------------------------------------------------


@main.command("mutate")
@click.option("-k", "--select", "patterns", multiple=True, metavar="PATTERN", help="Only mutants whose id matches this glob or contains it (repeatable).")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Mutants checked at once.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the JSON report here.")
@click.option("--list", "list_only", is_flag=True, help="Print the catalogue and exit.")
def mutate(patterns: tuple[str, ...], jobs: int, report_path: Path | None, list_only: bool) -> None:
    """Plant each catalogued bug in a private copy of optimspec.torch / optimspec.tf, run `optimspec
    check` on the adapters it reaches, and report the kill rate and the survivors.

    Exit 0 when every behavioural mutant is killed, 1 when one survives or a check breaks, 3 when
    the catalogue does not apply or the unmutated package fails its own check.
    """
    import json

    from . import mutate as mutation
    from .mutants import MUTANTS

    chosen = mutation.selected(MUTANTS, patterns)
    if not chosen:
        fail_usage(f"no mutant matches {', '.join(patterns)}")
    if list_only:
        table = TextTable(("id", "kind", "adapters", "description"), title=f"mutation catalogue ({len(chosen)} mutants)")
        for m in chosen:
            table.add_row(m.id, m.kind, ", ".join(m.adapters), m.description)
        print_table(console, table)
        return
    try:
        with progress_bar("mutants", len(chosen)) as advance:
            run = mutation.run(chosen, jobs=jobs, on_result=lambda r: advance(r.mutant.id))
    except mutation.MutationError as exc:
        fail_integrity(str(exc))
    _print_mutation_run(run)
    if report_path is not None:
        golden.write_atomic(report_path, (json.dumps(run.as_dict(), indent=1, ensure_ascii=False) + "\n").encode())
    broken = [r for r in run.results if r.verdict == "invalid"]
    sys.exit(EXIT_FAILURES if run.survivors or broken else EXIT_OK)


def _print_mutation_run(run: Any) -> None:
    styles = {"killed": "green", "survived": "bold red", "tolerated": "yellow", "invalid": "bold red"}
    table = TextTable(("mutant", "kind", "verdict", "evidence", "s"), title="optimspec mutate", right=("s",))
    for result in run.results:
        seconds = sum(c.seconds for c in result.checks)
        table.add_row(result.mutant.id, result.mutant.kind, result.verdict, result.evidence, f"{seconds:.0f}", style=styles[result.verdict])
    print_table(console, table)
    killed, total = run.kill_rate()
    rate = 100.0 * killed / total if total else 100.0
    tolerated = [r for r in run.results if r.verdict == "tolerated"]
    console.print(
        f"killed {killed} of {total} behavioural mutants ({rate:.1f} %) in {run.seconds:.0f} s"
        + (f"; survivors: {', '.join(r.mutant.id for r in run.survivors)}" if run.survivors else "; no survivors")
        + (f"; {len(tolerated)} precision mutant(s) tolerated" if tolerated else "")
    )


@main.command("new-adapter")
@click.argument("framework", type=click.Choice(["torch", "keras", "optax", "numpy"]))
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True, help="Where the two files go.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def new_adapter(framework: str, name: str, folder: Path, force: bool) -> None:
    """Write a working, commented adapter NAME for FRAMEWORK and a pytest test for it.

    As written, each template checks an implementation that conforms; the lines marked EDIT are
    the ones to change for your own optimizer (docs/adapters.md walks through them)."""
    from . import scaffold

    try:
        paths = scaffold.write(framework, name, folder, overwrite=force)
    except scaffold.ScaffoldError as exc:
        fail_usage(str(exc))
    for path in paths:
        console.print(f"wrote {path}")
    module = scaffold.module_name(name)
    console.print(f"next: edit the EDIT lines, then `PYTHONPATH={folder} optimspec check --adapter {module}:Adapter` and `pytest {folder / f'test_{module}.py'}`", soft_wrap=True)


# --------------------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------------------


@main.command("explain")
@click.argument("case_id")
@click.option("--adapter", "-a", "adapter_name", metavar="NAME", help="Also run the case on this adapter and show its values and a per-element diff.")
@click.option("--divergences", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Known-divergence files layered over the adapter's shipped one.")
@TIMEOUT_OPTION
@ROOT_OPTION
def explain(case_id: str, adapter_name: str | None, divergences: tuple[Path, ...], timeout: float, golden_root: Path | None) -> None:
    """Show one case: inputs, expected values, formula, flags, hyperparameters and the conventions it
    separates; with --adapter, the adapter's values, a per-element diff and the diagnosis.

    Exit 1 when the adapter fails the case."""
    from . import explain as explainer
    from . import runner

    files = _load(_root(golden_root))
    try:
        case = runner.find_case(files, case_id)
    except KeyError as exc:
        fail_usage(str(exc.args[0]))
    explainer.describe_case(case, console)
    if not adapter_name:
        return
    caps, result = _run_one(adapter_name, case, divergences, timeout)
    exit_with(EXIT_FAILURES if result.failing else EXIT_OK)
    explainer.describe_result(case, caps, result, console)
    sys.exit(EXIT_FAILURES if result.failing else EXIT_OK)


def _run_one(adapter_name: str, case: Any, divergence_files: Sequence[Path], timeout: float) -> tuple[Any, Any]:
    """(capabilities, result) of one case on the named adapter; exit 1 if the adapter is broken."""
    from . import runner

    known = _divergences(adapter_name, divergence_files)
    adapter = _adapter(adapter_name)
    try:
        info, caps = runner.describe_adapter(adapter)
    except runner.AdapterBroken as exc:
        fail(EXIT_FAILURES, "adapter error:", f"{adapter_name}: {exc}")
    entries = known.lookup(case.id, case.dtype, runner.framework_versions(info))
    return caps, runner.run_case(adapter, caps, case, runner.Options(timeout_s=timeout), entries, adapter_name)


# --------------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------------


@main.command("plot")
@click.argument("schedule", required=False)
@click.option("--hparam", "-p", "hparam_items", multiple=True, metavar="NAME=VALUE", help="A hyperparameter of SCHEDULE, the value a Python literal (3, 1e-3, None, [0.1, 0.01], cosine); repeatable. Step counts not given are drawn with W=10, T=100.")
@click.option("--steps", type=click.IntRange(min=1, max=10**9), default=None, metavar="N", help="Plot steps 0..N (default: 1.5 × the total steps or the end of the decay; 100 without one).")
@click.option("--case", "case_id", metavar="CASE_ID", help="Plot this golden schedule case's expected values instead of SCHEDULE.")
@click.option("--adapter", "-a", "adapter_name", metavar="NAME", help="With --case: also run the case on this adapter and draw its values and errors on top.")
@click.option("--timeout", type=Seconds(), default=60.0, show_default=True, help="With --adapter: time limit in seconds (0: none).")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Where the image goes (.png, .svg or .pdf; default plots/<schedule>.png, plots/<case id>[.<adapter>].png).")
@ROOT_OPTION
def plot(
    schedule: str | None, hparam_items: tuple[str, ...], steps: int | None, case_id: str | None, adapter_name: str | None,
    timeout: float, out: Path | None, golden_root: Path | None,
) -> None:
    """Plot a learning-rate schedule, one line per param group.

    `optimspec plot SCHEDULE [-p NAME=VALUE ...] [--steps N]` draws the reference schedule, with the
    warmup, decay and total boundaries marked. `optimspec plot --case CASE_ID [--adapter NAME]`
    draws a golden schedule case's expected values, and the adapter's values and errors on top.

    Exit 2 on an unknown schedule, an optimizer, or hyperparameters the reference rejects; with
    --adapter, exit 1 when the adapter fails the case (the plot is still written)."""
    from . import plot as plots

    try:
        if case_id is not None:
            if schedule is not None or hparam_items or steps is not None:
                fail_usage("--case takes no SCHEDULE, --hparam or --steps: the case fixes them")
            _plot_case(plots, case_id, adapter_name, timeout, out, golden_root)
            return
        if schedule is None:
            fail_usage("give a SCHEDULE or --case CASE_ID; schedules: " + ", ".join(plots.step_schedule_names()))
        if adapter_name is not None:
            fail_usage("--adapter needs --case CASE_ID (a golden case gives the adapter its inputs)")
        path = out or Path("plots") / f"{schedule}.png"
        plots.output_format(path)
        plots.require_matplotlib()
        figure = plots.schedule_plot(schedule, plots.parse_hparams(hparam_items), steps)
        size = plots.write(path, figure)
    except plots.PlotError as exc:
        fail_usage(str(exc))
    say(console, f"wrote {path} ({size / 1e3:.1f} kB)")


def _plot_case(plots: Any, case_id: str, adapter_name: str | None, timeout: float, out: Path | None, golden_root: Path | None) -> None:
    from . import runner

    files = _load(_root(golden_root))
    path = out or plots.default_case_path(case_id, adapter_name)
    plots.output_format(path)
    plots.require_matplotlib()
    try:
        case = runner.find_case(files, case_id)
    except KeyError as exc:
        fail_usage(str(exc.args[0]))
    plots.check_case(case)
    result = caps = None
    if adapter_name is not None:
        caps, result = _run_one(adapter_name, case, (), timeout)
    size = plots.write(path, plots.case_plot(case, result, adapter_name, caps))
    verdict = ""
    if result is not None:
        verdict = f"; {adapter_name}: {result.outcome}" + (f" ({result.message})" if result.message else "")
    say(console, f"wrote {path} ({size / 1e3:.1f} kB){verdict}")
    if result is not None and result.failing:
        sys.exit(EXIT_FAILURES)


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------


class _DefaultCommandGroup(click.Group):
    """``report FILE`` means ``report show FILE``; ``report diff OLD NEW`` stays a subcommand."""

    default_command = "show"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def _read_report(path: Path) -> dict[str, Any]:
    from . import report as reports

    try:
        return reports.load(path)
    except reports.ReportError as exc:
        fail_integrity(str(exc))


REPORT_PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.group("report", cls=_DefaultCommandGroup)
def report_group() -> None:
    """Render a JSON report (`optimspec report REPORT.json`), or compare two
    (`optimspec report diff OLD.json NEW.json`)."""


@report_group.command("show")
@click.argument("path", type=REPORT_PATH)
@FORMAT_OPTION
@click.option("--show-unsupported", is_flag=True, help="Also list the algorithms the adapter does not implement.")
def report_show(path: Path, fmt: str, show_unsupported: bool) -> None:
    """Render REPORT.json as the verdict matrix (a boxed table on a terminal, plain text when piped),
    Markdown, or (canonical) JSON. Exit 3 if the file is not a valid report."""
    from . import report as reports

    data = _read_report(path)
    if fmt == "markdown":
        say(console, reports.render_markdown(data, show_unsupported))
    elif fmt == "json":
        say(console, reports.to_json(data).decode("utf-8").rstrip("\n"))
    else:
        reports.render_table(data, console, show_unsupported, fmt)


@report_group.command("diff")
@click.argument("old", type=REPORT_PATH)
@click.argument("new", type=REPORT_PATH)
@click.option(
    "--error-growth", type=click.FloatRange(min=1.0, min_open=True), default=10.0, show_default=True, metavar="FACTOR",
    help="A case whose measured error (ε·S) grew by more than this factor regressed (errors below 1 ε·S count as 1).",
)
@FORMAT_OPTION
def report_diff(old: Path, new: Path, error_growth: float, fmt: str) -> None:
    """What changed from OLD to NEW, case by case: regressions (an outcome that got worse, pass → not
    pass, xpass → xfail, …; an error that grew past --error-growth; a changed diagnosis; a case
    that disappeared), improvements, other changes and added cases, each with its old → new
    outcome, error and diagnosis, then a summary line.

    Exit 1 when there are regressions, 3 if a file is not a valid report."""
    from . import diff as diffs

    result = diffs.diff(_read_report(old), _read_report(new), error_growth)
    code = EXIT_FAILURES if result.regressions else EXIT_OK
    exit_with(code)
    diffs.render(result, console, fmt)
    sys.exit(code)


# --------------------------------------------------------------------------------------------------
# divergences
# --------------------------------------------------------------------------------------------------


@main.group("divergences")
def divergences_group() -> None:
    """Work with known-divergence files (`optimspec divergences suggest REPORT.json`)."""


@divergences_group.command("suggest")
@click.argument("path", type=REPORT_PATH)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Write the TOML here (default: print it).")
def divergences_suggest(path: Path, output: Path | None) -> None:
    """Write a divergence file accepting exactly the failures of REPORT.json: one entry per case
    that does not pass against the spec, grouped by diagnosis, each narrowed to its diagnosis
    (when.behaves_like) and capped at its measured error (when.max_error), with EDIT marks for
    the reasons. Exit 3 if the file is not a valid report."""
    from . import suggest

    if output is not None:
        _planned_outputs({"--output": output})
    text = suggest.suggest(_read_report(path), path.name)
    if output is None:
        say(console, text.rstrip("\n"))
    else:
        _write_files({output: text})
