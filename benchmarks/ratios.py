"""Print each benchmark group's times as ratios to the group's baseline, and check ratio gates.

Reads one pytest-benchmark JSON file: the path given, or else the newest ``*.json`` under
``--storage`` (default ``.benchmarks``, where ``pytest --benchmark-autosave`` saves). Each entry
is named by the ``label`` the optimspec benchmarks put in ``extra_info`` (the parametrize id or
the test name otherwise); each group's baseline is the ``baseline`` recorded there, unless
``--baseline GROUP=LABEL`` names another.

Only ratios between entries of the same run are printed or gated: absolute times on a shared CPU
move from run to run, ratios much less.

Gates (``--gate``, repeatable)::

    GROUP:LABEL/OTHER<=LIMIT     LABEL's time / OTHER's time must be <= LIMIT
    GROUP:LABEL<=LIMIT           LABEL's time / the group's baseline time must be <= LIMIT

e.g. ``--gate 'adamw:optimspec.default/torch.forloop<=1.10'``.

Exit status: 0 all gates pass (or none given), 1 a gate fails, 2 usage error (no run file, a
malformed gate, a group or label that is not in the run).

Examples::

    python benchmarks/ratios.py
    python benchmarks/ratios.py .benchmarks/Linux-CPython-3.11-64bit/0001_....json --markdown
    python benchmarks/ratios.py --gate 'adamw:optimspec.default/torch.forloop<=1.10'
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

STATS = ("median", "min", "mean")
DEFAULT_STORAGE = Path(".benchmarks")
EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2
#: Spread (IQR / median) above which a row is flagged as noisy.
DEFAULT_NOISY = 0.10

_GATE = re.compile(r"^(?P<group>[^:]+):(?P<label>[^/<]+?)(?:/(?P<other>[^<]+?))?\s*<=\s*(?P<limit>\S+)$")


class UsageError(Exception):
    """A problem with the command line or the run file (exit status 2)."""


@dataclass(frozen=True)
class Group:
    """One benchmark group of a run: seconds per call of each label, and its baseline label.

    ``spread`` is each label's interquartile range over its median (``None`` where the run has no
    quartiles): how far the rounds scattered, so how far to trust a ratio.
    """

    name: str
    seconds: dict[str, float]
    baseline: str | None
    spread: dict[str, float | None] = field(default_factory=dict)

    def time(self, label: str) -> float:
        """Seconds per call of ``label``; a :class:`UsageError` naming the known labels otherwise."""
        try:
            return self.seconds[label]
        except KeyError:
            known = ", ".join(sorted(self.seconds))
            raise UsageError(f"group {self.name!r} has no {label!r} (it has: {known})") from None

    def ratio(self, label: str, other: str | None = None) -> float:
        """``label``'s time over ``other``'s, or over the baseline's when ``other`` is ``None``."""
        if other is None:
            if self.baseline is None:
                raise UsageError(f"group {self.name!r} has no baseline; name one with --baseline or in the gate")
            other = self.baseline
        return self.time(label) / self.time(other)


@dataclass(frozen=True)
class Run:
    """The groups of one saved pytest-benchmark run, plus what describes the run."""

    path: Path
    stat: str
    groups: dict[str, Group]
    description: dict[str, Any] = field(default_factory=dict)

    def group(self, name: str) -> Group:
        """The group called ``name``; a :class:`UsageError` naming the known groups otherwise."""
        try:
            return self.groups[name]
        except KeyError:
            raise UsageError(f"no group {name!r} in {self.path} (groups: {', '.join(sorted(self.groups))})") from None


@dataclass(frozen=True)
class Gate:
    """``group:label[/other] <= limit``; ``other=None`` means the group's baseline."""

    text: str
    group: str
    label: str
    other: str | None
    limit: float

    @classmethod
    def parse(cls, text: str) -> Gate:
        """Parse ``GROUP:LABEL[/OTHER]<=LIMIT``; a :class:`UsageError` if it does not fit."""
        match = _GATE.match(text.strip())
        limit = _positive_float(match["limit"]) if match else None
        if match is None or limit is None:
            raise UsageError(f"bad gate {text!r}: expected GROUP:LABEL[/OTHER]<=LIMIT with LIMIT > 0")
        other = match["other"].strip() if match["other"] else None
        return cls(text, match["group"].strip(), match["label"].strip(), other, limit)

    def check(self, run: Run) -> GateResult:
        """The gate's ratio in ``run`` and whether it is within the limit."""
        ratio = run.group(self.group).ratio(self.label, self.other)
        return GateResult(self, ratio, ratio <= self.limit)


@dataclass(frozen=True)
class GateResult:
    """A gate, the ratio measured for it, and the verdict."""

    gate: Gate
    ratio: float
    passed: bool


def _positive_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and math.isfinite(value) else None


