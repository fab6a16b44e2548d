"""The runner: selects golden cases by an adapter's capabilities, runs them in teacher-forced and
free-running modes, compares under the golden budgets, explains failures, and applies known
divergences.

Each case is isolated: an adapter that raises (``sys.exit()`` included), hangs (per-case timeout),
returns the wrong shape or something that is not real numbers, or NaN where the golden has none
gets ``error`` or ``fail`` for that case, and the run goes on. What crosses the adapter boundary
(private copies in, fresh arrays out, cleaned strings) is :mod:`.boundary`; running cases in worker
processes is :mod:`.isolate`.

Outcomes (:data:`OUTCOMES`):

* ``pass``; ``pass_with_override`` (passes only under a divergence file's tolerance override);
* ``fail``; ``error`` (the adapter crashed, hung or returned something malformed);
* ``xfail`` / ``xpass``: a divergence entry expected a failure (an ``error`` counts as expected too);
  a strict ``xpass`` counts as a failure;
* ``skip``: a divergence entry said not to run it;
* ``not_applicable``: the adapter declares another convention on an axis the case separates (the
  case still runs, and the convention it measured is reported as the diagnosis);
* ``unsupported``: the adapter cannot express the algorithm, dtype or setting.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from optimspec.reference import registry
from optimspec.reference import run as ref
from optimspec.reference._dtypes import EPS, representable, round_to

from . import compare, golden
from .adapters.base import Adapter, AlgorithmSupport, Capabilities, Unsupported
from .boundary import AdapterOutputError, CaseTimeout, UserInterrupts, clean_text, clean_tree, counter, describe_exception, handed, real_array, time_limit, watch_user_interrupts
from .divergences import Divergence, DivergenceSet

OUTCOMES = ("pass", "pass_with_override", "fail", "xfail", "xpass", "skip", "not_applicable", "unsupported", "error")
PASSING = ("pass", "pass_with_override")
MODES = ("teacher_forced", "free_running")
DEFAULT_TIMEOUT_S = 60.0


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


@dataclass
class CaseResult:
    id: str
    algorithm: str
    kind: str
    dtype: str
    outcome: str
    metric: str
    tolerance: dict[str, Any]
    measured: Measured = field(default_factory=Measured)
    modes: list[str] = field(default_factory=list)
    message: str = ""
    diagnosis: str = ""
    divergence: dict[str, Any] | None = None
    duration_s: float = 0.0
    repro: str = ""
    separates: list[str] = field(default_factory=list)  # convention axes the case was built to separate
    unchecked: list[str] = field(default_factory=list)  # parts not compared because the adapter declares it cannot export them
    actual: Any = field(default=None, repr=False, compare=False)  # the adapter's values (explain); not reported

    @property
    def failing(self) -> bool:
        """Does this case make the run non-conformant? (fail, error, or a strict xpass)"""
        if self.outcome == "xpass":
            return bool((self.divergence or {}).get("strict", True))
        return self.outcome in ("fail", "error")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "algorithm": self.algorithm, "kind": self.kind, "dtype": self.dtype, "outcome": self.outcome,
            "failing": self.failing, "metric": self.metric, "tolerance": self.tolerance,
            "measured": self.measured.as_dict(), "modes": self.modes, "message": self.message,
            "diagnosis": self.diagnosis, "divergence": self.divergence,
            "duration_s": round(self.duration_s, 4), "repro": self.repro, "separates": self.separates,
            "unchecked": self.unchecked,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        """The inverse of :meth:`as_dict` (``actual`` is not reported, so it comes back None)."""
        fields = {key: value for key, value in data.items() if key not in ("failing", "measured")}
        return cls(**fields, measured=Measured.from_dict(data["measured"]))


@dataclass(frozen=True)
class Options:
    select: Sequence[str] = ()  # id globs (or prefixes); empty = all
    dtypes: Sequence[str] = ()  # empty = all
    modes: Sequence[str] = MODES
    timeout_s: float = DEFAULT_TIMEOUT_S
    explain: bool = True  # diagnose failing convention-sensitive cases

    def as_dict(self) -> dict[str, Any]:
        return {"select": list(self.select), "dtypes": list(self.dtypes), "modes": list(self.modes), "timeout_s": self.timeout_s}


CaseError = AdapterOutputError  # the adapter misbehaved (wrong shape, wrong type): an ``error`` outcome


class AdapterBroken(Exception):
    """The adapter cannot be run at all: ``info()`` or ``capabilities()`` raised or returned the wrong
    type (exit 1 in the CLI, with this message)."""


# --------------------------------------------------------------------------------------------------
# decoded cases
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One golden case with its group and file context, tensors decoded."""

    file: golden.GoldenFile
    group: Mapping[str, Any]
    raw: Mapping[str, Any]
    invalid: bool = False

    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def algorithm(self) -> str:
        return self.file.algorithm

    @property
    def kind(self) -> str:
        """The file's kind, or the group's where it says (create_optimizer's optimizer cases)."""
        return self.group.get("kind", self.file.kind)

    @property
    def dtype(self) -> str:
        return "any" if self.invalid else self.group["dtype"]

    def hparams(self) -> dict[str, Any]:
        return decode_hparams(self.raw["hparams"])

    def param_groups(self) -> list[dict[str, Any]] | None:
        groups = self.raw.get("param_groups")
        if not groups:
            return None
        return [{"params": list(g["params"]), "hparams": decode_hparams(g["hparams"])} for g in groups]


