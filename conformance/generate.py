"""Golden generation: case definitions + the reference -> canonical JSON files + MANIFEST.json.

The reference is the only source of expected values. Every convention-sensitive case is also
computed under each alternative convention; the axes whose alternatives move the result by at least
``DISCRIMINATION_FACTOR``× the case's budget are recorded in ``discriminates``, and a case that
declares an axis it fails to separate stops the generation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optimspec.reference import registry
from optimspec.reference import run as ref
from optimspec.reference._dtypes import EPS, round_to

from . import compare, golden
from .cases._build import (
    DTYPE_SHORT,
    AccumulatorGroup,
    InvalidCase,
    OptimizerCase,
    OptimizerGroup,
    ScheduleCase,
    ScheduleGroup,
)

DISCRIMINATION_FACTOR = 100.0

# Default budgets, in units of the target dtype's ε (docs/design.md, "Tolerance"); groups may override.
# float64 steps get 32: the spec's own float order computes bias corrections as 1 − fl(βᵗ), which
# alone is ~12 ε·S from the exact step (tests/reference/test_oracle.py measures it), so a correct
# implementation with another order must have room on both sides.
# Half-precision teacher-forced params are budgeted in ulps of the result (compare.compare_ulps):
# computed in float32 and rounded once, a correct step is within one ulp of the reference's
# correctly rounded value. Their state, float32, keeps the float32 budget in float32 ε·S.
TEACHER_FORCED_K = {"float64": 32.0, "float32": 8.0, "float16": 1.0, "bfloat16": 1.0}
TEACHER_FORCED_METRIC = {"float64": "scaled", "float32": "scaled", "float16": "ulps", "bfloat16": "ulps"}
FREE_RUNNING_K = {"float64": 32.0, "float32": 8.0, "float16": 2.0, "bfloat16": 2.0}
FREE_RUNNING_GROWTH = {"float64": 4.0, "float32": 2.0, "float16": 0.5, "bfloat16": 0.5}
SCHEDULE_K = 8.0


class GenerationError(Exception):
    """A case definition is inconsistent with the reference (e.g. it does not discriminate)."""


def case_module(algorithm: str) -> Any:
    try:
        return importlib.import_module(f"{__package__}.cases.{algorithm}")
    except ModuleNotFoundError as exc:
        raise GenerationError(f"no case file conformance/cases/{algorithm}.py for algorithm {algorithm!r}") from exc


# --------------------------------------------------------------------------------------------------
# encoding helpers
# --------------------------------------------------------------------------------------------------


def _encode_hparam(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_encode_hparam(v) for v in value]
    if isinstance(value, list):
        return [_encode_hparam(v) for v in value]
    if isinstance(value, float):
        return golden.encode_number(value)
    return value


def encode_hparams(hparams: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _encode_hparam(v) for k, v in hparams.items()}


def _encode_state(state: Any, dtype: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in zip(type(state)._fields, state):
        if value is None:
            out[field] = None
        elif isinstance(value, (bool, int, np.integer)):
            out[field] = int(value)
        elif np.ndim(value):
            out[field] = golden.encode_tensor(value, dtype)
        else:
            out[field] = golden.encode_number(float(value))
    return out


def _tensors(values: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    return {n: (None if v is None else golden.encode_tensor(v, dtype)) for n, v in values.items()}


def _spec_header(algorithm: str) -> dict[str, Any]:
    spec = registry.spec(algorithm)
    return {
        "format_version": golden.FORMAT_VERSION,
        "spec_version": golden.SPEC_VERSION,
        "algorithm": spec.name,
        "kind": spec.kind,
        "schema": golden.SCHEMA_FILES[spec.kind],
        "summary": spec.summary,
        "source": spec.source,
        "step_indexing": spec.step_indexing,
        "reference": registry.module(algorithm).__name__,
        "hparams": {
            hp.name: {"default": None if hp.required else _encode_hparam(hp.default), "required": hp.required, "domain": hp.domain.describe(), "doc": hp.doc}
            for hp in spec.hparams
        },
        "conventions": {c.axis: {"values": list(c.values), "doc": c.doc, "followed_by": dict(c.followed_by)} for c in spec.conventions},
        "state_fields": list(spec.state_fields),
    }


def _alternatives(algorithm: str) -> Iterator[tuple[str, str]]:
    for convention in registry.spec(algorithm).conventions:
        for value in convention.alternatives:
            yield convention.axis, value


def _check_declared(case_id: str, declared: Sequence[str], separations: Mapping[str, Mapping[str, float]], algorithm: str) -> None:
    axes = {c.axis for c in registry.spec(algorithm).conventions}
    for axis in declared:
        if axis not in axes:
            raise GenerationError(f"{case_id}: declares unknown convention axis {axis!r}")
        if axis not in separations:
            raise GenerationError(
                f"{case_id}: declared to discriminate {axis!r} but no alternative moves the result by "
                f"{DISCRIMINATION_FACTOR:g}× the budget"
            )


# --------------------------------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------------------------------


def teacher_forced_pairs(steps: Sequence[int]) -> list[int]:
    """Checkpoint steps t whose predecessor t−1 is also a checkpoint."""
    present = set(steps)
    return [t for t in steps if t >= 1 and t - 1 in present]


def _optimizer_separations(
    algorithm: str, case: OptimizerCase, group: OptimizerGroup, grads: Sequence[Mapping[str, Any]],
    snapshots: Sequence[ref.Snapshot], pairs: Sequence[int], k: float,
) -> dict[str, dict[str, float]]:
    metric = TEACHER_FORCED_METRIC[group.dtype]
    out: dict[str, dict[str, float]] = {}
    for axis, value in _alternatives(algorithm):
        worst = 0.0
        for t in pairs:
            before, after = snapshots[t - 1], snapshots[t]
            alt_params, _ = ref.optimizer_step(
                algorithm, before.params, grads[t - 1], before.state, case.hparams,
                groups=case.param_groups, variant={axis: value}, dtype=group.dtype,
            )
            magnitudes, _ = ref.step_scale(
                algorithm, before.params, grads[t - 1], before.state, case.hparams, groups=case.param_groups
            )
            for name, expected in after.params.items():
                scale = compare.magnitude_scale(magnitudes[name], compare.teacher_forced_scale(before.params[name], expected))
                result = compare.by_metric(metric, alt_params[name], expected, scale, group.dtype, k)
                finite = np.isfinite(result.max_k)
                worst = max(worst, result.max_k if finite else 0.0)
        if worst >= DISCRIMINATION_FACTOR * k:
            out.setdefault(axis, {})[value] = round(worst / k, 1)
    return out


def _optimizer_case(algorithm: str, group: OptimizerGroup, case: OptimizerCase, tf_k: float) -> dict[str, Any]:
    case_id = f"optim/{algorithm}/{group.name}/{DTYPE_SHORT[group.dtype]}/{case.name}"
    params = {n: round_to(group.dtype, np.asarray(v, dtype=np.float64)) for n, v in case.params.items()}
    grads = [{n: (None if g is None else round_to(group.dtype, np.asarray(g, dtype=np.float64))) for n, g in step.items()} for step in case.grads]
    snapshots = ref.optimizer_trajectory(
        algorithm, params, grads, case.hparams, groups=case.param_groups, dtype=group.dtype, start_step=case.start_step
    )
    steps = list(case.checkpoints) if case.checkpoints is not None else list(range(len(grads) + 1))
    if steps[0] != 0 or sorted(set(steps)) != steps or steps[-1] > len(grads):
        raise GenerationError(f"{case_id}: checkpoints must start at 0, increase, and stay within {len(grads)} steps")
    pairs = teacher_forced_pairs(steps)
    separations = _optimizer_separations(algorithm, case, group, grads, snapshots, pairs, tf_k)
    _check_declared(case_id, case.discriminates, separations, algorithm)
    state_dtype = getattr(registry.module(algorithm), "state_dtype", lambda d: d)(group.dtype)
    encoded: dict[str, Any] = {
        "id": case_id,
        "description": case.description,
        "flags": list(case.flags),
        "hparams": encode_hparams(case.hparams),
        "params": _tensors(params, group.dtype),
        "grads": [_tensors(step, group.dtype) for step in grads],
        "checkpoints": [
            {
                "step": t,
                "params": _tensors(snapshots[t].params, group.dtype),
                "state": {n: _encode_state(s, state_dtype) for n, s in snapshots[t].state.items()},
            }
            for t in steps
        ],
        "discriminates": separations,
    }
    if case.start_step:
        encoded["starts_from_state"] = True
    if case.param_groups:
        encoded["param_groups"] = [
            {"params": list(g["params"]), "hparams": encode_hparams(g.get("hparams", {}))} for g in case.param_groups
        ]
    return encoded


def _teacher_forced_tolerance(dtype: str, state_dtype: str, k: float) -> dict[str, Any]:
    """Params under the dtype's metric; state kept in a wider dtype (float32 for half params) under
    that dtype's own budget, so state computed or stored in half precision fails."""
    tolerance: dict[str, Any] = {"metric": TEACHER_FORCED_METRIC[dtype], "k": k}
    if state_dtype != dtype:
        tolerance["state"] = {"metric": "scaled", "k": TEACHER_FORCED_K[state_dtype], "dtype": state_dtype}
    return tolerance