def newest_run(storage: Path) -> Path:
    """The most recently written ``*.json`` under ``storage`` (searched recursively)."""
    runs = [path for path in storage.rglob("*.json") if path.is_file()]
    if not runs:
        raise UsageError(f"no saved runs under {storage}/; run pytest with --benchmark-autosave first")
    return max(runs, key=lambda path: (path.stat().st_mtime, path.name))


def _label(entry: dict[str, Any]) -> str:
    return entry.get("extra_info", {}).get("label") or entry.get("param") or entry["name"]


def load_run(path: Path, stat: str = "median", baselines: dict[str, str] | None = None) -> Run:
    """Read a pytest-benchmark JSON file into :class:`Group`s of ``stat`` seconds per call.

    ``baselines`` (group -> label) override the baselines recorded in the run.
    """
    try:
        data = json.loads(path.read_text())
        entries: list[dict[str, Any]] = data["benchmarks"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot read a pytest-benchmark run from {path}: {error}") from None
    seconds: dict[str, dict[str, float]] = {}
    spreads: dict[str, dict[str, float | None]] = {}
    recorded: dict[str, set[str]] = {}
    for entry in entries:
        group, label = entry.get("group") or "(no group)", _label(entry)
        if label in seconds.setdefault(group, {}):
            raise UsageError(f"{path}: label {label!r} appears twice in group {group!r}")
        stats = entry["stats"]
        seconds[group][label] = float(stats[stat])
        spreads.setdefault(group, {})[label] = _spread(stats)
        if baseline := entry.get("extra_info", {}).get("baseline"):
            recorded.setdefault(group, set()).add(baseline)
    overrides = baselines or {}
    for group in overrides:
        if group not in seconds:
            raise UsageError(f"--baseline names group {group!r}, which is not in {path}")
    groups = {}
    for name, times in seconds.items():
        candidates = sorted(recorded.get(name, set()))
        if name not in overrides and len(candidates) > 1:
            raise UsageError(f"group {name!r} records several baselines ({', '.join(candidates)}); pick one with --baseline")
        baseline = overrides.get(name) or (candidates[0] if candidates else None)
        if baseline is not None and baseline not in times:
            raise UsageError(f"baseline {baseline!r} of group {name!r} was not measured in {path}")
        groups[name] = Group(name, times, baseline, spreads[name])
    return Run(path, stat, groups, _describe(data))


def _spread(stats: dict[str, Any]) -> float | None:
    """IQR / median of one benchmark's rounds, if the run recorded both."""
    iqr, median = stats.get("iqr"), stats.get("median")
    return float(iqr) / float(median) if iqr is not None and median else None


def _describe(data: dict[str, Any]) -> dict[str, Any]:
    """Date, commit, CPU and the optimspec shape-set summary of a run, where present."""
    commit = data.get("commit_info", {})
    return {
        "date": data.get("datetime", "?"),
        "commit": (commit.get("id") or "?")[:10] + (" (dirty)" if commit.get("dirty") else ""),
        "cpu": data.get("machine_info", {}).get("cpu", {}).get("brand_raw", "?"),
        **data.get("optimspec", {}),
    }


def format_seconds(seconds: float) -> str:
    """``seconds`` in s, ms, µs or ns, whichever leaves 1 to 3 digits before the point; 3 significant digits."""
    unit, factor = next(
        ((unit, factor) for unit, factor in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)) if seconds >= factor), ("ns", 1e-9)
    )
    value = seconds / factor
    decimals = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f} {unit}"


@dataclass(frozen=True)
class Row:
    """One line of the ratio table, formatted."""

    group: str
    label: str
    time: str
    ratio: str
    spread: str
    noisy: bool


def ratio_rows(run: Run, noisy: float = DEFAULT_NOISY) -> list[Row]:
    """One :class:`Row` per entry, groups sorted, fastest first in each; ``noisy`` flags spreads above it."""
    rows = []
    for name in sorted(run.groups):
        group = run.groups[name]
        for label in sorted(group.seconds, key=group.seconds.__getitem__):
            if group.baseline is None:
                ratio = "-"
            elif label == group.baseline:
                ratio = "1.00 (baseline)"
            else:
                ratio = f"{group.ratio(label):.2f}"
            spread = group.spread.get(label)
            rows.append(
                Row(
                    group=name,
                    label=label,
                    time=format_seconds(group.seconds[label]),
                    ratio=ratio,
                    spread="-" if spread is None else f"{spread:.0%}",
                    noisy=spread is not None and spread > noisy,
                )
            )
    return rows


def _noise_note(rows: Sequence[Row], noisy: float) -> str | None:
    flagged = [f"{row.group}/{row.label}" for row in rows if row.noisy]
    if not flagged:
        return None
    return (
        f"spread (IQR / median) above {noisy:.0%} for {', '.join(flagged)}: "
        "the CPU was probably shared; rerun before trusting those ratios"
    )


