"""Print each benchmark run as one table of ratios and memory figures, and check the targets.

Reads pytest-benchmark JSON files: the paths given (``make bench`` passes one run per scale), or
else the newest ``*.json`` under ``--storage`` (default ``.benchmarks``, where ``pytest
--benchmark-autosave`` saves). Each entry is named by the ``label`` the optimspec benchmarks put in
``extra_info``; each group's baseline (the peer in the ``ratio`` column) is the ``baseline``
recorded there, unless ``--baseline GROUP=LABEL`` names another.

One table per run: implementation, median time per call, ratio to the group's peer, state bytes,
peak step memory (with its multiple of the largest param tensor) and spread (IQR / median); the
header names the scale and the fused kernels' compile time. Only ratios between entries of the same
run are printed or gated: absolute times on a shared CPU move from run to run, ratios much less.

Gates come from the targets file (``--targets``, default ``targets.toml`` beside this script;
``--no-targets`` for none) and from ``--gate`` (repeatable, time ratios only)::

    GROUP:LABEL/OTHER<=LIMIT     LABEL's time / OTHER's time must be <= LIMIT
    GROUP:LABEL<=LIMIT           LABEL's time / the group's baseline time must be <= LIMIT

A targets file is a list of ``[[target]]`` tables (see :func:`load_targets`). A time gate takes
its two times from the group's interleaved benchmark (``GROUP (interleaved)``: both implementations
stepped in turns in one test) where that measured both, else from their own benchmarks; the
verdict table says which (``measured``). A gate is checked in every run that has its group; a run without it, or a label, peer or memory figure the gate needs
that a run lacks, is a ``missing`` verdict, which fails like a ratio above its limit.

``--json PATH`` writes every ratio (each label to each other label of its group, per run) and every
gate verdict.

Exit status: 0 all gates pass (or none given), 1 a gate fails or is missing, 2 usage error (no run
file, a malformed gate or targets file, a run file that is not a pytest-benchmark run).

Examples::

    python benchmarks/ratios.py
    python benchmarks/ratios.py .benchmarks/make-bench/scale-0.05.json .benchmarks/make-bench/scale-1.json --json ratios.json
    python benchmarks/ratios.py --no-targets --gate 'adamw:optimspec.fused/torch.fused<=1.10' --markdown
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

STATS = ("median", "min", "mean")
DEFAULT_STORAGE = Path(".benchmarks")
DEFAULT_TARGETS = Path(__file__).with_name("targets.toml")
EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2
#: Spread (IQR / median) above which a row is flagged as noisy.
DEFAULT_NOISY = 0.10
#: What a gate divides: ``time`` (LABEL / PEER), ``peak-memory`` (LABEL's peak step memory / the
#: largest param tensor), ``state`` (LABEL's state bytes / the bytes the algorithm's state needs).
METRICS = ("time", "peak-memory", "state")
#: ``every``: the gate's group must be in every run given; ``any``: in at least one (checked in each that has it).
RUNS = ("every", "any")
#: Columns the tables get at least (also when the output is not a terminal, where rich assumes 80).
MIN_WIDTH = 150
#: The memory figures the benchmarks record in ``extra_info`` (bytes).
MEMORY_FIELDS = ("state_bytes", "peak_step_bytes", "largest_param_bytes", "spec_state_bytes")

_GATE = re.compile(r"^(?P<group>[^:]+):(?P<label>[^/<]+?)(?:/(?P<other>[^<]+?))?\s*<=\s*(?P<limit>\S+)$")


class UsageError(Exception):
    """A problem with the command line, a run file or the targets file (exit status 2)."""


class Missing(Exception):
    """A run lacks what a gate needs (its group, a label, a memory figure): a ``missing`` verdict."""


@dataclass(frozen=True)
class Entry:
    """One implementation in one run: seconds per call, spread and the memory figures (bytes).

    ``spread`` is the interquartile range over the median (``None`` where the run has no
    quartiles): how far the rounds scattered, so how far to trust a ratio. Memory figures are
    ``None`` where the benchmark recorded none (schedules, older runs).
    """

    seconds: float
    spread: float | None = None
    state_bytes: int | None = None
    peak_step_bytes: int | None = None
    largest_param_bytes: int | None = None
    spec_state_bytes: int | None = None


@dataclass(frozen=True)
class Group:
    """One benchmark group of a run: each label's :class:`Entry`, its baseline label, and the
    entries of the labels its interleaved benchmark stepped in turns (``interleaved``)."""

    name: str
    entries: dict[str, Entry]
    baseline: str | None
    interleaved: dict[str, Entry] = field(default_factory=dict)

    def entry(self, label: str) -> Entry:
        """``label``'s entry; :class:`Missing` naming the known labels otherwise."""
        try:
            return self.entries[label]
        except KeyError:
            known = ", ".join(sorted(self.entries))
            raise Missing(f"group {self.name!r} has no {label!r} (it has: {known})") from None

    def time(self, label: str) -> float:
        """Seconds per call of ``label``."""
        return self.entry(label).seconds

    def ratio(self, label: str, other: str | None = None) -> float:
        """``label``'s time over ``other``'s, or over the baseline's when ``other`` is ``None``."""
        if other is None:
            if self.baseline is None:
                raise Missing(f"group {self.name!r} has no baseline; name one with --baseline or in the gate")
            other = self.baseline
        return self.time(label) / self.time(other)

    def compared(self, label: str, other: str | None = None) -> tuple[float, str]:
        """:meth:`ratio`, taken from the interleaved steps where both were measured there: the ratio
        and ``"interleaved"`` or ``"separately"``."""
        peer = other if other is not None else self.baseline
        if label in self.interleaved and peer in self.interleaved:
            return self.interleaved[label].seconds / self.interleaved[peer].seconds, "interleaved"
        return self.ratio(label, other), "separately"


