"""The ``optimspec`` command line.

Commands: ``golden generate|verify``, ``list``, ``catalogue``, ``check``, ``explain``, ``report``
(``report diff``), ``matrix``, ``mutate`` (the suite's own mutation score), ``new-adapter`` and
``plot`` (matplotlib, imported only by that command).

Exit codes: 0 ok / conformant, 1 conformance failures, 2 usage error (unknown or unavailable
adapter, malformed divergence file, unreadable report), 3 integrity error (hash, schema or
manifest). Frameworks are imported only by the adapter that needs them, so ``--help``, ``list``,
``catalogue`` and ``golden verify`` import none of them; the harness modules themselves are
imported inside the commands that use them, to keep ``--help`` fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import golden

if TYPE_CHECKING:
    from .divergences import DivergenceSet
    from .runner import Options, RunRecord

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTEGRITY = 0, 1, 2, 3

console = Console()
errors = Console(stderr=True)

ROOT_OPTION = click.option(
    "--golden",
    "golden_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Golden folder (default: $OPTIMSPEC_GOLDEN or the installed optimspec.golden).",
)


def _root(path: Path | None) -> Path:
    return path or golden.default_root()


def fail_integrity(message: str) -> NoReturn:
    errors.print(f"[bold red]integrity error:[/] {message}", soft_wrap=True)
    sys.exit(EXIT_INTEGRITY)


def fail_usage(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.exit(EXIT_USAGE)


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar; yields a callback that advances it by one named item."""
    with Progress(
        TextColumn(f"{label} [bold]{{task.fields[item]}}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=errors, transient=True,
    ) as progress:
        task = progress.add_task(label, total=total, item="")
        yield lambda item: progress.update(task, advance=1, item=item)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    try:
        with progress_bar("generating", len(algorithms)) as advance:
            rendered = generate.render_all(algorithms, progress=advance, root=root)
    except generate.GenerationError as exc:
        errors.print(f"[bold red]generation failed:[/] {exc}", soft_wrap=True)
        sys.exit(EXIT_INTEGRITY)
    generate.write_all(root, rendered)
    size = sum(len(v) for v in rendered.values())
    console.print(f"wrote {len(rendered) - 1} golden files and {golden.MANIFEST_NAME} ({size / 1e6:.2f} MB) to {root}")


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
    console.print(f"[green]ok[/]: {summary.files} golden files, {summary.cases} cases verified in {root}")


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


@main.command("catalogue")
@ROOT_OPTION
def catalogue(golden_root: Path | None) -> None:
    """A table of the catalogue: algorithm, kind, number of cases, conventions."""
    table = Table(title="optimspec catalogue")
    for column in ("algorithm", "kind", "cases", "invalid", "dtypes", "conventions"):
        table.add_column(column, justify="right" if column in ("cases", "invalid") else "left", no_wrap=column == "algorithm")
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
    console.print(table)


# --------------------------------------------------------------------------------------------------
# check / matrix
# --------------------------------------------------------------------------------------------------

DTYPE_CHOICES = ("float64", "float32", "float16", "bfloat16")
MODE_CHOICES = {"teacher_forced": ("teacher_forced",), "free_running": ("free_running",), "both": ("teacher_forced", "free_running")}
DEFAULT_REPORTS_DIR = Path("reports")
DEFAULT_DOC = Path("docs/conformance.md")


def _adapter(name: str) -> Any:
    """Build the named adapter; exit 2 with the reason if it is unknown or unavailable."""
    from .adapters import AdapterError, AdapterUnavailable, load

    try:
        return load(name)
    except (AdapterError, AdapterUnavailable) as exc:
        fail_usage(str(exc))
    except Exception as exc:  # the adapter's own constructor crashed
        fail_usage(f"adapter {name!r} failed to load: {type(exc).__name__}: {exc}")


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


def _run_with_progress(adapter: Any, name: str, files: Sequence[golden.GoldenFile], options: Options, divergences: DivergenceSet) -> RunRecord:
    """Run with a progress bar (on stderr, gone when done)."""
    from . import runner

    total = len(runner.selected_cases(files, options))
    with progress_bar(name, total) as advance:
        return runner.execute(adapter, files, options, divergences, on_result=lambda r: advance(r.id), adapter_ref=name)


def _write_outputs(report: dict[str, Any], json_path: Path | None, junit: Path | None, markdown: Path | None) -> None:
    from . import report as reports

    outputs = ((json_path, reports.to_json), (junit, reports.render_junit), (markdown, reports.render_markdown))
    for path, render in outputs:
        if path is not None:
            reports.write(path, render(report))
            errors.print(f"wrote {path}")


SELECTION_OPTIONS = (
    click.option("--select", "-s", multiple=True, metavar="GLOB", help="Case ids to run: fnmatch globs or id prefixes (repeatable)."),
    click.option("--dtype", "dtypes", multiple=True, type=click.Choice(DTYPE_CHOICES), help="Only optimizer cases of these dtypes (repeatable)."),
    click.option("--mode", type=click.Choice(list(MODE_CHOICES)), default="both", show_default=True, help="Teacher-forced single steps, free-running trajectories, or both."),
    click.option("--timeout", type=click.FloatRange(min=0.0), default=60.0, show_default=True, help="Per-case time limit in seconds (0: none)."),
)


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(SELECTION_OPTIONS):
        command = option(command)
    return command


@main.command("check")
@click.option("--adapter", "-a", "adapter_name", envvar="OPTIMSPEC_ADAPTER", metavar="NAME", help="Built-in name, entry-point name, or package.module:Factory ($OPTIMSPEC_ADAPTER).")
@click.option("--all", "all_adapters", is_flag=True, help="Every available built-in adapter: the same as `optimspec matrix`.")
@click.option("--torch-optimizer", metavar="PACKAGE.MODULE.CLASS", help="Check this torch.optim.Optimizer class with no adapter code (instead of --adapter).")
@click.option("--map", "mapping", multiple=True, metavar="SPEC=NATIVE", help="With --torch-optimizer: the class's name for a spec hyperparameter or state field (eps=epsilon, betas=beta1,beta2, exp_avg=m); repeatable.")
@click.option("--algorithm", default="adamw", show_default=True, metavar="NAME", help="With --torch-optimizer: the spec optimizer it implements.")
@selection_options
@click.option("--divergences", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Known-divergence TOML files, layered over the adapter's shipped one (repeatable).")
@click.option("--report", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report here.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), help="Write a Markdown report here.")
@ROOT_OPTION
def check(
    adapter_name: str | None, all_adapters: bool, torch_optimizer: str | None, mapping: tuple[str, ...], algorithm: str,
    select: tuple[str, ...], dtypes: tuple[str, ...], mode: str, timeout: float,
    divergences: tuple[Path, ...], json_path: Path | None, junit: Path | None, markdown: Path | None, golden_root: Path | None,
) -> None:
    """Run the golden cases against one adapter and print the verdict matrix.

    Exit 0 when no case fails, errors or passes against a strict xfail; 1 otherwise."""
    from . import report as reports
    from .runner import selected_cases

    if all_adapters:
        sys.exit(_matrix(_root(golden_root), _options(select, dtypes, mode, timeout), DEFAULT_REPORTS_DIR, DEFAULT_DOC))
    if torch_optimizer and adapter_name:
        fail_usage("give --adapter NAME or --torch-optimizer CLASS, not both")
    if torch_optimizer:
        adapter = _generic_torch_adapter(torch_optimizer, mapping, algorithm)
        adapter_name = adapter.name
    elif not adapter_name:
        fail_usage("--adapter NAME is required (or --torch-optimizer CLASS, or --all); `optimspec check --help` lists the ways to name one")
    else:
        adapter = _adapter(adapter_name)
    known = _divergences(adapter_name, divergences, adapter)
    root = _root(golden_root)
    files = _load(root)
    options = _options(select, dtypes, mode, timeout)
    if not selected_cases(files, options):
        fail_usage(f"the selection matches no case in {root} (see `optimspec list`)")
    record = _run_with_progress(adapter, adapter_name, files, options, known)
    report = reports.build(record, root)
    _write_outputs(report, json_path, junit, markdown)
    reports.render_table(report, console)
    sys.exit(EXIT_OK if report["summary"]["conformant"] else EXIT_FAILURES)


def _matrix(root: Path, options: Options, reports_dir: Path, doc_path: Path | None, names: Sequence[str] = ()) -> int:
    """Check every available built-in adapter (or ``names``); write reports and the published doc.
    Returns the exit code: 1 if any adapter fails a case or cannot be built."""
    from . import adapters
    from . import report as reports

    files = _load(root)
    results: dict[str, dict[str, Any]] = {}
    unavailable: dict[str, str] = {}
    broken = False
    for name in names or adapters.builtin_names():
        try:
            adapter = adapters.load(name)
        except adapters.AdapterUnavailable as exc:
            unavailable[name] = exc.reason
            continue
        except Exception as exc:  # a built-in that cannot even be constructed is a failure of the run
            errors.print(f"[bold red]error:[/] adapter {name!r} failed to load: {type(exc).__name__}: {exc}", soft_wrap=True)
            broken = True
            continue
        report = reports.build(_run_with_progress(adapter, name, files, options, _divergences(name, (), adapter)), root)
        reports.write(reports_dir / f"{name}.json", reports.to_json(report))
        results[name] = report
    reports.render_combined(results, unavailable, console)
    if doc_path is not None:
        picture = _write_heatmap(doc_path.with_suffix(".png"), results)
        reports.write(doc_path, reports.render_conformance_doc(results, unavailable, picture))
        errors.print(f"wrote {doc_path}{' and its heat map' if picture else ''} and {len(results)} reports in {reports_dir}/")
    failing = broken or any(not r["summary"]["conformant"] for r in results.values())
    return EXIT_FAILURES if failing else EXIT_OK


def _write_heatmap(path: Path, results: dict[str, dict[str, Any]]) -> str | None:
    """The verdict heat map beside the Markdown matrix; its file name, or None without matplotlib."""
    from . import plot as plots
    from . import report as reports

    try:
        plots.require_matplotlib()
    except plots.PlotError as exc:
        errors.print(f"no heat map: {exc}", soft_wrap=True)
        return None
    cells, algorithms = reports.verdict_cells(results)
    golden.write_atomic(path, plots.render_heatmap(cells, list(results), algorithms))
    return path.name


@main.command("matrix")
@click.option("--adapter", "-a", "names", multiple=True, metavar="NAME", help="Only these built-in adapters (default: every available one).")
@selection_options
@click.option("--reports-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_REPORTS_DIR, show_default=True, help="Where reports/<adapter>.json go.")
@click.option("--doc", "doc_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DOC, show_default=True, help="The published matrix (Markdown).")
@click.option("--no-doc", is_flag=True, help="Do not write the Markdown matrix.")
@ROOT_OPTION
def matrix(names: tuple[str, ...], select: tuple[str, ...], dtypes: tuple[str, ...], mode: str, timeout: float, reports_dir: Path, doc_path: Path, no_doc: bool, golden_root: Path | None) -> None:
    """Check every available built-in adapter; print the combined matrix (adapter × algorithm, with
    the conventions each follows), write reports/<adapter>.json and docs/conformance.md.
    Adapters whose framework is not installed are skipped with a note."""
    from . import adapters

    unknown = [n for n in names if n not in adapters.BUILTINS]
    if unknown:
        fail_usage(f"not built-in adapters: {', '.join(unknown)}; built-in: {', '.join(adapters.builtin_names())}")
    options = _options(select, dtypes, mode, timeout)
    sys.exit(_matrix(_root(golden_root), options, reports_dir, None if no_doc else doc_path, names))


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
        table = Table(title=f"mutation catalogue ({len(chosen)} mutants)")
        for column in ("id", "kind", "adapters", "description"):
            table.add_column(column, overflow="fold")
        for m in chosen:
            table.add_row(m.id, m.kind, ", ".join(m.adapters), m.description)
        console.print(table)
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
    table = Table(title="optimspec mutate")
    for column in ("mutant", "kind", "verdict", "evidence", "s"):
        table.add_column(column, overflow="fold", justify="right" if column == "s" else "left")
    for result in run.results:
        seconds = sum(c.seconds for c in result.checks)
        table.add_row(result.mutant.id, result.mutant.kind, f"[{styles[result.verdict]}]{result.verdict}[/]", result.evidence, f"{seconds:.0f}")
    console.print(table)
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
@click.option("--timeout", type=click.FloatRange(min=0.0), default=60.0, show_default=True, help="Time limit in seconds (0: none).")
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
    adapter = _adapter(adapter_name)
    known = _divergences(adapter_name, divergences, adapter)
    caps = adapter.capabilities()
    entry = known.lookup(case.id, case.dtype, runner.framework_versions(adapter.info()))
    result = runner.run_case(adapter, caps, case, runner.Options(timeout_s=timeout), entry, adapter_name)
    explainer.describe_result(case, caps, result, console)
    sys.exit(EXIT_FAILURES if result.failing else EXIT_OK)


# --------------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------------


@main.command("plot")
@click.argument("schedule", required=False)
@click.option("--hparam", "-p", "hparam_items", multiple=True, metavar="NAME=VALUE", help="A hyperparameter of SCHEDULE, the value a Python literal (3, 1e-3, None, [0.1, 0.01], cosine); repeatable. Step counts not given are drawn with W=10, T=100.")
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="N", help="Plot steps 0..N (default: 1.5 × the total steps or the end of the decay; 100 without one).")
@click.option("--case", "case_id", metavar="CASE_ID", help="Plot this golden schedule case's expected values instead of SCHEDULE.")
@click.option("--adapter", "-a", "adapter_name", metavar="NAME", help="With --case: also run the case on this adapter and draw its values and errors on top.")
@click.option("--timeout", type=click.FloatRange(min=0.0), default=60.0, show_default=True, help="With --adapter: time limit in seconds (0: none).")
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
    console.print(f"wrote {path} ({size / 1e3:.1f} kB)")


def _plot_case(plots: Any, case_id: str, adapter_name: str | None, timeout: float, out: Path | None, golden_root: Path | None) -> None:
    from . import runner

    path = out or plots.default_case_path(case_id, adapter_name)
    plots.output_format(path)
    plots.require_matplotlib()
    try:
        case = runner.find_case(_load(_root(golden_root)), case_id)
    except KeyError as exc:
        fail_usage(str(exc.args[0]))
    plots.check_case(case)
    result = caps = None
    if adapter_name is not None:
        adapter = _adapter(adapter_name)
        known = _divergences(adapter_name, (), adapter)
        caps = adapter.capabilities()
        entry = known.lookup(case.id, case.dtype, runner.framework_versions(adapter.info()))
        result = runner.run_case(adapter, caps, case, runner.Options(timeout_s=timeout), entry, adapter_name)
    size = plots.write(path, plots.case_plot(case, result, adapter_name, caps))
    verdict = ""
    if result is not None:
        verdict = f"; {adapter_name}: {result.outcome}" + (f" ({result.message})" if result.message else "")
    console.print(f"wrote {path} ({size / 1e3:.1f} kB){verdict}", soft_wrap=True)
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
        fail_usage(str(exc))


REPORT_PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.group("report", cls=_DefaultCommandGroup)
def report_group() -> None:
    """Render a JSON report (`optimspec report REPORT.json`), or compare two
    (`optimspec report diff OLD.json NEW.json`)."""


@report_group.command("show")
@click.argument("path", type=REPORT_PATH)
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table", show_default=True)
def report_show(path: Path, fmt: str) -> None:
    """Render REPORT.json as the terminal matrix, Markdown, or (canonical) JSON."""
    from . import report as reports

    data = _read_report(path)
    if fmt == "table":
        reports.render_table(data, console)
    elif fmt == "markdown":
        click.echo(reports.render_markdown(data))
    else:
        click.echo(reports.to_json(data).decode("utf-8"), nl=False)


@report_group.command("diff")
@click.argument("old", type=REPORT_PATH)
@click.argument("new", type=REPORT_PATH)
def report_diff(old: Path, new: Path) -> None:
    """Regressions, improvements, other changes, added and removed cases from OLD to NEW.
    Exit 1 when there are regressions."""
    from . import report as reports

    result = reports.diff(_read_report(old), _read_report(new))
    reports.render_diff(result, console)
    sys.exit(EXIT_FAILURES if result.regressions else EXIT_OK)
