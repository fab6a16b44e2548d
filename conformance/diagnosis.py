"""Diagnosis of a failing case: which named conventions reproduce the adapter's values, or, when none
does, what was tried, what the case cannot tell apart, and whether the error looks like precision
or behaviour; and where an exception was raised.

The search runs the reference under alternative conventions (one axis, or two at once for
optimizers) on top of the conventions the adapter declares, and compares the adapter's values with
each, in the case's own scales (a schedule's peak, an optimizer step's magnitudes). The answers:

* ``behaves like A=x[, B=y]``: the values are within the budget under those conventions (for an
  axis the case separates, or when the declared conventions miss by at least ``CLEARLY_FAILS``×
  the budget, so a match is no accident of rounding);
* ``behaves like A=x, up to numerics (…)``: a separated alternative comes ``EXPLAINS_BY``× closer
  than the declared conventions and leaves at most ``NUMERICS_WITHIN``× the budget;
* otherwise ``no named convention explains it``, naming the axes tried, those not tried (the case
  does not separate them and the error is too small for a match to mean anything), the closest
  alternative, and the worst element's error in ulps of the expected value: within
  ``PRECISION_ULPS`` ulps it looks like precision (order of operations, intermediate rounding); a
  float64 error within as many float32 ulps is said to be within float32 precision (a float32
  intermediate or constant, or a small difference in behaviour); beyond, behaviour.

>>> Miss(3.0, 1.0000000000000009, 1.0).ulps("float64")
4.0
"""

from __future__ import annotations

import itertools
import math
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optimspec.reference import registry
from optimspec.reference import run as ref
from optimspec.reference._dtypes import EPS

from . import compare
from .boundary import AdapterOutputError, clean_text, describe_exception
from .decode import Case, schedule_inputs
from .expected import Variant, declared, optimizer_expectation, records, schedule_eps, schedule_expectation, teacher_forced_scales

# An alternative that brings the error down by this factor explains a failure even when numerics
# (float32 hyperparameters, another order of operations) keep it above the budget: golden cases
# separate conventions by at least this much (conformance/generate.py DISCRIMINATION_FACTOR) ...
EXPLAINS_BY = 100.0
# ... provided what remains is within this factor of the budget: a 9e9× overrun is never numerics.
NUMERICS_WITHIN = 4.0
# A case that separates no convention still explains a failure this far over the budget.
CLEARLY_FAILS = 2.0
# An error within this many ulps of the expected value looks like precision, not behaviour (in a
# float64 case, within this many float32 ulps it is said to be within float32 precision).
PRECISION_ULPS = 16.0
FLOAT32_NORMAL = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))

NON_FINITE_MISMATCH = "NaN/±inf appear where the spec has none, or the other way round (not a named convention)"
UNEXPLAINED = "no named convention explains it"
EXPLAINED = "behaves like"
_CONVENTION = re.compile(r"([A-Za-z_][\w.]*)=([^\s,;()]+)")


def named_conventions(diagnosis: str) -> frozenset[str]:
    """The ``axis=value`` conventions a diagnosis says the values behave like (empty when it names
    none).

    >>> sorted(named_conventions("behaves like eps_placement=after_bias_correction, decay_order=before_update, up to numerics (2× the budget under it)"))
    ['decay_order=before_update', 'eps_placement=after_bias_correction']
    >>> named_conventions("no named convention explains it (closest: decay_order=before_update at 37× the budget)")
    frozenset()
    """
    if not diagnosis.startswith(EXPLAINED):
        return frozenset()
    return frozenset(f"{axis}={value}" for axis, value in _CONVENTION.findall(diagnosis))