@dataclass(frozen=True)
class Run:
    """The groups of one saved pytest-benchmark run, plus what describes the run."""

    path: Path
    stat: str
    groups: dict[str, Group]
    description: dict[str, Any] = field(default_factory=dict)

    def group(self, name: str) -> Group:
        """The group called ``name``; :class:`Missing` naming the known groups otherwise."""
        try:
            return self.groups[name]
        except KeyError:
            raise Missing(f"no group {name!r} in {self.path} (groups: {', '.join(sorted(self.groups))})") from None

    @property
    def scale(self) -> str:
        """The run's shape-set scale as text (``?`` when the run does not say)."""
        scale = self.description.get("scale")
        return "?" if scale is None else f"{scale:g}"


@dataclass(frozen=True)
class Gate:
    """``metric`` of ``group:label`` (over ``other`` for time) must not exceed ``limit``.

    ``other=None`` for a time gate means the group's baseline. ``runs`` says where the group must
    be (:data:`RUNS`); ``why`` is the reason for the limit, kept in the JSON.
    """

    text: str
    group: str
    label: str
    other: str | None
    limit: float
    metric: str = "time"
    runs: str = "every"
    why: str = ""

    @classmethod
    def parse(cls, text: str) -> Gate:
        """Parse ``GROUP:LABEL[/OTHER]<=LIMIT``; a :class:`UsageError` if it does not fit."""
        match = _GATE.match(text.strip())
        limit = _positive_float(match["limit"]) if match else None
        if match is None or limit is None:
            raise UsageError(f"bad gate {text!r}: expected GROUP:LABEL[/OTHER]<=LIMIT with LIMIT > 0")
        other = match["other"].strip() if match["other"] else None
        return cls(text, match["group"].strip(), match["label"].strip(), other, limit)

    def measure(self, run: Run) -> tuple[float, str]:
        """The gate's ratio in ``run`` and how its figures were measured (``interleaved`` or
        ``separately`` for time, ``memory probe`` otherwise); :class:`Missing` where the run lacks
        what it needs."""
        group = run.group(self.group)
        if self.metric == "time":
            return group.compared(self.label, self.other)
        entry = group.entry(self.label)
        numerator, denominator = {
            "peak-memory": ("peak_step_bytes", "largest_param_bytes"),
            "state": ("state_bytes", "spec_state_bytes"),
        }[self.metric]
        top, bottom = getattr(entry, numerator), getattr(entry, denominator)
        if top is None or not bottom:
            raise Missing(f"{self.group}/{self.label} in {run.path} records no {numerator} and {denominator}")
        return top / bottom, "memory probe"


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict in one run (``run`` is ``None`` when no run had its group)."""

    gate: Gate
    run: Run | None
    ratio: float | None
    verdict: str  # "pass", "fail" or "missing"
    reason: str = ""
    measured: str = ""  # see Gate.measure

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def check_gates(gates: Iterable[Gate], runs: Sequence[Run]) -> list[GateResult]:
    """Every gate's verdict in every run that must (``every``) or does (``any``) have its group."""
    results = []
    for gate in gates:
        with_group = [run for run in runs if gate.group in run.groups]
        checked = runs if gate.runs == "every" else with_group
        if not checked:
            results.append(GateResult(gate, None, None, "missing", f"no run has group {gate.group!r}"))
        for run in checked:
            try:
                ratio, measured = gate.measure(run)
            except Missing as missing:
                results.append(GateResult(gate, run, None, "missing", str(missing)))
                continue
            results.append(GateResult(gate, run, ratio, "pass" if ratio <= gate.limit else "fail", measured=measured))
    return results


