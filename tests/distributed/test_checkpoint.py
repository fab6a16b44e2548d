"""``torch.distributed.checkpoint`` with optimspec.torch's optimizers and schedules: a run saved
before its first step and mid-run, then loaded into a fresh two-process job (DDP and FSDP2),
continues exactly as the uninterrupted run; and DCP's own zero-gradient state-initialization step
changes nothing."""

from __future__ import annotations

import copy
import datetime
import doctest
from pathlib import Path

import dist_training as training
import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from optimspec.torch import _distributed, checkpoint
from optimspec.torch.checkpoint import WeightsOnlyLoadPlanner

@pytest.fixture(scope="module")
def results(train_results, run_worker_job, tmp_path_factory: pytest.TempPathFactory):
    """The ``train`` job's runs (it saved the checkpoints) and a fresh ``resume`` job's."""
    return train_results, run_worker_job("resume", tmp_path_factory.mktemp("resume"))


def assert_same_run(actual: dict, expected: dict, steps: slice, what: str) -> None:
    for name, e in expected["params"].items():
        assert torch.equal(actual["params"][name], e), f"{what}: {name} differs"
    assert actual["lrs"] == expected["lrs"][steps], f"{what}: learning rates differ"


@pytest.mark.parametrize("run_id", training.run_ids())
@pytest.mark.parametrize("mode", training.DISTRIBUTED_MODES)
def test_saving_checkpoints_does_not_change_the_run(results, mode: str, run_id: str) -> None:
    saved, _ = results
    untouched = saved.get(f"{mode}/{run_id}")
    assert_same_run(saved.get(f"{mode}/uninterrupted/{run_id}"), untouched, slice(None), "saving")


@pytest.mark.parametrize("start", training.CHECKPOINT_STEPS)
@pytest.mark.parametrize("run_id", training.run_ids())
@pytest.mark.parametrize("mode", training.DISTRIBUTED_MODES)
def test_a_fresh_job_resumes_exactly(results, mode: str, run_id: str, start: int) -> None:
    saved, resumed = results
    untouched = saved.get(f"{mode}/{run_id}")
    for rank in range(training.WORLD_SIZE):
        what = f"resumed from step {start} on rank {rank}"
        assert_same_run(resumed.get(f"{mode}/resumed-from-{start}/{run_id}", rank), untouched, slice(start, None), what)


# --------------------------------------------------------------------------------------------------
# DCP's state-initialization step, in one process (get_state_dict needs no process group)
# --------------------------------------------------------------------------------------------------


def _state_dict_then_train(optimizer_factory, touch: bool, dtype: torch.dtype = torch.float32) -> tuple[dict, torch.optim.Optimizer]:
    model = training.make_model().to(dtype)
    optimizer = optimizer_factory(model.parameters())
    if touch:
        before = training.full_params(model)
        get_state_dict(model, optimizer)  # an optimizer without state: DCP steps it with zero grads
        after = training.full_params(model)
        assert all(torch.equal(before[n], after[n]) for n in before), "DCP's state-init step moved the params"
    _train(model, optimizer, range(3))
    return training.full_params(model), optimizer


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: range) -> None:
    dtype = next(model.parameters()).dtype
    for step in steps:
        x, y = (t.to(dtype) for t in training.batch(step))
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()


@pytest.mark.parametrize("run_id", training.run_ids())
def test_state_init_step_leaves_params_and_fresh_state(run_id: str) -> None:
    case, path = training.parse_run_id(run_id)
    model = training.make_model()
    optimizer = case.optimizer(model.parameters(), **case.hyperparameters, **path)
    before = training.full_params(model)
    get_state_dict(model, optimizer)
    after = training.full_params(model)
    assert all(torch.equal(before[n], after[n]) for n in before), "params moved"
    assert len(optimizer.state) == len(before), "DCP needs the state to exist"
    for state in optimizer.state.values():
        for key, value in state.items():
            assert (not value.any()) if torch.is_tensor(value) else value == 0, f"{key} is not fresh: {value}"


@pytest.mark.parametrize("run_id", training.run_ids())
def test_state_init_step_does_not_change_the_run(run_id: str) -> None:
    case, path = training.parse_run_id(run_id)

    def factory(params):
        return case.optimizer(params, **case.hyperparameters, **path)

    touched, _ = _state_dict_then_train(factory, touch=True)
    untouched, _ = _state_dict_then_train(factory, touch=False)
    assert training.error_in_eps(touched, untouched) == 0.0


# master_weights=True on bfloat16 params: a fresh master copy is the param's value, not zeros.


def _master_weights_factory(run_id: str):
    case, path = training.parse_run_id(run_id)
    return lambda params: case.optimizer(params, **case.hyperparameters, **path, master_weights=True)


@pytest.mark.parametrize("run_id", training.run_ids())
def test_state_init_step_leaves_a_fresh_master_copy_at_the_param(run_id: str) -> None:
    model = training.make_model().to(torch.bfloat16)
    optimizer = _master_weights_factory(run_id)(model.parameters())
    before = training.full_params(model)
    get_state_dict(model, optimizer)
    assert all(torch.equal(before[n], p) for n, p in training.full_params(model).items()), "params moved"
    for p, state in optimizer.state.items():
        assert torch.equal(state["master_param"], p.detach().float()), "the fresh master copy is not the param"
        others = {key: value for key, value in state.items() if key != "master_param"}
        assert all((not v.any()) if torch.is_tensor(v) else v == 0 for v in others.values()), f"not fresh: {others}"


