"""``optimspec divergences suggest REPORT.json``: a divergence file that accepts exactly the failures
of a report, for its author to edit.

One entry per case that does not pass against the spec (``fail``, ``error``, ``xfail``; a
``pass_with_override`` becomes a ``tolerance`` entry), matched by its exact id, grouped under a
comment per diagnosis. Each entry is as narrow as the report allows: ``when.behaves_like`` names
the conventions the diagnosis measured, and ``when.max_error`` caps the measured error (rounded up
to two significant digits), so the file cannot excuse a different or larger failure later. A
crash gets no cap (the next crash is covered only while it raises). Reasons, kinds and links are
marked ``EDIT``; the file parses as written.

>>> cap(61.52)
62.0
>>> cap(3.2289e9)
3300000000.0
"""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Mapping
from typing import Any

from . import golden
from .diagnosis import named_conventions
from .diff import diagnosis_key

SUGGESTED = ("fail", "error", "xfail", "pass_with_override")


def cap(error: float) -> float:
    """``error`` rounded up to two significant digits."""
    if error <= 0.0:
        return 0.0
    unit = 10.0 ** (math.floor(math.log10(error)) - 1)
    return float(f"{math.ceil(error / unit - 1e-9) * unit:.2g}")


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _error(case: Mapping[str, Any]) -> float | None:
    """The case's measured error (ε·S) when it is a finite, positive measurement of computed values
    (a crash measures nothing: 0)."""
    if case["outcome"] == "error":
        return None
    value = float(golden.decode_number((case.get("measured") or {}).get("max_k", 0.0)))
    return value if math.isfinite(value) and value > 0.0 else None


def _group(case: Mapping[str, Any]) -> str:
    """The comment heading the case's group: its diagnosis without numbers, or how it ended."""
    if case["outcome"] == "pass_with_override":
        return "within an override budget (numerics)"
    return diagnosis_key(case.get("diagnosis", "")) or case.get("message", "").split(":")[0] or case["outcome"]


def _entry(case: Mapping[str, Any]) -> list[str]:
    named = sorted(named_conventions(case.get("diagnosis", "")))
    diagnosis = case.get("diagnosis") or ""
    error = _error(case)
    lines = ["[[divergence]]", f"match = {_string(glob.escape(case['id']))}"]
    if case["outcome"] == "pass_with_override":
        lines += ['kind = "numerics"', 'outcome = "tolerance"', f"tolerance = {cap(error or case['measured'].get('budget_k', 1.0))!r}"]
    else:
        kind = "convention" if named else "numerics" if "precision" in diagnosis or "float32 arithmetic" in diagnosis else "bug"
        lines += [f"kind = {_string(kind)}", 'outcome = "xfail"']
        if kind == "bug":
            lines.append('link = "EDIT: the bug report"')
    measured = "; ".join(part for part in (case.get("message", ""), diagnosis) if part)
    lines.append(f"reason = {_string('EDIT: why. Measured: ' + measured)}")
    when = []
    if named:
        when.append(f"behaves_like = {_string(', '.join(named))}")
    if error is not None and case["outcome"] != "pass_with_override":
        when.append(f"max_error = {cap(error)!r}")
    if when:
        lines += ["[divergence.when]", *when]
    return lines


def suggest(report: Mapping[str, Any], source: str = "REPORT") -> str:
    """The TOML text of a divergence file accepting exactly the report's failures."""
    cases = [case for case in report["cases"] if case["outcome"] in SUGGESTED]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for case in cases:
        groups.setdefault(_group(case), []).append(case)
    adapter = report["adapter"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted((adapter.get("versions") or {}).items()))
    lines = [
        f"# Suggested by `optimspec divergences suggest {source}` for {adapter.get('requested', adapter.get('name'))} ({versions or 'versions not reported'}).",
        f"# {len(cases)} entries, one per case that does not pass against the spec, grouped by diagnosis. Each is",
        "# narrowed to the diagnosis it has (when.behaves_like) and to its measured error (when.max_error, in ε·S).",
        "# Replace every EDIT (reason, kind, link) before committing; merge entries with globs only where the reason is shared.",
    ]
    xpass = [case["id"] for case in report["cases"] if case["outcome"] == "xpass"]
    if xpass:
        lines.append(f"# Not listed: {len(xpass)} case(s) that pass although an entry expected a failure (drop those entries): {', '.join(xpass)}")
    for title, members in groups.items():
        lines += ["", "", f"# {title} ({len(members)} case{'s' * (len(members) != 1)})"]
        for case in members:
            lines += ["", *_entry(case)]
    return "\n".join(lines) + "\n"

