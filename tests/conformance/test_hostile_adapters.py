"""Adapters that attack the harness (hostile_adapters.py, broken_adapters.py): every correct one
passes and every wrong one fails or errors, in the default mode and with --isolate (worker
processes). Then the same through the command line, where a wrong adapter must never exit 0."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import broken_adapters as broken
import hostile_adapters as hostile
import pytest
from click.testing import CliRunner

from optimspec.conformance import cli, golden, isolate, runner
from optimspec.conformance.adapters.reference import ReferenceAdapter

HERE = Path(__file__).resolve().parent
TINY_GRADS = "optim/adamw/conventions/f64/tiny-grads-t3"
TIMEOUT_S = 0.5

CORRECT = [ReferenceAdapter, hostile.ZeroCopyAdapter, hostile.DeclaredUnexportedAdapter]
WRONG = {  # adapter -> the outcome it must get
    broken.RaisingAdapter: "error",
    hostile.ExitAdapter: "error",
    hostile.InterruptAdapter: "error",
    broken.HangingAdapter: "error",
    hostile.IgnoresAlarmAdapter: "error",
    hostile.SwallowsTimeoutAdapter: "error",
    broken.NaNAdapter: "fail",
    hostile.ComplexAdapter: "error",
    broken.WrongShapeAdapter: "error",
    hostile.EmptyStateAdapter: "fail",
    hostile.MisnamedStateAdapter: "fail",
    hostile.FractionalStepAdapter: "fail",
    hostile.MutatingInputsAdapter: "fail",
}
ONLY_ISOLATED = {hostile.OsExitAdapter: "error", hostile.UnstoppableAdapter: "error"}  # nothing in-process contains these


def ref_of(adapter: type) -> str:
    return f"{adapter.__module__}:{adapter.__name__}"


def run_default(adapter: type, files: Sequence[golden.GoldenFile], select: str = TINY_GRADS, modes: Sequence[str] = runner.MODES) -> list[runner.CaseResult]:
    return runner.execute(adapter(), files, runner.Options(select=(select,), modes=tuple(modes), timeout_s=TIMEOUT_S), adapter_ref=ref_of(adapter)).results


@pytest.fixture()
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes import the adapters by name from this folder."""
    monkeypatch.syspath_prepend(str(HERE))


def run_isolated(adapter: type, golden_root: Path) -> list[runner.CaseResult]:
    return isolate.execute_isolated(ref_of(adapter), golden_root, runner.Options(select=(TINY_GRADS,), timeout_s=TIMEOUT_S)).results


# --------------------------------------------------------------------------------------------------
# default mode
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", CORRECT, ids=lambda a: a.__name__)
def test_correct_adapters_pass(golden_files: list[golden.GoldenFile], adapter: type) -> None:
    (result,) = run_default(adapter, golden_files)
    assert result.outcome == "pass", f"{adapter.__name__}: {result.outcome}: {result.message}"


@pytest.mark.parametrize(("adapter", "outcome"), list(WRONG.items()), ids=lambda a: getattr(a, "__name__", a))
def test_wrong_adapters_fail(golden_files: list[golden.GoldenFile], adapter: type, outcome: str) -> None:
    (result,) = run_default(adapter, golden_files)
    assert result.outcome == outcome, f"{adapter.__name__}: {result.outcome}: {result.message}"
    assert result.failing


def test_a_zero_copy_adapter_passes_every_adamw_case(golden_files: list[golden.GoldenFile]) -> None:
    """It keeps and updates in place the arrays it is given: they must be its own copies."""
    results = run_default(hostile.ZeroCopyAdapter, golden_files, "optim/adamw/*")
    assert len(results) > 28
    failing = [(r.id, r.message) for r in results if r.outcome != "pass"]
    assert not failing, f"{len(failing)} false failures, e.g. {failing[:2]}"


def test_mutating_inputs_cannot_inflate_its_own_budgets(golden_files: list[golden.GoldenFile]) -> None:
    """Teacher-forced only: budgets come from the harness's arrays, never from what the adapter held.
    (Half-precision cases are left out: a 1e-3 relative error is below one bfloat16 ulp.)"""
    results = [
        r for r in run_default(hostile.MutatingInputsAdapter, golden_files, "optim/adamw/*", modes=("teacher_forced",))
        if r.metric != "rejects" and r.dtype in ("float64", "float32")
    ]
    assert results and {r.outcome for r in results} == {"fail"}, [(r.id, r.outcome) for r in results if r.outcome != "fail"]


def test_actual_values_are_snapshots(golden_files: list[golden.GoldenFile]) -> None:
    """A zero-copy adapter reuses its buffers at every step; what the harness recorded (for explain
    and the diagnosis) must be the values of each step, not the last one."""
    (result,) = run_default(hostile.ZeroCopyAdapter, golden_files)
    steps = result.actual["free_running"]
    assert not all((steps[1][n] == steps[3][n]).all() for n in steps[1]), "step 1 and step 3 values are the same buffer"


def test_declared_unexported_state_is_reported_not_failed(golden_files: list[golden.GoldenFile]) -> None:
    record = runner.execute(hostile.DeclaredUnexportedAdapter(), golden_files, runner.Options(select=(TINY_GRADS,)))
    (result,) = record.results
    assert result.unchecked == ["state.exp_avg_sq: not exported (declared in unexported_state)"]
    assert record.warnings == ["adamw: state.exp_avg_sq: not exported (declared in unexported_state); not compared in 1 case"]