# --------------------------------------------------------------------------------------------------
# the search
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Miss:
    """How far an adapter's values are from one expectation: the worst error as a multiple of its
    budget, and that element (actual, expected)."""

    ratio: float = 0.0
    actual: float = math.nan
    expected: float = math.nan

    def worse(self, comparison: compare.Comparison, actual: np.ndarray, expected: np.ndarray) -> Miss:
        """This miss, or the one ``comparison`` measured if it is worse."""
        ratio = comparison.max_k / comparison.budget_k if comparison.budget_k > 0 else (0.0 if comparison.passed else math.inf)
        if not ratio > self.ratio:
            return self
        if comparison.worst_index is None:
            return Miss(ratio)
        index = comparison.worst_index
        return Miss(ratio, float(np.asarray(actual, dtype=np.float64)[index]), float(np.asarray(expected, dtype=np.float64)[index]))

    def ulps(self, dtype: str) -> float:
        """The worst element's error in ulps of ``dtype`` at the expected value."""
        if not (math.isfinite(self.actual) and math.isfinite(self.expected)):
            return math.inf
        return abs(self.actual - self.expected) / float(compare.ulp(dtype, np.array(self.expected)))


def _options(algorithm: str, base: Variant) -> list[tuple[str, str]]:
    """Every (axis, value) other than the base's (the declared value, else the spec's)."""
    return [(c.axis, v) for c in registry.spec(algorithm).conventions for v in c.values if v != base.get(c.axis, c.spec_value)]


def _separated(case: Case, base: Variant) -> set[tuple[str, str]]:
    """(axis, value) pairs the case tells apart from the base. ``discriminates`` is measured against
    the spec; an axis the adapter declares otherwise is separated back to the spec's value too."""
    pairs = {(axis, value) for axis, values in (case.raw.get("discriminates") or {}).items() for value in values}
    spec_values = {c.axis: c.spec_value for c in registry.spec(case.algorithm).conventions}
    pairs |= {(axis, spec_values[axis]) for axis, value in base.items() if (axis, value) in pairs}
    return pairs


def _name(combo: Sequence[tuple[str, str]], algorithm: str, base: Variant) -> str:
    spec_values = registry.spec(algorithm).variant()
    parts = []
    for axis, value in combo:
        declared_value = base.get(axis)
        note = f" (the spec's, not the declared {declared_value})" if declared_value is not None and value == spec_values[axis] else ""
        parts.append(f"{axis}={value}{note}")
    return ", ".join(parts)


def search(case: Case, miss: Callable[[Variant], Miss], max_axes: int, base: Variant | None = None, within: str = "") -> str:
    """Name the alternative conventions (up to ``max_axes`` axes at once, on top of ``base``, the
    adapter's declared conventions) that reproduce the adapter's values; ``miss(alternative)``
    measures them against the reference under ``base`` overlaid with ``alternative``. ``within``:
    what to say when the values searched are within the budget (the failure is elsewhere)."""
    base = dict(base or {})
    own = miss({})
    if not math.isfinite(own.ratio):
        return NON_FINITE_MISMATCH
    if own.ratio <= 1.0:
        return within or f"within the budget under {'the declared conventions' if base else 'the spec'} where conventions are searched"
    separated = _separated(case, base)
    axes = [c.axis for c in registry.spec(case.algorithm).conventions]
    alone: set[str] = set()  # axes tried on their own
    pairs = [0, 0]  # pairs of conventions tried, and there are
    best: tuple[float, tuple[tuple[str, str], ...]] | None = None
    for size in range(1, max_axes + 1):
        for combo in itertools.combinations(_options(case.algorithm, base), size):
            if len({a for a, _ in combo}) < size:
                continue
            pairs[1] += size == 2
            on_separated = any(option in separated for option in combo)
            if not on_separated and own.ratio < CLEARLY_FAILS:
                continue
            if size == 1:
                alone.add(combo[0][0])
            pairs[0] += size == 2
            ratio = miss(dict(combo)).ratio
            if ratio <= 1.0:
                return f"{EXPLAINED} {_name(combo, case.algorithm, base)}"
            if on_separated and (best is None or ratio < best[0]):
                best = (ratio, combo)
    under = "the declared conventions" if base else "the spec"
    if best is not None and math.isfinite(best[0]) and best[0] * EXPLAINS_BY <= own.ratio and best[0] <= NUMERICS_WITHIN:
        return f"{EXPLAINED} {_name(best[1], case.algorithm, base)}, up to numerics ({best[0]:.3g}× the budget under it, {own.ratio:.3g}× under {under})"
    return _unexplained(case, own, axes, alone, (pairs[0], pairs[1]), best, base)


