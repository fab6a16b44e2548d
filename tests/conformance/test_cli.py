"""The command line: check (exit codes 0/1/2/3, report files), explain, report, report diff,
matrix / check --all, and lazy framework imports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from optimspec.conformance import adapters, cli, golden
from optimspec.conformance.adapters import Builtin

TINY_GRADS = "optim/adamw/conventions/f64/tiny-grads-t3"
CONVENTIONS = "optim/adamw/conventions/*"
EPS_AFTER = "broken_adapters:EpsAfterAdapter"
HEAVY = ("torch", "tensorflow", "jax", "transformers", "keras", "optax")


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch, golden_root: Path) -> None:
    """Wide consoles (no wrapping in assertions) and the small golden tree as the default root."""
    monkeypatch.setattr(cli, "console", Console(width=250))
    monkeypatch.setattr(cli, "errors", Console(stderr=True, width=250))
    monkeypatch.setenv("OPTIMSPEC_GOLDEN", str(golden_root))
    monkeypatch.delenv("OPTIMSPEC_ADAPTER", raising=False)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def assert_exit(result: Result, code: int) -> None:
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}\n{result.output}\n{result.exception!r}"


def write_toml(path: Path, match: str, outcome: str = "xfail", extra: str = "") -> Path:
    path.write_text(f'[[divergence]]\nmatch = "{match}"\nkind = "convention"\noutcome = "{outcome}"\nreason = "known"\n{extra}\n')
    return path


# --------------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------------


def test_check_reference_is_conformant_and_writes_every_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("check", "--adapter", "reference", "--report", out / "r.json", "--junit", out / "r.xml", "--markdown", out / "r.md")
    assert_exit(result, 0)
    assert "reference: conformant" in result.output
    data = json.loads((out / "r.json").read_text())
    assert data["summary"]["conformant"] and data["summary"]["outcomes"]["pass"] == data["summary"]["total"] > 0
    assert (out / "r.xml").read_text().startswith("<?xml")
    assert (out / "r.md").read_text().startswith("# optimspec conformance: reference")


def test_check_failures_exit_1_with_diagnosis(tmp_path: Path) -> None:
    result = invoke("check", "-a", EPS_AFTER, "--select", CONVENTIONS, "--dtype", "float64", "--report", tmp_path / "r.json")
    assert_exit(result, 1)
    assert "diagnosis: behaves like eps_placement=after_bias_correction" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert {c["dtype"] for c in data["cases"]} == {"float64"}
    assert data["summary"]["outcomes"]["fail"] == 2


def test_check_mode_option(tmp_path: Path) -> None:
    assert_exit(invoke("check", "-a", "reference", "-s", TINY_GRADS, "--mode", "free_running", "--report", tmp_path / "r.json"), 0)
    assert json.loads((tmp_path / "r.json").read_text())["cases"][0]["modes"] == ["free_running"]


def test_check_with_divergences_is_conformant(tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "known.toml", CONVENTIONS)
    result = invoke("check", "-a", EPS_AFTER, "-s", CONVENTIONS, "--divergences", toml)
    assert_exit(result, 0)
    assert "known divergences (4 cases: 4 xfail)" in result.output


@pytest.mark.parametrize(("strict", "code"), [("true", 1), ("false", 0)])
def test_check_xpass_fails_the_run_only_when_strict(tmp_path: Path, strict: str, code: int) -> None:
    toml = write_toml(tmp_path / "known.toml", CONVENTIONS, extra=f"strict = {strict}")
    assert_exit(invoke("check", "-a", "reference", "-s", CONVENTIONS, "--divergences", toml), code)


def test_check_hanging_adapter_times_out(tmp_path: Path) -> None:
    result = invoke("check", "-a", "broken_adapters:HangingAdapter", "-s", TINY_GRADS, "--timeout", "0.2", "--report", tmp_path / "r.json")
    assert_exit(result, 1)
    (case,) = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert (case["outcome"], case["message"]) == ("error", "timed out after 0.2 s")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("check",), "--adapter NAME is required"),
        (("check", "-a", "nope"), "unknown adapter 'nope'; known: reference, torch"),
        (("check", "-a", "no_such_module_xyz:Factory"), "cannot import adapter"),
        (("check", "-a", "broken_adapters:Nothing"), "has no attribute 'Nothing'"),
        (("check", "-a", "reference", "-s", "optim/nothing/*"), "the selection (--select 'optim/nothing/*') matches no case"),
        (("explain", "optim/adamw/conventions/f64/no-such-case"), "no case 'optim/adamw/conventions/f64/no-such-case'; did you mean"),
    ],
    ids=["no-adapter", "unknown-name", "unimportable-module", "missing-factory", "empty-selection", "unknown-case"],
)
def test_usage_errors_exit_2(args: tuple[str, ...], complaint: str) -> None:
    result = invoke(*args)
    assert_exit(result, 2)
    assert complaint in result.output


def test_unavailable_builtin_exits_2_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(adapters.BUILTINS, "fakefw", Builtin("fakefw_adapter:Adapter", ("no_such_framework_xyz",)))
    result = invoke("check", "-a", "fakefw")
    assert_exit(result, 2)
    assert "adapter 'fakefw' is unavailable: no_such_framework_xyz not installed" in result.output


def test_entry_point_adapters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A third-party package's entry point in the optimspec.adapters group is found by name."""
    points = [EntryPoint("mylib", EPS_AFTER, adapters.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(adapters, "entry_points", lambda group: points if group == adapters.ENTRY_POINT_GROUP else [])
    assert adapters.known_names()[-1] == "mylib"
    result = invoke("check", "-a", "mylib", "-s", TINY_GRADS, "--report", tmp_path / "r.json")
    assert_exit(result, 1)
    assert json.loads((tmp_path / "r.json").read_text())["adapter"]["name"] == "broken-eps-after"


def test_malformed_divergence_file_exits_2_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[divergence]]\nmatch = "optim/*"\nkind = "bug"\noutcome = "xfail"\nreason = "r"\n')
    result = invoke("check", "-a", "reference", "--divergences", bad)
    assert_exit(result, 2)
    assert f"{bad}: entry 0 (match = 'optim/*'): kind = \"bug\" requires a `link`" in result.output


def test_tampered_golden_exits_3(tmp_path: Path, golden_root: Path) -> None:
    root = tmp_path / "golden"
    shutil.copytree(golden_root, root)
    path = root / golden.relative_path("schedule", "linear")
    path.write_bytes(path.read_bytes() + b" ")
    result = invoke("check", "-a", "reference", "--golden", root)
    assert_exit(result, 3)
    assert "sha256 does not match the manifest" in result.output


# --------------------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------------------


def test_explain_shows_the_case() -> None:
    result = invoke("explain", TINY_GRADS)
    assert_exit(result, 0)
    for fragment in ("formula (optimspec.reference.optimizers.adamw)", "conventions this case separates", "eps_placement: spec before_bias_correction; separates after_bias_correction", "eps = 1e-06  (given", "grad step 1 [p] =", "step 3 params[p] ="):
        assert fragment in result.output, f"explain output lacks {fragment!r}"


def test_explain_with_a_broken_adapter_shows_the_diff_and_diagnosis() -> None:
    result = invoke("explain", TINY_GRADS, "--adapter", EPS_AFTER)
    assert_exit(result, 1)
    assert "diagnosis: behaves like eps_placement=after_bias_correction" in result.output
    assert "params[p] at step 1 (teacher_forced)" in result.output and "ε·S" in result.output


def test_explain_with_a_conforming_adapter_exits_0() -> None:
    result = invoke("explain", "sched/linear/boundaries/w2-t10", "-a", "reference")
    assert_exit(result, 0)
    assert "outcome:   pass" in result.output and "lr of group 0" in result.output


# --------------------------------------------------------------------------------------------------
# report / report diff
# --------------------------------------------------------------------------------------------------


@pytest.fixture()
def two_reports(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert_exit(invoke("check", "-a", "reference", "-s", CONVENTIONS, "--report", old), 0)
    assert_exit(invoke("check", "-a", EPS_AFTER, "-s", CONVENTIONS, "--report", new), 1)
    return old, new


def test_report_formats(two_reports: tuple[Path, Path]) -> None:
    old, _ = two_reports
    assert "reference: conformant" in invoke("report", old).output
    assert invoke("report", old, "--format", "markdown").output.startswith("# optimspec conformance: reference")
    assert json.loads(invoke("report", "--format", "json", old).output) == json.loads(old.read_text())


def test_report_diff(two_reports: tuple[Path, Path]) -> None:
    old, new = two_reports
    result = invoke("report", "diff", old, new, "--format", "plain")
    assert_exit(result, 1)
    line = next(line for line in result.output.splitlines() if TINY_GRADS in line)
    assert line.startswith("regression") and "pass → fail" in line and "behaves like eps_placement=after_bias_correction" in line
    assert result.output.rstrip().endswith("4 regressions (4 worse outcome, 3 error growth), 0 improvements, 0 changed, 0 added (error growth threshold 10×)")
    assert_exit(invoke("report", "diff", new, old), 0)
    data = json.loads(invoke("report", "diff", old, new, "--format", "json").output)
    assert data["summary"] == {"regression": 4, "improvement": 0, "changed": 0, "added": 0}
    assert "| regression | " + TINY_GRADS in invoke("report", "diff", old, new, "--format", "markdown").output


def test_report_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{}")
    result = invoke("report", path)
    assert_exit(result, 3)
    assert "not an optimspec report" in result.output


# --------------------------------------------------------------------------------------------------
# matrix
# --------------------------------------------------------------------------------------------------


@pytest.fixture()
def few_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference and one built-in whose framework is missing (the matrix must skip it)."""
    monkeypatch.setattr(adapters, "BUILTINS", {"reference": adapters.BUILTINS["reference"], "fakefw": Builtin("fakefw_adapter:Adapter", ("no_such_framework_xyz",))})


@pytest.mark.usefixtures("few_builtins")
def test_matrix_writes_reports_and_the_published_doc(tmp_path: Path) -> None:
    result = invoke("matrix", "--reports-dir", tmp_path / "reports", "--doc", tmp_path / "conformance.md")
    assert_exit(result, 0)
    assert "skipped fakefw: no_such_framework_xyz not installed" in result.output
    assert json.loads((tmp_path / "reports" / "reference.json").read_text())["summary"]["conformant"]
    doc = (tmp_path / "conformance.md").read_text()
    assert doc.startswith("<!-- Generated by `make check`")
    assert re.search(r"^\| reference \| adamw \| \d+✓ \| conformant \| spec \|$", doc, re.MULTILINE), doc
    assert "- fakefw: no_such_framework_xyz not installed" in doc
    assert "![verdict per adapter and algorithm](conformance.png)" in doc
    assert (tmp_path / "conformance.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.usefixtures("few_builtins")
def test_matrix_without_matplotlib_writes_the_doc_without_a_heat_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optimspec.conformance import plot as plots

    def missing() -> None:
        raise plots.PlotError("plotting needs matplotlib: pip install 'optimspec[plot]'")

    monkeypatch.setattr(plots, "require_matplotlib", missing)
    result = invoke("matrix", "-s", "sched/linear/*", "--reports-dir", tmp_path / "reports", "--doc", tmp_path / "conformance.md")
    assert_exit(result, 0)
    assert "no heat map: plotting needs matplotlib" in result.output
    assert "conformance.png" not in (tmp_path / "conformance.md").read_text()
    assert not (tmp_path / "conformance.png").exists()


@pytest.mark.usefixtures("few_builtins")
def test_check_all_prints_the_matrix_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "--all", "-s", "sched/*")
    assert_exit(result, 0)
    assert "optimspec conformance matrix" in result.output
    assert list(tmp_path.iterdir()) == [], "check --all must write no file (not reports/, not docs/conformance.md)"


@pytest.mark.usefixtures("few_builtins")
@pytest.mark.parametrize("option", ["--report", "--junit", "--markdown", "--divergences", "--adapter"])
def test_check_all_rejects_options_it_does_not_honour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str) -> None:
    monkeypatch.chdir(tmp_path)
    value = "reference" if option == "--adapter" else tmp_path / "out.json"
    if option == "--divergences":
        value = write_toml(tmp_path / "known.toml", "sched/*")
    result = invoke("check", "--all", "-s", "sched/*", option, value)
    assert_exit(result, 2)
    assert f"--all does not take {option}" in result.output
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "docs").exists() and not (tmp_path / "reports").exists()


def test_matrix_fails_when_an_adapter_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapters, "BUILTINS", {"reference": adapters.BUILTINS["reference"], "eps": Builtin(EPS_AFTER)})
    result = invoke("matrix", "-s", CONVENTIONS, "--reports-dir", tmp_path, "--no-doc")
    assert_exit(result, 1)
    assert "eps_placement=after_bias_correction (measured)" in result.output


def test_matrix_rejects_unknown_names() -> None:
    assert_exit(invoke("matrix", "-a", "broken_adapters:EpsAfterAdapter"), 2)


# --------------------------------------------------------------------------------------------------
# lazy imports
# --------------------------------------------------------------------------------------------------

LAZY_PROBE = """
import sys
from optimspec.conformance import adapters, cli, divergences, explain, pytest_plugin, report, runner
for args in (["--help"], ["list"], ["catalogue"], ["golden", "verify", "--no-regenerate"], ["report", "--help"], ["check", "-a", "nope"]):
    try:
        cli.main(args, standalone_mode=False)
    except BaseException:
        pass
adapters.unavailable_reason("torch"), adapters.unavailable_reason("optimspec.tf")
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def test_no_framework_is_imported_by_the_cli(subprocess_env: dict[str, str]) -> None:
    """--help, list, catalogue, golden verify and an adapter-name lookup import no framework."""
    probe = subprocess.run([sys.executable, "-c", LAZY_PROBE.format(heavy=HEAVY)], env=subprocess_env, capture_output=True, text=True, timeout=120)
    last = probe.stdout.strip().splitlines()[-1] if probe.stdout.strip() else ""
    assert last == "HEAVY:", f"frameworks imported: {last!r}\n{probe.stderr[-2000:]}"


def test_a_datetime_review_date_is_a_usage_error_before_the_run(tmp_path: Path) -> None:
    """A TOML date-time is no date: rejected when the file is read (exit 2), never at the end of the run."""
    toml = write_toml(tmp_path / "known.toml", CONVENTIONS, extra="review_by = 2020-01-31T10:00:00")
    result = invoke("check", "-a", "reference", "-s", TINY_GRADS, "--divergences", toml)
    assert_exit(result, 2)
    assert "`review_by` must be a TOML date" in result.output
