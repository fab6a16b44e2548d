"""Output people can read: full-width plain tables when piped (and --format), one line per adapter
instead of a progress bar, no framework noise, warnings only where they mean something, unsupported
algorithms counted instead of listed, a quiet closed pipe, --version, py.typed, fast verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from optimspec.conformance import cli, golden, runner, verify
from optimspec.conformance.adapters.base import AlgorithmSupport, Capabilities
from optimspec.conformance.adapters.reference import ReferenceAdapter

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
OPTIMSPEC = str(Path(sys.executable).parent / "optimspec")
CONVENTIONS = "optim/adamw/conventions/*"


def invoke(*args: object) -> Result:
    """Through click's runner: stdout is not a terminal, as in a pipe."""
    return CliRunner().invoke(cli.main, [str(a) for a in args])


@pytest.fixture(autouse=True)
def narrow_piped_consoles(monkeypatch: pytest.MonkeyPatch, golden_root: Path) -> None:
    """80-column consoles that are not terminals (what `optimspec … > file` gets)."""
    monkeypatch.setattr(cli, "console", Console(width=80, force_terminal=False))
    monkeypatch.setattr(cli, "errors", Console(stderr=True, width=80, force_terminal=False))
    monkeypatch.setenv("OPTIMSPEC_GOLDEN", str(golden_root))
    monkeypatch.delenv("OPTIMSPEC_ADAPTER", raising=False)


def run_cli(*args: str, golden_root: Path, shell_pipe: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPTIMSPEC_GOLDEN": str(golden_root), "PYTHONPATH": str(HERE)}
    command = [OPTIMSPEC, *args]
    if shell_pipe:
        line = " ".join(f"'{a}'" for a in command) + f" | {shell_pipe}"
        return subprocess.run(["bash", "-o", "pipefail", "-c", line], capture_output=True, text=True, env=env, timeout=300)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


# --------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------


def test_piped_catalogue_is_a_full_width_plain_table(golden_files: list[golden.GoldenFile]) -> None:
    result = invoke("catalogue")
    assert result.exit_code == 0, result.output
    assert "…" not in result.output and "┃" not in result.output and "│" not in result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["algorithm", "kind", "cases", "invalid", "dtypes", "conventions"]
    row = next(line for line in lines if line.startswith("adamw "))
    conventions = ", ".join(next(f for f in golden_files if f.algorithm == "adamw").data["conventions"])
    assert row.endswith(conventions) and len(row) > 80, "conventions must stay on one full-width line"


@pytest.mark.usefixtures("two_adapters")
def test_piped_matrix_keeps_names_and_conventions_whole(tmp_path: Path) -> None:
    result = invoke("matrix", "--reports-dir", tmp_path, "--no-doc", "-s", CONVENTIONS, "-s", "sched/*")
    assert result.exit_code == 1, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("eps "))
    assert row.split()[:2] == ["eps", "adamw"] and "eps_placement=after_bias_correction (measured)" in row


@pytest.fixture()
def two_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    from optimspec.conformance import adapters
    from optimspec.conformance.adapters import Builtin

    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setattr(adapters, "BUILTINS", {"reference": adapters.BUILTINS["reference"], "eps": Builtin("broken_adapters:EpsAfterAdapter")})