def _positive_float(text: object) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value > 0 and math.isfinite(value) else None


# --------------------------------------------------------------------------------------------------
# The targets file
# --------------------------------------------------------------------------------------------------

_TARGET_KEYS = {"metric", "group", "label", "peer", "max", "runs", "why"}


def load_targets(path: Path) -> list[Gate]:
    """The gates of a targets file; a :class:`UsageError` naming the target and key otherwise.

    Each ``[[target]]`` has ``metric`` (one of :data:`METRICS`), ``group``, ``label``, ``max`` (a
    positive limit), for ``time`` a ``peer`` (the label divided by; no other metric takes one),
    and optionally ``runs`` (:data:`RUNS`, default ``every``) and ``why`` (text)::

        [[target]]
        metric = "time"
        group = "adamw"
        label = "optimspec.fused"
        peer = "torch.fused"
        max = 1.10
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"cannot read targets from {path}: {error}") from None
    targets = data.get("target")
    if set(data) != {"target"} or not isinstance(targets, list) or not targets:
        raise UsageError(f"{path}: expected only a non-empty list of [[target]] tables")
    return [_target(path, i, target) for i, target in enumerate(targets)]


def _target(path: Path, index: int, target: dict[str, Any]) -> Gate:
    where = f"{path}: target {index + 1}"
    if unknown := sorted(set(target) - _TARGET_KEYS):
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_TARGET_KEYS))})")

    def text(key: str, allowed: Sequence[str] | None = None, default: str | None = None) -> str:
        value = target.get(key, default)
        if not isinstance(value, str) or not value.strip() or (allowed is not None and value not in allowed):
            expected = f"one of {', '.join(allowed)}" if allowed else "a non-empty string"
            raise UsageError(f"{where}: {key} must be {expected}, got {value!r}")
        return value

    metric = text("metric", METRICS)
    group, label = text("group"), text("label")
    limit = _positive_float(target.get("max")) if not isinstance(target.get("max"), bool) else None
    if limit is None:
        raise UsageError(f"{where}: max must be a finite number > 0, got {target.get('max')!r}")
    if metric == "time":
        peer: str | None = text("peer")
    elif "peer" in target:
        raise UsageError(f"{where}: peer applies only to metric 'time'")
    else:
        peer = None
    runs = text("runs", RUNS, default="every")
    why = target.get("why", "")
    if not isinstance(why, str):
        raise UsageError(f"{where}: why must be a string, got {why!r}")
    return Gate(_target_text(metric, group, label, peer, limit), group, label, peer, limit, metric, runs, why)


def _target_text(metric: str, group: str, label: str, peer: str | None, limit: float) -> str:
    measured = {
        "time": f"{label} / {peer}",
        "peak-memory": f"{label} peak step / largest param",
        "state": f"{label} state / spec state",
    }[metric]
    return f"{group}: {measured} <= {limit:g}"


# --------------------------------------------------------------------------------------------------
# Run files
# --------------------------------------------------------------------------------------------------


def newest_run(storage: Path) -> Path:
    """The most recently written ``*.json`` under ``storage`` (searched recursively)."""
    runs = [path for path in storage.rglob("*.json") if path.is_file()]
    if not runs:
        raise UsageError(f"no saved runs under {storage}/; run pytest with --benchmark-autosave first")
    return max(runs, key=lambda path: (path.stat().st_mtime, path.name))


def _label(entry: dict[str, Any]) -> str:
    return str(entry.get("extra_info", {}).get("label") or entry.get("param") or entry["name"])


def _entry(path: Path, raw: dict[str, Any], stat: str) -> Entry:
    stats, extra = raw["stats"], raw.get("extra_info", {})
    memory = {}
    for name in MEMORY_FIELDS:
        value = extra.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise UsageError(f"{path}: {_label(raw)!r} records {name}={value!r}, not a byte count")
        memory[name] = value
    seconds = float(stats[stat])
    if not (seconds > 0 and math.isfinite(seconds)):
        raise UsageError(f"{path}: {_label(raw)!r} records {stat}={stats[stat]!r}, not a positive time")
    return Entry(seconds, _spread(stats), **memory)


def load_run(path: Path, stat: str = "median", baselines: dict[str, str] | None = None) -> Run:
    """Read a pytest-benchmark JSON file into :class:`Group`\\ s of ``stat`` seconds per call.

    ``baselines`` (group -> label) override the baselines recorded in the run (groups the run
    does not have are ignored; :func:`main` checks that some run has each).
    """
    try:
        data = json.loads(path.read_text())
        raws: list[dict[str, Any]] = data["benchmarks"]
        entries: dict[str, dict[str, Entry]] = {}
        interleaved: dict[str, dict[str, Entry]] = {}
        recorded: dict[str, set[str]] = {}
        for raw in raws:
            if "interleaved_group" in raw.get("extra_info", {}):
                group, turns = _interleaved(path, raw, stat)
                if group in interleaved:
                    raise UsageError(f"{path}: group {group!r} has two interleaved benchmarks")
                interleaved[group] = turns
                continue
            group, label = raw.get("group") or "(no group)", _label(raw)
            if label in entries.setdefault(group, {}):
                raise UsageError(f"{path}: label {label!r} appears twice in group {group!r}")
            entries[group][label] = _entry(path, raw, stat)
            if baseline := raw.get("extra_info", {}).get("baseline"):
                recorded.setdefault(group, set()).add(baseline)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"cannot read a pytest-benchmark run from {path}: {error!r}") from None
    overrides = baselines or {}
    groups = {}
    for name, group_entries in entries.items():
        candidates = sorted(recorded.get(name, set()))
        if name not in overrides and len(candidates) > 1:
            raise UsageError(f"group {name!r} records several baselines ({', '.join(candidates)}); pick one with --baseline")
        baseline = overrides.get(name) or (candidates[0] if candidates else None)
        if baseline is not None and baseline not in group_entries:
            raise UsageError(f"baseline {baseline!r} of group {name!r} was not measured in {path}")
        groups[name] = Group(name, group_entries, baseline, interleaved.pop(name, {}))
    groups.update({name: Group(name, {}, None, turns) for name, turns in interleaved.items()})  # no benchmark of their own
    return Run(path, stat, groups, _describe(data))


def _interleaved(path: Path, raw: dict[str, Any], stat: str) -> tuple[str, dict[str, Entry]]:
    """The group and per-label entries of an interleaved benchmark (``conftest.measure_interleaved``)."""
    extra = raw["extra_info"]
    group, summaries = extra["interleaved_group"], extra.get("interleaved")
    if not isinstance(group, str) or not isinstance(summaries, dict) or not summaries:
        raise UsageError(f"{path}: interleaved benchmark {raw.get('name')!r} records no group and per-label times")
    turns = {}
    for label, summary in summaries.items():
        seconds = summary.get(stat) if isinstance(summary, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (seconds > 0 and math.isfinite(seconds)):
            raise UsageError(f"{path}: interleaved {group!r}/{label!r} records {stat}={seconds!r}, not a positive time")
        turns[str(label)] = Entry(float(seconds), _spread(summary))
    return group, turns


def _spread(stats: dict[str, Any]) -> float | None:
    """IQR / median of one benchmark's rounds, if the run recorded both."""
    iqr, median = stats.get("iqr"), stats.get("median")
    return float(iqr) / float(median) if iqr is not None and median else None


