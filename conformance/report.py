"""Reports: the JSON contract, and its renderings (terminal matrix, Markdown, JUnit XML, the combined
matrix of every adapter and the published ``docs/conformance.md``); comparing two is :mod:`.diff`.

The JSON report is the machine contract (``docs/design.md``, "Reports"). Every renderer here reads a report *dict* (a fresh one or one loaded from disk), never the
runner's objects, so ``optimspec report OLD.json`` renders exactly what ``check`` printed.

Counting unit: one case id (a case id already names its dtype). ``xfail``, ``not_applicable`` and
``unsupported`` stay in the denominator and get their own columns.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import fastjsonschema
from rich.console import Console

from . import golden
from .adapters.base import AlgorithmSupport, Capabilities
from .boundary import clean_text, clean_tree
from .console import TextTable, labelled, markdown_escape, markdown_table, print_table, say
from .diagnosis import EXPLAINED, UNEXPLAINED, named_conventions
from .expected import describe
from .runner import OUTCOMES, RunRecord

REPORT_FORMAT = 1
CHECKED = ("pass", "pass_with_override", "fail", "error", "xfail", "xpass")  # outcomes that ran against the spec
SYMBOLS = {  # cells list counts in this order: "12✓ 2~ 1✗"
    "pass": "✓", "pass_with_override": "≈", "xfail": "~", "xpass": "!", "fail": "✗", "error": "E",
    "skip": "s", "not_applicable": "∅", "unsupported": "–",
}
LEGEND = "  ".join(f"{symbol} {outcome}" for outcome, symbol in SYMBOLS.items())
MAX_LISTED_FAILURES = 25


class ReportError(Exception):
    """A file that is not an optimspec JSON report (a usage error)."""


# --------------------------------------------------------------------------------------------------
# building the JSON report
# --------------------------------------------------------------------------------------------------


def suite_version() -> str:
    try:
        return version("optimspec")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def golden_section(root: Path) -> dict[str, Any]:
    """Which golden vectors a run used: the manifest's hash pins every file."""
    manifest = golden.load_manifest(root)
    return {
        "root": str(root),
        "manifest_sha256": golden.sha256((root / golden.MANIFEST_NAME).read_bytes()),
        "format_version": manifest.get("format_version"),
        "spec_version": manifest.get("spec_version"),
    }


def capabilities_dict(caps: Capabilities) -> dict[str, Any]:
    return {
        "algorithms": {
            name: {
                "variant": dict(s.variant), "dtypes": list(s.dtypes) if s.dtypes else None, "state_names": dict(s.state_names),
                "unexported_state": list(s.unexported_state), "notes": s.notes,
            }
            for name, s in sorted(caps.algorithms.items())
        },
        "dtypes": list(caps.dtypes),
        "can_load_state": caps.can_load_state,
        "can_export_state": caps.can_export_state,
        "validates_hparams": caps.validates_hparams,
        "schedule_dtype": caps.schedule_dtype,
    }


def capabilities_from_dict(data: Mapping[str, Any]) -> Capabilities:
    """The inverse of :func:`capabilities_dict`."""
    algorithms = {
        name: AlgorithmSupport(
            variant=dict(s["variant"]), dtypes=tuple(s["dtypes"]) if s["dtypes"] else None, state_names=dict(s["state_names"]),
            unexported_state=tuple(s.get("unexported_state", ())), notes=s["notes"],
        )
        for name, s in data["algorithms"].items()
    }
    return Capabilities(algorithms, tuple(data["dtypes"]), data["can_load_state"], data["can_export_state"], data["validates_hparams"], data["schedule_dtype"])


def _jsonable(value: Any) -> Any:
    """Adapter info may carry tuples or numbers from frameworks: plain JSON types only."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return golden.encode_number(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def dedupe(messages: Iterable[str]) -> list[dict[str, Any]]:
    """Warnings once each, with how often they occurred, in first-seen order."""
    return [{"message": message, "count": count} for message, count in Counter(messages).items()]


def summarize(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per outcome, and per algorithm × dtype × outcome (non-zero only). ``checked``: cases
    whose values were judged against the spec (:data:`CHECKED`); a run that checked none is not
    conformant (a CI job that checks nothing must not pass)."""
    by_algorithm: dict[str, dict[str, dict[str, int]]] = {}
    for case in cases:
        cell = by_algorithm.setdefault(case["algorithm"], {}).setdefault(case["dtype"], {})
        cell[case["outcome"]] = cell.get(case["outcome"], 0) + 1
    outcomes = Counter(case["outcome"] for case in cases)
    failing = sum(1 for case in cases if case["failing"])
    checked = sum(outcomes[outcome] for outcome in CHECKED)
    return {
        "total": len(cases),
        "checked": checked,
        "failing": failing,
        "conformant": failing == 0 and checked > 0,
        "outcomes": {outcome: outcomes.get(outcome, 0) for outcome in OUTCOMES},
        "by_algorithm": by_algorithm,
    }


