"""Running one golden case on an adapter and comparing what it returns with what the case expects
(:mod:`.expected`), by kind: an optimizer's teacher-forced steps and free-running trajectory
(params and exported state), a schedule's learning rates, an accumulator's sums, the rejection of
invalid hyperparameters. Every comparison of a case is recorded with where it happened
(:class:`Check`); the runner turns them into a verdict.

The adapter gets copies of everything (:func:`~optimspec.conformance.boundary.handed`) and what it
returns is copied as it arrives; what is not real numbers of the expected shape is a
:class:`CaseError` (the case's ``error``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optimspec.reference import registry
from optimspec.reference._dtypes import EPS, representable

from . import compare, golden
from .adapters.base import Adapter, Capabilities, Unsupported
from .boundary import AdapterOutputError, clean_text, counter, handed, real_array
from .decode import Case, decode_tensors, schedule_inputs
from .expected import OptimizerExpectation, Scales, ScheduleExpectation, schedule_eps

CaseError = AdapterOutputError  # the adapter misbehaved (wrong shape, wrong type): an ``error`` outcome


@dataclass(frozen=True)
class Measured:
    """What was measured for a case, in ε·S units (see compare.py), passing cases too."""

    max_k: float = 0.0
    p99_k: float = 0.0
    budget_k: float = 0.0
    worst: str = ""  # where: "params[w][3] at step 2 (teacher_forced)"

    def as_dict(self) -> dict[str, Any]:
        return {"max_k": _finite_or_str(self.max_k), "p99_k": _finite_or_str(self.p99_k), "budget_k": self.budget_k, "worst": self.worst}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measured:
        return cls(golden.decode_number(data["max_k"]), golden.decode_number(data["p99_k"]), float(data["budget_k"]), str(data["worst"]))


def _finite_or_str(value: float) -> float | str:
    return value if np.isfinite(value) else golden.encode_number(value)



def _as_array(value: Any, expected: np.ndarray, what: str) -> np.ndarray:
    """What the adapter returned for ``what``, as a fresh float64 array of the expected shape."""
    array = real_array(value, what)
    if array.shape != expected.shape:
        raise CaseError(f"{what}: shape {list(array.shape)}, expected {list(expected.shape)}")
    return array


def _mismatch(problem: str) -> compare.Comparison:
    """A comparison that fails whatever the budget (a missing field, a wrong counter, ...)."""
    return compare.Comparison(False, np.inf, np.inf, None, 0.0, problem)


# --------------------------------------------------------------------------------------------------
# optimizer cases
# --------------------------------------------------------------------------------------------------


@dataclass
class Check:
    """Comparisons of one case, with where each happened."""

    comparisons: list[tuple[str, compare.Comparison]] = field(default_factory=list)

    def add(self, where: str, result: compare.Comparison) -> None:
        self.comparisons.append((where, result))

    def verdict(self) -> tuple[bool, Measured, str]:
        if not self.comparisons:
            return True, Measured(), ""
        worst_where, worst = max(self.comparisons, key=lambda c: (not c[1].passed, c[1].max_k))
        measured = Measured(worst.max_k, max(c.p99_k for _, c in self.comparisons), worst.budget_k, worst_where)
        failed = [(w, c) for w, c in self.comparisons if not c.passed]
        message = f"{failed[0][0]}: {failed[0][1].problem}" if failed else ""
        return not failed, measured, message

    def nonfinite_mismatch(self) -> bool:
        return any(c.nonfinite_mismatch for _, c in self.comparisons)

    def passes_with_budget(self, k: float) -> bool:
        """Would every comparison pass with its budget raised to ``k``? Class mismatches (NaN, ±inf,
        bit-exact values, counters) measure as infinite and still fail."""
        return all(c.passed or c.max_k <= k for _, c in self.comparisons)


def _received_params(actual: Any, expected: Mapping[str, np.ndarray], label: str) -> dict[str, np.ndarray]:
    """The params an adapter returned, as fresh float64 arrays (it may reuse its buffers later)."""
    if not isinstance(actual, Mapping):
        raise CaseError(f"{label}: step() returned {type(actual).__name__}, expected a dict of arrays")
    missing = [name for name in expected if name not in actual]
    if missing:
        raise CaseError(f"{label}: the adapter returned no tensor {missing[0]!r}")
    extra = sorted(str(name) for name in actual if name not in expected)
    if extra:
        raise CaseError(f"{label}: the adapter returned tensors the case does not have: {clean_text(extra)}")
    return {name: _as_array(actual[name], exp, f"params[{name}]") for name, exp in expected.items()}


def _compare_params(check: Check, actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], scale_of: Callable[[str], np.ndarray], dtype: str, k: float, label: str, metric: str = "scaled") -> None:
    for name, exp in expected.items():
        check.add(f"params[{name}] {label}", compare.by_metric(metric, actual[name], exp, scale_of(name), dtype, k))


def _scalar_fields(algorithm: str) -> set[str]:
    """State fields the reference declares as scalar statistics (Adafactor's ``RMS``), not tensors."""
    annotations = registry.module(algorithm).State.__annotations__
    return {name for name, hint in annotations.items() if getattr(hint, "__forward_arg__", hint) == "Scalar"}


def check_state_dtype(check: Check, actual: Mapping[str, Mapping[str, Any]], expected: Mapping[str, Mapping[str, Any]], case: Case, label: str) -> None:
    """The state's dtype, where the spec keeps it wider than the params (float32 for half params):
    a state tensor whose values are all numbers of the param's dtype, where the expected ones are
    not, is kept in the param's dtype. (Such a state also fails the state budgets, which are in the
    state dtype's ε; this names the cause.) Counters and scalar statistics are not tensors."""
    param_dtype, state_dtype = case.group["dtype"], case.group["state_dtype"]
    if state_dtype == param_dtype:
        return
    scalars = _scalar_fields(case.algorithm)
    for name, fields in expected.items():
        for key, exp in fields.items():
            got = actual.get(name, {}).get(key)
            if exp is None or got is None or key in scalars or isinstance(exp, int):
                continue
            exp_arr, got_arr = np.asarray(exp, dtype=np.float64), np.asarray(got, dtype=np.float64)
            if got_arr.shape == exp_arr.shape and representable(param_dtype, got_arr) and not representable(param_dtype, exp_arr):
                check.add(
                    f"state[{name}].{key} {label}",
                    compare.Comparison(False, np.inf, np.inf, None, 0.0, f"every value is a {param_dtype} number: the state is kept in {param_dtype}; the spec keeps it in {state_dtype}"),
                )


def _unused(value: Any) -> bool:
    """A state field the tensor does not use: None, or the empty (0,) array the reference keeps."""
    return value is None or (isinstance(value, np.ndarray) and value.shape == (0,))


def _fresh(fields: Mapping[str, Any]) -> bool:
    """Is this the state before the tensor's first update (every counter at 0)? An implementation
    that creates state lazily has none to export then."""
    counters = [v for v in fields.values() if isinstance(v, int)]
    return bool(counters) and not any(counters)


@dataclass(frozen=True)
class _StateRules:
    """How one case's state is judged: ``optional`` fields the adapter declares it may not export
    (absent ones are recorded in ``unchecked``, not failed)."""

    optional: frozenset[str]
    unchecked: set[str]


def _compare_state(check: Check, exported: Any, expected: Mapping[str, Mapping[str, Any]], scales: Mapping[str, Mapping[str, Any]], eps: float, k: float, label: str, rules: _StateRules) -> None:
    """Every expected state field must be exported (or be declared optional), no field the spec does
    not keep here may be, counters must be integers equal to the expected, arrays within budget."""
    if not isinstance(exported, Mapping):
        raise CaseError(f"{label}: export_state() returned {type(exported).__name__}, expected a dict")
    for name in sorted(str(n) for n in exported if n not in expected):
        check.add(f"state[{clean_text(name)}] {label}", _mismatch("state exported for a tensor the case does not have"))
    for name, fields in expected.items():
        got_fields = exported.get(name) or {}
        if not isinstance(got_fields, Mapping):
            raise CaseError(f"{label}: state[{name}] is {type(got_fields).__name__}, expected a dict of fields")
        present = {str(key): value for key, value in got_fields.items() if not _unused(value)}
        unknown = sorted(set(present) - set(fields))
        if unknown:
            check.add(f"state[{name}] {label}", _mismatch(f"unknown state field(s) {clean_text(unknown)} (the reference's fields: {', '.join(fields)})"))
        if not present and _fresh(fields):
            continue
        for key, exp in fields.items():
            where = f"state[{name}].{key} {label}"
            got = present.get(key)
            if exp is None:
                if got is not None:
                    check.add(where, _mismatch("exported, but the spec keeps no such field for this tensor here"))
            elif got is None:
                if key in rules.optional:
                    rules.unchecked.add(key)
                else:
                    check.add(where, _mismatch("not exported (declare it in AlgorithmSupport.unexported_state if the implementation does not keep it)"))
            elif isinstance(exp, int):
                count = counter(got, where)
                if count is None:
                    check.add(where, _mismatch(f"step counter {clean_text(repr(got))} is not an integer"))
                elif count != exp:
                    check.add(where, _mismatch(f"step counter {count} != {exp}"))
            else:
                exp_arr = np.asarray(exp, dtype=np.float64)
                check.add(where, compare.compare(_as_array(got, exp_arr, f"state[{name}].{key}"), exp_arr, scales[name][key], eps, k))


def _teacher_forced_state_budget(case: Case) -> tuple[float, float]:
    """(ε, k) of teacher-forced state checks: the group's ``state`` budget where the state dtype is
    wider than the params' (half params), else the params' own."""
    tolerance = case.group["tolerance"]["teacher_forced"]
    state = tolerance.get("state")
    if state is None:
        return EPS[case.group["dtype"]], tolerance["k"]
    return EPS[state["dtype"]], state["k"]


def run_optimizer(adapter: Adapter, caps: Capabilities, case: Case, expected: OptimizerExpectation, modes: Sequence[str], unchecked: set[str]) -> tuple[Check, list[str], dict[str, Any]]:
    """Teacher-forced steps (each from the expected state before it) and the free-running
    trajectory, against ``expected``. The adapter gets copies of everything
    (:func:`~optimspec.conformance.boundary.handed`) and its results are copied as they arrive."""
    dtype = case.group["dtype"]
    eps = EPS[dtype]
    tolerance = case.group["tolerance"]
    grads, by_step = expected.grads, expected.checkpoints
    params0 = decode_tensors(case.raw["params"])
    support = caps.algorithms[case.algorithm]
    rules = _StateRules(frozenset(support.unexported_state), unchecked)
    check = Check()
    ran: list[str] = []
    actual_steps: dict[str, dict[int, Any]] = {}

    def make() -> Any:
        return adapter.make_optimizer(case.algorithm, case.hparams(), case.param_groups(), dtype)

    def judge(stepper: Any, got: Any, checkpoint: Mapping[str, Any], scales: Scales, budgets: tuple[float, float, float], label: str, metric: str = "scaled") -> dict[str, np.ndarray]:
        """``budgets``: (k of the params, ε and k of the state)."""
        k, state_eps, state_k = budgets
        params = _received_params(got, checkpoint["params"], label)
        _compare_params(check, params, checkpoint["params"], scales.params.__getitem__, dtype, k, label, metric)
        if caps.can_export_state:
            exported = stepper.export_state()
            check_state_dtype(check, exported, checkpoint["state"], case, label)
            _compare_state(check, exported, checkpoint["state"], scales.state, state_eps, state_k, label, rules)
        return params

    stepper = make()
    state_eps, state_k = _teacher_forced_state_budget(case)
    if "teacher_forced" in modes and caps.can_load_state:
        k, metric = tolerance["teacher_forced"]["k"], tolerance["teacher_forced"]["metric"]
        tf_steps = {}
        for t, scales in expected.teacher_forced.items():
            before = by_step[t - 1]
            stepper.load_state(handed(before["params"]), handed(before["state"]))
            got = stepper.step(handed(grads[t - 1]))
            tf_steps[t] = judge(stepper, got, by_step[t], scales, (k, state_eps, state_k), f"at step {t} (teacher_forced)", metric)
        actual_steps["teacher_forced"] = tf_steps
        ran.append("teacher_forced")

    if "free_running" in modes:
        fr = tolerance["free_running"]
        stepper = make()
        if case.raw.get("starts_from_state"):
            if not caps.can_load_state:
                raise Unsupported("the case starts from a stored state and the adapter cannot load state")
            stepper.load_state(handed(params0), handed(by_step[0]["state"]))
        else:
            stepper.init(handed(params0))
        fr_steps = {}
        for t in range(1, len(grads) + 1):
            got = stepper.step(handed(grads[t - 1]))
            if t in by_step:
                k = fr["k"] + fr["growth_per_step"] * t
                fr_steps[t] = judge(stepper, got, by_step[t], expected.free_running[t], (k, eps, k), f"at step {t} (free_running)")
        actual_steps["free_running"] = fr_steps
        ran.append("free_running")
    return check, ran, actual_steps


# --------------------------------------------------------------------------------------------------
# schedules and accumulators
# --------------------------------------------------------------------------------------------------


def _compare_schedule(actual: np.ndarray, expected: ScheduleExpectation, eps: float, k: float) -> compare.Comparison:
    """Within ``k``·ε·peak, and bit for bit on the rows that must be exactly 0 (each comparison
    sees the other's rows as equal zeros, so the positions it reports are the case's own)."""
    values = expected.values
    actual = _as_array(actual, values, "schedule values")
    exact = np.zeros(values.shape, dtype=bool)
    exact[list(expected.exact_rows)] = True
    results = [compare.compare(np.where(exact, 0.0, actual), np.where(exact, 0.0, values), expected.scale, eps, k)]
    if exact.any():
        results.append(compare.compare(np.where(exact, actual, 0.0), np.where(exact, values, 0.0), expected.scale, eps, k, exact=True))
    return compare.merge(results)


def run_schedule(adapter: Adapter, caps: Capabilities, case: Case, expected: ScheduleExpectation) -> tuple[Check, np.ndarray]:
    runner = adapter.make_schedule(case.algorithm, case.hparams())
    actual = real_array(runner.values(handed(schedule_inputs(case))), "schedule values")
    if actual.ndim == 1:
        actual = actual[:, None]
    check = Check()
    check.add("lr", _compare_schedule(actual, expected, schedule_eps(case, caps.schedule_dtype), case.group["tolerance"]["k"]))
    return check, actual


def run_accumulator(adapter: Adapter, case: Case) -> Check:
    dtype = case.group["dtype"]
    runner = adapter.make_accumulator(case.algorithm, dtype)
    check = Check()
    for index, (event, expected) in enumerate(zip(case.raw["events"], case.raw["expected"])):
        label = f"after event {index}"
        if "reset" in event:
            runner.reset()
        else:
            grads = [None if g is None else golden.decode_tensor(g) for g in event["call"]]
            try:
                runner.call(handed(grads))
                raised = None
            except ValueError as exc:
                raised = exc
            if expected["error"] and raised is None:
                check.add(label, _mismatch("expected ValueError for a wrong gradient count; none raised"))
                continue
            if raised is not None and not expected["error"]:
                raise raised
        _compare_accumulated(check, runner.read(), expected, dtype, label)
    return check


def _compare_accumulated(check: Check, read: Any, expected: Mapping[str, Any], dtype: str, label: str) -> None:
    """``read()`` = (step, per-slot sums or None) against the expected event outcome, bit for bit."""
    if not isinstance(read, (tuple, list)) or len(read) != 2:
        raise CaseError(f"{label}: read() returned {type(read).__name__}, expected (step, sums)")
    step, sums = read
    count = counter(step, "step")
    if count != expected["step"]:
        check.add(label, _mismatch(f"step {clean_text(repr(step))} != expected {expected['step']}"))
    if (sums is None) != (expected["gradients"] is None):
        check.add(label, _mismatch(f"gradients {'missing' if sums is None else 'present'} but expected {'present' if sums is None else 'uninitialized'}"))
        return
    if sums is None:
        return
    if not isinstance(sums, (tuple, list)) or len(sums) != len(expected["gradients"]):
        check.add(label, _mismatch(f"{len(sums) if isinstance(sums, (tuple, list)) else type(sums).__name__} gradient slots, expected {len(expected['gradients'])}"))
        return
    for slot, (got, exp) in enumerate(zip(sums, expected["gradients"])):
        if exp is None or got is None:
            if (exp is None) != (got is None):
                check.add(f"gradients[{slot}] {label}", _mismatch("None slot mismatch"))
            continue
        exp_arr = golden.decode_tensor(exp)
        check.add(f"gradients[{slot}] {label}", compare.compare(_as_array(got, exp_arr, f"gradients[{slot}]"), exp_arr, 0.0, EPS[dtype], 0.0, exact=True))


def run_invalid(adapter: Adapter, case: Case) -> Check:
    check = Check()
    make = adapter.make_schedule if case.kind == "schedule" else None
    try:
        if make is not None:
            make(case.algorithm, case.hparams())
        else:
            adapter.make_optimizer(case.algorithm, case.hparams(), None, "float32")
    except ValueError:
        return check
    check.add("construction", _mismatch(f"accepted invalid `{case.raw['argument']}` (expected ValueError)"))
    return check
