"""Tests of ``benchmarks/ratios.py`` (tables, targets, gates, JSON) on synthetic run files.

Plain tests, no benchmark: they run in ``make bench`` (and in ``make test``'s quick mode) in well
under a second, before anything depends on the gates' exit status.
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
from implementations import OPTIMIZER_GROUPS, SCHEDULE_GROUPS
from rich.console import Console


def _load_ratios() -> ModuleType:
    """Import the script by path under its own name (``benchmarks/`` is no package)."""
    name = "optimspec_bench_ratios"
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("ratios.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


ratios = _load_ratios()

MiB = 2**20


def _entry(
    group: str, label: str, median: float, baseline: str | None = None, spread: float = 0.1, **memory: int
) -> dict[str, Any]:
    extra = {"label": label} | ({"baseline": baseline} if baseline else {}) | memory
    return {
        "group": group,
        "name": f"test_step[{group}-{label}]",
        "param": f"{group}-{label}",
        "extra_info": extra,
        "stats": {"median": median, "min": median / 2, "mean": median, "iqr": median * spread},
    }


def _memory(state: int, peak: int, largest: int = 4 * MiB, spec: int = 64 * MiB) -> dict[str, int]:
    return {"state_bytes": state, "peak_step_bytes": peak, "largest_param_bytes": largest, "spec_state_bytes": spec}


def _run(scale: float, entries: list[dict[str, Any]], **optimspec: Any) -> dict[str, Any]:
    return {
        "datetime": "2026-01-01T00:00:00",
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "machine_info": {"cpu": {"brand_raw": "test CPU"}},
        "optimspec": {
            "shape_set": "bert-base-like",
            "scale": scale,
            "layers": 12,
            "tensors": 193,
            "params": 3666716,
            "rounds": 15,
            "warmup_rounds": 3,
        }
        | optimspec,
        "benchmarks": entries,
    }


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path


ADAMW = [
    _entry("adamw", "optimspec.fused", 0.0105, "torch.fused", **_memory(64 * MiB, 16 * 1024)),
    _entry("adamw", "torch.forloop", 0.0400, "torch.fused", **_memory(64 * MiB + 772, 8 * MiB)),
    _entry("adamw", "torch.fused", 0.0100, "torch.fused", **_memory(64 * MiB + 772, 0)),
]


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    """A run with an ``adamw`` group (peer ``torch.fused``, memory recorded) and a group without a baseline."""
    entries = [*ADAMW, _entry("plain", "a", 2e-6), _entry("plain", "b", 4e-6, spread=0.5)]
    return _write(tmp_path / "0001_run.json", _run(0.05, entries, kernel_build_seconds=1.25, kernel_build_cached=False))


@pytest.fixture
def full_scale_file(tmp_path: Path) -> Path:
    """A second run at scale 1 with only the ``adamw`` group, its fused path now 1.2 × the peer."""
    entries = [
        _entry("adamw", "optimspec.fused", 0.120, "torch.fused", **_memory(640 * MiB, 0)),
        _entry("adamw", "torch.fused", 0.100, "torch.fused", **_memory(640 * MiB, 0)),
    ]
    return _write(tmp_path / "full.json", _run(1.0, entries, kernel_build_seconds=None, kernel_build_cached=None))


def _targets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(text)
    return path


def _main(*argv: str) -> tuple[int, str]:
    console = Console(record=True, width=250)
    status = ratios.main(list(argv), console=console)
    return status, console.export_text()


# --- reading runs ------------------------------------------------------------------------------------


def test_ratios_use_the_recorded_baseline(run_file: Path) -> None:
    run = ratios.load_run(run_file)
    assert run.groups["adamw"].baseline == "torch.fused"
    assert run.groups["adamw"].ratio("optimspec.fused") == pytest.approx(1.05)
    assert run.groups["adamw"].ratio("torch.forloop", "optimspec.fused") == pytest.approx(0.04 / 0.0105)
    assert run.groups["plain"].baseline is None


def test_memory_figures_are_read(run_file: Path) -> None:
    entry = ratios.load_run(run_file).groups["adamw"].entries["torch.forloop"]
    assert (entry.state_bytes, entry.peak_step_bytes, entry.largest_param_bytes) == (64 * MiB + 772, 8 * MiB, 4 * MiB)
    assert ratios.load_run(run_file).groups["plain"].entries["a"].peak_step_bytes is None


def test_baseline_override_and_stat(run_file: Path) -> None:
    run = ratios.load_run(run_file, stat="min", baselines={"plain": "a"})
    assert run.groups["plain"].ratio("b") == pytest.approx(2.0)


def test_conflicting_recorded_baselines_need_an_override(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.json", {"benchmarks": [_entry("g", "a", 1.0, "a"), _entry("g", "b", 2.0, "b")]})
    with pytest.raises(ratios.UsageError, match="several baselines"):
        ratios.load_run(path)
    assert ratios.load_run(path, baselines={"g": "b"}).groups["g"].ratio("a") == pytest.approx(0.5)


@pytest.mark.parametrize(
    "data",
    [
        {"benchmarks": [_entry("g", "a", 1.0, state_bytes=-1)]},
        {"benchmarks": [_entry("g", "a", 1.0, peak_step_bytes="12")]},
        {"benchmarks": [_entry("g", "a", 0.0)]},
        {"benchmarks": [_entry("g", "a", 1.0), _entry("g", "a", 2.0)]},
        {"benchmarks": [{"group": "g"}]},
        {"no": "benchmarks"},
        [],
    ],
    ids=["negative-bytes", "string-bytes", "zero-time", "duplicate-label", "no-stats", "no-benchmarks", "not-an-object"],
)
def test_malformed_runs_are_usage_errors(tmp_path: Path, data: Any) -> None:
    path = _write(tmp_path / "run.json", data)
    with pytest.raises(ratios.UsageError):
        ratios.load_run(path)
    assert _main(str(path), "--no-targets")[0] == ratios.EXIT_USAGE


def test_newest_run_is_read_by_default(run_file: Path) -> None:
    older = run_file.with_name("0000_old.json")
    older.write_text("not json")
    os.utime(older, (0, 0))
    status, text = _main("--storage", str(run_file.parent), "--no-targets")
    assert status == ratios.EXIT_OK
    assert run_file.name in text


def test_empty_storage_is_a_usage_error(tmp_path: Path) -> None:
    assert _main("--storage", str(tmp_path), "--no-targets")[0] == ratios.EXIT_USAGE


# --- gates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adamw:optimspec.fused/torch.fused<=1.10", ("adamw", "optimspec.fused", "torch.fused", 1.10)),
        ("adamw:optimspec.fused <= 2", ("adamw", "optimspec.fused", None, 2.0)),
    ],
)
def test_gate_parse(text: str, expected: tuple[str, str, str | None, float]) -> None:
    gate = ratios.Gate.parse(text)
    assert (gate.group, gate.label, gate.other, gate.limit, gate.metric) == (*expected, "time")


@pytest.mark.parametrize("text", ["adamw", "adamw:a/b<1.1", "adamw:a<=0", "adamw:a<=nan", ":a<=1"])
def test_malformed_gates_are_usage_errors(text: str) -> None:
    with pytest.raises(ratios.UsageError):
        ratios.Gate.parse(text)


def test_table_and_passing_gate(run_file: Path) -> None:
    status, text = _main(str(run_file), "--no-targets", "--gate", "adamw:optimspec.fused/torch.fused<=1.10")
    assert status == ratios.EXIT_OK
    assert "1.00 (peer)" in text and "1.05" in text and "pass" in text
    assert "3,666,716 params" in text
    assert "8.00 MiB (2.00×)" in text, "peak step memory with its multiple of the largest param"
    assert "64.0 MiB" in text, "state bytes"
    assert "compiled in 1.25 s (fresh cache)" in text


def test_failing_gate_exits_1(run_file: Path) -> None:
    status, text = _main(str(run_file), "--no-targets", "--gate", "adamw:optimspec.fused<=1.01")
    assert status == ratios.EXIT_GATE_FAILED
    assert "fail" in text


@pytest.mark.parametrize(
    ("gate", "reason"),
    [
        ("nosuchgroup:a<=1", "no group 'nosuchgroup'"),
        ("adamw:nosuchlabel<=1", "has no 'nosuchlabel'"),
        ("plain:a<=1", "has no baseline"),
    ],
)
def test_a_gate_the_run_cannot_answer_is_missing_and_fails(run_file: Path, gate: str, reason: str) -> None:
    status, text = _main(str(run_file), "--no-targets", "--gate", gate)
    assert status == ratios.EXIT_GATE_FAILED
    assert "missing" in text and reason in text


@pytest.mark.parametrize("argv", [["--baseline", "adamw=nosuchlabel"], ["--baseline", "adamw"], ["--baseline", "nogroup=a"]])
def test_baseline_usage_errors_exit_2(run_file: Path, argv: list[str]) -> None:
    assert _main(str(run_file), "--no-targets", *argv)[0] == ratios.EXIT_USAGE


# --- the targets file ---------------------------------------------------------------------------------

MEMORY_TARGETS = """
[[target]]
metric = "peak-memory"
group = "adamw"
label = "torch.forloop"
max = 3

