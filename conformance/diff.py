"""``optimspec report diff OLD.json NEW.json``: what changed between two runs, case by case (by id),
and which changes are regressions.

A case *regressed* when

* its outcome got worse (:data:`RANK`: pass < pass_with_override < xpass < xfail < skip,
  not_applicable, unsupported < fail, error), when it fails now and did not (a strict xpass), or
  when a failing case stopped being judged;
* its measured error (ε·S, passing cases too) grew by more than ``error_growth`` (default 10×);
  errors below one ε·S are rounding and count as one, and an error that became infinite (NaN,
  ±inf) grew without bound;
* it failed before and after, with another diagnosis (numbers and parenthesized details aside);
* it disappeared.

An outcome that got better is an *improvement*; any other difference (an outcome, a diagnosis of a
passing case, …) is *changed*; new cases are *added*. Every entry carries the old → new outcome,
errors and diagnosis, and the reasons it is listed.

>>> diagnosis_key("behaves like eps_placement=after_bias_correction, up to numerics (1.2× the budget under it, 3e9× under the spec)")
'behaves like eps_placement=after_bias_correction, up to numerics'
>>> diagnosis_key("no named convention explains it; the worst element is 1.14e+07 ulps off: looks like behaviour, not precision")
'no named convention explains it; the worst element is # ulps off: looks like behaviour, not precision'
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from . import golden
from .console import TextTable, print_table, resolve_format, say

DEFAULT_ERROR_GROWTH = 10.0
RANK = {
    "pass": 0, "pass_with_override": 1, "xpass": 2, "xfail": 3,
    "skip": 4, "not_applicable": 4, "unsupported": 4, "fail": 5, "error": 5,
}
UNJUDGED = ("skip", "not_applicable", "unsupported")
PASSING = ("pass", "pass_with_override", "xpass")
ERROR_FLOOR = 1.0  # ε·S: below it an error is rounding, and growth is measured from here


@dataclass(frozen=True)
class Change:
    """One case's change from the old report to the new (None: absent on that side)."""

    id: str
    old: str | None
    new: str | None
    old_error: float | None = None  # measured max error, ε·S
    new_error: float | None = None
    old_diagnosis: str = ""
    new_diagnosis: str = ""
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "old": self.old, "new": self.new,
            "old_error": _number(self.old_error), "new_error": _number(self.new_error),
            "old_diagnosis": self.old_diagnosis, "new_diagnosis": self.new_diagnosis, "reasons": list(self.reasons),
        }


def _number(value: float | None) -> float | str | None:
    return value if value is None or math.isfinite(value) else golden.encode_number(value)


@dataclass(frozen=True)
class Diff:
    regressions: list[Change]
    improvements: list[Change]
    changed: list[Change]
    added: list[Change]
    error_growth: float = DEFAULT_ERROR_GROWTH

    @property
    def sections(self) -> tuple[tuple[str, list[Change]], ...]:
        return (("regression", self.regressions), ("improvement", self.improvements), ("changed", self.changed), ("added", self.added))

    def summary(self) -> str:
        """``"3 regressions (1 worse outcome, 1 error growth, 1 disappeared), 1 improvement, …"``."""
        why = Counter(reason.split(":")[0] for change in self.regressions for reason in change.reasons)
        kinds = ", ".join(f"{n} {kind}" for kind, n in why.items())
        counts = [f"{len(self.regressions)} regression{'s' * (len(self.regressions) != 1)}" + (f" ({kinds})" if kinds else "")]
        counts += [f"{len(changes)} {name if name in ('changed', 'added') else name + 's' * (len(changes) != 1)}" for name, changes in self.sections[1:]]
        return ", ".join(counts) + f" (error growth threshold {self.error_growth:g}×)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_growth": self.error_growth,
            "summary": {name: len(changes) for name, changes in self.sections},
            "regressions": [c.as_dict() for c in self.regressions], "improvements": [c.as_dict() for c in self.improvements],
            "changed": [c.as_dict() for c in self.changed], "added": [c.as_dict() for c in self.added],
        }


def diagnosis_key(diagnosis: str) -> str:
    """A diagnosis without its numbers and parenthesized details (budget ratios, ulps, line
    numbers), so that only a change of substance counts (convention values such as
    ``beta2_cap=0.999`` are kept)."""
    text, previous = diagnosis, None
    while text != previous:  # nested parentheses, innermost first
        text, previous = re.sub(r"\([^()]*\)", "", text), text
    text = re.sub(r"(?<![\w.=])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])", "#", text)
    text = re.sub(r"\s+", " ", text).strip(" ;,")
    return re.sub(r"\s+([,;:])", r"\1", text)