def build(record: RunRecord, golden_root: Path) -> dict[str, Any]:
    """The JSON report of one run."""
    cases = [result.as_dict() for result in record.results]
    gold = golden_section(golden_root)
    adapter = {**_jsonable(record.info), "requested": record.adapter_ref, "capabilities": clean_tree(capabilities_dict(record.capabilities))}
    return {
        "report_format": REPORT_FORMAT,
        "suite_version": suite_version(),
        "spec_version": gold["spec_version"],
        "golden": gold,
        "adapter": adapter,
        "options": record.options.as_dict(),
        "divergence_files": [file.as_dict() for file in record.divergences.files],
        "duration_s": round(record.duration_s, 3),
        "summary": summarize(cases),
        "warnings": dedupe(record.warnings),
        "cases": cases,
    }


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------


def write(path: Path, data: bytes | str) -> None:
    """Write a report file atomically (never half-written), with the usual permissions."""
    golden.write_atomic(Path(path), data.encode("utf-8") if isinstance(data, str) else data)


def to_json(report: Mapping[str, Any]) -> bytes:
    return golden.canonical_bytes(report)


REPORT_SCHEMA = "report.schema.json"  # shipped beside this module


@functools.lru_cache(maxsize=1)
def _report_validator() -> Any:
    return fastjsonschema.compile(json.loads(resources.files(__package__).joinpath(REPORT_SCHEMA).read_bytes()), use_formats=False)


def load(path: Path) -> dict[str, Any]:
    """A JSON report from disk, validated against ``report.schema.json`` (case ids unique); its
    strings are cleaned like an adapter's. ReportError naming the file and the problem otherwise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); not an optimspec report") from None
    except (ValueError, RecursionError) as exc:  # truncated, not JSON, absurd numbers or nesting
        raise ReportError(f"{path}: not JSON ({clean_text(str(exc)[:200])}); not an optimspec report") from None
    if not isinstance(data, dict) or data.get("report_format") != REPORT_FORMAT or not isinstance(data.get("cases"), list):
        raise ReportError(f"{path}: not an optimspec report (report_format {REPORT_FORMAT} with a `cases` list)")
    try:
        _report_validator()(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ReportError(f"{path}: not a valid optimspec report: {clean_text(exc.message)[:300]}") from None
    ids = [case["id"] for case in data["cases"]]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ReportError(f"{path}: not a valid optimspec report: case {clean_text(duplicate)} appears twice")
    return clean_tree(data)


def failing_cases(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [case for case in report["cases"] if case.get("failing")]


# --------------------------------------------------------------------------------------------------
# the algorithm × dtype matrix
# --------------------------------------------------------------------------------------------------


def cell(counts: Mapping[str, int]) -> str:
    """``"12✓ 2~ 1✗"``: non-zero counts in the order of SYMBOLS, each with its symbol."""
    parts = [f"{counts[outcome]}{SYMBOLS[outcome]}" for outcome in SYMBOLS if counts.get(outcome)]
    return " ".join(parts) or "·"


def not_implemented(report: Mapping[str, Any]) -> list[str]:
    """The algorithms of the run the adapter does not implement at all (every case unsupported)."""
    return sorted(a for a, cells in report["summary"]["by_algorithm"].items() if all(set(c) == {"unsupported"} for c in cells.values()))


def matrix(report: Mapping[str, Any], show_unsupported: bool = True) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    """(dtype columns, rows of (algorithm, {dtype: cell})) from a report's summary; without
    ``show_unsupported``, algorithms the adapter does not implement are left out."""
    hidden = set() if show_unsupported else set(not_implemented(report))
    by_algorithm = {a: cells for a, cells in report["summary"]["by_algorithm"].items() if a not in hidden}
    dtypes = sorted({d for cells in by_algorithm.values() for d in cells}, key=_dtype_order)
    rows = [(algorithm, {d: cell(c) for d, c in cells.items()}) for algorithm, cells in sorted(by_algorithm.items())]
    return dtypes, rows


def hidden_note(count: int) -> str:
    """The one line that says how many algorithms a view left out."""
    return f"{count} algorithm{'s' if count != 1 else ''} the adapter does not implement left out (--show-unsupported lists them)"


def _dtype_order(dtype: str) -> tuple[int, str]:
    order = ["float64", "float32", "float16", "bfloat16", "any"]
    return (order.index(dtype) if dtype in order else len(order), dtype)


def verdict(report: Mapping[str, Any]) -> str:
    """The run's verdict in the matrix's words: conformant, conforms to the spec except for the
    declared conventions, known divergences, fails, …"""
    return _cases_verdict(report["cases"])


def declared_conventions(cases: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The declared conventions the cases were judged under, per algorithm (reports written before
    cases recorded them have none)."""
    out: dict[str, dict[str, str]] = {}
    for case in cases:
        if case.get("conventions"):
            out.setdefault(case["algorithm"], dict(case["conventions"]))
    return out


