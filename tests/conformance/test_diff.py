"""``report diff`` (regressions: worse outcomes, error growth, changed diagnoses, disappeared cases;
the three formats) and ``divergences suggest`` (a file accepting exactly a report's failures)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from optimspec.conformance import cli, diff, divergences, golden, report, runner
from optimspec.conformance import suggest as suggestions

TINY_GRADS = "optim/adamw/conventions/f64/tiny-grads-t3"
NON_STRICT = '[[divergence]]\nmatch = "optim/adamw/conventions/*"\nkind = "numerics"\noutcome = "xfail"\nreason = "known"\nstrict = false\n'


pytestmark = pytest.mark.usefixtures("cli_consoles")


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def checked(tmp_path: Path, name: str, adapter: str, toml: str | None = None, select: str = "optim/adamw/conventions/f64/*") -> Path:
    """``optimspec check`` on the f64 convention cases, its JSON report written to ``name``."""
    path = tmp_path / name
    extra = []
    if toml is not None:
        (tmp_path / f"{name}.toml").write_text(toml)
        extra = ["--divergences", tmp_path / f"{name}.toml"]
    invoke("check", "-a", adapter, "-s", select, "--report", path, *extra)
    assert path.is_file(), f"check wrote no report for {adapter}"
    return path


# --------------------------------------------------------------------------------------------------
# report diff: the acceptance cases
# --------------------------------------------------------------------------------------------------


def test_a_1e5_error_growth_under_a_non_strict_xfail_is_a_regression(tmp_path: Path) -> None:
    """On the previous main both reports read xfail → xfail and the diff exited 0."""
    old = checked(tmp_path, "old.json", "broken_adapters:NoisyAdapter", NON_STRICT)
    new = checked(tmp_path, "new.json", "broken_adapters:VeryNoisyAdapter", NON_STRICT)
    assert {c["outcome"] for c in json.loads(new.read_text())["cases"]} == {"xfail"}
    result = invoke("report", "diff", old, new, "--format", "plain")
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if TINY_GRADS in line)
    assert line.split()[:4] == ["regression", TINY_GRADS, "xfail", "→"]
    assert line.endswith("error growth: 9.99e+04× (64.1 → 6.4e+06 ε·S)"), "the error grew; nothing else changed"
    assert invoke("report", "diff", old, new, "--error-growth", "1e6").exit_code == 0, "a looser threshold lets it through"


def test_xpass_to_xfail_is_a_regression(tmp_path: Path) -> None:
    old = checked(tmp_path, "old.json", "reference", NON_STRICT)
    new = checked(tmp_path, "new.json", "broken_adapters:EpsAfterAdapter", NON_STRICT)
    result = invoke("report", "diff", old, new, "--format", "plain")
    assert result.exit_code == 1, result.output
    assert f"regression  {TINY_GRADS}" in result.output and "worse outcome: xpass → xfail" in result.output
    assert invoke("report", "diff", new, old).exit_code == 0, "xfail → xpass is an improvement"


# --------------------------------------------------------------------------------------------------
# report diff: the rules
# --------------------------------------------------------------------------------------------------


def _case(outcome: str, error: float | str = 0.0, diagnosis: str = "", failing: bool | None = None) -> dict[str, Any]:
    failing = outcome in ("fail", "error") if failing is None else failing
    return {"outcome": outcome, "failing": failing, "measured": {"max_k": error, "p99_k": 0.0, "budget_k": 32.0, "worst": ""}, "diagnosis": diagnosis}


def _report(cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"cases": [{"id": i, "algorithm": "adamw", "dtype": "float64", **c} for i, c in cases.items()]}


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (_case("pass"), _case("unsupported"), "worse outcome: pass → unsupported"),
        (_case("pass"), _case("pass_with_override"), "worse outcome: pass → pass_with_override"),
        (_case("xpass"), _case("xfail"), "worse outcome: xpass → xfail"),
        (_case("xfail"), _case("xpass", failing=True), "newly failing: xfail → xpass"),
        (_case("fail"), _case("unsupported"), "no longer judged: fail → unsupported"),
        (_case("pass", 2.0), _case("pass", 25.0), "error growth: 12.5× (2 → 25 ε·S)"),
        (_case("xfail", 40.0), _case("xfail", "inf"), "error growth: inf×"),
        (_case("xfail", 40.0, "behaves like eps_placement=after_bias_correction"), _case("xfail", 40.0, "behaves like decay_order=before_update"), "diagnosis changed"),
    ],
    ids=["pass-unsupported", "pass-override", "xpass-xfail", "strict-xpass", "fail-unjudged", "error-growth", "became-nan", "diagnosis"],
)
def test_regressions(old: dict[str, Any], new: dict[str, Any], reason: str) -> None:
    result = diff.diff(_report({"c": old}), _report({"c": new}))
    assert [c.id for c in result.regressions] == ["c"], result
    assert any(r.startswith(reason) for r in result.regressions[0].reasons), result.regressions[0].reasons


@pytest.mark.parametrize(
    ("old", "new", "section"),
    [
        (_case("fail"), _case("pass"), "improvements"),
        (_case("xfail"), _case("xpass", failing=False), "improvements"),
        (_case("pass", 0.0), _case("pass", 0.9), None),
        (_case("pass", 3.0), _case("pass", 25.0), None),
        (_case("xfail", 40.0, "behaves like eps_placement=after_bias_correction, up to numerics (1.5× the budget under it, 3e9× under the spec)"),
         _case("xfail", 41.0, "behaves like eps_placement=after_bias_correction, up to numerics (1.7× the budget under it, 3.1e9× under the spec)"), None),
        (_case("fail", diagnosis="raised in step (impl.py:10)"), _case("fail", diagnosis="raised in step (impl.py:12)"), None),
        (_case("fail"), _case("error"), "changed"),
    ],
    ids=["fixed", "xfail-fixed", "rounding", "growth-below-threshold", "same-diagnosis-other-numbers", "moved-line", "fail-error"],
)
def test_not_regressions(old: dict[str, Any], new: dict[str, Any], section: str | None) -> None:
    result = diff.diff(_report({"c": old}), _report({"c": new}))
    assert result.regressions == [], result.regressions
    listed = {name: [c.id for c in changes] for name, changes in (("improvements", result.improvements), ("changed", result.changed))}
    for name, ids in listed.items():
        assert ids == (["c"] if name == section else []), listed


def test_a_disappeared_case_is_a_regression_and_an_added_one_is_listed() -> None:
    result = diff.diff(_report({"gone": _case("pass"), "kept": _case("pass")}), _report({"kept": _case("pass"), "new": _case("fail")}))
    assert [(c.id, c.old, c.new, c.reasons) for c in result.regressions] == [("gone", "pass", None, ("disappeared: not in the new report",))]
    assert [c.id for c in result.added] == ["new"]
    assert result.summary() == "1 regression (1 disappeared), 0 improvements, 0 changed, 1 added (error growth threshold 10×)"


def test_diff_formats_carry_every_field() -> None:
    result = diff.diff(_report({"c": _case("xfail", 40.0, "behaves like a=b")}), _report({"c": _case("xfail", 4e6, "behaves like a=b")}))
    rows = diff.table(result)
    assert rows.records() == [{
        "change": "regression", "case": "c", "outcome": "xfail → xfail", "error ε·S": "40 → 4e+06",
        "diagnosis": "behaves like a=b", "why": "error growth: 1e+05× (40 → 4e+06 ε·S)",
    }]
    assert rows.caption == "1 regression (1 error growth), 0 improvements, 0 changed, 0 added (error growth threshold 10×)"
    data = result.as_dict()
    assert data["regressions"][0]["old_error"] == 40.0 and data["regressions"][0]["new_error"] == 4e6
    assert json.loads(json.dumps(data)) == data


# --------------------------------------------------------------------------------------------------
# divergences suggest
# --------------------------------------------------------------------------------------------------


def test_suggest_accepts_exactly_the_current_failures(tmp_path: Path, golden_root: Path) -> None:
    source = checked(tmp_path, "eps.json", "broken_adapters:EpsAfterAdapter", select="optim/adamw/")
    failures = {c["id"] for c in json.loads(source.read_text())["cases"] if c["outcome"] == "fail"}
    toml = tmp_path / "suggested.toml"
    result = invoke("divergences", "suggest", source, "--output", toml)
    assert result.exit_code == 0, result.output
    text = toml.read_text()
    entries = tomllib.loads(text)["divergence"]
    assert {e["match"] for e in entries} == failures, "one entry per failing case, by its exact id"
    assert "# behaves like eps_placement=after_bias_correction (" in text, "grouped under the diagnosis"
    tiny = next(e for e in entries if e["match"] == TINY_GRADS)
    assert tiny["when"]["behaves_like"] == "eps_placement=after_bias_correction"
    measured = next(c for c in json.loads(source.read_text())["cases"] if c["id"] == TINY_GRADS)["measured"]["max_k"]
    assert measured <= tiny["when"]["max_error"] <= measured * 1.1, "capped at the measured error, rounded up"
    rerun = checked(tmp_path, "again.json", "broken_adapters:EpsAfterAdapter", text, select="optim/adamw/")
    outcomes = {c["id"]: c["outcome"] for c in json.loads(rerun.read_text())["cases"]}
    assert {i for i, o in outcomes.items() if o == "xfail"} == failures and "fail" not in outcomes.values()
    # the same file does not hide a larger error on those cases, nor a failure of another kind
    assert "fail" in {c["outcome"] for c in json.loads(checked(tmp_path, "noisy.json", "broken_adapters:VeryNoisyAdapter", text, select="optim/adamw/").read_text())["cases"]}


def test_suggest_prints_and_parses(golden_root: Path, golden_files: list[golden.GoldenFile]) -> None:
    record = runner.execute(__import__("broken_adapters").RaisingAdapter(), golden_files, runner.Options(select=(TINY_GRADS,)))
    text = suggestions.suggest(report.build(record, golden_root), "r.json")
    (entry,) = divergences.parse(text.encode(), "suggested.toml").entries
    assert (entry.kind, entry.outcome, entry.max_error, entry.behaves_like) == ("bug", "xfail", None, None), "a crash gets no cap and needs a bug link"
    assert entry.reason.startswith("EDIT: why. Measured: RuntimeError: simulated crash")