def _decode_value(value: Any) -> Any:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return golden.decode_number(value)
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    return value


def decode_hparams(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as the reference takes them (pairs back to tuples, special floats decoded)."""
    out = {}
    for name, value in hparams.items():
        value = _decode_value(value)
        if name in ("betas", "eps") and isinstance(value, list):
            value = tuple(value)
        out[name] = value
    return out


def decode_tensors(obj: Mapping[str, Any]) -> dict[str, np.ndarray | None]:
    return {n: (None if t is None else golden.decode_tensor(t)) for n, t in obj.items()}


def decode_state(obj: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, fields in obj.items():
        out[name] = {}
        for key, value in fields.items():
            if golden.is_tensor(value):
                out[name][key] = golden.decode_tensor(value)
            elif isinstance(value, int) or value is None:
                out[name][key] = value
            else:
                out[name][key] = golden.decode_number(value)
    return out


def iter_cases(files: Sequence[golden.GoldenFile]) -> Iterator[Case]:
    for file in files:
        for group, raw in file.cases():
            yield Case(file, group, raw)
        for raw in file.data["invalid"]:
            yield Case(file, {}, raw, invalid=True)


# --------------------------------------------------------------------------------------------------
# isolation
# --------------------------------------------------------------------------------------------------


def timeouts_enforced() -> bool:
    """SIGALRM (which also interrupts blocking calls) needs the main thread of a POSIX process;
    elsewhere only the watchdog's asynchronous exception, which waits for Python code, applies."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


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
class _Check:
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


def _checkpoints(case: Case) -> list[dict[str, Any]]:
    return [
        {"step": c["step"], "params": decode_tensors(c["params"]), "state": decode_state(c["state"])}
        for c in case.raw["checkpoints"]
    ]


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


def _compare_params(check: _Check, actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], scale_of: Callable[[str], np.ndarray], dtype: str, k: float, label: str, metric: str = "scaled") -> None:
    for name, exp in expected.items():
        check.add(f"params[{name}] {label}", compare.by_metric(metric, actual[name], exp, scale_of(name), dtype, k))


def _scalar_fields(algorithm: str) -> set[str]:
    """State fields the reference declares as scalar statistics (Adafactor's ``RMS``), not tensors."""
    annotations = registry.module(algorithm).State.__annotations__
    return {name for name, hint in annotations.items() if getattr(hint, "__forward_arg__", hint) == "Scalar"}


def check_state_dtype(check: _Check, actual: Mapping[str, Mapping[str, Any]], expected: Mapping[str, Mapping[str, Any]], case: Case, label: str) -> None:
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


def _compare_state(check: _Check, exported: Any, expected: Mapping[str, Mapping[str, Any]], scales: Mapping[str, Mapping[str, Any]], eps: float, k: float, label: str, rules: _StateRules) -> None:
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


