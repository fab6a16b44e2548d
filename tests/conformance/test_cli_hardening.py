"""The command line under hostile or careless input: every problem is one clean line with exit code
2 (usage) or 3 (integrity), or a verdict (1), never a traceback and never a false green."""

from __future__ import annotations

import json
import os
import shutil
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import hostile_adapters as hostile
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from optimspec.conformance import cli, golden
from optimspec.conformance.testing import rehash

TINY_GRADS = "optim/adamw/conventions/f64/tiny-grads-t3"
LINEAR = golden.relative_path("schedule", "linear")
ADAMW = golden.relative_path("optimizer", "adamw")


pytestmark = pytest.mark.usefixtures("cli_consoles")


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def assert_clean_exit(result: Result, code: int) -> None:
    """The exit code, and no traceback: the command ended through sys.exit."""
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}\n{result.output}\n{result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}"
    assert "Traceback" not in result.output


@pytest.fixture()
def tree(tmp_path: Path, golden_root: Path) -> Path:
    """A writable copy of the small golden tree."""
    root = tmp_path / "golden"
    shutil.copytree(golden_root, root)
    return root


def edit_case(tree: Path, relative: str, edit: object) -> None:
    data = json.loads((tree / relative).read_text())
    edit(data)  # type: ignore[operator]
    rehash(tree, relative, golden.canonical_bytes(data))


# --------------------------------------------------------------------------------------------------
# 6, 23: check validates the golden tree it loads
# --------------------------------------------------------------------------------------------------


def test_a_rehashed_schema_violation_is_an_integrity_error_not_the_adapters(tree: Path) -> None:
    edit_case(tree, ADAMW, lambda d: d["groups"][0]["cases"][0].__setitem__("params", {"p": {"dtype": "float64", "shape": [2], "values": ["x", 1.0]}}))
    result = invoke("check", "-a", "reference", "--golden", tree)
    assert_clean_exit(result, 3)
    assert f"{ADAMW}: schema violation at /groups/0/cases/0/params/p" in result.output


def test_duplicate_case_ids_are_an_integrity_error(tree: Path) -> None:
    def duplicate(data: dict) -> None:
        cases = data["groups"][0]["cases"]
        cases[1]["id"] = cases[0]["id"]

    edit_case(tree, LINEAR, duplicate)
    result = invoke("check", "-a", "reference", "--golden", tree)
    assert_clean_exit(result, 3)
    assert f"{LINEAR}: duplicate case id sched/linear/" in result.output


def test_a_tensor_whose_values_do_not_fill_its_shape_names_the_case(tree: Path) -> None:
    edit_case(tree, ADAMW, lambda d: d["groups"][0]["cases"][0]["params"]["p"].__setitem__("shape", [3]))
    result = invoke("check", "-a", "reference", "--golden", tree)
    assert_clean_exit(result, 3)
    case_id = json.loads((tree / ADAMW).read_text())["groups"][0]["cases"][0]["id"]
    assert f"{ADAMW}: case {case_id}: tensor.params.p has" in result.output


def test_a_dot_dot_case_id_is_refused_at_load(tree: Path) -> None:
    edit_case(tree, LINEAR, lambda d: d["groups"][0]["cases"][0].__setitem__("id", "sched/linear/../../../escape"))
    result = invoke("plot", "--case", "sched/linear/../../../escape", "--golden", tree)
    assert_clean_exit(result, 3)
    assert "does not follow the id grammar" in result.output


# --------------------------------------------------------------------------------------------------
# 7, 16: nothing checked; broken info() / capabilities()
# --------------------------------------------------------------------------------------------------


def test_an_adapter_that_supports_nothing_is_not_conformant(tmp_path: Path) -> None:
    result = invoke("check", "-a", "hostile_adapters:SupportsNothingAdapter", "--report", tmp_path / "r.json")
    assert_clean_exit(result, 1)
    assert "supports-nothing: nothing checked" in result.output or "hostile_adapters:SupportsNothingAdapter: nothing checked" in result.output
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert (summary["checked"], summary["conformant"]) == (0, False)