def _header(run: Run) -> str:
    info = run.description
    text = f"{run.path}\n{info['date']}, commit {info['commit']}, {info['cpu']}"
    if "params" in info:
        text += (
            f"\n{info['shape_set']} x{info['scale']:g}: {info['params']:,} params in {info['tensors']} tensors, "
            f">= {info['rounds']} rounds"
            + (f" and >= {info['min_time']:g} s" if "min_time" in info else "")
            + f" after {info['warmup_rounds']} warmup"
            + (f"; threads: {info['threads'] or 'framework default'}" if "threads" in info else "")
        )
    return text


def render_rich(console: Console, run: Run, results: Sequence[GateResult], noisy: float = DEFAULT_NOISY) -> None:
    """Print the ratio table, a note on noisy rows and the gate verdicts with rich."""
    console.print(_header(run), style="dim", markup=False, highlight=False, soft_wrap=True)
    table = Table(title=f"{run.stat} time per call, as a ratio to the group's baseline")
    for column in ("group", "implementation", run.stat, "ratio", "spread"):
        table.add_column(column, justify="left" if column in ("group", "implementation") else "right")
    rows = ratio_rows(run, noisy)
    previous = None
    for row in rows:
        if previous is not None and row.group != previous:
            table.add_section()
        spread = f"[yellow]{row.spread}[/yellow]" if row.noisy else row.spread
        table.add_row(row.group if row.group != previous else "", row.label, row.time, row.ratio, spread)
        previous = row.group
    console.print(table)
    if note := _noise_note(rows, noisy):
        console.print(note, style="yellow", markup=False, highlight=False)
    if results:
        gates = Table(title="gates")
        for column in ("gate", "ratio", "verdict"):
            gates.add_column(column)
        for result in results:
            verdict = "[green]pass[/green]" if result.passed else "[bold red]FAIL[/bold red]"
            gates.add_row(escape(result.gate.text), f"{result.ratio:.3f}", verdict)
        console.print(gates)


def render_markdown(run: Run, results: Sequence[GateResult], noisy: float = DEFAULT_NOISY) -> str:
    """The same tables as Markdown (for pasting into a README or a pull request)."""
    rows = ratio_rows(run, noisy)
    lines = [*(f"<!-- {line} -->" for line in _header(run).splitlines())]
    lines += ["", f"| group | implementation | {run.stat} | ratio | spread |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r.group} | {r.label} | {r.time} | {r.ratio} | {r.spread}{' (!)' if r.noisy else ''} |" for r in rows]
    if note := _noise_note(rows, noisy):
        lines += ["", f"(!) {note}"]
    if results:
        lines += ["", "| gate | ratio | verdict |", "|---|---:|---|"]
        lines += [f"| `{r.gate.text}` | {r.ratio:.3f} | {'pass' if r.passed else 'FAIL'} |" for r in results]
    return "\n".join(lines)


def _baseline_overrides(values: Iterable[str]) -> dict[str, str]:
    overrides = {}
    for value in values:
        group, sep, label = value.partition("=")
        if not (sep and group and label):
            raise UsageError(f"bad --baseline {value!r}: expected GROUP=LABEL")
        overrides[group] = label
    return overrides


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="ratios.py",
        description="Per-group time ratios of a pytest-benchmark run, with optional ratio gates.",
    )
    parser.add_argument("run", nargs="?", type=Path, help="run JSON (default: the newest under --storage)")
    parser.add_argument("--storage", type=Path, default=DEFAULT_STORAGE, help="where autosaved runs live")
    parser.add_argument("--stat", choices=STATS, default="median", help="statistic to compare (default median)")
    parser.add_argument("--baseline", action="append", default=[], metavar="GROUP=LABEL", help="override a baseline")
    parser.add_argument("--gate", action="append", default=[], metavar="SPEC", help="GROUP:LABEL[/OTHER]<=LIMIT")
    parser.add_argument("--markdown", action="store_true", help="print Markdown instead of rich tables")
    parser.add_argument(
        "--noisy",
        type=float,
        default=DEFAULT_NOISY,
        metavar="FRACTION",
        help=f"flag rows whose IQR / median exceeds this (default {DEFAULT_NOISY})",
    )
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run the command line; returns the exit status. Errors go to stderr."""
    args = build_parser().parse_args(argv)
    console = console or Console()
    try:
        gates = [Gate.parse(text) for text in args.gate]
        path = args.run if args.run is not None else newest_run(args.storage)
        run = load_run(path, args.stat, _baseline_overrides(args.baseline))
        results = [gate.check(run) for gate in gates]
    except UsageError as error:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    if args.markdown:
        console.print(render_markdown(run, results, args.noisy), markup=False, highlight=False, soft_wrap=True)
    else:
        render_rich(console, run, results, args.noisy)
    return EXIT_OK if all(result.passed for result in results) else EXIT_GATE_FAILED


if __name__ == "__main__":
    sys.exit(main())
