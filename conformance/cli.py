"""The ``optimspec`` command line.

Exit codes: 0 ok / conformant, 1 conformance failures, 2 usage error, 3 integrity error (hash,
schema or manifest). Frameworks are imported only by the adapter that needs them, so ``--help``,
``list``, ``catalogue`` and ``golden verify`` import none of them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import golden

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


def fail_integrity(message: str) -> None:
    errors.print(f"[bold red]integrity error:[/] {message}", soft_wrap=True)
    sys.exit(EXIT_INTEGRITY)


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[callable]:
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
        raise  # unreachable: fail_integrity exits


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
        table.add_column(column, justify="right" if column in ("cases", "invalid") else "left")
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