def declared_text(cases: Iterable[Mapping[str, Any]]) -> str:
    """``"eps_placement=after_bias_correction, decay_order=before_update (adamw); …"``."""
    return "; ".join(f"{describe(conventions)} ({algorithm})" for algorithm, conventions in sorted(declared_conventions(cases).items()))


def headline(report: Mapping[str, Any]) -> str:
    summary, adapter = report["summary"], report["adapter"]
    if summary["checked"] == 0:
        words = "nothing checked"
    else:
        words = verdict(report)
        declared = declared_text(report["cases"])
        if declared and words.startswith(CONFORMS_EXCEPT):
            words = f"{CONFORMS_EXCEPT} {declared}{words[len(CONFORMS_EXCEPT):]}"
        elif declared:
            words += f"; declared conventions {declared}"
        words += f", {summary['failing']} failing" if summary["failing"] else ""
    counts = ", ".join(f"{n} {o}" for o, n in summary["outcomes"].items() if n)
    return f"{adapter.get('requested', adapter.get('name'))}: {words} ({summary['total']} cases: {counts})"


def _failure_line(case: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return case["id"], case["outcome"], case.get("message", ""), case.get("diagnosis", "")


def render_table(report: Mapping[str, Any], console: Console, show_unsupported: bool = False, fmt: str = "auto") -> None:
    """The terminal view: the matrix, the failure list (diagnosis, repro), warnings, the verdict.
    Every report string is printed literally."""
    dtypes, rows = matrix(report, show_unsupported)
    say(console, f"optimspec conformance: {report['adapter'].get('requested', report['adapter'].get('name'))}", "bold")
    table = TextTable(["algorithm", *dtypes])
    for algorithm, cells in rows:
        table.add_row(algorithm, *(cells.get(d, "") for d in dtypes))
    print_table(console, table, "plain" if fmt == "plain" else "auto" if fmt == "auto" else "table")
    say(console, LEGEND, "dim")
    hidden = 0 if show_unsupported else len(not_implemented(report))
    if hidden:
        say(console, hidden_note(hidden), "dim")
    failures = failing_cases(report)
    for case in failures[:MAX_LISTED_FAILURES]:
        labelled(console, case["outcome"], "bold red", case["id"])
        for label, text in (("why", case.get("message")), ("diagnosis", case.get("diagnosis")), ("repro", case.get("repro"))):
            if text:
                say(console, f"    {label}: {text}")
    if len(failures) > MAX_LISTED_FAILURES:
        say(console, f"... and {len(failures) - MAX_LISTED_FAILURES} more failing cases (see the JSON report)")
    for warning in report.get("warnings", []):
        times = f" (×{warning['count']})" if warning["count"] > 1 else ""
        labelled(console, "warning:", "yellow", f"{warning['message']}{times}")
    say(console, headline(report), "green" if report["summary"]["conformant"] else "bold red")


def render_markdown(report: Mapping[str, Any], show_unsupported: bool = False) -> str:
    adapter, gold = report["adapter"], report["golden"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted((adapter.get("versions") or {}).items()))
    lines = [
        f"# optimspec conformance: {markdown_escape(adapter.get('requested', adapter.get('name')))}",
        "",
        f"- verdict: **{markdown_escape(headline(report))}**",
        f"- spec {report['spec_version']}, suite {report['suite_version']}, golden manifest `{gold['manifest_sha256'][:16]}`",
        f"- versions: {markdown_escape(versions) or 'not reported'}",
    ]
    declared = declared_text(report["cases"])
    if declared:
        lines.append(f"- judged under the declared conventions {markdown_escape(declared)} (expected values from the reference under them)")
    lines.append("")
    dtypes, rows = matrix(report, show_unsupported)
    lines += markdown_table(["algorithm", *dtypes], [[a, *(c.get(d, "") for d in dtypes)] for a, c in rows])
    lines += ["", f"Legend: {LEGEND}", ""]
    hidden = 0 if show_unsupported else len(not_implemented(report))
    if hidden:
        lines += [hidden_note(hidden) + ".", ""]
    failures = failing_cases(report)
    if failures:
        lines += ["## Failures", ""]
        lines += markdown_table(["case", "outcome", "why", "diagnosis", "repro"], [[*_failure_line(c), f"`{c.get('repro', '')}`"] for c in failures])
        lines.append("")
    lines += _known_divergences_section(report)
    if report.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {markdown_escape(w['message'])}" + (f" (×{w['count']})" if w["count"] > 1 else "") for w in report["warnings"]] + [""]
    return "\n".join(lines)


def _known_divergences_section(report: Mapping[str, Any]) -> list[str]:
    """``## Known divergences``: each divergence entry that decided a case, with its reason, link
    and the outcomes of the cases it covered."""
    entries: dict[tuple[str, int], tuple[Mapping[str, Any], Counter[str]]] = {}
    for case in report["cases"]:
        entry = case.get("divergence")
        if entry:
            entries.setdefault((entry["file"], entry["index"]), (entry, Counter()))[1][case["outcome"]] += 1
    if not entries:
        return []
    rows = (
        [f"`{e['match']}`", e["kind"], e["outcome"] + ("" if e.get("strict", True) else " (not strict)"),
         ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())), e["reason"], e.get("link", "")]
        for e, outcomes in entries.values()
    )
    return ["## Known divergences", "", *markdown_table(["match", "kind", "outcome", "cases", "reason", "link"], rows), ""]