def _describe(data: dict[str, Any]) -> dict[str, Any]:
    """Date, commit, CPU and the optimspec configuration of a run, where present."""
    commit = data.get("commit_info") or {}
    optimspec = data.get("optimspec")
    return {
        "date": data.get("datetime", "?"),
        "commit": str(commit.get("id") or "?")[:10] + (" (dirty)" if commit.get("dirty") else ""),
        "cpu": (data.get("machine_info") or {}).get("cpu", {}).get("brand_raw", "?"),
        **(optimspec if isinstance(optimspec, dict) else {}),
    }


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """``seconds`` in s, ms, µs or ns, whichever leaves 1 to 3 digits before the point; 3 significant digits."""
    unit, factor = next(
        ((unit, factor) for unit, factor in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)) if seconds >= factor), ("ns", 1e-9)
    )
    return f"{_three_digits(seconds / factor)} {unit}"


def format_bytes(count: int) -> str:
    """``count`` bytes in B, KiB, MiB or GiB, 3 significant digits (``0 B`` for none)."""
    unit, factor = next(
        ((unit, factor) for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if count >= factor), ("B", 1)
    )
    return f"{count} B" if factor == 1 else f"{_three_digits(count / factor)} {unit}"


def _three_digits(value: float) -> str:
    decimals = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f}"