@pytest.mark.parametrize(("adapter", "message"), [("InfoRaisesAdapter", "info() raised: RuntimeError: no info today"), ("CapabilitiesRaisesAdapter", "capabilities() raised: ValueError: capabilities unknown")])
def test_info_or_capabilities_raising_is_an_adapter_error(adapter: str, message: str) -> None:
    result = invoke("check", "-a", f"hostile_adapters:{adapter}", "-s", TINY_GRADS)
    assert_clean_exit(result, 1)
    assert f"adapter error: hostile_adapters:{adapter}: {message}" in result.output


# --------------------------------------------------------------------------------------------------
# 8, 11: user and adapter text printed literally; reports survive any string
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("check", "-a", "reference", "-s", "[/x]"),
        ("check", "-a", "[/x]"),
        ("explain", "optim/[/x]"),
        ("check", "-a", "reference", "--golden", "/nonexistent/[/x]"),
    ],
    ids=["select", "adapter", "explain-id", "golden-path"],
)
def test_markup_in_user_text_is_printed_literally(args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert_clean_exit(result, result.exit_code)
    assert result.exit_code in (2, 3)
    assert "[/x]" in result.output, result.output


def test_markup_in_a_divergence_match_is_printed_literally(tmp_path: Path) -> None:
    toml = tmp_path / "known.toml"
    toml.write_text('[[divergence]]\nmatch = "[[divergence]] [/x]"\nkind = "convention"\noutcome = "xfail"\nreason = "r"\n')
    result = invoke("check", "-a", "reference", "-s", TINY_GRADS, "--divergences", toml)
    assert_clean_exit(result, 0)
    assert "(match = '[[divergence]] [/x]') matches no golden case" in result.output


def test_hostile_strings_reach_no_report_raw(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("check", "-a", "hostile_adapters:NastyTextAdapter", "-s", TINY_GRADS, "--report", out / "r.json", "--junit", out / "r.xml", "--markdown", out / "r.md")
    assert_clean_exit(result, 1)
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "[/x]" in result.output and "[[divergence]]" in result.output, "markup must print literally"
    report = json.loads((out / "r.json").read_text(encoding="utf-8"))
    (case,) = report["cases"]
    assert case["message"] == "RuntimeError: bad \\udc80 surrogate, \\x1b[31mred\\x1b[0m, bell \\x07, markup [/x] [[divergence]] [bold]"
    assert report["adapter"]["versions"] == {"nasty\\x1b": hostile.NASTY_TEXT.encode("utf-8", "backslashreplace").decode().replace("\x1b", "\\x1b").replace("\x07", "\\x07")}
    ET.parse(out / "r.xml")  # parsable XML
    assert "\x1b" not in (out / "r.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# 10: outputs checked before the run, written atomically
# --------------------------------------------------------------------------------------------------


def test_an_unwritable_output_is_refused_before_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = invoke("check", "-a", "broken_adapters:HangingAdapter", "--timeout", "0", "--junit", tmp_path / "ok.xml", "--report", blocker / "r.json")
    assert_clean_exit(result, 2)
    assert f"--report {blocker / 'r.json'}: cannot write there" in result.output
    assert not (tmp_path / "ok.xml").exists(), "no output may be written when another cannot be"


@pytest.mark.parametrize("option", ["--report", "--junit", "--markdown"])
def test_an_output_that_is_a_folder_is_refused(tmp_path: Path, option: str) -> None:
    result = invoke("check", "-a", "reference", "-s", TINY_GRADS, option, tmp_path)
    assert_clean_exit(result, 2)
    assert f"{option} {tmp_path}: is a folder" in result.output


def test_the_same_file_twice_is_refused(tmp_path: Path) -> None:
    result = invoke("check", "-a", "reference", "-s", TINY_GRADS, "--report", tmp_path / "x", "--junit", tmp_path / "x")
    assert_clean_exit(result, 2)
    assert "--report and --junit name the same file" in result.output


def test_matrix_checks_its_outputs_first(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = invoke("matrix", "-a", "reference", "--reports-dir", blocker, "--no-doc")
    assert_clean_exit(result, 2)
    assert "exists and is not a folder" in result.output


# --------------------------------------------------------------------------------------------------
# 12: time limits
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e300", "soon"])
@pytest.mark.parametrize("command", [("check", "-a", "reference"), ("explain", TINY_GRADS, "-a", "reference"), ("matrix", "-a", "reference")])
def test_timeouts_must_be_finite_seconds(command: tuple[str, ...], value: str) -> None:
    result = invoke(*command, "--timeout", value)
    assert_clean_exit(result, 2)
    assert "--timeout" in result.output


# --------------------------------------------------------------------------------------------------
# 13: report and report diff of files that are not reports
# --------------------------------------------------------------------------------------------------


@pytest.fixture()
def good_report(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    assert invoke("check", "-a", "reference", "-s", TINY_GRADS, "--report", path).exit_code == 0
    return path


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"\xff\xfe{not utf-8", "not UTF-8"),
        (b'{"report_format": 1, "cases": [', "not JSON"),
        (b'{"report_format": 1, "cases": [{"id": 3}]}', "not a valid optimspec report"),
        (b"1" * 5000, "not JSON"),
    ],
    ids=["not-utf8", "truncated", "wrong-schema", "huge-integer"],
)
def test_report_of_a_bad_file_is_an_integrity_error(tmp_path: Path, good_report: Path, content: bytes, complaint: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    for args in (("report", bad), ("report", "diff", good_report, bad), ("report", "diff", bad, good_report)):
        result = invoke(*args)
        assert_clean_exit(result, 3)
        assert f"{bad}: {complaint}" in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_report_with_duplicate_cases_is_refused(tmp_path: Path, good_report: Path) -> None:
    data = json.loads(good_report.read_text())
    data["cases"] = data["cases"] * 2
    bad = tmp_path / "twice.json"
    bad.write_text(json.dumps(data))
    result = invoke("report", "diff", good_report, bad)
    assert_clean_exit(result, 3)
    assert f"case {TINY_GRADS} appears twice" in result.output


# --------------------------------------------------------------------------------------------------
# 15: golden generate into a new folder, usual permissions
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_creates_a_new_golden_folder_with_the_usual_permissions(tmp_path: Path) -> None:
    root = tmp_path / "new" / "golden"
    old_mask = os.umask(0o022)
    try:
        result = invoke("golden", "generate", "--golden", root)
    finally:
        os.umask(old_mask)
    assert_clean_exit(result, 0)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert (root / golden.MANIFEST_NAME) in files and len(files) > 20
    modes = {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o644}, {p: oct(m) for p, m in modes.items() if m != 0o644}
    assert invoke("golden", "verify", "--no-regenerate", "--golden", root).exit_code == 0


def test_generate_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = invoke("golden", "generate", "--golden", blocker)
    assert_clean_exit(result, 2)


# --------------------------------------------------------------------------------------------------
# 22: size cap, non-regular files
# --------------------------------------------------------------------------------------------------


def test_an_oversized_golden_file_is_refused_before_reading(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(golden, "MAX_FILE_BYTES", 10_000)
    result = invoke("check", "-a", "reference", "--golden", tree)
    assert_clean_exit(result, 3)
    assert f"{ADAMW}: " in result.output and "more than the 10000 a golden file may have" in result.output


def test_a_named_pipe_in_the_tree_is_an_integrity_error_not_a_hang(tree: Path) -> None:
    (tree / LINEAR).unlink()
    os.mkfifo(tree / LINEAR)
    for args in (("check", "-a", "reference", "--golden", tree), ("golden", "verify", "--no-regenerate", "--golden", tree)):
        result = invoke(*args)
        assert_clean_exit(result, 3)
        assert f"{LINEAR}: not a regular file" in result.output


# --------------------------------------------------------------------------------------------------
# 9: every shipped case explains
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_shipped_case_explains() -> None:
    from io import StringIO

    from optimspec.conformance import explain, runner
    from optimspec.golden import ROOT

    files = golden.load_all(ROOT)
    failures = []
    for case in runner.iter_cases(files):
        out = Console(file=StringIO(), width=200)
        try:
            explain.describe_case(case, out)
        except Exception as exc:  # collected, so one run names every case that cannot be explained
            failures.append(f"{case.id}: {type(exc).__name__}: {exc}")
    assert not failures, failures[:5]