def _optimizer_group(algorithm: str, group: OptimizerGroup) -> dict[str, Any]:
    tf_k = group.teacher_forced_k or TEACHER_FORCED_K[group.dtype]
    state_dtype = getattr(registry.module(algorithm), "state_dtype", lambda d: d)(group.dtype)
    return {
        "name": group.name,
        "description": group.description,
        "dtype": group.dtype,
        "state_dtype": state_dtype,
        "tolerance": {
            "teacher_forced": _teacher_forced_tolerance(group.dtype, state_dtype, tf_k),
            "free_running": {
                "metric": "scaled",
                "k": group.free_running_k or FREE_RUNNING_K[group.dtype],
                "growth_per_step": group.free_running_growth if group.free_running_growth is not None else FREE_RUNNING_GROWTH[group.dtype],
            },
        },
        "cases": [_optimizer_case(algorithm, group, case, tf_k) for case in group.cases],
    }


# --------------------------------------------------------------------------------------------------
# accumulators
# --------------------------------------------------------------------------------------------------


def _accumulator_group(algorithm: str, group: AccumulatorGroup) -> dict[str, Any]:
    module = registry.module(algorithm)
    cases = []
    for case in group.cases:
        case_id = f"optim/{algorithm}/{group.name}/{DTYPE_SHORT[group.dtype]}/{case.name}"
        outcomes = module.replay(case.events, group.dtype)
        cases.append(
            {
                "id": case_id,
                "description": case.description,
                "flags": list(case.flags),
                "events": [_encode_event(e, group.dtype) for e in case.events],
                "expected": [
                    {
                        "step": o["step"],
                        "error": o["error"],
                        "gradients": None if o["gradients"] is None else [None if g is None else golden.encode_tensor(g, group.dtype) for g in o["gradients"]],
                    }
                    for o in outcomes
                ],
            }
        )
    return {"name": group.name, "description": group.description, "dtype": group.dtype, "tolerance": {"metric": "scaled", "k": 0.0}, "cases": cases}