@dataclass(frozen=True)
class Row:
    """One line of a run's table, formatted."""

    group: str
    label: str
    time: str
    ratio: str
    state: str
    peak: str
    spread: str
    noisy: bool


def ratio_rows(run: Run, noisy: float = DEFAULT_NOISY) -> list[Row]:
    """One :class:`Row` per entry, groups sorted, fastest first in each; ``noisy`` flags spreads above it."""
    rows = []
    for name in sorted(run.groups):
        group = run.groups[name]
        for label in sorted(group.entries, key=group.time):
            entry = group.entries[label]
            if group.baseline is None:
                ratio = "-"
            elif label == group.baseline:
                ratio = "1.00 (peer)"
            else:
                ratio = f"{group.ratio(label):.2f}"
            peak = "-"
            if entry.peak_step_bytes is not None:
                peak = format_bytes(entry.peak_step_bytes)
                if entry.largest_param_bytes:
                    peak += f" ({entry.peak_step_bytes / entry.largest_param_bytes:.2f}×)"
            rows.append(
                Row(
                    group=name,
                    label=label,
                    time=format_seconds(entry.seconds),
                    ratio=ratio,
                    state="-" if entry.state_bytes is None else format_bytes(entry.state_bytes),
                    peak=peak,
                    spread="-" if entry.spread is None else f"{entry.spread:.0%}",
                    noisy=entry.spread is not None and entry.spread > noisy,
                )
            )
    return rows


COLUMNS = ("group", "implementation", "{stat}", "ratio to peer", "state", "peak step (× largest param)", "spread")


def _noise_note(rows: Sequence[Row], noisy: float) -> str | None:
    flagged = [f"{row.group}/{row.label}" for row in rows if row.noisy]
    if not flagged:
        return None
    return (
        f"spread (IQR / median) above {noisy:.0%} for {', '.join(flagged)}: "
        "the CPU was probably shared; rerun before trusting those ratios"
    )


def _kernel_note(info: dict[str, Any]) -> str | None:
    if "kernel_build_seconds" not in info:
        return None
    seconds, cached = info["kernel_build_seconds"], info.get("kernel_build_cached")
    if seconds is None:
        return "fused kernels: not available (no C compiler?), the fused rows timed the compiler-free fallback"
    return f"fused kernels: {'loaded from the cache' if cached else f'compiled in {seconds:.2f} s (fresh cache)'}"