@pytest.mark.parametrize("fmt", ["json", "markdown", "plain"])
def test_catalogue_formats(fmt: str) -> None:
    result = invoke("catalogue", "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        rows = json.loads(result.output)
        assert {r["algorithm"] for r in rows} == {"adamw", "linear"} and rows[0]["kind"]
    elif fmt == "markdown":
        assert "| algorithm | kind | cases | invalid | dtypes | conventions |" in result.output
    else:
        assert result.output.splitlines()[1].startswith("algorithm")


@pytest.mark.usefixtures("two_adapters")
def test_matrix_json_format(tmp_path: Path) -> None:
    result = invoke("matrix", "--reports-dir", tmp_path, "--no-doc", "-s", "sched/*", "--format", "json")
    rows = json.loads(result.output[result.output.index("[") :])
    assert {(r["adapter"], r["algorithm"], r["verdict"]) for r in rows} == {("reference", "linear", "conformant"), ("eps", "linear", "conformant")}


# --------------------------------------------------------------------------------------------------
# progress and noise
# --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("two_adapters")
def test_piped_matrix_prints_one_line_per_adapter(tmp_path: Path) -> None:
    result = invoke("matrix", "--reports-dir", tmp_path, "--no-doc", "-s", "sched/*")
    progress = [line for line in result.output.splitlines() if " cases in " in line]
    assert [line.split(":")[0] for line in progress] == ["reference", "eps"]


@pytest.mark.slow
def test_no_framework_noise_in_a_tensorflow_check(golden_root: Path) -> None:
    pytest.importorskip("tensorflow")
    result = run_cli("check", "-a", "optimspec.tf", "-s", "sched/linear/boundaries/w2-t10", golden_root=golden_root)
    assert result.returncode in (0, 1), result.stderr
    noise = [line for line in result.stderr.splitlines() if any(w in line for w in ("oneDNN", "cuda", "absl", "Warning", "I0000", "E0000"))]
    assert not noise, noise


# --------------------------------------------------------------------------------------------------
# warnings, unsupported algorithms
# --------------------------------------------------------------------------------------------------


def entry(match: str) -> str:
    return f'[[divergence]]\nmatch = "{match}"\nkind = "convention"\noutcome = "xfail"\nreason = "r"\n'


def test_unmatched_divergences_warn_only_when_the_selection_could_have_matched(golden_files: list[golden.GoldenFile], known: object) -> None:
    divergences = known(entry("sched/linear/*") + entry("optim/adamw/shapes/f64/*") + entry("optim/typo/*"))  # type: ignore[operator]
    options = runner.Options(select=("optim/adamw/*",), dtypes=("float32",))
    record = runner.execute(ReferenceAdapter(), golden_files, options, divergences)
    assert record.warnings == ["divergence test.toml entry 2 (match = 'optim/typo/*') matches no golden case"]


class AdamwOnly(ReferenceAdapter):
    name = "adamw-only"

    def capabilities(self) -> Capabilities:
        caps = super().capabilities()
        return Capabilities({"adamw": AlgorithmSupport()}, caps.dtypes, caps.can_load_state, caps.can_export_state, caps.validates_hparams)


@pytest.fixture()
def adamw_only(monkeypatch: pytest.MonkeyPatch) -> str:
    module = type(sys)("adamw_only_adapter")
    module.Adapter = AdamwOnly  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "adamw_only_adapter", module)
    return "adamw_only_adapter:Adapter"


def test_algorithms_an_adapter_does_not_implement_are_counted_not_listed(tmp_path: Path, adamw_only: str) -> None:
    result = invoke("check", "-a", adamw_only, "--junit", tmp_path / "r.xml", "--markdown", tmp_path / "r.md")
    assert result.exit_code == 0, result.output
    assert "1 algorithm the adapter does not implement left out (--show-unsupported lists them)" in result.output
    assert not any(line.startswith("linear") for line in result.output.splitlines())
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None and {c.get("classname") for c in suite.iter("testcase")} == {adamw_only}
    assert all(c.get("name").startswith("optim/adamw/") for c in suite.iter("testcase"))
    assert suite.find("properties/property[@name='unsupported_cases_left_out']") is not None
    assert "1 algorithm the adapter does not implement left out" in (tmp_path / "r.md").read_text()


def test_show_unsupported_lists_them(tmp_path: Path, adamw_only: str) -> None:
    result = invoke("check", "-a", adamw_only, "--show-unsupported", "--junit", tmp_path / "r.xml")
    assert any(line.startswith("linear") for line in result.output.splitlines()), result.output
    names = {c.get("name") for c in ET.parse(tmp_path / "r.xml").getroot().iter("testcase")}
    assert any(name.startswith("sched/linear/") for name in names), sorted(names)[:5]


# --------------------------------------------------------------------------------------------------
# a closed pipe, --version, py.typed
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("adapter", "code"), [("reference", 0), ("broken_adapters:EpsAfterAdapter", 1)])
def test_a_closed_pipe_exits_with_the_verdict(golden_root: Path, adapter: str, code: int) -> None:
    result = run_cli("check", "-a", adapter, "-s", CONVENTIONS, golden_root=golden_root, shell_pipe="true")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr and "Exception ignored" not in result.stderr


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"optimspec {tomllib.loads((PROJECT / 'pyproject.toml').read_text())['project']['version']}"


def test_every_package_is_typed() -> None:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package in config["packages"]:
        assert resources.files(package).joinpath("py.typed").is_file(), f"{package} has no py.typed"
        assert "py.typed" in config["package-data"].get(package, []), f"{package}: py.typed is not in package-data"


# --------------------------------------------------------------------------------------------------
# verify is fast
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_verify_is_fast() -> None:
    """Measured on the shipped tree, in-process (interpreter start-up not included; the schemas are
    compiled in the first call, as in a CLI run)."""
    from optimspec.golden import ROOT

    started = time.perf_counter()
    verify.verify(ROOT, regenerate=False)
    without = time.perf_counter() - started
    started = time.perf_counter()
    verify.verify(ROOT)
    full = time.perf_counter() - started
    assert without < 1.0, f"golden verify --no-regenerate took {without:.2f} s"
    assert full < 5.0, f"golden verify took {full:.2f} s"
