"""``master_weights=True`` in the reference (``optimspec.reference.run``): a float32 copy of each
half param in its state, stepped and rounded into the param; no copy for float32/float64 params;
and the golden cases built on it show the difference."""

from __future__ import annotations

import numpy as np
import pytest

from optimspec.conformance.cases import _build, adafactor, adamw
from optimspec.reference import run
from optimspec.reference._dtypes import round_to

RUNS = {
    "adamw": {"lr": 1e-3, "weight_decay": 0.1},
    "adafactor": {"beta1": 0.9, "weight_decay": 0.1},  # relative step: α scales with RMS(P)
}
PARAMS = {"m": np.linspace(-1.5, 2.0, 6).reshape(2, 3), "v": np.array([0.75, -1.25, 3.0])}


def _grads(steps: int, dtype: str) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    return [{n: round_to(dtype, rng.standard_normal(p.shape)) for n, p in PARAMS.items()} for _ in range(steps)]


def _trajectory(algorithm: str, dtype: str, grads, start_dtype: str | None = None, **hparams) -> list[run.Snapshot]:
    params = {n: round_to(start_dtype or dtype, p) for n, p in PARAMS.items()}
    return run.optimizer_trajectory(algorithm, params, grads, {**RUNS[algorithm], **hparams}, dtype=dtype)


@pytest.mark.parametrize("algorithm", RUNS)
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_half_param_follows_the_float32_trajectory_rounded(algorithm: str, dtype: str) -> None:
    # The copy starts at the half param's value and each step stores it in float32: the same
    # sequence of values as a float32 param starting from that value, given the same gradients.
    grads = _grads(6, dtype)
    half = _trajectory(algorithm, dtype, grads, master_weights=True)
    full = _trajectory(algorithm, "float32", grads, start_dtype=dtype)
    for h, f in zip(half, full):
        for name in PARAMS:
            master = h.state[name].master_param
            assert np.array_equal(master, f.params[name]), f"step {h.step}: {name}'s copy is not the float32 param"
            assert np.array_equal(h.params[name], round_to(dtype, master)), f"step {h.step}: {name} is not its copy rounded"


@pytest.mark.parametrize("algorithm", RUNS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float32_and_float64_params_keep_no_copy(algorithm: str, dtype: str) -> None:
    grads = _grads(4, dtype)
    flagged = _trajectory(algorithm, dtype, grads, master_weights=True)
    plain = _trajectory(algorithm, dtype, grads)
    for a, b in zip(flagged, plain):
        for name in PARAMS:
            assert a.state[name].master_param is None
            assert np.array_equal(a.params[name], b.params[name])


@pytest.mark.parametrize("algorithm", RUNS)
def test_without_the_flag_a_half_param_keeps_no_copy(algorithm: str) -> None:
    snapshots = _trajectory(algorithm, "bfloat16", _grads(2, "bfloat16"))
    assert all(s.state[name].master_param is None for s in snapshots for name in PARAMS)


@pytest.mark.parametrize("algorithm", RUNS)
def test_master_weights_must_be_a_bool(algorithm: str) -> None:
    with pytest.raises(ValueError, match="`master_weights`=1 is out of range: must be True or False"):
        run.init_state(algorithm, PARAMS, {"master_weights": 1})


def test_a_start_state_is_rounded_to_the_state_dtype() -> None:
    snapshots = run.optimizer_trajectory(
        "adamw", {"p": np.ones(2)}, [], {"master_weights": True}, dtype="bfloat16",
        start_state={"p": {"step": 9, "master_param": np.array([1.0 + 1e-9, 0.99])}},
    )
    state = snapshots[0].state["p"]
    assert state.step == 9
    assert np.array_equal(state.master_param, round_to("float32", np.array([1.0 + 1e-9, 0.99])))


# --------------------------------------------------------------------------------------------------
# the golden cases show the difference
# --------------------------------------------------------------------------------------------------


def _groups(module, name: str) -> list[_build.OptimizerGroup]:
    return [g for g in module.GROUPS if g.name == name]


def _final(algorithm: str, group: _build.OptimizerGroup, case: _build.OptimizerCase) -> tuple[dict, dict]:
    params = {n: round_to(group.dtype, np.asarray(p, dtype=np.float64)) for n, p in case.params.items()}
    grads = [{n: round_to(group.dtype, np.asarray(g, dtype=np.float64)) for n, g in step.items()} for step in case.grads]
    snapshots = run.optimizer_trajectory(algorithm, params, grads, case.hparams, dtype=group.dtype, start_state=case.start_state)
    return params, snapshots[-1].params


@pytest.mark.parametrize(("algorithm", "module"), [("adamw", adamw), ("adafactor", adafactor)])
def test_the_same_sub_ulp_updates_move_the_params_only_with_master_weights(algorithm: str, module) -> None:
    lost = {(g.dtype, c.name): c for g in _groups(module, "sub-ulp-updates") for c in g.cases}
    kept = {(g.dtype, c.name): (g, c) for g in _groups(module, "master-weights") if g.dtype in ("float16", "bfloat16") for c in g.cases}
    shared = sorted(set(lost) & set(kept))
    assert {dtype for dtype, _ in shared} == {"float16", "bfloat16"}, "each half dtype needs a case with and without"
    for key in shared:
        group, with_master = kept[key]
        assert {**lost[key].hparams, "master_weights": True} == dict(with_master.hparams)
        start, end = _final(algorithm, group, lost[key])
        assert all(np.array_equal(start[n], end[n]) for n in start), f"{key}: moved without master weights"
        start, end = _final(algorithm, group, with_master)
        assert any(not np.array_equal(start[n], end[n]) for n in start), f"{key}: no param moved with master weights"


@pytest.mark.parametrize(("algorithm", "module"), [("adamw", adamw), ("adafactor", adafactor)])
def test_a_resumed_master_copy_ahead_of_its_param_moves_it_at_once(algorithm: str, module) -> None:
    for group in _groups(module, "master-weights"):
        for case in group.cases:
            if not case.start_state:
                continue
            params = {n: round_to(group.dtype, np.asarray(p, dtype=np.float64)) for n, p in case.params.items()}
            grads = [{n: round_to(group.dtype, np.asarray(g, dtype=np.float64)) for n, g in step.items()} for step in case.grads]
            resumed = run.optimizer_trajectory(algorithm, params, grads[:1], case.hparams, dtype=group.dtype, start_state=case.start_state)
            rebuilt = run.optimizer_trajectory(algorithm, params, grads[:1], case.hparams, dtype=group.dtype, start_state={"p": {"step": 100}})
            assert np.all(resumed[1].params["p"] < params["p"]), f"{group.dtype} {case.name}: every param moves at the first step"
            assert np.array_equal(rebuilt[1].params["p"], params["p"]), f"{group.dtype} {case.name}: a copy rebuilt from the param moves none"