def _error(case: Mapping[str, Any]) -> float | None:
    measured = case.get("measured") or {}
    if "max_k" not in measured:
        return None
    return float(golden.decode_number(measured["max_k"]))


def _regression_reasons(was: Mapping[str, Any], now: Mapping[str, Any], error_growth: float) -> list[str]:
    """Why the case regressed, each ``"<kind>: <details>"`` (empty: it did not)."""
    reasons = []
    old, new = was["outcome"], now["outcome"]
    if RANK.get(new, 5) > RANK.get(old, 5):
        reasons.append(f"worse outcome: {old} → {new}")
    elif now.get("failing") and not was.get("failing"):
        reasons.append(f"newly failing: {old} → {new}")
    elif new in UNJUDGED and old in ("fail", "error"):
        reasons.append(f"no longer judged: {old} → {new} (the failure is out of sight, not fixed)")
    old_error, new_error = _error(was), _error(now)
    if old_error is not None and new_error is not None and math.isfinite(old_error) and new_error > error_growth * max(old_error, ERROR_FLOOR):
        reasons.append(f"error growth: {new_error / max(old_error, ERROR_FLOOR):.3g}× ({old_error:.3g} → {new_error:.3g} ε·S)")
    if old not in PASSING and new not in PASSING and diagnosis_key(now.get("diagnosis", "")) != diagnosis_key(was.get("diagnosis", "")):
        reasons.append("diagnosis changed")
    return reasons


def diff(old: Mapping[str, Any], new: Mapping[str, Any], error_growth: float = DEFAULT_ERROR_GROWTH) -> Diff:
    """Compare two reports case by case (by id)."""
    before = {c["id"]: c for c in old["cases"]}
    after = {c["id"]: c for c in new["cases"]}
    regressions, improvements, changed = [], [], []
    for case_id, now in after.items():
        was = before.get(case_id)
        if was is None:
            continue
        reasons = _regression_reasons(was, now, error_growth)
        change = _change(case_id, was, now, tuple(reasons))
        if reasons:
            regressions.append(change)
        elif RANK.get(now["outcome"], 5) < RANK.get(was["outcome"], 5) or (was.get("failing") and not now.get("failing")):
            improvements.append(change)
        elif was["outcome"] != now["outcome"] or diagnosis_key(was.get("diagnosis", "")) != diagnosis_key(now.get("diagnosis", "")):
            changed.append(change)
    regressions += [_change(i, c, None, ("disappeared: not in the new report",)) for i, c in before.items() if i not in after]
    added = [_change(i, None, c, ()) for i, c in after.items() if i not in before]
    return Diff(regressions, improvements, changed, added, error_growth)


def _change(case_id: str, was: Mapping[str, Any] | None, now: Mapping[str, Any] | None, reasons: tuple[str, ...]) -> Change:
    return Change(
        case_id, was["outcome"] if was else None, now["outcome"] if now else None,
        _error(was) if was else None, _error(now) if now else None,
        (was or {}).get("diagnosis", ""), (now or {}).get("diagnosis", ""), reasons,
    )


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------


def _arrow(old: Any, new: Any) -> str:
    return f"{'—' if old is None else old} → {'—' if new is None else new}"


def _errors(change: Change) -> str:
    def said(value: float | None) -> str | None:
        return None if value is None else f"{value:.3g}"

    return _arrow(said(change.old_error), said(change.new_error))


def _diagnosis(change: Change) -> str:
    if diagnosis_key(change.old_diagnosis) == diagnosis_key(change.new_diagnosis):
        return change.new_diagnosis
    return _arrow(change.old_diagnosis or '""', change.new_diagnosis or '""')


def table(result: Diff) -> TextTable:
    """One row per change: what it is, the case, old → new outcome, error (ε·S) and diagnosis, why."""
    rows = TextTable(("change", "case", "outcome", "error ε·S", "diagnosis", "why"), caption=result.summary())
    for name, changes in result.sections:
        for change in changes:
            rows.add_row(name, change.id, _arrow(change.old, change.new), _errors(change), _diagnosis(change), "; ".join(change.reasons), style="bold red" if name == "regression" else "")
    return rows


def render(result: Diff, console: Console, fmt: str = "auto") -> None:
    """The diff as a table (boxed on a terminal, plain when piped), Markdown, or JSON (every field)."""
    if resolve_format(fmt, console) == "json":
        import json

        say(console, json.dumps(result.as_dict(), ensure_ascii=False, indent=1))
        return
    rows = table(result)
    if not rows.rows:
        say(console, result.summary())
        return
    print_table(console, rows, fmt)

