"""``optimspec explain CASE [--adapter NAME]``: everything about one golden case in one screen.

Inputs, expected values, the formula (the reference module's docstring), flags, hyperparameters
(the case's and the defaults), the conventions the case is proven to separate, and, with an adapter,
its verdict, values and a per-element diff in ε·S units (the budget's units, see compare.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from optimspec.reference import registry
from optimspec.reference._dtypes import EPS

from . import compare, golden
from .console import say
from .decode import Case, decode_tensors, schedule_inputs
from .expected import describe, optimizer_expectation, schedule_eps, schedule_expectation
from .runner import CaseResult

MAX_DIFF_TABLES = 8


def _fmt(value: Any) -> str:
    """A number exactly (repr round-trips), arrays flat."""
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(_fmt(float(v)) for v in value.reshape(-1)) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _print_block(console: Console, title: str, text: str) -> None:
    say(console, "")
    say(console, title, "bold")
    say(console, text.rstrip())


# --------------------------------------------------------------------------------------------------
# the case itself
# --------------------------------------------------------------------------------------------------


def _header(case: Case) -> str:
    lines = [
        f"id:          {case.id}",
        f"algorithm:   {case.algorithm} ({case.kind})",
        f"group:       {case.group.get('name', 'invalid')} — {case.group.get('description', '')}".rstrip(" —"),
        f"dtype:       {case.dtype}",
        f"description: {case.raw.get('description', '')}",
        f"flags:       {', '.join(case.raw.get('flags', [])) or '—'}",
    ]
    if not case.invalid:
        lines.append(f"tolerance:   {case.group['tolerance']}")
    return "\n".join(lines)


def _hparams(case: Case) -> str:
    declared = case.file.data.get("hparams", {})
    given = case.raw.get("hparams", {})
    lines = []
    for name, meta in declared.items():
        value = given.get(name, meta.get("default"))
        source = "given" if name in given else "default"
        lines.append(f"{name} = {value!r}  ({source}; {meta.get('domain', '')}) {meta.get('doc', '')}".rstrip())
    lines.extend(f"{name} = {value!r}  (given; not a declared hyperparameter)" for name, value in given.items() if name not in declared)
    for index, group in enumerate(case.raw.get("param_groups") or []):
        lines.append(f"param group {index}: params {group['params']}, overrides {group['hparams']}")
    if case.invalid:
        lines.append(f"expected: {case.raw['error']} naming `{case.raw['argument']}`")
    return "\n".join(lines) or "—"


def _conventions(case: Case) -> str:
    separated = case.raw.get("discriminates") or {}
    declared = case.file.data.get("conventions", {})
    if not separated:
        return "none: no alternative convention moves this case by 100× its budget"
    lines = []
    for axis, values in separated.items():
        spec_value = declared.get(axis, {}).get("values", ["?"])[0]
        apart = ", ".join(f"{value} (×{factor:g} the budget)" for value, factor in values.items())
        lines.append(f"{axis}: spec {spec_value}; separates {apart}")
        doc = declared.get(axis, {}).get("doc")
        if doc:
            lines.append(f"    {doc}")
    return "\n".join(lines)


def _inputs(case: Case) -> str:
    if case.invalid:
        return f"hparams {case.raw['hparams']}"
    if case.kind == "optimizer":
        lines = [f"params[{n}] = {_fmt(v)}" for n, v in decode_tensors(case.raw["params"]).items()]
        for t, grads in enumerate(case.raw["grads"], start=1):
            lines.extend(f"grad step {t} [{n}] = {_fmt(v) if v is not None else 'None'}" for n, v in decode_tensors(grads).items())
        return "\n".join(lines)
    if case.kind == "schedule":
        return f"inputs: {schedule_inputs(case)}"
    return "\n".join(f"event {i}: {_accumulator_event(e)}" for i, e in enumerate(case.raw["events"]))


def _expected(case: Case) -> str:
    if case.invalid:
        return f"{case.raw['error']} naming `{case.raw['argument']}`"
    if case.kind == "optimizer":
        lines = []
        for checkpoint in case.raw["checkpoints"]:
            for name, tensor in decode_tensors(checkpoint["params"]).items():
                lines.append(f"step {checkpoint['step']} params[{name}] = {_fmt(tensor)}")
        return "\n".join(lines)
    if case.kind == "schedule":
        expected = golden.decode_tensor(case.raw["expected"])
        return "\n".join(f"{x!r:>8} -> {_fmt(row)}" for x, row in zip(schedule_inputs(case), expected))
    return "\n".join(f"after event {i}: {_accumulator_outcome(e)}" for i, e in enumerate(case.raw["expected"]))


def _slots(grads: Sequence[Any] | None) -> str:
    if grads is None:
        return "uninitialized"
    return "[" + ", ".join("None" if g is None else _fmt(golden.decode_tensor(g)) for g in grads) + "]"


def _accumulator_event(event: Mapping[str, Any]) -> str:
    return "reset()" if "reset" in event else f"call({_slots(event['call'])})"


def _accumulator_outcome(outcome: Mapping[str, Any]) -> str:
    """step, sums and whether the call raised (``error`` names an exception, not a number)."""
    raised = f", raises {outcome['error']}" if outcome.get("error") else ""
    return f"step {outcome['step']}, gradients {_slots(outcome['gradients'])}{raised}"


def describe_case(case: Case, console: Console) -> None:
    """Print the case: header, hyperparameters, conventions, formula, inputs, expected values."""
    _print_block(console, case.id, _header(case))
    _print_block(console, "hyperparameters", _hparams(case))
    _print_block(console, "conventions this case separates", _conventions(case))
    _print_block(console, f"formula ({registry.module(case.algorithm).__name__})", registry.module(case.algorithm).__doc__ or "")
    _print_block(console, "inputs", _inputs(case))
    _print_block(console, "expected", _expected(case))


# --------------------------------------------------------------------------------------------------
# an adapter's values against the expected ones
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffTable:
    """Expected vs actual for one array, with the error in ε·S units per element."""

    title: str
    labels: Sequence[str]
    expected: np.ndarray
    actual: np.ndarray
    k: np.ndarray
    budget: float
    label_name: str = "element"

    @property
    def failing(self) -> bool:
        return bool(np.any(self.k > self.budget)) or not np.array_equal(np.isnan(self.expected), np.isnan(self.actual))


def _k(actual: np.ndarray, expected: np.ndarray, scale: np.ndarray | float, eps: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        error = np.abs(actual - expected)
        k = np.where(error == 0.0, 0.0, error / (eps * np.broadcast_to(scale, expected.shape)))
    return np.where(np.isnan(k), np.inf, k)


def _optimizer_tables(case: Case, actual: Mapping[str, Mapping[int, Mapping[str, Any]]], conventions: Mapping[str, str]) -> Iterator[DiffTable]:
    expected = optimizer_expectation(case, conventions)
    eps = EPS[case.group["dtype"]]
    tolerance = case.group["tolerance"]
    for mode, steps in actual.items():
        for t, got in steps.items():
            in_ulps = False
            if mode == "teacher_forced":
                scales, budget = expected.teacher_forced[t], tolerance["teacher_forced"]["k"]
                in_ulps = tolerance["teacher_forced"]["metric"] == "ulps"
            else:
                fr = tolerance["free_running"]
                scales, budget = expected.free_running[t], fr["k"] + fr["growth_per_step"] * t
            for name, values_expected in expected.checkpoints[t]["params"].items():
                values = np.asarray(got[name], dtype=np.float64).reshape(values_expected.shape)
                labels = [str(list(i)) for i in np.ndindex(values_expected.shape)] if values_expected.ndim else ["[]"]
                # ulps of the result: the scaled metric with S = ulp(expected) and a unit ε
                unit, scale = (1.0, compare.ulp(case.group["dtype"], values_expected)) if in_ulps else (eps, scales.params[name])
                yield DiffTable(f"params[{name}] at step {t} ({mode})", labels, values_expected.reshape(-1), values.reshape(-1), _k(values, values_expected, scale, unit).reshape(-1), budget)


def _schedule_tables(case: Case, caps: Any, actual: np.ndarray, conventions: Mapping[str, str]) -> Iterator[DiffTable]:
    expected = schedule_expectation(case, conventions)
    k = _k(actual, expected.values, expected.scale, schedule_eps(case, caps.schedule_dtype))
    labels = [repr(x) for x in schedule_inputs(case)]
    for column in range(expected.values.shape[1]):
        yield DiffTable(f"lr of group {column}", labels, expected.values[:, column], actual[:, column], k[:, column], case.group["tolerance"]["k"], "input")


def diff_tables(case: Case, caps: Any, result: CaseResult) -> list[DiffTable]:
    """Per-element diffs of what the adapter returned against what it was judged against (under
    its declared conventions), empty if it returned nothing comparable."""
    if result.actual is None:
        return []
    try:
        if case.kind == "optimizer":
            return list(_optimizer_tables(case, result.actual, result.conventions))
        if case.kind == "schedule":
            return list(_schedule_tables(case, caps, np.asarray(result.actual, dtype=np.float64), result.conventions))
    except (ValueError, KeyError):  # wrong shapes: the verdict already says so
        return []
    return []


def _render_table(table: DiffTable, console: Console) -> None:
    rich_table = Table(title=Text(f"{table.title} (budget {table.budget:g} ε·S)"), title_justify="left")
    for column in (table.label_name, "expected", "actual", "|a − e|", "ε·S"):
        rich_table.add_column(column, justify="right")
    for label, e, a, k in zip(table.labels, table.expected, table.actual, table.k):
        style = "red" if k > table.budget or np.isnan(e) != np.isnan(a) else ""
        with np.errstate(invalid="ignore"):
            error = abs(a - e)
        rich_table.add_row(Text(label), repr(float(e)), repr(float(a)), f"{error:.3g}", f"{k:.3g}", style=style)
    console.print(rich_table)


def describe_result(case: Case, caps: Any, result: CaseResult, console: Console) -> None:
    """Print an adapter's verdict on the case and its per-element diffs (failing arrays first)."""
    lines = [f"outcome:   {result.outcome}", f"measured:  {result.measured.as_dict()}"]
    if result.conventions:
        lines.append(f"judged under the declared conventions {describe(result.conventions)} (expected values from the reference under them)")
    for label, text in (("why", result.message), ("diagnosis", result.diagnosis), ("divergence", result.divergence)):
        if text:
            lines.append(f"{label + ':':<10} {text}")
    _print_block(console, "adapter verdict", "\n".join(lines))
    tables = sorted(diff_tables(case, caps, result), key=lambda t: not t.failing)
    for table in tables[:MAX_DIFF_TABLES]:
        _render_table(table, console)
    if len(tables) > MAX_DIFF_TABLES:
        say(console, f"... {len(tables) - MAX_DIFF_TABLES} more arrays not shown")
