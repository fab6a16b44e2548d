"""The ``gradient_accumulator`` reference against transformers' own test anchor and its docstring rules."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from optimspec.reference import registry
from optimspec.reference.optimizers import gradient_accumulator
from optimspec.reference.optimizers.gradient_accumulator import replay


def _sums(outcome: dict) -> list[list[float] | None]:
    return None if outcome["gradients"] is None else [None if g is None else np.asarray(g).tolist() for g in outcome["gradients"]]


def test_docstring_example() -> None:
    assert doctest.testmod(gradient_accumulator).failed == 0


def test_spec_declaration() -> None:
    spec = registry.spec("gradient_accumulator")
    assert spec.kind == "accumulator"
    assert spec.hparams == ()
    assert spec.state_fields == ("step", "gradients")


def test_spec_anchor() -> None:
    outcomes = replay(
        [{"call": [[1.0, 2.0]]}, {"call": [[-2.0, 1.0]]}, {"call": [[-1.0, 2.0]]}, {"call": [[1.0, 1.0], [1.0, 1.0]]}, {"reset": True}],
        "float32",
    )
    assert [o["step"] for o in outcomes] == [1, 2, 3, 3, 0]
    assert [o["error"] for o in outcomes] == [None, None, None, "ValueError", None]
    assert [_sums(o) for o in outcomes] == [[[1.0, 2.0]], [[-1.0, 3.0]], [[-2.0, 5.0]], [[-2.0, 5.0]], [[0.0, 0.0]]]


def test_sums_are_not_averaged() -> None:
    outcomes = replay([{"call": [[2.0]]}] * 4, "float64")
    assert _sums(outcomes[-1]) == [[8.0]] and outcomes[-1]["step"] == 4


def test_count_errors_change_nothing_and_later_calls_go_on() -> None:
    outcomes = replay([{"call": [[1.0], [2.0]]}, {"call": [[3.0]]}, {"call": [[1.0], [1.0], [1.0]]}, {"call": [[0.5], [0.25]]}], "float64")
    assert [(o["step"], o["error"]) for o in outcomes] == [(1, None), (1, "ValueError"), (1, "ValueError"), (2, None)]
    assert _sums(outcomes[2]) == [[1.0], [2.0]]
    assert _sums(outcomes[3]) == [[1.5], [2.25]]


def test_none_at_first_call_is_a_none_slot_for_good() -> None:
    outcomes = replay([{"call": [[1.0], None]}, {"call": [[1.0], [5.0]]}, {"reset": True}], "float64")
    assert [_sums(o) for o in outcomes] == [[[1.0], None], [[2.0], None], [[0.0], None]]
    assert [o["step"] for o in outcomes] == [1, 2, 0]


def test_none_grad_for_a_slot_is_skipped_but_counts_the_step() -> None:
    outcomes = replay([{"call": [[1.0], [2.0]]}, {"call": [None, [3.0]]}, {"call": [None, None]}], "float64")
    assert [_sums(o) for o in outcomes] == [[[1.0], [2.0]], [[1.0], [5.0]], [[1.0], [5.0]]]
    assert [o["step"] for o in outcomes] == [1, 2, 3]


def test_reset_before_first_call_is_a_no_op() -> None:
    outcomes = replay([{"reset": True}, {"call": [[1.5]]}, {"reset": True}, {"call": [[0.25]]}], "float32")
    assert [(o["step"], _sums(o)) for o in outcomes] == [(0, None), (1, [[1.5]]), (0, [[0.0]]), (1, [[0.25]])]


def test_shapes_from_0d_to_4d() -> None:
    grads = [np.array(2.0), np.ones(3), np.full((2, 3), 0.5), np.full((2, 1, 2, 2), -1.0)]
    outcomes = replay([{"call": grads}, {"call": grads}], "float64")
    sums = outcomes[1]["gradients"]
    assert [s.shape for s in sums] == [(), (3,), (2, 3), (2, 1, 2, 2)]
    assert [float(s.reshape(-1)[0]) for s in sums] == [4.0, 2.0, 1.0, -2.0]


def test_each_addition_rounds_to_the_dtype() -> None:
    tiny = 2.0**-24  # half an ulp of 1 in float32: 1 + 2⁻²⁴ rounds back to 1 (ties to even)
    events = [{"call": [[1.0, 16777216.0]]}] + [{"call": [[tiny, 1.0]]}] * 3
    assert _sums(replay(events, "float32")[-1]) == [[1.0, 16777216.0]]
    assert _sums(replay(events, "float64")[-1]) == [[1.0 + 3 * tiny, 16777219.0]]


def test_ieee_special_values() -> None:
    outcomes = replay([{"call": [[math.inf, math.inf, math.nan]]}, {"call": [[1.0, -math.inf, 1.0]]}, {"reset": True}], "float32")
    total = outcomes[1]["gradients"][0]
    assert total[0] == math.inf and math.isnan(total[1]) and math.isnan(total[2])
    assert _sums(outcomes[2]) == [[0.0, 0.0, 0.0]]


def test_outcomes_are_snapshots() -> None:
    outcomes = replay([{"call": [[1.0]]}, {"call": [[1.0]]}], "float64")
    assert _sums(outcomes[0]) == [[1.0]]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([{"call": [[0.1]]}], "not representable in float32"),
        ([{"call": [[1.0, 2.0]]}, {"call": [[1.0]]}], "shape"),
        ([{"apply": True}], "'call' or a 'reset'"),
    ],
    ids=["not-representable", "shape-change", "unknown-event"],
)
def test_bad_case_definitions_are_rejected(events: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replay(events, "float32")