def test_state_failures_say_what_is_wrong(golden_files: list[golden.GoldenFile]) -> None:
    messages = {adapter: run_default(adapter, golden_files)[0].message for adapter in (hostile.EmptyStateAdapter, hostile.MisnamedStateAdapter, hostile.FractionalStepAdapter)}
    assert "state[p].exp_avg" in messages[hostile.EmptyStateAdapter] and "not exported" in messages[hostile.EmptyStateAdapter]
    assert "unknown state field(s) ['m', 'v']" in messages[hostile.MisnamedStateAdapter]
    assert "step counter 1.7 is not an integer" in messages[hostile.FractionalStepAdapter]


def test_complex_output_names_the_dtype(golden_files: list[golden.GoldenFile]) -> None:
    (result,) = run_default(hostile.ComplexAdapter, golden_files)
    assert result.message == "params[p]: complex128 values, expected real numbers"


def test_sys_exit_and_interrupts_are_named(golden_files: list[golden.GoldenFile]) -> None:
    assert run_default(hostile.ExitAdapter, golden_files)[0].message == "the adapter called sys.exit(0) (SystemExit)"
    assert run_default(hostile.InterruptAdapter, golden_files)[0].message == "the adapter raised KeyboardInterrupt"


def test_a_swallowed_timeout_still_times_out(golden_files: list[golden.GoldenFile]) -> None:
    (result,) = run_default(hostile.SwallowsTimeoutAdapter, golden_files)
    assert result.message == f"timed out after {TIMEOUT_S:g} s (the adapter caught the timeout and went on)"


# --------------------------------------------------------------------------------------------------
# --isolate
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("importable")
@pytest.mark.parametrize("adapter", CORRECT, ids=lambda a: a.__name__)
def test_correct_adapters_pass_isolated(golden_root: Path, adapter: type) -> None:
    (result,) = run_isolated(adapter, golden_root)
    assert result.outcome == "pass", f"{adapter.__name__}: {result.outcome}: {result.message}"


@pytest.mark.slow
@pytest.mark.usefixtures("importable")
@pytest.mark.parametrize(("adapter", "outcome"), list({**WRONG, **ONLY_ISOLATED}.items()), ids=lambda a: getattr(a, "__name__", a))
def test_wrong_adapters_fail_isolated(golden_root: Path, adapter: type, outcome: str) -> None:
    (result,) = run_isolated(adapter, golden_root)
    assert result.outcome == outcome, f"{adapter.__name__}: {result.outcome}: {result.message}"
    assert result.failing


@pytest.mark.slow
@pytest.mark.usefixtures("importable")
def test_isolation_names_what_ended_the_worker_and_goes_on(golden_root: Path) -> None:
    options = runner.Options(select=(TINY_GRADS, "sched/linear/boundaries/w2-t10"), timeout_s=TIMEOUT_S)
    record = isolate.execute_isolated(ref_of(hostile.OsExitAdapter), golden_root, options)
    by_id = {r.id: r for r in record.results}
    assert by_id[TINY_GRADS].message == "isolated: the worker process ended (exit code 0)"
    assert by_id["sched/linear/boundaries/w2-t10"].outcome == "pass", "a fresh worker takes the next case"


# --------------------------------------------------------------------------------------------------
# the command line never reads a wrong adapter as green
# --------------------------------------------------------------------------------------------------


def invoke(*args: object) -> object:
    return CliRunner().invoke(cli.main, [str(a) for a in args])


@pytest.fixture()
def small_tree(monkeypatch: pytest.MonkeyPatch, golden_root: Path) -> None:
    monkeypatch.setenv("OPTIMSPEC_GOLDEN", str(golden_root))


@pytest.mark.usefixtures("small_tree")
def test_sys_exit_in_a_case_is_an_error_and_the_run_completes(tmp_path: Path) -> None:
    result = invoke("check", "-a", ref_of(hostile.ExitAdapter), "-s", TINY_GRADS, "-s", "sched/linear/*", "--report", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    outcomes = {c["id"]: c["outcome"] for c in report["cases"]}
    assert outcomes[TINY_GRADS] == "error" and set(outcomes.values()) == {"error", "pass"}


@pytest.mark.usefixtures("small_tree")
def test_sys_exit_at_import_is_not_green(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    result = invoke("check", "-a", "exits_on_import:Adapter", "-s", TINY_GRADS)
    assert result.exit_code == 2, result.output
    assert "called sys.exit(0)" in result.output


@pytest.mark.slow
@pytest.mark.usefixtures("small_tree", "importable")
def test_check_isolate_contains_os_exit(tmp_path: Path) -> None:
    result = invoke("check", "--isolate", "-a", ref_of(hostile.OsExitAdapter), "-s", TINY_GRADS, "--timeout", TIMEOUT_S, "--report", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    (case,) = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert (case["outcome"], case["message"]) == ("error", "isolated: the worker process ended (exit code 0)")


@pytest.mark.slow
@pytest.mark.usefixtures("small_tree", "importable")
def test_check_isolate_of_an_adapter_that_cannot_start_exits_1() -> None:
    result = invoke("check", "--isolate", "-a", "exits_on_import:Adapter", "-s", TINY_GRADS)
    assert result.exit_code == 1, result.output
    assert "could not start in its worker process" in result.output
