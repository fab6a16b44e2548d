"""Diagnoses that do not mislead: schedule alternatives scaled by the case's peak, "up to numerics"
only near the budget, what was tried and what was not, precision or behaviour in ulps, and where
an exception was raised."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import broken_adapters as broken
import pytest

from optimspec.conformance import diagnosis, golden, runner
from optimspec.conformance.adapters.reference import ReferenceAdapter
from optimspec.conformance.testing import build_golden_tree

KERNEL4_F32 = "optim/adamw/shapes/f32/kernel4-t5"
TINY_GRADS = "optim/adamw/conventions/f64/tiny-grads-t3"


def run_one(adapter: object, files: list[golden.GoldenFile], case_id: str) -> runner.CaseResult:
    (result,) = runner.run(adapter, files, runner.Options(select=(case_id,)))
    return result


class ClampedCosineAdapter(broken._VariantAdapter):
    """A cosine that holds its final value past T (optax, keras), not declared."""

    name = "clamped-cosine"
    schedule_variant = {"past_total": "clamped"}


def test_schedule_alternatives_are_scaled_by_the_case_s_peak(tmp_path: Path) -> None:
    """Past T the clamped cosine is ≈1e-32: scaled by its own values it missed by 1e30×, and main
    said "matches no single convention"."""
    files = golden.load_all(build_golden_tree(tmp_path, ["cosine"]))
    result = run_one(ClampedCosineAdapter(), files, "sched/cosine/past-total/rise-again")
    assert (result.outcome, result.diagnosis) == ("fail", "behaves like past_total=clamped")


def _search(own: float, alternatives: Mapping[tuple[str, str], float], files: list[golden.GoldenFile], case_id: str = TINY_GRADS) -> str:
    """The search on a case with made-up misses (as multiples of the budget)."""
    case = runner.find_case(files, case_id)

    def miss(alternative: Mapping[str, str]) -> diagnosis.Miss:
        ratio = alternatives.get(next(iter(alternative.items())), 1e12) if len(alternative) == 1 else 1e12
        return diagnosis.Miss(ratio if alternative else own, 1.0 + 2.0**-10, 1.0)

    return diagnosis.search(case, miss, 1)


def test_up_to_numerics_only_near_the_budget(golden_files: list[golden.GoldenFile]) -> None:
    eps_after = ("eps_placement", "after_bias_correction")
    assert _search(9e9, {eps_after: 3.0}, golden_files).startswith("behaves like eps_placement=after_bias_correction, up to numerics (3× the budget under it, 9e+09× under the spec)")
    far = _search(9e9, {eps_after: 50.0}, golden_files)
    assert far.startswith("no named convention explains it (tried alone: eps_placement, decay_order, decay_scale; closest: eps_placement=after_bias_correction at 50× the budget)"), far
    assert far.endswith("the worst element is 4.4e+12 ulps off the expected value: looks like behaviour, not precision")


def test_unexplained_failures_say_what_was_not_tried_and_precision(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(broken.EpsAfterAdapter(), golden_files, KERNEL4_F32)
    assert result.outcome == "fail"
    assert result.diagnosis == (
        "no named convention explains it (not tried: eps_placement, decay_order, decay_scale: this case does not separate them, and at 1.64× "
        "the budget a match would be an accident of rounding); the worst element is 16 ulps off the expected value: looks like precision "
        "(rounding, order of operations), not behaviour"
    )
    assert "matches no single convention" not in result.diagnosis


def test_unexplained_behaviour_names_every_axis_tried(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(broken.NoisyAdapter(), golden_files, TINY_GRADS)
    assert result.diagnosis.startswith("no named convention explains it (tried alone: eps_placement, decay_order, decay_scale; tried in pairs: every pair; closest: ")
    assert result.diagnosis.endswith("128 ulps off the expected value, within float32 precision (2.38e-07 float32 ulps): a float32 intermediate or constant, or a small difference in behaviour")


@pytest.mark.parametrize(
    ("ulps_of", "said"),
    [
        ((1.0 + 3 * 2.0**-52, 1.0, "float64"), "3 ulps off the expected value: looks like precision"),
        ((1.0 + 2.0**-22, 1.0, "float64"), "1.07e+09 ulps off the expected value, within float32 precision (2 float32 ulps)"),
        ((1.0 + 2.0**-10, 1.0, "float64"), "looks like behaviour, not precision"),
        ((1.0 + 2.0**-20, 1.0, "float32"), "8 ulps off the expected value: looks like precision"),
    ],
    ids=["float64-rounding", "float32-precision", "behaviour", "float32-rounding"],
)
def test_precision_or_behaviour(ulps_of: tuple[float, float, str], said: str) -> None:
    actual, expected, dtype = ulps_of
    assert said in diagnosis.precision_or_behaviour(diagnosis.Miss(5.0, actual, expected), dtype)


# --------------------------------------------------------------------------------------------------
# where an exception was raised
# --------------------------------------------------------------------------------------------------


def _implementation_step() -> None:
    raise ValueError("bad update")


class WrappingAdapter(broken._StepDefectAdapter):
    """An adapter that wraps the implementation's exception in its own."""

    name = "wraps-errors"

    def defect(self, params: dict) -> dict:  # type: ignore[type-arg]
        try:
            _implementation_step()
        except ValueError as exc:
            raise RuntimeError("the step failed") from exc
        return params


def test_a_raised_error_is_placed_where_it_was_raised(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(WrappingAdapter(), golden_files, TINY_GRADS)
    assert result.outcome == "error" and result.message == "RuntimeError: the step failed"
    assert result.diagnosis.startswith("raised in _implementation_step (test_diagnosis.py:"), "the implementation's frame, not the adapter's re-raise"


def test_a_malformed_result_is_not_placed_in_the_harness(golden_files: list[golden.GoldenFile]) -> None:
    result = run_one(broken.WrongShapeAdapter(), golden_files, TINY_GRADS)
    assert result.outcome == "error" and "shape [9], expected [8]" in result.message
    assert result.diagnosis == "", "the harness's own check is no place to look"


def test_the_reference_adapter_needs_no_diagnosis(golden_files: list[golden.GoldenFile]) -> None:
    assert run_one(ReferenceAdapter(), golden_files, TINY_GRADS).diagnosis == ""