def _encode_event(event: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    if "reset" in event:
        return {"reset": True}
    return {"call": [None if g is None else golden.encode_tensor(g, dtype) for g in event["call"]]}


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------


def _schedule_case(algorithm: str, group: ScheduleGroup, case: ScheduleCase, k: float, eps: float) -> dict[str, Any]:
    case_id = f"sched/{algorithm}/{group.name}/{case.name}"
    step_schedule = ref.is_step_schedule(algorithm)
    if step_schedule == (case.steps is None):
        raise GenerationError(f"{case_id}: step schedules take `steps`, stateful ones take `inputs`")
    inputs = list(case.steps) if step_schedule else case.inputs
    expected = ref.schedule_values(algorithm, inputs, case.hparams)
    finite = expected[np.isfinite(expected)]
    peak = float(np.max(np.abs(finite))) if finite.size else 0.0
    separations: dict[str, dict[str, float]] = {}
    for axis, value in _alternatives(algorithm):
        alt = ref.schedule_values(algorithm, inputs, case.hparams, variant={axis: value})
        result = compare.compare(alt, expected, peak, eps, k)
        worst = result.max_k if np.isfinite(result.max_k) else DISCRIMINATION_FACTOR * k
        if result.problem and not np.isfinite(result.max_k):
            worst = DISCRIMINATION_FACTOR * k  # a NaN/inf class change separates by definition
        if worst >= DISCRIMINATION_FACTOR * k:
            separations.setdefault(axis, {})[value] = round(worst / k, 1)
    _check_declared(case_id, case.discriminates, separations, algorithm)
    exact_rows = [i for i, row in enumerate(expected) if all(v == 0.0 for v in row)]
    encoded = {
        "id": case_id,
        "description": case.description,
        "flags": list(case.flags),
        "hparams": encode_hparams(case.hparams),
        "expected": golden.encode_tensor(expected, group_dtype(algorithm)),
        "scale": peak,
        "exact_rows": exact_rows,
        "discriminates": separations,
    }
    if step_schedule:
        encoded["steps"] = list(case.steps)
    else:
        encoded["inputs"] = _encode_inputs(case.inputs)
    return encoded


def _encode_inputs(inputs: Any) -> Any:
    if isinstance(inputs, np.ndarray):
        return golden.encode_tensor(inputs, "float64")
    if isinstance(inputs, Mapping):
        return {k: _encode_inputs(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [_encode_inputs(v) for v in inputs]
    if isinstance(inputs, float):
        return golden.encode_number(inputs)
    return inputs


def group_dtype(algorithm: str) -> str:
    """The dtype a schedule is specified in: float32 for the Keras-side schedules, else float64."""
    return getattr(registry.module(algorithm), "DTYPE", "float64")


def _schedule_group(algorithm: str, group: ScheduleGroup) -> dict[str, Any]:
    dtype = group_dtype(algorithm)
    k = group.k or SCHEDULE_K
    return {
        "name": group.name,
        "description": group.description,
        "dtype": dtype,
        "tolerance": {"metric": "peak_scaled", "k": k},
        "cases": [_schedule_case(algorithm, group, case, k, EPS[dtype]) for case in group.cases],
    }


# --------------------------------------------------------------------------------------------------
# rejected inputs, files, manifest
# --------------------------------------------------------------------------------------------------


def _invalid_case(algorithm: str, case: InvalidCase) -> dict[str, Any]:
    family = "sched" if registry.spec(algorithm).kind == "schedule" else "optim"
    case_id = f"{family}/{algorithm}/invalid/{case.name}"
    try:
        registry.spec(algorithm).resolve(case.hparams)
    except ValueError as exc:
        if f"`{case.argument}`" not in str(exc):
            raise GenerationError(f"{case_id}: the reference rejects it but names another argument: {exc}") from None
    else:
        raise GenerationError(f"{case_id}: the reference accepts these hyperparameters")
    return {"id": case_id, "description": case.description, "hparams": encode_hparams(case.hparams), "argument": case.argument, "error": "ValueError"}


_GROUP_BUILDERS: dict[type, Callable[[str, Any], dict[str, Any]]] = {
    OptimizerGroup: _optimizer_group,
    AccumulatorGroup: _accumulator_group,
    ScheduleGroup: _schedule_group,
}


_GROUP_KINDS: dict[type, str] = {OptimizerGroup: "optimizer", AccumulatorGroup: "accumulator", ScheduleGroup: "schedule"}


def _group(algorithm: str, group: Any) -> dict[str, Any]:
    """One group; a group of another kind than its file's (create_optimizer's optimizer cases in a
    schedule file) says which kind it is."""
    built = _GROUP_BUILDERS[type(group)](algorithm, group)
    kind = _GROUP_KINDS[type(group)]
    return built if kind == registry.spec(algorithm).kind else {"kind": kind, **built}


def build_file(algorithm: str) -> dict[str, Any]:
    """The golden object of one algorithm."""
    module = case_module(algorithm)
    data = _spec_header(algorithm)
    data["groups"] = [_group(algorithm, g) for g in module.GROUPS]
    data["invalid"] = [_invalid_case(algorithm, c) for c in getattr(module, "INVALID", [])]
    data["number_of_cases"] = sum(len(g["cases"]) for g in data["groups"]) + len(data["invalid"])
    ids = [c["id"] for g in data["groups"] for c in g["cases"]] + [c["id"] for c in data["invalid"]]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise GenerationError(f"{algorithm}: duplicate case ids {duplicates}")
    return data


def build_manifest(root: Path, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    from .verify import schema_entries

    return {
        "format_version": golden.FORMAT_VERSION,
        "spec_version": golden.SPEC_VERSION,
        "generator": "optimspec.conformance.generate",
        "schemas": schema_entries(root),
        "files": sorted(entries, key=lambda e: e["path"]),
    }


def render_all(
    algorithms: Sequence[str] | None = None, progress: Callable[[str], None] | None = None, root: Path | None = None
) -> dict[str, bytes]:
    """Every golden file and the manifest, as {relative path: canonical bytes}; nothing written.
    ``root`` supplies the schema files whose hashes the manifest records."""
    root = root or golden.default_root()
    out: dict[str, bytes] = {}
    entries = []
    for algorithm in algorithms or registry.names():
        data = build_file(algorithm)
        payload = golden.canonical_bytes(data)
        path = golden.relative_path(data["kind"], algorithm)
        out[path] = payload
        entries.append(
            {"path": path, "algorithm": algorithm, "kind": data["kind"], "schema": data["schema"], "number_of_cases": data["number_of_cases"], "sha256": golden.sha256(payload)}
        )
        if progress:
            progress(algorithm)
    out[golden.MANIFEST_NAME] = golden.canonical_bytes(build_manifest(root, entries))
    return out


def write_all(root: Path, rendered: Mapping[str, bytes]) -> None:
    """Write each file atomically; the manifest last, so a crash never leaves it pointing at new
    hashes of files that were not written."""
    for path, payload in rendered.items():
        if path != golden.MANIFEST_NAME:
            golden.write_atomic(root / path, payload)
    golden.write_atomic(root / golden.MANIFEST_NAME, rendered[golden.MANIFEST_NAME])
