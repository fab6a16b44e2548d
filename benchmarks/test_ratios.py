"""Tests of ``benchmarks/ratios.py`` (the ratio table and gates) on a synthetic run file.

Plain tests, no benchmark: they run in ``make bench`` in well under a second, before anything
depends on the gates' exit status.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console


def _load_ratios() -> ModuleType:
    """Import the script by path: ``benchmarks/`` is not a package."""
    name = "optimspec_bench_ratios"
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("ratios.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


ratios = _load_ratios()


def _entry(group: str, label: str, median: float, baseline: str | None = None, spread: float = 0.1) -> dict[str, Any]:
    extra = {"label": label} | ({"baseline": baseline} if baseline else {})
    return {
        "group": group,
        "name": f"test_{group}[{label}]",
        "param": label,
        "extra_info": extra,
        "stats": {"median": median, "min": median / 2, "mean": median, "iqr": median * spread},
    }


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    """A run with an ``adamw`` group (baseline ``torch.forloop``) and a group without a baseline."""
    data = {
        "datetime": "2026-01-01T00:00:00",
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "machine_info": {"cpu": {"brand_raw": "test CPU"}},
        "optimspec": {
            "shape_set": "bert-base-like",
            "scale": 0.04,
            "tensors": 193,
            "params": 3666716,
            "rounds": 15,
            "warmup_rounds": 3,
        },
        "benchmarks": [
            _entry("adamw", "optimspec.default", 0.0105, "torch.forloop"),
            _entry("adamw", "torch.forloop", 0.0100, "torch.forloop"),
            _entry("adamw", "torch.fused", 0.0025, "torch.forloop"),
            _entry("plain", "a", 2e-6),
            _entry("plain", "b", 4e-6, spread=0.5),
        ],
    }
    path = tmp_path / "0001_run.json"
    path.write_text(json.dumps(data))
    return path


def _main(*argv: str) -> tuple[int, str]:
    console = Console(record=True, width=200)
    status = ratios.main(list(argv), console=console)
    return status, console.export_text()


def test_ratios_use_the_recorded_baseline(run_file: Path) -> None:
    run = ratios.load_run(run_file)
    assert run.groups["adamw"].baseline == "torch.forloop"
    assert run.groups["adamw"].ratio("optimspec.default") == pytest.approx(1.05)
    assert run.groups["adamw"].ratio("torch.fused", "optimspec.default") == pytest.approx(0.25 / 1.05)
    assert run.groups["plain"].baseline is None


def test_baseline_override_and_stat(run_file: Path) -> None:
    run = ratios.load_run(run_file, stat="min", baselines={"plain": "a"})
    assert run.groups["plain"].ratio("b") == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adamw:optimspec.default/torch.forloop<=1.10", ("adamw", "optimspec.default", "torch.forloop", 1.10)),
        ("adamw:optimspec.default <= 2", ("adamw", "optimspec.default", None, 2.0)),
    ],
)
def test_gate_parse(text: str, expected: tuple[str, str, str | None, float]) -> None:
    gate = ratios.Gate.parse(text)
    assert (gate.group, gate.label, gate.other, gate.limit) == expected


@pytest.mark.parametrize("text", ["adamw", "adamw:a/b<1.1", "adamw:a<=0", "adamw:a<=nan", ":a<=1"])
def test_malformed_gates_are_usage_errors(text: str) -> None:
    with pytest.raises(ratios.UsageError):
        ratios.Gate.parse(text)


def test_table_and_passing_gate(run_file: Path) -> None:
    status, text = _main(str(run_file), "--gate", "adamw:optimspec.default/torch.forloop<=1.10")
    assert status == ratios.EXIT_OK
    assert "1.00 (baseline)" in text and "1.05" in text and "pass" in text
    assert "3,666,716 params" in text


def test_failing_gate_exits_1(run_file: Path) -> None:
    status, text = _main(str(run_file), "--gate", "adamw:optimspec.default<=1.01")
    assert status == ratios.EXIT_GATE_FAILED
    assert "FAIL" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--gate", "nosuchgroup:a<=1"],
        ["--gate", "adamw:nosuchlabel<=1"],
        ["--gate", "plain:a<=1"],  # no baseline to divide by
        ["--baseline", "adamw=nosuchlabel"],
        ["--baseline", "adamw"],
    ],
)
def test_usage_errors_exit_2(run_file: Path, argv: list[str]) -> None:
    assert _main(str(run_file), *argv)[0] == ratios.EXIT_USAGE


def test_newest_run_is_read_by_default(run_file: Path) -> None:
    older = run_file.with_name("0000_old.json")
    older.write_text("not json")
    os.utime(older, (0, 0))
    status, text = _main("--storage", str(run_file.parent))
    assert status == ratios.EXIT_OK
    assert run_file.name in text


def test_empty_storage_is_a_usage_error(tmp_path: Path) -> None:
    assert _main("--storage", str(tmp_path))[0] == ratios.EXIT_USAGE


def test_markdown(run_file: Path) -> None:
    status, text = _main(str(run_file), "--markdown")
    assert status == ratios.EXIT_OK
    assert "| adamw | torch.fused | 2.50 ms | 0.25 | 10% |" in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1.5, "1.50 s"), (0.0342, "34.2 ms"), (0.129, "129 ms"), (2.2e-6, "2.20 µs"), (5e-10, "0.50 ns")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert ratios.format_seconds(seconds) == text


def test_noisy_rows_are_flagged(run_file: Path) -> None:
    rows = {(row.group, row.label): row for row in ratios.ratio_rows(ratios.load_run(run_file))}
    assert rows["plain", "b"].noisy and rows["plain", "b"].spread == "50%"
    assert not rows["adamw", "torch.fused"].noisy
    status, text = _main(str(run_file))
    assert status == ratios.EXIT_OK and "plain/b" in text


def test_conflicting_recorded_baselines_need_an_override(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"benchmarks": [_entry("g", "a", 1.0, "a"), _entry("g", "b", 2.0, "b")]}))
    with pytest.raises(ratios.UsageError, match="several baselines"):
        ratios.load_run(path)
    assert ratios.load_run(path, baselines={"g": "b"}).groups["g"].ratio("a") == pytest.approx(0.5)