@pytest.mark.parametrize("run_id", training.run_ids())
def test_state_init_step_does_not_change_a_master_weights_run(run_id: str) -> None:
    touched, optimizer = _state_dict_then_train(_master_weights_factory(run_id), touch=True, dtype=torch.bfloat16)
    untouched, _ = _state_dict_then_train(_master_weights_factory(run_id), touch=False, dtype=torch.bfloat16)
    assert all(torch.equal(touched[n], untouched[n]) for n in untouched)
    assert all(state["step"] == 3 for state in optimizer.state.values())


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")
@pytest.mark.parametrize("run_id", ["adamw[impl=fused]", "adafactor[impl=fused]"])
def test_a_master_weights_run_resumes_exactly_through_dcp(run_id: str, tmp_path: Path) -> None:
    def fresh():
        model = training.make_model().to(torch.bfloat16)
        return model, _master_weights_factory(run_id)(model.parameters())

    model, optimizer = fresh()
    _train(model, optimizer, range(3))
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": optimizer_state}, checkpoint_id=tmp_path, no_dist=True)
    _train(model, optimizer, range(3, 6))

    resumed_model, resumed = fresh()
    model_state, optimizer_state = get_state_dict(resumed_model, resumed)  # targets, master copies included
    target = {"model": model_state, "optim": optimizer_state}
    dcp.load(target, checkpoint_id=tmp_path, planner=WeightsOnlyLoadPlanner(), no_dist=True)
    set_state_dict(resumed_model, resumed, model_state_dict=target["model"], optim_state_dict=target["optim"])
    _train(resumed_model, resumed, range(3, 6))
    expected, actual = training.full_params(model), training.full_params(resumed_model)
    assert all(torch.equal(actual[n], expected[n]) for n in expected)
    for p, q in zip(model.parameters(), resumed_model.parameters()):
        assert torch.equal(resumed.state[q]["master_param"], optimizer.state[p]["master_param"])


def test_a_zero_gradient_step_is_a_real_step() -> None:
    """What the guard undoes: called directly (not by DCP), a step with zero gradients and lr = 0
    advances the step counter and, for Adafactor with relative_step and weight decay, moves the params."""
    model = training.make_model()
    optimizer = training.CASES["adafactor"].optimizer(model.parameters(), **training.CASES["adafactor"].hyperparameters)
    before = training.full_params(model)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.param_groups[0]["lr"] = 0.0
    optimizer.step()
    after = training.full_params(model)
    assert all(not torch.equal(before[n], after[n]) for n in before)
    assert all(state["step"] == 1 for state in optimizer.state.values())


def test_state_init_step_corrupts_torch_adamw() -> None:
    """The control: torch's AdamW counts DCP's step as its first, so the same check fails."""

    def factory(params):
        return torch.optim.AdamW(params, lr=1e-2)

    touched, optimizer = _state_dict_then_train(factory, touch=True)
    untouched, _ = _state_dict_then_train(factory, touch=False)
    assert training.error_in_eps(touched, untouched) > 1000
    assert int(next(iter(optimizer.state.values()))["step"]) == 4  # 3 steps + DCP's


def test_the_guard_survives_a_copy_and_a_state_dict_load() -> None:
    case, path = training.parse_run_id("adafactor[impl=fused]")
    model = training.make_model()
    original = case.optimizer(model.parameters(), **case.hyperparameters, **path)
    copied = copy.deepcopy(original)  # hooks are not copied; __setstate__ registers them again
    copied.param_groups[0]["params"] = list(model.parameters())
    copied.load_state_dict(original.state_dict())
    before = training.full_params(model)
    get_state_dict(model, copied)
    assert all(torch.equal(before[n], p) for n, p in training.full_params(model).items())


# --------------------------------------------------------------------------------------------------
# WeightsOnlyLoadPlanner
# --------------------------------------------------------------------------------------------------

single_process_dcp = pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")


@single_process_dcp
def test_weights_only_planner_loads_plain_values(tmp_path: Path) -> None:
    config = {"lr": 1e-3, "betas": (0.9, 0.999), "beta1": None, "name": "x", "step": 7, "flag": True, "lrs": [0.5]}
    saved = {"tensor": torch.arange(3.0), "config": config}
    dcp.save(saved, checkpoint_id=tmp_path, no_dist=True)
    target = {"tensor": torch.zeros(3), "config": {key: None for key in config}}
    dcp.load(target, checkpoint_id=tmp_path, planner=WeightsOnlyLoadPlanner(), no_dist=True)
    assert torch.equal(target["tensor"], saved["tensor"]) and target["config"] == saved["config"]


@single_process_dcp
def test_weights_only_planner_refuses_other_objects(tmp_path: Path) -> None:
    dcp.save({"when": datetime.date(2024, 1, 1)}, checkpoint_id=tmp_path, no_dist=True)
    # DCP wraps each rank's error in a CheckpointException (a BaseException) with its traceback.
    with pytest.raises(dcp.CheckpointException, match="GLOBAL datetime.date was not an allowed global"):
        dcp.load({"when": None}, checkpoint_id=tmp_path, planner=WeightsOnlyLoadPlanner(), no_dist=True)
    target = {"when": None}
    dcp.load(target, checkpoint_id=tmp_path, no_dist=True)  # DCP's default planner unpickles anything
    assert target["when"] == datetime.date(2024, 1, 1)


@single_process_dcp
@pytest.mark.parametrize("module", [checkpoint, _distributed], ids=lambda m: m.__name__)
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