def _records(case: Case, state: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    record = registry.module(case.algorithm).State
    return {n: record(**f) for n, f in state.items()}


def _fields(records: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: dict(zip(type(r)._fields, r)) for n, r in records.items()}


@dataclass(frozen=True)
class _Scales:
    """The scale S of every compared array of one checkpoint (params and state fields)."""

    params: dict[str, np.ndarray]
    state: dict[str, dict[str, Any]]


def _with_fallback(magnitudes: _Scales, fallback: Callable[[np.ndarray | None, np.ndarray], np.ndarray], reference: Mapping[str, Any], expected: Mapping[str, Any]) -> _Scales:
    """``magnitudes`` floored by ``fallback(reference value, expected value)`` everywhere."""
    params = {n: compare.magnitude_scale(m, fallback(reference["params"][n], expected["params"][n])) for n, m in magnitudes.params.items()}
    state: dict[str, dict[str, Any]] = {}
    for name, fields in expected.get("state", {}).items():
        state[name] = {}
        for key, exp in fields.items():
            if exp is None or isinstance(exp, int):
                continue
            ref_value = reference["state"].get(name, {}).get(key)
            base = np.zeros_like(np.asarray(exp, dtype=np.float64)) if ref_value is None else ref_value
            state[name][key] = compare.magnitude_scale(magnitudes.state[name][key], fallback(base, exp))
    return _Scales(params, state)


def teacher_forced_scales(case: Case, before: Mapping[str, Any], after: Mapping[str, Any], grads: Mapping[str, Any], variant: Mapping[str, str] | None = None) -> _Scales:
    """S of a teacher-forced step: the reference step from the golden state ``before``, run on
    magnitudes, never below ``|before| + |after − before|``."""
    params, state = ref.step_scale(case.algorithm, before["params"], grads, _records(case, before["state"]), case.hparams(), groups=case.param_groups(), variant=variant)
    return _with_fallback(_Scales(params, _fields(state)), compare.teacher_forced_scale, before, after)


def free_running_scales(case: Case, by_step: Mapping[int, Mapping[str, Any]], grads: Sequence[Mapping[str, Any]]) -> dict[int, _Scales]:
    """S of each free-running checkpoint: the elementwise running maximum of the per-step magnitude
    sums along the reference trajectory (an error made at any earlier step is carried forward),
    never below ``|expected| + |expected − initial|``."""
    raw = _running_magnitudes(case, by_step[0], grads, sorted(by_step))
    return {t: _with_fallback(scales, compare.free_running_scale, by_step[0], by_step[t]) for t, scales in raw.items()}


def _running_magnitudes(case: Case, start: Mapping[str, Any], grads: Sequence[Mapping[str, Any]], steps: Sequence[int]) -> dict[int, _Scales]:
    dtype, hparams, groups = case.group["dtype"], case.hparams(), case.param_groups()
    params, state = dict(start["params"]), _records(case, start["state"])
    running: _Scales | None = None
    out: dict[int, _Scales] = {}
    for t in range(1, max(steps, default=0) + 1):
        mag_params, mag_state = ref.step_scale(case.algorithm, params, grads[t - 1], state, hparams, groups=groups)
        current = _Scales(mag_params, _fields(mag_state))
        running = current if running is None else _Scales(
            {n: np.fmax(running.params[n], v) for n, v in current.params.items()},
            {n: {f: (v if v is None or running.state[n][f] is None or np.ndim(v) == 0 else np.fmax(running.state[n][f], v)) for f, v in fields.items()} for n, fields in current.state.items()},
        )
        params, state = ref.optimizer_step(case.algorithm, params, grads[t - 1], state, hparams, groups=groups, dtype=dtype)
        if t in steps:
            out[t] = running
    return out


def _teacher_forced_state_budget(case: Case) -> tuple[float, float]:
    """(ε, k) of teacher-forced state checks: the group's ``state`` budget where the state dtype is
    wider than the params' (half params), else the params' own."""
    tolerance = case.group["tolerance"]["teacher_forced"]
    state = tolerance.get("state")
    if state is None:
        return EPS[case.group["dtype"]], tolerance["k"]
    return EPS[state["dtype"]], state["k"]


def _run_optimizer(adapter: Adapter, caps: Capabilities, case: Case, modes: Sequence[str], unchecked: set[str]) -> tuple[_Check, list[str], dict[str, Any]]:
    """Teacher-forced steps and the free-running trajectory. The adapter gets copies of everything
    (:func:`~optimspec.conformance.boundary.handed`) and its results are copied as they arrive."""
    dtype = case.group["dtype"]
    eps = EPS[dtype]
    tolerance = case.group["tolerance"]
    grads = [decode_tensors(g) for g in case.raw["grads"]]
    params0 = decode_tensors(case.raw["params"])
    checkpoints = _checkpoints(case)
    by_step = {c["step"]: c for c in checkpoints}
    support = caps.algorithms[case.algorithm]
    rules = _StateRules(frozenset(support.unexported_state), unchecked)
    check = _Check()
    ran: list[str] = []
    actual_steps: dict[str, dict[int, Any]] = {}

    def make() -> Any:
        return adapter.make_optimizer(case.algorithm, case.hparams(), case.param_groups(), dtype)

    def judge(stepper: Any, got: Any, expected: Mapping[str, Any], scales: _Scales, budgets: tuple[float, float, float], label: str, metric: str = "scaled") -> dict[str, np.ndarray]:
        """``budgets``: (k of the params, ε and k of the state)."""
        k, state_eps, state_k = budgets
        params = _received_params(got, expected["params"], label)
        _compare_params(check, params, expected["params"], scales.params.__getitem__, dtype, k, label, metric)
        if caps.can_export_state:
            exported = stepper.export_state()
            check_state_dtype(check, exported, expected["state"], case, label)
            _compare_state(check, exported, expected["state"], scales.state, state_eps, state_k, label, rules)
        return params

    stepper = make()
    state_eps, state_k = _teacher_forced_state_budget(case)
    if "teacher_forced" in modes and caps.can_load_state:
        k, metric = tolerance["teacher_forced"]["k"], tolerance["teacher_forced"]["metric"]
        tf_steps = {}
        for t in [c["step"] for c in checkpoints if c["step"] >= 1 and c["step"] - 1 in by_step]:
            before, after = by_step[t - 1], by_step[t]
            stepper.load_state(handed(before["params"]), handed(before["state"]))
            got = stepper.step(handed(grads[t - 1]))
            scales = teacher_forced_scales(case, before, after, grads[t - 1])
            tf_steps[t] = judge(stepper, got, after, scales, (k, state_eps, state_k), f"at step {t} (teacher_forced)", metric)
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
        fr_scales = free_running_scales(case, by_step, grads)
        fr_steps = {}
        for t in range(1, len(grads) + 1):
            got = stepper.step(handed(grads[t - 1]))
            if t in by_step:
                k = fr["k"] + fr["growth_per_step"] * t
                fr_steps[t] = judge(stepper, got, by_step[t], fr_scales[t], (k, eps, k), f"at step {t} (free_running)")
        actual_steps["free_running"] = fr_steps
        ran.append("free_running")
    return check, ran, actual_steps


def diagnose_optimizer(case: Case, actual_steps: Mapping[str, Mapping[int, Any]], max_axes: int = 2) -> str:
    """Which alternative conventions (one or two axes at once) reproduce the adapter's values."""
    algorithm, dtype = case.algorithm, case.group["dtype"]
    eps = EPS[dtype]
    grads = [decode_tensors(g) for g in case.raw["grads"]]
    checkpoints = {c["step"]: c for c in _checkpoints(case)}
    hparams, groups = case.hparams(), case.param_groups()
    tf_actual = actual_steps.get("teacher_forced", {})
    fr_actual = actual_steps.get("free_running", {})
    k_tf, metric_tf = case.group["tolerance"]["teacher_forced"]["k"], case.group["tolerance"]["teacher_forced"]["metric"]
    fr = case.group["tolerance"]["free_running"]
    params0 = decode_tensors(case.raw["params"])
    spec_scales = free_running_scales(case, checkpoints, grads) if fr_actual and not tf_actual else {}

    def distance(variant: Mapping[str, str]) -> float:
        """The worst error against the reference under ``variant``, as a multiple of the budget."""
        worst = 0.0
        try:
            for t, got in tf_actual.items():
                before = checkpoints[t - 1]
                state = {n: registry.module(algorithm).State(**f) for n, f in before["state"].items()}
                alt, _ = ref.optimizer_step(algorithm, before["params"], grads[t - 1], state, hparams, groups=groups, variant=variant, dtype=dtype)
                scales = teacher_forced_scales(case, before, {"params": alt}, grads[t - 1], variant)
                for n, exp in alt.items():
                    worst = max(worst, compare.by_metric(metric_tf, np.asarray(got[n], float), exp, scales.params[n], dtype, k_tf).max_k / k_tf)
            if fr_actual and not tf_actual:
                traj = ref.optimizer_trajectory(algorithm, params0, grads, hparams, groups=groups, variant=variant, dtype=dtype)
                for t, got in fr_actual.items():
                    k = fr["k"] + fr["growth_per_step"] * t
                    for n, exp in traj[t].params.items():
                        scale = compare.magnitude_scale(spec_scales[t].params[n], compare.free_running_scale(params0[n], exp))
                        worst = max(worst, compare.compare(np.asarray(got[n], float), exp, scale, eps, k).max_k / k)
        except (KeyError, ValueError):
            return np.inf
        return worst if tf_actual or fr_actual else np.inf

    return _search_variants(case, distance, max_axes)


# An alternative that brings the error down by this factor explains a failure even when numerics
# (float32 hyperparameters, another order of operations) keep it above the budget: golden cases
# separate conventions by at least this much (conformance/generate.py DISCRIMINATION_FACTOR).
EXPLAINS_BY = 100.0
# A case that separates no convention still explains a failure this far over the budget.
CLEARLY_FAILS = 2.0
NON_FINITE_MISMATCH = "NaN/±inf appear where the spec has none, or the other way round (not a named convention)"


def _search_variants(case: Case, distance: Callable[[Mapping[str, str]], float], max_axes: int) -> str:
    """Name the alternative conventions (up to ``max_axes`` axes at once) that reproduce the
    adapter's values.

    * Within the budget: any alternative, when it concerns an axis the case was generated to
      separate (its ``discriminates``) or the spec misses by at least ``CLEARLY_FAILS``× the
      budget; otherwise a match would be an accident of rounding.
    * Up to numerics: a separated alternative that comes ``EXPLAINS_BY``× closer than the spec.

    NaN/±inf mismatches are not conventions and are said as such.
    """
    spec = distance({})
    if not np.isfinite(spec):
        return NON_FINITE_MISMATCH
    separated = {(axis, value) for axis, values in case.raw.get("discriminates", {}).items() for value in values}
    options = [(c.axis, v) for c in registry.spec(case.algorithm).conventions for v in c.alternatives]
    best: tuple[float, tuple[tuple[str, str], ...]] | None = None
    for size in range(1, max_axes + 1):
        for combo in itertools.combinations(options, size):
            if len({a for a, _ in combo}) < size:
                continue
            on_separated = any(option in separated for option in combo)
            if not on_separated and spec < CLEARLY_FAILS:
                continue
            ratio = distance(dict(combo))
            if ratio <= 1.0:
                return "behaves like " + ", ".join(f"{a}={v}" for a, v in combo)
            if on_separated and (best is None or ratio < best[0]):
                best = (ratio, combo)
    if best is not None and np.isfinite(best[0]) and best[0] * EXPLAINS_BY <= spec:
        named = ", ".join(f"{a}={v}" for a, v in best[1])
        return f"behaves like {named}, up to numerics ({best[0]:.3g}× the budget under it, {spec:.3g}× under the spec)"
    if not separated and spec < CLEARLY_FAILS:
        return "this case separates no named convention"
    return "matches no single convention or pair of conventions the spec names"


# --------------------------------------------------------------------------------------------------
# schedules and accumulators
# --------------------------------------------------------------------------------------------------


def _schedule_inputs(case: Case) -> list[Any]:
    if "steps" in case.raw:
        return list(case.raw["steps"])
    return _decode_inputs(case.raw["inputs"])


def _decode_inputs(obj: Any) -> Any:
    if golden.is_tensor(obj):
        return golden.decode_tensor(obj)
    if isinstance(obj, Mapping):
        return {k: _decode_inputs(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode_inputs(v) for v in obj]
    if isinstance(obj, str):
        return golden.decode_number(obj)
    return obj


def _schedule_eps(case: Case, caps: Capabilities) -> float:
    return max(EPS[case.group["dtype"]], EPS[caps.schedule_dtype])


def _compare_schedule(actual: np.ndarray, case: Case, eps: float, k: float) -> compare.Comparison:
    expected = golden.decode_tensor(case.raw["expected"])
    actual = _as_array(actual, expected, "schedule values")
    exact = np.zeros(expected.shape[0], dtype=bool)
    exact[case.raw["exact_rows"]] = True
    results = [compare.compare(actual[~exact], expected[~exact], case.raw["scale"], eps, k)]
    if exact.any():
        results.append(compare.compare(actual[exact], expected[exact], case.raw["scale"], eps, k, exact=True))
    return compare.merge(results)


def _run_schedule(adapter: Adapter, caps: Capabilities, case: Case) -> tuple[_Check, np.ndarray]:
    runner = adapter.make_schedule(case.algorithm, case.hparams())
    actual = real_array(runner.values(handed(_schedule_inputs(case))), "schedule values")
    if actual.ndim == 1:
        actual = actual[:, None]
    check = _Check()
    check.add("lr", _compare_schedule(actual, case, _schedule_eps(case, caps), case.group["tolerance"]["k"]))
    return check, actual


def diagnose_schedule(case: Case, caps: Capabilities, actual: np.ndarray) -> str:
    eps, k = _schedule_eps(case, caps), case.group["tolerance"]["k"]
    inputs, hparams = _schedule_inputs(case), case.hparams()

    def distance(variant: Mapping[str, str]) -> float:
        alt = ref.schedule_values(case.algorithm, inputs, hparams, variant=variant)
        finite = alt[np.isfinite(alt)]
        scale = float(np.max(np.abs(finite))) if finite.size else 0.0
        return compare.compare(actual, alt, scale, eps, k).max_k / k

    return _search_variants(case, distance, 1)


def _run_accumulator(adapter: Adapter, case: Case) -> _Check:
    dtype = case.group["dtype"]
    runner = adapter.make_accumulator(case.algorithm, dtype)
    check = _Check()
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


def _compare_accumulated(check: _Check, read: Any, expected: Mapping[str, Any], dtype: str, label: str) -> None:
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


def _run_invalid(adapter: Adapter, case: Case) -> _Check:
    check = _Check()
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


# --------------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------------


def pattern_matches(pattern: str, case_id: str) -> bool:
    """A ``--select`` pattern: an fnmatch glob on the id, or an id prefix (``optim/adamw``)."""
    return fnmatchcase(case_id, pattern) or case_id.startswith(pattern.rstrip("*"))


def _selected(case: Case, options: Options) -> bool:
    if options.select and not any(pattern_matches(pattern, case.id) for pattern in options.select):
        return False
    if options.dtypes and not case.invalid and case.kind != "schedule" and case.dtype not in options.dtypes:
        return False
    return True


def selected_cases(files: Sequence[golden.GoldenFile], options: Options) -> list[Case]:
    return [c for c in iter_cases(files) if _selected(c, options)]


def find_case(files: Sequence[golden.GoldenFile], case_id: str) -> Case:
    """The case with this exact id; KeyError naming the closest ids otherwise."""
    cases = list(iter_cases(files))
    for case in cases:
        if case.id == case_id:
            return case
    prefix = case_id.rsplit("/", 1)[0]
    near = [c.id for c in cases if c.id.startswith(prefix)][:5]
    raise KeyError(f"no case {case_id!r}" + (f"; did you mean {', '.join(near)}?" if near else ""))


def applicability(case: Case, caps: Capabilities) -> tuple[str | None, str]:
    """(outcome, reason) when the case cannot be judged against the spec, else (None, "")."""
    support = caps.algorithms.get(case.algorithm)
    if support is None:
        return "unsupported", f"the adapter does not implement {case.algorithm}"
    if case.invalid:
        return (None, "") if caps.validates_hparams else ("not_applicable", "the adapter does not validate hyperparameters")
    if case.kind != "schedule":
        dtypes = support.dtypes or caps.dtypes
        if case.dtype not in dtypes:
            return "unsupported", f"dtype {case.dtype} not supported"
    other = {axis: value for axis, value in support.variant.items() if value != registry.spec(case.algorithm).variant().get(axis)}
    separated = [axis for axis in other if axis in case.raw.get("discriminates", {})]
    if separated:
        return "not_applicable", "declares " + ", ".join(f"{a}={other[a]}" for a in separated) + " (another convention)"
    return None, ""


def tolerance_of(case: Case) -> tuple[str, dict[str, Any]]:
    if case.invalid:
        return "rejects", {}
    if case.kind == "optimizer":
        return case.group["tolerance"]["teacher_forced"]["metric"], dict(case.group["tolerance"])
    return case.group["tolerance"]["metric"], dict(case.group["tolerance"])


def repro_command(case_id: str, adapter_ref: str) -> str:
    return f"optimspec explain {case_id} --adapter {adapter_ref}"


# --------------------------------------------------------------------------------------------------
# running one case
# --------------------------------------------------------------------------------------------------


def _dispatch(adapter: Adapter, caps: Capabilities, case: Case, options: Options, result: CaseResult) -> _Check:
    """Run the case by kind; the adapter's values go to ``result.actual``."""
    if case.invalid:
        return _run_invalid(adapter, case)
    if case.kind == "optimizer":
        unchecked: set[str] = set()
        try:
            check, result.modes, result.actual = _run_optimizer(adapter, caps, case, options.modes, unchecked)
        finally:
            result.unchecked = [f"state.{field}: not exported (declared in unexported_state)" for field in sorted(unchecked)]
        return check
    if case.kind == "schedule":
        check, result.actual = _run_schedule(adapter, caps, case)
        return check
    return _run_accumulator(adapter, case)


def _diagnose(case: Case, caps: Capabilities, actual: Any, options: Options) -> str:
    """Which convention reproduces the adapter's values, for a failing case ("" if not searched)."""
    if not options.explain or case.invalid or case.raw.get("discriminates") is None or actual is None:
        return ""
    try:
        if case.kind == "optimizer":
            return diagnose_optimizer(case, actual)
        if case.kind == "schedule":
            return diagnose_schedule(case, caps, actual)
    except Exception as exc:  # a diagnosis is a hint; it never turns a verdict into a crash
        return f"(diagnosis failed: {describe_exception(exc)})"
    return ""


def _where_raised(exc: BaseException) -> str:
    """The innermost frame an exception came from: where to look first."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return clean_text(f"raised in {frame.name} ({Path(frame.filename).name}:{frame.lineno})")


def _execute(adapter: Adapter, caps: Capabilities, case: Case, options: Options, result: CaseResult) -> _Check | None:
    """Run and judge the case against its own budgets: fills outcome (pass, fail, error or
    unsupported), measured, message, diagnosis and duration. The comparisons, or None if it raised.

    Whatever the adapter raises is this case's ``error``, never the run's: ``sys.exit()`` and a
    KeyboardInterrupt it raises itself included (a Ctrl-C from the terminal still stops the run), and
    a timeout it caught and carried on after."""
    started = time.perf_counter()
    deadline = interrupts = None
    try:
        with watch_user_interrupts() as interrupts, time_limit(options.timeout_s) as deadline:
            check = _dispatch(adapter, caps, case, options, result)
    except Unsupported as exc:
        result.outcome, result.message = "unsupported", clean_text(exc) or "unsupported setting"
        return None
    except CaseTimeout:
        result.outcome, result.message = "error", deadline.message if deadline else "timed out"
        return None
    except KeyboardInterrupt as exc:
        _reraise_if_user(exc, interrupts)
        result.outcome, result.message, result.diagnosis = "error", describe_exception(exc), _where_raised(exc)
        return None
    except BaseException as exc:  # an adapter crash or exit is this case's error, never the run's
        result.outcome, result.message, result.diagnosis = "error", describe_exception(exc), _where_raised(exc)
        if deadline is not None and deadline.expired:
            result.message = f"{deadline.message}, then {result.message}"
        return None
    finally:
        result.duration_s = time.perf_counter() - started
    if deadline.expired:
        result.outcome, result.message = "error", f"{deadline.message} (the adapter caught the timeout and went on)"
        return None
    passed, result.measured, result.message = check.verdict()
    result.outcome = "pass" if passed else "fail"
    if not passed:
        if check.nonfinite_mismatch():  # in params or state: no convention explains it
            result.diagnosis = NON_FINITE_MISMATCH
        else:
            result.diagnosis = _diagnose(case, caps, result.actual, options)
    return check


def _reraise_if_user(exc: KeyboardInterrupt, interrupts: UserInterrupts | None) -> None:
    if interrupts is None or interrupts.seen:
        raise exc


def _measure_other_convention(adapter: Adapter, caps: Capabilities, case: Case, options: Options, result: CaseResult, reason: str) -> CaseResult:
    """A case separating an axis on which the adapter declares another value: ``not_applicable``,
    but it still runs, so the report can say which convention was measured."""
    _execute(adapter, caps, case, options, result)
    if result.outcome == "pass":
        result.diagnosis = "behaves like the spec here, although it declares another convention"
    elif result.outcome in ("error", "unsupported"):
        reason = f"{reason}; running it anyway: {result.outcome}: {result.message}"
    result.outcome, result.message = "not_applicable", reason
    return result


def apply_divergence(result: CaseResult, divergence: Divergence, check: _Check | None) -> None:
    """Turn a judged result into what the known-divergence entry says it should read as."""
    result.divergence = divergence.as_dict()
    if divergence.outcome == "xfail":
        if result.outcome in ("fail", "error"):
            result.outcome = "xfail"
        elif result.outcome in PASSING:
            result.outcome = "xpass"
            result.message = f"passes although {divergence.label} expects a failure" + (" (strict)" if divergence.strict else "")
    elif divergence.outcome == "tolerance" and check is not None and result.outcome in ("pass", "fail"):
        k = float(divergence.tolerance or 0.0)
        result.tolerance = {**result.tolerance, "override_k": k}
        if check.passes_with_budget(k):
            result.outcome, result.message = "pass_with_override", f"within the override budget k = {k:g} ({divergence.label})"
            result.diagnosis = ""  # the spec's convention, within the declared numerics
        else:
            result.outcome = "fail"
            result.message = f"{result.message} (fails even with the override budget k = {k:g})"


def run_case(
    adapter: Adapter,
    caps: Capabilities,
    case: Case,
    options: Options = Options(),
    divergence: Divergence | None = None,
    adapter_ref: str | None = None,
) -> CaseResult:
    """Run one case and judge it; ``divergence`` (the entry that covers it, if any) is applied.
    ``adapter_ref`` is how the repro command names the adapter (default: ``adapter.name``)."""
    metric, tolerance = tolerance_of(case)
    result = CaseResult(case.id, case.algorithm, case.kind, case.dtype, "pass", metric, tolerance)
    result.separates = sorted(case.raw.get("discriminates") or {})
    result.repro = repro_command(case.id, adapter_ref or adapter.name)
    outcome, reason = applicability(case, caps)
    if outcome == "not_applicable" and not case.invalid:
        return _measure_other_convention(adapter, caps, case, options, result, reason)
    if outcome is not None:
        result.outcome, result.message = outcome, reason
        return result
    if divergence is not None and divergence.outcome == "skip":
        result.outcome, result.message, result.divergence = "skip", divergence.reason, divergence.as_dict()
        return result
    check = _execute(adapter, caps, case, options, result)
    if divergence is not None:
        apply_divergence(result, divergence, check)
    return result


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """Everything a report needs about one run of one adapter."""

    adapter_ref: str  # how the adapter was named (built-in name, entry point, module:Factory)
    info: dict[str, Any]
    capabilities: Capabilities
    options: Options
    divergences: DivergenceSet
    results: list[CaseResult]
    warnings: list[str]
    duration_s: float

    @property
    def failing(self) -> list[CaseResult]:
        return [r for r in self.results if r.failing]


def framework_versions(info: Mapping[str, Any]) -> dict[str, str]:
    """``info()["versions"]`` as strings (what divergence conditions test)."""
    versions = info.get("versions")
    return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, Mapping) else {}


def describe_adapter(adapter: Adapter) -> tuple[dict[str, Any], Capabilities]:
    """``adapter.info()`` (its strings cleaned) and ``adapter.capabilities()``; AdapterBroken with
    the reason if either raises or returns the wrong type."""
    answers = []
    for method, expected in (("info", Mapping), ("capabilities", Capabilities)):
        try:
            with watch_user_interrupts() as interrupts:
                answer = getattr(adapter, method)()
        except KeyboardInterrupt as exc:
            _reraise_if_user(exc, interrupts)
            raise AdapterBroken(f"{method}() raised: {describe_exception(exc)}") from None
        except BaseException as exc:
            raise AdapterBroken(f"{method}() raised: {describe_exception(exc)}") from None
        if not isinstance(answer, expected):
            raise AdapterBroken(f"{method}() returned {type(answer).__name__}, expected {expected.__name__}")
        answers.append(answer)
    info, caps = answers
    if not all(isinstance(support, AlgorithmSupport) for support in dict(caps.algorithms).values()):
        raise AdapterBroken("capabilities().algorithms must map algorithm names to AlgorithmSupport")
    return clean_tree(dict(info)), caps


def run_warnings(files: Sequence[golden.GoldenFile], cases: Sequence[Case], caps: Capabilities, options: Options, divergences: DivergenceSet, versions: Mapping[str, str]) -> list[str]:
    """What the run should say about itself besides verdicts."""
    warnings = []
    all_ids = [c.id for c in iter_cases(files)]
    for pattern in options.select:
        if not any(pattern_matches(pattern, case_id) for case_id in all_ids):
            warnings.append(f"--select {pattern!r} matches no case")
    # entries are checked against the whole tree: one the selection left out is no typo
    warnings.extend(divergences.warnings([(c.id, c.dtype) for c in iter_cases(files)], versions))
    if not caps.can_load_state and "teacher_forced" in options.modes:
        warnings.append("the adapter cannot load state: no teacher-forced checks; optimizer verdicts rest on free-running checks")
    if options.timeout_s > 0 and not timeouts_enforced():
        warnings.append("outside the main thread, per-case timeouts interrupt Python code only (not a blocking call)")
    return warnings


def unchecked_warnings(results: Sequence[CaseResult]) -> list[str]:
    """One line per algorithm and part the adapter declared it cannot export, with the case count."""
    counts: dict[tuple[str, str], int] = {}
    for result in results:
        for part in result.unchecked:
            counts[(result.algorithm, part)] = counts.get((result.algorithm, part), 0) + 1
    return [f"{algorithm}: {part}; not compared in {n} case{'s' if n > 1 else ''}" for (algorithm, part), n in sorted(counts.items())]


def execute(
    adapter: Adapter,
    files: Sequence[golden.GoldenFile],
    options: Options = Options(),
    divergences: DivergenceSet | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
    adapter_ref: str | None = None,
) -> RunRecord:
    """Run every selected case (``on_result`` is called after each, for progress bars)."""
    started = time.perf_counter()
    divergences = divergences or DivergenceSet()
    info, caps = describe_adapter(adapter)
    versions = framework_versions(info)
    cases = selected_cases(files, options)
    results = []
    for case in cases:
        entry = divergences.lookup(case.id, case.dtype, versions)
        result = run_case(adapter, caps, case, options, entry, adapter_ref)
        results.append(result)
        if on_result:
            on_result(result)
    warnings = run_warnings(files, cases, caps, options, divergences, versions) + unchecked_warnings(results)
    return RunRecord(adapter_ref or adapter.name, info, caps, options, divergences, results, warnings, time.perf_counter() - started)


def run(
    adapter: Adapter,
    files: Sequence[golden.GoldenFile],
    options: Options = Options(),
    on_result: Callable[[CaseResult], None] | None = None,
    divergences: DivergenceSet | None = None,
) -> list[CaseResult]:
    """The results of :func:`execute`, alone."""
    return execute(adapter, files, options, divergences, on_result).results


def round_expected(dtype: str, values: np.ndarray) -> np.ndarray:
    """Expected values as a ``dtype`` implementation would store them (for explain output)."""
    return round_to(dtype, values)
