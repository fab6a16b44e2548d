"""The runner against the reference adapter and deliberately broken ones: verdicts, isolation
(crash, hang, NaN, wrong shape), diagnoses, declared conventions, and known divergences."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

import broken_adapters as broken
import pytest

from optimspec.conformance import golden, runner
from optimspec.conformance.adapters.base import AlgorithmSupport, Unsupported
from optimspec.conformance.adapters.reference import ReferenceAdapter
from optimspec.conformance.divergences import DivergenceSet

TINY_GRADS = "optim/adamw/conventions/f64/tiny-grads-t3"
LARGE_DECAY = "optim/adamw/conventions/f64/large-lr-decay-t3"
LINEAR_W2 = "sched/linear/boundaries/w2-t10"


def run_one(adapter: object, files: Sequence[golden.GoldenFile], case_id: str, divergences: DivergenceSet | None = None, timeout_s: float = 60.0) -> runner.CaseResult:
    (result,) = runner.run(adapter, files, runner.Options(select=(case_id,), timeout_s=timeout_s), divergences=divergences)
    assert result.id == case_id
    return result


def test_reference_adapter_passes_every_case(golden_files: list[golden.GoldenFile]) -> None:
    results = runner.run(ReferenceAdapter(), golden_files)
    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"pass": len(results)}, [(r.id, r.outcome, r.message) for r in results if r.outcome != "pass"]
    assert len(results) == sum(f.data["number_of_cases"] for f in golden_files)


def test_measured_errors_are_reported_for_passing_cases(golden_files: list[golden.GoldenFile]) -> None:
    (result,) = runner.run(ReferenceAdapter(), golden_files, runner.Options(select=("optim/adamw/trajectory/f32/*",)))
    assert result.outcome == "pass"
    assert result.measured.budget_k > 0 and result.measured.worst, f"no measurement recorded: {result.measured}"
    assert result.modes == ["teacher_forced", "free_running"]


@pytest.mark.parametrize(
    ("adapter", "case_id", "diagnosis"),
    [
        (broken.EpsAfterAdapter, TINY_GRADS, "behaves like eps_placement=after_bias_correction"),
        (broken.DecayBeforeAdapter, LARGE_DECAY, "behaves like decay_order=before_update"),
        (broken.OffByOneScheduleAdapter, LINEAR_W2, "behaves like step_offset=1"),
    ],
    ids=["eps-after-bias-correction", "decay-before-update", "schedule-one-step-late"],
)
def test_convention_bugs_fail_with_a_diagnosis(golden_files: list[golden.GoldenFile], adapter: type, case_id: str, diagnosis: str) -> None:
    result = run_one(adapter(), golden_files, case_id)
    assert result.outcome == "fail", f"{adapter.__name__} should fail {case_id}: {result.message}"
    assert result.diagnosis == diagnosis
    assert result.failing
    assert result.repro == f"optimspec explain {case_id} --adapter {adapter.name}"


def test_a_crash_is_an_error_and_the_run_goes_on(golden_files: list[golden.GoldenFile]) -> None:
    results = runner.run(broken.RaisingAdapter(), golden_files, runner.Options(select=(TINY_GRADS, LINEAR_W2)))
    by_id = {r.id: r for r in results}
    assert by_id[TINY_GRADS].outcome == "error"
    assert "RuntimeError: simulated crash" in by_id[TINY_GRADS].message
    assert "raised in defect" in by_id[TINY_GRADS].diagnosis
    assert by_id[LINEAR_W2].outcome == "pass", "the case after the crash must still run"


def test_a_hang_times_out_as_an_error_and_the_run_goes_on(golden_files: list[golden.GoldenFile]) -> None:
    started = time.perf_counter()
    results = runner.run(broken.HangingAdapter(), golden_files, runner.Options(select=(TINY_GRADS, LINEAR_W2), timeout_s=0.2))
    elapsed = time.perf_counter() - started
    by_id = {r.id: r for r in results}
    assert by_id[TINY_GRADS].outcome == "error"
    assert "timed out after 0.2 s" in by_id[TINY_GRADS].message
    assert by_id[LINEAR_W2].outcome == "pass"
    assert elapsed < 5.0, f"the timeout did not interrupt the hang ({elapsed:.1f} s)"


def test_nan_output_fails(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(broken.NaNAdapter(), golden_files, TINY_GRADS)
    assert result.outcome == "fail"
    assert "NaN mismatch" in result.message
    assert "not a named convention" in result.diagnosis, "a NaN is no convention"


def test_wrong_shape_is_an_error(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(broken.WrongShapeAdapter(), golden_files, TINY_GRADS)
    assert result.outcome == "error"
    assert "shape [9], expected [8]" in result.message


# --------------------------------------------------------------------------------------------------
# declared conventions: checked, not excused
# --------------------------------------------------------------------------------------------------


def test_declaring_torch_adamw_conventions_and_following_them_passes_every_adamw_case(golden_files: list[golden.GoldenFile]) -> None:
    """Every AdamW case is judged against the reference under the declared conventions: all pass,
    none is not_applicable (on the previous main 7 failed, diagnosed as the declared convention,
    and 17 were not_applicable)."""
    results = runner.run(broken.DeclaredTorchAdamWAdapter(), golden_files, runner.Options(select=("optim/adamw/",)))
    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"pass": len(results)}, [(r.id, r.outcome, r.message, r.diagnosis) for r in results if r.outcome != "pass"]
    assert len(results) > 30
    assert {tuple(r.conventions.items()) for r in results if r.metric != "rejects"} == {tuple(broken.TORCH_ADAMW.items())}


def test_a_declared_convention_is_checked(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(broken.DeclaredEpsAfterAdapter(), golden_files, TINY_GRADS)
    assert (result.outcome, result.diagnosis) == ("pass", "")
    assert result.conventions == {"eps_placement": "after_bias_correction"}
    assert result.as_dict()["conventions"] == {"eps_placement": "after_bias_correction"}, "reports say which conventions judged the case"


def test_a_declared_convention_that_is_not_followed_fails(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(broken.ClaimsEpsAfterAdapter(), golden_files, TINY_GRADS)
    assert result.outcome == "fail" and result.failing
    assert result.diagnosis == "behaves like eps_placement=before_bias_correction (the spec's, not the declared after_bias_correction)"


def test_a_declared_schedule_convention_is_checked(golden_files: list[golden.GoldenFile]) -> None:
    results = runner.run(broken.DeclaredOffByOneAdapter(), golden_files, runner.Options(select=("sched/linear/",)))
    assert Counter(r.outcome for r in results if r.metric != "rejects") == {"pass": len([r for r in results if r.metric != "rejects"])}
    assert all(r.conventions == {"step_offset": "1"} for r in results if r.metric != "rejects")


def test_an_unknown_declared_convention_breaks_the_adapter_up_front(golden_files: list[golden.GoldenFile]) -> None:
    with pytest.raises(runner.AdapterBroken, match=r"algorithms\['adamw'\]\.variant: adamw: convention eps_placement='sideways' is not one of before_bias_correction, after_bias_correction"):
        runner.run(broken.UnknownConventionAdapter(), golden_files)


def test_expected_values_under_a_declared_variant_are_the_reference_s_and_cached(golden_files: list[golden.GoldenFile]) -> None:
    from optimspec.conformance import decode, expected
    from optimspec.reference import run as ref

    case = runner.find_case(golden_files, LARGE_DECAY)
    first = expected.optimizer_expectation(case, broken.TORCH_ADAMW)
    assert expected.optimizer_expectation(case, dict(broken.TORCH_ADAMW)) is first, "computed once per case and variant"
    assert expected.optimizer_expectation(case, {"eps_placement": "before_bias_correction"}) is expected.optimizer_expectation(case), "the spec's values written out are the spec"
    trajectory = ref.optimizer_trajectory("adamw", decode.decode_tensors(case.raw["params"]), decode.grads(case), case.hparams(), variant=broken.TORCH_ADAMW, dtype="float64")
    for t, checkpoint in first.checkpoints.items():
        for name, value in checkpoint["params"].items():
            assert (value == trajectory[t].params[name]).all(), f"step {t} {name}: not the reference's trajectory under the variant"


class _NoSchedules(ReferenceAdapter):
    name = "no-schedules"

    def capabilities(self) -> object:
        caps = super().capabilities()
        return type(caps)(**{**caps.__dict__, "algorithms": {"adamw": AlgorithmSupport()}})


class _RejectsFloat32(ReferenceAdapter):
    name = "rejects-f32"

    def make_optimizer(self, algorithm, hparams, param_groups, dtype):  # type: ignore[no-untyped-def]
        if dtype == "float32":
            raise Unsupported("no float32 here")
        return super().make_optimizer(algorithm, hparams, param_groups, dtype)


def test_unsupported_algorithms_and_settings(golden_files: list[golden.GoldenFile]) -> None:
    assert run_one(_NoSchedules(), golden_files, LINEAR_W2).outcome == "unsupported"
    result = run_one(_RejectsFloat32(), golden_files, "optim/adamw/conventions/f32/tiny-grads-t3")
    assert (result.outcome, result.message) == ("unsupported", "no float32 here")
    assert not result.failing


# --------------------------------------------------------------------------------------------------
# known divergences
# --------------------------------------------------------------------------------------------------

KnownFactory = Callable[[str], DivergenceSet]


def entry(match: str, outcome: str, extra: str = "") -> str:
    return f'[[divergence]]\nmatch = "{match}"\nkind = "convention"\noutcome = "{outcome}"\nreason = "documented"\n{extra}\n'


def test_xfail_turns_a_failure_into_xfail(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    result = run_one(broken.EpsAfterAdapter(), golden_files, TINY_GRADS, known(entry("optim/adamw/conventions/*", "xfail")))
    assert result.outcome == "xfail"
    assert result.diagnosis == "behaves like eps_placement=after_bias_correction", "xfails keep their diagnosis"
    assert result.divergence and result.divergence["match"] == "optim/adamw/conventions/*"
    assert not result.failing


def test_xfail_covers_errors_too(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    assert run_one(broken.RaisingAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "xfail"))).outcome == "xfail"


@pytest.mark.parametrize(("strict", "failing"), [("true", True), ("false", False)])
def test_xpass_is_a_failure_only_when_strict(golden_files: list[golden.GoldenFile], known: KnownFactory, strict: str, failing: bool) -> None:
    result = run_one(ReferenceAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "xfail", f"strict = {strict}")))
    assert result.outcome == "xpass"
    assert result.failing is failing


def test_skip_does_not_run_the_case(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    result = run_one(broken.HangingAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "skip")), timeout_s=30.0)
    assert (result.outcome, result.message) == ("skip", "documented")
    assert result.duration_s == 0.0


def test_tolerance_override_rejudges_with_the_new_budget(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    plain = run_one(broken.EpsAfterAdapter(), golden_files, TINY_GRADS)
    assert plain.outcome == "fail"
    measured = plain.measured.max_k
    loose = run_one(broken.EpsAfterAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "tolerance", f"tolerance = {measured * 2!r}")))
    assert loose.outcome == "pass_with_override"
    assert loose.tolerance["override_k"] == measured * 2
    tight = run_one(broken.EpsAfterAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "tolerance", f"tolerance = {measured / 2!r}")))
    assert tight.outcome == "fail"
    assert "fails even with the override" in tight.message


def test_tolerance_override_never_excuses_a_nan(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    result = run_one(broken.NaNAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "tolerance", "tolerance = 1e300")))
    assert result.outcome == "fail"


def test_tolerance_override_on_a_passing_case_is_reported_as_such(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    assert run_one(ReferenceAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "tolerance", "tolerance = 64.0"))).outcome == "pass_with_override"


def test_an_entry_over_a_declared_convention_that_passes_is_an_xpass(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    result = run_one(broken.DeclaredEpsAfterAdapter(), golden_files, TINY_GRADS, known(entry("optim/*", "xfail")))
    assert result.outcome == "xpass" and result.failing, "a declared convention needs no divergence entry"


def test_later_entries_win(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    text = entry("optim/*", "skip") + entry("optim/adamw/conventions/*", "xfail")
    assert run_one(broken.EpsAfterAdapter(), golden_files, TINY_GRADS, known(text)).outcome == "xfail"
    text = entry("optim/adamw/conventions/*", "xfail") + entry("optim/*", "skip")
    assert run_one(broken.EpsAfterAdapter(), golden_files, TINY_GRADS, known(text)).outcome == "skip"


def test_run_warnings(golden_files: list[golden.GoldenFile], known: KnownFactory) -> None:
    divergences = known(entry("optim/adamw/*", "xfail") + entry("optim/nothing/*", "xfail"))
    options = runner.Options(select=("optim/adamw/conventions/f64/*", "optim/missing/*"))
    record = runner.execute(ReferenceAdapter(), golden_files, options, divergences)
    assert record.warnings == [
        "--select 'optim/missing/*' matches no case",
        "divergence test.toml entry 1 (match = 'optim/nothing/*') matches no golden case",
    ]
    assert [r.outcome for r in record.results] == ["xpass", "xpass"]
    assert len(record.failing) == 2


def test_explain_diffs_against_what_a_declared_adapter_was_judged_under(golden_files: list[golden.GoldenFile]) -> None:
    from rich.console import Console

    from optimspec.conformance import explain

    adapter = broken.DeclaredEpsAfterAdapter()
    case = runner.find_case(golden_files, TINY_GRADS)
    result = run_one(adapter, golden_files, TINY_GRADS)
    tables = explain.diff_tables(case, adapter.capabilities(), result)
    assert tables and not any(t.failing for t in tables), "the diff is against the reference under the declared convention"
    console = Console(record=True, width=200)
    explain.describe_result(case, adapter.capabilities(), result, console)
    assert "judged under the declared conventions eps_placement=after_bias_correction" in console.export_text()