def _header(run: Run) -> str:
    info = run.description
    text = f"{run.path}\n{info['date']}, commit {info['commit']}, {info['cpu']}"
    if "params" in info:
        layers = f", {info['layers']} layers" if info.get("layers", 12) != 12 else ""
        text += (
            f"\n{info['shape_set']} x{info['scale']:g}{layers}: {info['params']:,} params in {info['tensors']} tensors, "
            f">= {info['rounds']} rounds"
            + (f" and >= {info['min_time']:g} s" if "min_time" in info else "")
            + f" after {info['warmup_rounds']} warmup"
            + (f"; threads: {info['threads'] or 'framework default'}" if "threads" in info else "")
        )
    if "schedule_steps" in info and any(name.startswith("schedule-") for name in run.groups):
        text += f"\nschedules: {info['schedule_rounds']} rounds of {info['schedule_steps']:,} steps"
    if note := _kernel_note(info):
        text += f"\n{note}"
    return text


def _title(run: Run) -> str:
    return f"scale {run.scale}: {run.stat} time per call, ratio to the group's peer, state and peak step memory"


GATE_COLUMNS = ("gate", "scale", "ratio", "measured", "verdict")


def _gate_row(result: GateResult) -> tuple[str, str, str, str, str]:
    scale = "-" if result.run is None else result.run.scale
    ratio = "-" if result.ratio is None else f"{result.ratio:.3f}"
    verdict = result.verdict if not result.reason else f"{result.verdict}: {result.reason}"
    return result.gate.text, scale, ratio, result.measured or "-", verdict


def render_rich(console: Console, runs: Sequence[Run], results: Sequence[GateResult], noisy: float = DEFAULT_NOISY) -> None:
    """Print each run's table, a note on noisy rows, and the gate verdicts with rich."""
    for run in runs:
        console.print(_header(run), style="dim", markup=False, highlight=False, soft_wrap=True)
        table = Table(title=_title(run))
        for column in COLUMNS:
            table.add_column(column.format(stat=run.stat), justify="left" if column in COLUMNS[:2] else "right")
        rows = ratio_rows(run, noisy)
        previous = None
        for row in rows:
            if previous is not None and row.group != previous:
                table.add_section()
            spread = f"[yellow]{row.spread}[/yellow]" if row.noisy else row.spread
            group = row.group if row.group != previous else ""
            table.add_row(*map(escape, (group, row.label, row.time, row.ratio, row.state, row.peak)), spread)
            previous = row.group
        console.print(table)
        if note := _noise_note(rows, noisy):
            console.print(note, style="yellow", markup=False, highlight=False)
    if results:
        gates = Table(title="targets")
        for column in GATE_COLUMNS:
            gates.add_column(column)
        for result in results:
            *cells, verdict = map(escape, _gate_row(result))
            style = "green" if result.passed else "bold red"
            gates.add_row(*cells, f"[{style}]{verdict}[/{style}]")
        console.print(gates)


def render_markdown(runs: Sequence[Run], results: Sequence[GateResult], noisy: float = DEFAULT_NOISY) -> str:
    """The same tables as Markdown (for pasting into a README or a pull request)."""
    lines: list[str] = []
    for run in runs:
        rows = ratio_rows(run, noisy)
        lines += [*(f"<!-- {line} -->" for line in _header(run).splitlines()), "", f"**{_title(run)}**", ""]
        lines += ["| " + " | ".join(column.format(stat=run.stat) for column in COLUMNS) + " |"]
        lines += ["|---|---|---:|---:|---:|---:|---:|"]
        lines += [
            f"| {r.group} | {r.label} | {r.time} | {r.ratio} | {r.state} | {r.peak} | {r.spread}{' (!)' if r.noisy else ''} |"
            for r in rows
        ]
        if note := _noise_note(rows, noisy):
            lines += ["", f"(!) {note}"]
        lines.append("")
    if results:
        lines += ["| target | scale | ratio | measured | verdict |", "|---|---:|---:|---|---|"]
        lines += ["| `{}` | {} | {} | {} | {} |".format(*_gate_row(result)) for result in results]
    return "\n".join(lines).rstrip()