# --------------------------------------------------------------------------------------------------
# JUnit XML
# --------------------------------------------------------------------------------------------------


def _junit_case(suite: ET.Element, case: Mapping[str, Any], adapter_name: str) -> str:
    """Add one <testcase> (classname: the adapter's name; name: the case id); returns the JUnit
    status it got (passed, failure, error, skipped)."""
    element = ET.SubElement(suite, "testcase", classname=adapter_name, name=case["id"], time=f"{case.get('duration_s', 0.0):.4f}")
    text = "\n".join(f"{k}: {case[k]}" for k in ("message", "diagnosis", "repro") if case.get(k))
    outcome = case["outcome"]
    if not (case.get("message") or case.get("diagnosis")):
        text = ""
    if case.get("failing"):
        tag = "error" if outcome == "error" else "failure"
        ET.SubElement(element, tag, message=f"{outcome}: {case.get('message', '')}", type=outcome).text = text
        return tag
    if outcome in ("xfail", "skip", "not_applicable", "unsupported"):
        ET.SubElement(element, "skipped", message=f"{outcome}: {case.get('message', '')}")
        return "skipped"
    if text:
        ET.SubElement(element, "system-out").text = f"{outcome}\n{text}"
    return "passed"


def render_junit(report: Mapping[str, Any], show_unsupported: bool = False) -> bytes:
    """JUnit XML for CI: failing cases are failures/errors; xfail, skip, n/a, unsupported skipped.
    Without ``show_unsupported`` the cases of algorithms the adapter does not implement are left
    out (their number is the ``unsupported_cases_left_out`` property). Report strings are cleaned
    again here, so even a hand-edited report gives parsable XML."""
    report = clean_tree(report)
    adapter_name = str(report["adapter"].get("requested", report["adapter"].get("name")))
    hidden = set() if show_unsupported else set(not_implemented(report))
    cases = [case for case in report["cases"] if case["algorithm"] not in hidden]
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name=f"optimspec.{adapter_name}")
    properties = ET.SubElement(suite, "properties")
    facts = {"spec_version": report["spec_version"], "suite_version": report["suite_version"], "golden_manifest_sha256": report["golden"]["manifest_sha256"]}
    facts.update({f"version.{k}": v for k, v in (report["adapter"].get("versions") or {}).items()})
    if hidden:
        facts["unsupported_cases_left_out"] = len(report["cases"]) - len(cases)
    for name, value in facts.items():
        ET.SubElement(properties, "property", name=name, value=str(value))
    statuses = Counter(_junit_case(suite, case, adapter_name) for case in cases)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(statuses["failure"]))
    suite.set("errors", str(statuses["error"]))
    suite.set("skipped", str(statuses["skipped"]))
    suite.set("time", f"{report.get('duration_s', 0.0):.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# --------------------------------------------------------------------------------------------------
# the combined matrix (every adapter) and docs/conformance.md
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixRow:
    """One adapter × algorithm line of the combined matrix."""

    adapter: str
    algorithm: str
    counts: dict[str, int]
    verdict: str
    conventions: str


CONFORMS_EXCEPT = "conforms to the spec except for the declared conventions"


def _cases_verdict(cases: Sequence[Mapping[str, Any]]) -> str:
    """The verdict on some cases (a run, or one algorithm of it). Not-applicable cases other than
    the ``invalid/`` ones (left not_applicable by an implementation that does not validate
    hyperparameters, which is no divergence) come from reports written before declared conventions
    were judged; they count as known divergences."""
    counts = Counter(case["outcome"] for case in cases)
    failing = sum(1 for case in cases if case.get("failing"))
    judged = counts.get("pass", 0) + counts.get("pass_with_override", 0)
    other_conventions = sum(1 for case in cases if case["outcome"] == "not_applicable" and case.get("metric") != "rejects")
    if failing:
        return "fails"
    if counts.get("xfail") or other_conventions or counts.get("xpass"):
        return "known divergences"
    if not judged:
        return "unsupported" if counts.get("unsupported") else "not run"
    partially = " (partially supported)" if counts.get("unsupported") else ""
    if any(case.get("conventions") for case in cases):
        return CONFORMS_EXCEPT + partially
    return "conformant" + partially


def _spec_variant(algorithm: str) -> dict[str, str]:
    from optimspec.reference import registry

    try:
        return registry.spec(algorithm).variant()
    except ValueError:  # a report from a newer catalogue
        return {}


def _conventions(report: Mapping[str, Any], algorithm: str, cases: Sequence[Mapping[str, Any]]) -> str:
    """Declared variant values, then the conventions the diagnoses measured ("behaves like …").
    Passing cases measured the conventions they were judged under on the axes they separate: a
    declared one is "declared, measured"; where the library diverges somewhere, the spec's own
    values are listed too, so a row classifies the library on every measured axis."""
    declared = report["adapter"].get("capabilities", {}).get("algorithms", {}).get(algorithm, {}).get("variant", {})
    found: dict[str, str] = {f"{a}={v}": "declared" for a, v in declared.items()}
    spec_values = _spec_variant(algorithm)
    # plain passes only: an override budget may be wide enough to swallow the separation
    followed = {
        f"{axis}={(case.get('conventions') or {}).get(axis, spec_values[axis])}"
        for case in cases if case["outcome"] == "pass" for axis in case.get("separates", []) if axis in spec_values
    }
    unexplained = 0
    for case in cases:
        diagnosis = case.get("diagnosis") or ""
        if diagnosis.startswith(EXPLAINED):
            for token in sorted(named_conventions(diagnosis)):
                found[token] = "declared, measured" if found.get(token) == "declared" else found.get(token, "measured")
        elif diagnosis.startswith(UNEXPLAINED):
            unexplained += 1
    for token in followed & {t for t, how in found.items() if how == "declared"}:
        found[token] = "declared, measured"
    if found or unexplained:
        for token in sorted(followed - set(found)):
            found[token] = "measured, as the spec"
    parts = [f"{token} ({how})" for token, how in found.items()]
    if unexplained:
        parts.append(f"{unexplained} unexplained")
    return "; ".join(parts) or "spec"


def verdict_cells(reports: Mapping[str, Mapping[str, Any]]) -> tuple[dict[tuple[str, str], str], list[str]]:
    """``{(adapter, algorithm): verdict}`` for the heat map, and every algorithm of the reports;
    an algorithm an adapter does not implement has no cell."""
    rows, _ = combined_rows(reports)
    algorithms = sorted({case["algorithm"] for report in reports.values() for case in report["cases"]})
    return {(row.adapter, row.algorithm): row.verdict for row in rows}, algorithms


def combined_rows(reports: Mapping[str, Mapping[str, Any]]) -> tuple[list[MatrixRow], dict[str, list[str]]]:
    """Rows for every adapter × algorithm with a judged case, and per adapter the algorithms it does
    not implement at all (every case unsupported)."""
    rows, not_implemented = [], {}
    for name, report in reports.items():
        by_algorithm: dict[str, list[Mapping[str, Any]]] = {}
        for case in report["cases"]:
            by_algorithm.setdefault(case["algorithm"], []).append(case)
        not_implemented[name] = []
        for algorithm, cases in sorted(by_algorithm.items()):
            counts = dict(Counter(c["outcome"] for c in cases))
            if set(counts) == {"unsupported"}:
                not_implemented[name].append(algorithm)
                continue
            rows.append(MatrixRow(name, algorithm, counts, _cases_verdict(cases), _conventions(report, algorithm, cases)))
    return rows, not_implemented


def render_combined(reports: Mapping[str, Mapping[str, Any]], unavailable: Mapping[str, str], console: Console, show_unsupported: bool = False, fmt: str = "auto") -> None:
    """The combined matrix; algorithms an adapter does not implement are counted in one line, or
    listed as rows with ``show_unsupported``."""
    rows, missing = combined_rows(reports)
    table = TextTable(("adapter", "algorithm", "cases", "verdict", "conventions"), title="optimspec conformance matrix")
    for row in rows:
        table.add_row(row.adapter, row.algorithm, cell(row.counts), row.verdict, row.conventions, style={"fails": "red", "conformant": "green"}.get(row.verdict.split(" ")[0], ""))
    if show_unsupported:
        for name, algorithms in missing.items():
            for algorithm in algorithms:
                table.add_row(name, algorithm, "", "not implemented", "", style="dim")
    print_table(console, table, fmt)
    if fmt in ("markdown", "json"):
        return
    say(console, LEGEND, "dim")
    hidden = sum(len(algorithms) for algorithms in missing.values())
    if hidden and not show_unsupported:
        say(console, f"{hidden} adapter × algorithm pairs not implemented left out (--show-unsupported lists them)", "dim")
    for name, reason in unavailable.items():
        labelled(console, "skipped", "yellow", f"{name}: {reason}")
    for report in reports.values():
        say(console, headline(report))


def render_conformance_doc(reports: Mapping[str, Mapping[str, Any]], unavailable: Mapping[str, str], picture: str | None = None) -> str:
    """``docs/conformance.md``: which library conforms to which part of the spec, and which
    conventions it follows instead; ``picture``: the heat map's file name, shown after the intro."""
    any_report = next(iter(reports.values()), None)
    lines = [
        "<!-- Generated by `make check` (`optimspec matrix`); do not edit by hand. -->",
        "",
        "# Conformance matrix",
        "",
        "Each row: one library (adapter) on one algorithm of the spec, counted in golden cases. "
        "*conformant*: every case it can express passes; *conforms … except for the declared "
        "conventions*: every case passes against the reference run under the conventions the adapter "
        "declares (listed in *conventions*); *known divergences*: some cases fail as a divergence file "
        "says they do (`xfail`); *fails*: failures no entry accounts for. "
        "*conventions*: the convention values the adapter declares and those its failures measured "
        "(\"behaves like …\"); *spec* when it follows the spec throughout.",
        "",
    ]
    if any_report is not None:
        gold = any_report["golden"]
        lines += [f"Spec {any_report['spec_version']}, optimspec {any_report['suite_version']}, golden manifest sha256 `{gold['manifest_sha256']}`.", ""]
    if picture is not None:
        lines += [f"![verdict per adapter and algorithm]({picture})", ""]
    lines += markdown_table(["adapter", "versions"], ([name, ", ".join(f"{k} {v}" for k, v in sorted((r["adapter"].get("versions") or {}).items()))] for name, r in reports.items()))
    lines.append("")
    rows, not_implemented = combined_rows(reports)
    lines += markdown_table(["adapter", "algorithm", "cases", "verdict", "conventions"], ([r.adapter, r.algorithm, cell(r.counts), r.verdict, r.conventions] for r in rows))
    lines += ["", f"Legend: {LEGEND}", ""]
    missing = [f"- {name}: {', '.join(algorithms)}" for name, algorithms in not_implemented.items() if algorithms]
    if missing:
        lines += ["Not implemented by the library:", "", *missing, ""]
    if unavailable:
        lines += ["Not run (unavailable where this was generated):", "", *(f"- {name}: {reason}" for name, reason in unavailable.items()), ""]
    return "\n".join(lines)