def _unexplained(case: Case, own: Miss, axes: Sequence[str], alone: set[str], pairs: tuple[int, int], best: tuple[float, tuple[tuple[str, str], ...]] | None, base: Variant) -> str:
    """What was tried (alone, in pairs), what was not and why, the closest alternative, and whether
    the error looks like precision or behaviour. Only what was tried is said not to match."""
    parts = []
    if alone:
        parts.append(f"tried alone: {', '.join(a for a in axes if a in alone)}")
    tried_pairs, all_pairs = pairs
    if tried_pairs:
        parts.append("tried in pairs: " + ("every pair" if tried_pairs == all_pairs else f"{tried_pairs} of {all_pairs} (those with a separated convention)"))
    untried = [a for a in axes if a not in alone]
    if untried:
        said = "not tried alone" if tried_pairs else "not tried"
        parts.append(f"{said}: {', '.join(untried)}: this case does not separate {'it' if len(untried) == 1 else 'them'}, and at {own.ratio:.3g}× the budget a match would be an accident of rounding")
    if best is not None and math.isfinite(best[0]):
        parts.append(f"closest: {_name(best[1], case.algorithm, base)} at {best[0]:.3g}× the budget")
    head = UNEXPLAINED + (f" ({'; '.join(parts)})" if parts else " (the spec names no convention for it)")
    return f"{head}; {precision_or_behaviour(own, case.group['dtype'])}"


def precision_or_behaviour(miss: Miss, dtype: str) -> str:
    """Whether the worst element is a few ulps off (precision) or more (behaviour), in words; in a
    float64 case, an error within float32 precision is said as such.

    >>> precision_or_behaviour(Miss(3.0, 1.0000000000000009, 1.0), "float64")
    'the worst element is 4 ulps off the expected value: looks like precision (rounding, order of operations), not behaviour'
    """
    if not (math.isfinite(miss.actual) and math.isfinite(miss.expected)):
        return "the worst element is not finite"
    if miss.expected == 0.0:
        return f"the worst element is {miss.actual:.3g} where the expected value is 0: looks like behaviour, not precision"
    ulps = miss.ulps(dtype)
    said = f"the worst element is {ulps:.3g} ulps off the expected value"
    if ulps <= PRECISION_ULPS:
        return f"{said}: looks like precision (rounding, order of operations), not behaviour"
    if dtype == "float64" and FLOAT32_NORMAL[0] <= abs(miss.expected) <= FLOAT32_NORMAL[1] and miss.ulps("float32") <= PRECISION_ULPS:
        return f"{said}, within float32 precision ({miss.ulps('float32'):.3g} float32 ulps): a float32 intermediate or constant, or a small difference in behaviour"
    return f"{said}: looks like behaviour, not precision"


# --------------------------------------------------------------------------------------------------
# optimizers and schedules
# --------------------------------------------------------------------------------------------------


def diagnose_optimizer(case: Case, actual_steps: Mapping[str, Mapping[int, Any]], variant: Variant | None = None, max_axes: int = 2) -> str:
    """Which alternative conventions (one or two axes at once, on top of the declared ``variant``)
    reproduce the adapter's params: teacher-forced steps from the expected state, else the
    free-running trajectory."""
    base = declared(case.algorithm, variant)
    own = optimizer_expectation(case, base)
    dtype = case.group["dtype"]
    eps = EPS[dtype]
    tf_actual = actual_steps.get("teacher_forced", {})
    fr_actual = actual_steps.get("free_running", {}) if not tf_actual else {}
    k_tf, metric_tf = case.group["tolerance"]["teacher_forced"]["k"], case.group["tolerance"]["teacher_forced"]["metric"]
    fr = case.group["tolerance"]["free_running"]

    def miss(alternative: Variant) -> Miss:
        full = {**base, **alternative}
        worst = Miss()
        try:
            for t, got in tf_actual.items():
                before = own.checkpoints[t - 1]
                if alternative:
                    expected, _ = ref.optimizer_step(case.algorithm, before["params"], own.grads[t - 1], records(case.algorithm, before["state"]), case.hparams(), groups=case.param_groups(), variant=full, dtype=dtype)
                    scales = teacher_forced_scales(case, before, {"params": expected}, own.grads[t - 1], full)
                else:
                    expected, scales = own.checkpoints[t]["params"], own.teacher_forced[t]
                for n, exp in expected.items():
                    values = np.asarray(got[n], dtype=np.float64)
                    worst = worst.worse(compare.by_metric(metric_tf, values, exp, scales.params[n], dtype, k_tf), values, exp)
            if fr_actual:
                trajectory = optimizer_expectation(case, full)
                for t, got in fr_actual.items():
                    k = fr["k"] + fr["growth_per_step"] * t
                    for n, exp in trajectory.checkpoints[t]["params"].items():
                        values = np.asarray(got[n], dtype=np.float64)
                        worst = worst.worse(compare.compare(values, exp, trajectory.free_running[t].params[n], eps, k), values, exp)
        except (KeyError, ValueError):
            return Miss(math.inf)
        return worst if tf_actual or fr_actual else Miss(math.inf)

    under = "the declared conventions" if base else "the spec"
    return search(case, miss, max_axes, base, f"the params are within the budget under {under}: what fails is the state (see the message; conventions are searched on the params)")