def report(runs: Sequence[Run], results: Sequence[GateResult]) -> dict[str, Any]:
    """Every ratio and every gate verdict, JSON-ready (what ``--json`` writes)."""

    def implementation(group: Group, label: str) -> dict[str, Any]:
        entry = group.entries[label]
        return {
            "seconds": entry.seconds,
            "spread": entry.spread,
            "ratio_to_peer": None if group.baseline is None else group.ratio(label),
            "ratios": {other: group.ratio(label, other) for other in group.entries if other != label},
            **{name: getattr(entry, name) for name in MEMORY_FIELDS},
        }

    return {
        "passed": all(result.passed for result in results),
        "runs": [
            {
                "path": str(run.path),
                "stat": run.stat,
                "description": run.description,
                "groups": {
                    name: {
                        "peer": group.baseline,
                        "implementations": {label: implementation(group, label) for label in group.entries},
                        "interleaved": {label: {"seconds": e.seconds, "spread": e.spread} for label, e in group.interleaved.items()},
                    }
                    for name, group in sorted(run.groups.items())
                },
            }
            for run in runs
        ],
        "gates": [
            {
                "gate": result.gate.text,
                "metric": result.gate.metric,
                "group": result.gate.group,
                "label": result.gate.label,
                "peer": result.gate.other,
                "max": result.gate.limit,
                "runs": result.gate.runs,
                "why": result.gate.why,
                "run": None if result.run is None else str(result.run.path),
                "scale": None if result.run is None else result.run.description.get("scale"),
                "ratio": result.ratio,
                "measured": result.measured,
                "verdict": result.verdict,
                "reason": result.reason,
            }
            for result in results
        ],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as out:
        try:
            json.dump(data, out, indent=2)
            out.write("\n")
        except BaseException:
            os.unlink(out.name)
            raise
    os.replace(out.name, path)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


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
        description="One table of ratios and memory per pytest-benchmark run, and the targets' verdicts.",
    )
    parser.add_argument("runs", nargs="*", type=Path, help="run JSON files (default: the newest under --storage)")
    parser.add_argument("--storage", type=Path, default=DEFAULT_STORAGE, help="where autosaved runs live")
    parser.add_argument("--stat", choices=STATS, default="median", help="statistic to compare (default median)")
    parser.add_argument("--baseline", action="append", default=[], metavar="GROUP=LABEL", help="override a peer")
    parser.add_argument("--gate", action="append", default=[], metavar="SPEC", help="GROUP:LABEL[/OTHER]<=LIMIT")
    targets = parser.add_mutually_exclusive_group()
    targets.add_argument("--targets", type=Path, default=DEFAULT_TARGETS, help=f"targets file (default {DEFAULT_TARGETS.name})")
    targets.add_argument("--no-targets", action="store_true", help="check only the --gate gates")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every ratio and verdict as JSON")
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
    console = console or Console(width=max(Console().width, MIN_WIDTH))
    try:
        gates = [] if args.no_targets else load_targets(args.targets)
        gates += [Gate.parse(text) for text in args.gate]
        paths = args.runs or [newest_run(args.storage)]
        baselines = _baseline_overrides(args.baseline)
        runs = [load_run(path, args.stat, baselines) for path in paths]
        for group in baselines:
            if not any(group in run.groups for run in runs):
                raise UsageError(f"--baseline names group {group!r}, which no run has")
    except UsageError as error:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    results = check_gates(gates, runs)
    if args.markdown:
        console.print(render_markdown(runs, results, args.noisy), markup=False, highlight=False, soft_wrap=True)
    else:
        render_rich(console, runs, results, args.noisy)
    if args.json is not None:
        write_json(args.json, report(runs, results))
    return EXIT_OK if all(result.passed for result in results) else EXIT_GATE_FAILED


if __name__ == "__main__":
    sys.exit(main())