[[target]]
metric = "state"
group = "adamw"
label = "torch.forloop"
max = 1.0
why = "two moments"
"""


def test_memory_targets_divide_by_the_largest_param_and_the_spec_state(run_file: Path, tmp_path: Path) -> None:
    gates = ratios.load_targets(_targets(tmp_path, MEMORY_TARGETS))
    results = ratios.check_gates(gates, [ratios.load_run(run_file)])
    assert [(r.gate.metric, r.ratio, r.verdict) for r in results] == [
        ("peak-memory", 2.0, "pass"),
        ("state", pytest.approx(1 + 772 / (64 * MiB)), "fail"),
    ]
    assert results[1].gate.why == "two moments"


def test_memory_target_without_figures_is_missing(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.json", _run(0.05, [_entry("adamw", "torch.forloop", 1.0)]))
    results = ratios.check_gates(ratios.load_targets(_targets(tmp_path, MEMORY_TARGETS)), [ratios.load_run(path)])
    assert {r.verdict for r in results} == {"missing"}
    assert "records no peak_step_bytes" in results[0].reason


TIME_TARGET = """
[[target]]
metric = "time"
group = "adamw"
label = "optimspec.fused"
peer = "torch.fused"
max = 1.10
runs = "{runs}"
"""


def test_every_run_is_checked_and_one_per_scale_table_is_printed(run_file: Path, full_scale_file: Path, tmp_path: Path) -> None:
    targets = _targets(tmp_path, TIME_TARGET.format(runs="every"))
    status, text = _main(str(run_file), str(full_scale_file), "--targets", str(targets))
    assert status == ratios.EXIT_GATE_FAILED, "1.2 at full scale is above 1.10"
    assert "scale 0.05: median time per call" in text and "scale 1: median time per call" in text
    assert "fused kernels: not available" in text
    results = ratios.check_gates(ratios.load_targets(targets), [ratios.load_run(run_file), ratios.load_run(full_scale_file)])
    assert [(r.run.scale, round(r.ratio, 3), r.verdict) for r in results] == [("0.05", 1.05, "pass"), ("1", 1.2, "fail")]


@pytest.mark.parametrize(("runs", "verdicts"), [("every", ["pass", "missing"]), ("any", ["pass"])])
def test_runs_every_needs_the_group_in_each_run(run_file: Path, tmp_path: Path, runs: str, verdicts: list[str]) -> None:
    no_adamw = _write(tmp_path / "schedules.json", _run(1.0, [_entry("plain", "a", 1.0)]))
    gates = ratios.load_targets(_targets(tmp_path, TIME_TARGET.format(runs=runs)))
    results = ratios.check_gates(gates, [ratios.load_run(run_file), ratios.load_run(no_adamw)])
    assert [r.verdict for r in results] == verdicts


def test_a_target_no_run_has_is_missing(tmp_path: Path) -> None:
    no_adamw = _write(tmp_path / "schedules.json", _run(1.0, [_entry("plain", "a", 1.0)]))
    gates = ratios.load_targets(_targets(tmp_path, TIME_TARGET.format(runs="any")))
    [result] = ratios.check_gates(gates, [ratios.load_run(no_adamw)])
    assert (result.verdict, result.run, result.reason) == ("missing", None, "no run has group 'adamw'")


VALID = {"metric": '"time"', "group": '"g"', "label": '"a"', "peer": '"b"', "max": "1.1"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": '"speed"'}, "metric must be one of"),
        ({"max": "0"}, "max must be a finite number > 0"),
        ({"max": "true"}, "max must be a finite number > 0"),
        ({"max": '"1/3"'}, "max must be a finite number > 0"),
        ({"peer": None}, "peer must be a non-empty string"),
        ({"metric": '"state"'}, "peer applies only to metric 'time'"),
        ({"runs": '"some"'}, "runs must be one of"),
        ({"label": '""'}, "label must be a non-empty string"),
        ({"group": "3"}, "group must be a non-empty string"),
        ({"why": "3"}, "why must be a string"),
        ({"limit": "3"}, "unknown key(s) limit"),
    ],
)
def test_malformed_targets_are_usage_errors(tmp_path: Path, run_file: Path, change: dict[str, str | None], message: str) -> None:
    fields = {key: value for key, value in (VALID | change).items() if value is not None}
    path = _targets(tmp_path, "[[target]]\n" + "".join(f"{key} = {value}\n" for key, value in fields.items()))
    with pytest.raises(ratios.UsageError, match="target 1: " + message.replace("(", r"\(").replace(")", r"\)")):
        ratios.load_targets(path)
    assert _main(str(run_file), "--targets", str(path))[0] == ratios.EXIT_USAGE


@pytest.mark.parametrize("text", ["[[target]\n", "title = 'x'\n", "target = 3\n", "", "[[target]]\nmetric='time'\n[other]\n"])
def test_targets_files_of_the_wrong_shape_are_usage_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ratios.UsageError):
        ratios.load_targets(_targets(tmp_path, text))


def test_the_shipped_targets_name_measured_groups_and_labels() -> None:
    """Every target of benchmarks/targets.toml refers to a group and labels that the suites benchmark
    (a typo would only show as 'missing' in make bench)."""
    labels = {name: set(group.labels) for name, group in (OPTIMIZER_GROUPS | SCHEDULE_GROUPS).items()}
    gates = ratios.load_targets(ratios.DEFAULT_TARGETS)
    for gate in gates:
        assert gate.group in labels, f"{gate.text}: no benchmark group {gate.group!r}"
        assert {gate.label, gate.other or gate.label} <= labels[gate.group], f"{gate.text}: unknown label"
        if gate.metric != "time":
            assert gate.group in OPTIMIZER_GROUPS, f"{gate.text}: only optimizer groups record memory"
    schedule_gates = {gate.group for gate in gates if gate.group in SCHEDULE_GROUPS}
    assert schedule_gates == set(SCHEDULE_GROUPS), "every schedule group is gated"
    assert all(gate.runs == "any" for gate in gates if gate.group in SCHEDULE_GROUPS), "schedules run once"
    assert all(gate.runs == "every" for gate in gates if gate.group in OPTIMIZER_GROUPS), "optimizers at every scale"


# --- interleaved benchmarks ---------------------------------------------------------------------------


def _interleaved(group: str, **medians: float) -> dict[str, Any]:
    """What ``conftest.measure_interleaved`` records: per label, the summary of its own step times."""
    summaries = {label.replace("_", "."): {"median": m, "min": m / 2, "mean": m, "iqr": m * 0.02, "rounds": 20} for label, m in medians.items()}
    return {
        "group": f"{group} (interleaved)",
        "name": f"test_interleaved_steps[{group}]",
        "param": group,
        "extra_info": {"label": "interleaved", "interleaved_group": group, "interleaved": summaries},
        "stats": {"median": sum(medians.values()), "min": 0.0, "mean": 0.0, "iqr": 0.0},
    }


@pytest.fixture
def drifting_run(tmp_path: Path) -> Path:
    """The machine slowed down between the separate benchmarks (fused 1.46 × the peer there), while
    the interleaved one, stepping both in turns, measured 0.90."""
    entries = [
        _entry("adamw", "optimspec.fused", 0.0493, "torch.fused"),
        _entry("adamw", "torch.fused", 0.0337, "torch.fused"),
        _entry("adamw", "torch.forloop", 0.141, "torch.fused"),
        _interleaved("adamw", optimspec_fused=0.0283, torch_fused=0.0315),
    ]
    return _write(tmp_path / "drift.json", _run(1.0, entries))


def test_a_time_gate_takes_the_interleaved_times_where_both_were_measured_there(drifting_run: Path) -> None:
    run = ratios.load_run(drifting_run)
    adamw = run.groups["adamw"]
    assert set(adamw.entries) == {"optimspec.fused", "torch.fused", "torch.forloop"}, "the interleaved benchmark is no table row"
    assert adamw.interleaved["optimspec.fused"].seconds == 0.0283 and adamw.interleaved["torch.fused"].spread == pytest.approx(0.02)
    assert adamw.compared("optimspec.fused") == (pytest.approx(0.0283 / 0.0315), "interleaved")
    assert adamw.compared("torch.forloop") == (pytest.approx(0.141 / 0.0337), "separately"), "forloop was not interleaved"
    assert adamw.ratio("optimspec.fused") == pytest.approx(0.0493 / 0.0337), "the table keeps the separate medians"
    status, text = _main(str(drifting_run), "--no-targets", "--gate", "adamw:optimspec.fused<=1.10", "--markdown")
    assert status == ratios.EXIT_OK
    assert "| `adamw:optimspec.fused<=1.10` | 1 | 0.898 | interleaved | pass |" in text


def test_the_stat_applies_to_the_interleaved_times(drifting_run: Path) -> None:
    run = ratios.load_run(drifting_run, stat="min")
    assert run.groups["adamw"].interleaved["optimspec.fused"].seconds == pytest.approx(0.0283 / 2)


def test_an_interleaved_group_without_separate_benchmarks_still_answers_its_gates(tmp_path: Path) -> None:
    path = _write(tmp_path / "only.json", _run(1.0, [_interleaved("adamw", optimspec_fused=0.03, torch_fused=0.02)]))
    status, text = _main(str(path), "--no-targets", "--gate", "adamw:optimspec.fused/torch.fused<=1.10", "--markdown")
    assert status == ratios.EXIT_GATE_FAILED
    assert "| 1.500 | interleaved | fail |" in text


@pytest.mark.parametrize(
    "damage",
    [
        {"interleaved": {}},
        {"interleaved": {"optimspec.fused": {"median": 0.0}}},
        {"interleaved": {"optimspec.fused": {"median": float("nan")}}},
        {"interleaved": {"optimspec.fused": {"median": True}}},
        {"interleaved": {"optimspec.fused": 0.03}},
        {"interleaved_group": 7},
    ],
)
def test_a_malformed_interleaved_benchmark_is_a_usage_error(tmp_path: Path, damage: dict[str, Any]) -> None:
    entry = _interleaved("adamw", optimspec_fused=0.03, torch_fused=0.02)
    entry["extra_info"].update(damage)
    path = _write(tmp_path / "bad.json", _run(1.0, [entry]))
    status, _ = _main(str(path), "--no-targets")
    assert status == ratios.EXIT_USAGE


def test_two_interleaved_benchmarks_of_one_group_are_a_usage_error(tmp_path: Path) -> None:
    twice = [_interleaved("adamw", optimspec_fused=0.03, torch_fused=0.02)] * 2
    assert _main(str(_write(tmp_path / "twice.json", _run(1.0, twice))), "--no-targets")[0] == ratios.EXIT_USAGE


# --- output -------------------------------------------------------------------------------------------


def test_json_holds_every_ratio_and_verdict(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "ratios.json"
    status, _ = _main(str(run_file), "--no-targets", "--gate", "adamw:optimspec.fused<=1.01", "--json", str(out))
    assert status == ratios.EXIT_GATE_FAILED
    data = json.loads(out.read_text())
    assert data["passed"] is False
    fused = data["runs"][0]["groups"]["adamw"]["implementations"]["optimspec.fused"]
    assert fused["ratio_to_peer"] == pytest.approx(1.05)
    assert fused["ratios"] == {"torch.forloop": pytest.approx(0.0105 / 0.04), "torch.fused": pytest.approx(1.05)}
    assert fused["peak_step_bytes"] == 16 * 1024 and fused["state_bytes"] == 64 * MiB
    assert data["runs"][0]["groups"]["adamw"]["peer"] == "torch.fused"
    [gate] = data["gates"]
    assert (gate["verdict"], gate["ratio"], gate["scale"], gate["max"]) == ("fail", pytest.approx(1.05), 0.05, 1.01)
    assert list(out.parent.iterdir()) == [out], "written atomically, no temporary left"


def test_markdown(run_file: Path) -> None:
    status, text = _main(str(run_file), "--no-targets", "--markdown")
    assert status == ratios.EXIT_OK
    assert "| adamw | torch.forloop | 40.0 ms | 4.00 | 64.0 MiB | 8.00 MiB (2.00×) | 10% |" in text
    assert "| plain | b | 4.00 µs | - | - | - | 50% (!) |" in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1.5, "1.50 s"), (0.0342, "34.2 ms"), (0.129, "129 ms"), (2.2e-6, "2.20 µs"), (5e-10, "0.50 ns")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert ratios.format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("count", "text"), [(0, "0 B"), (1000, "1000 B"), (16 * 1024, "16.0 KiB"), (1173728, "1.12 MiB"), (3 * 2**30, "3.00 GiB")]
)
def test_format_bytes(count: int, text: str) -> None:
    assert ratios.format_bytes(count) == text


def test_noisy_rows_are_flagged(run_file: Path) -> None:
    rows = {(row.group, row.label): row for row in ratios.ratio_rows(ratios.load_run(run_file))}
    assert rows["plain", "b"].noisy and rows["plain", "b"].spread == "50%"
    assert not rows["adamw", "torch.fused"].noisy
    status, text = _main(str(run_file), "--no-targets")
    assert status == ratios.EXIT_OK and "plain/b" in text