def diagnose_schedule(case: Case, schedule_dtype: str, actual: np.ndarray, variant: Variant | None = None) -> str:
    """Which alternative convention (one axis at a time) reproduces the adapter's learning rates,
    every alternative scaled by the case's own peak (under the declared conventions)."""
    base = declared(case.algorithm, variant)
    own = schedule_expectation(case, base)
    eps, k = schedule_eps(case, schedule_dtype), case.group["tolerance"]["k"]

    def miss(alternative: Variant) -> Miss:
        expected = schedule_expectation(case, {**base, **alternative}).values if alternative else own.values
        return Miss().worse(compare.compare(actual, expected, own.scale, eps, k), actual, expected)

    zeros = [(row, actual[row]) for row in own.exact_rows if not np.array_equal(actual[row], own.values[row]) or np.any(np.signbit(actual[row]))]
    within = ""
    if zeros:
        row, values = zeros[0]
        within = f"within the budget, but not exactly 0 where the spec is: {values.tolist()!r} at input {schedule_inputs(case)[row]!r} (not a named convention)"
    return search(case, miss, 1, base, within)


def diagnose(case: Case, schedule_dtype: str, actual: Any, variant: Variant | None = None) -> str:
    """The diagnosis of a failing case's values ("" for a kind without conventions); a diagnosis
    that fails says so instead of turning the verdict into a crash."""
    if case.invalid or actual is None or case.raw.get("discriminates") is None:
        return ""
    try:
        if case.kind == "optimizer":
            return diagnose_optimizer(case, actual, variant)
        if case.kind == "schedule":
            return diagnose_schedule(case, schedule_dtype, actual, variant)
    except Exception as exc:  # a diagnosis is a hint; it never turns a verdict into a crash
        return f"(diagnosis failed: {describe_exception(exc)})"
    return ""


# --------------------------------------------------------------------------------------------------
# exceptions
# --------------------------------------------------------------------------------------------------

_HARNESS = Path(__file__).resolve().parent


def _origin(exc: BaseException) -> BaseException:
    """The exception a chain started from: ``raise … from exc`` and an exception raised while
    handling another lead back to it (``from None`` stops there)."""
    seen = {id(exc)}
    while True:
        cause = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)
        if cause is None or id(cause) in seen:
            return exc
        seen.add(id(cause))
        exc = cause


def _harness_frame(frame: traceback.FrameSummary) -> bool:
    """A frame of the harness itself (runner, boundary, …), not of an adapter or implementation."""
    path = Path(frame.filename).resolve()
    return path.parent == _HARNESS


def where_raised(exc: BaseException) -> str:
    """Where to look first: the innermost frame of the exception the chain started from, outside
    the harness ("" for the harness's own verdict on what an adapter returned)."""
    if isinstance(exc, AdapterOutputError):
        return ""
    frames = [f for f in traceback.extract_tb(_origin(exc).__traceback__) if not _harness_frame(f)]
    if not frames:
        return ""
    frame = frames[-1]
    return clean_text(f"raised in {frame.name} ({Path(frame.filename).name}:{frame.lineno})")
