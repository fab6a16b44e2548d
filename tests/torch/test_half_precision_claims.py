"""What the README says about half-precision params: float32 state and one rounding per step; no
persistent float32 copy of the weights by default, so an update below half an ulp of the param is
lost; with ``master_weights=True`` a float32 copy in the state (4 bytes per element, saved by
``state_dict``) accumulates those updates and the param is rounded from it, on every path."""

from __future__ import annotations

import io

import pytest
import torch

from optimspec.torch import Adafactor, AdamW

LR = 1e-4
OPTIMIZERS = {
    "AdamW": lambda params, **kw: AdamW(params, lr=LR, **kw),
    "Adafactor": lambda params, **kw: Adafactor(params, lr=LR, relative_step=False, scale_parameter=False, **kw),
}
PATHS = [(name, impl) for name, cls in (("AdamW", AdamW), ("Adafactor", Adafactor)) for impl in cls.IMPLS]
HALF = [torch.bfloat16, torch.float16]


def _steps(weight: torch.nn.Parameter, opt: torch.optim.Optimizer, count: int) -> None:
    for _ in range(count):
        weight.grad = torch.ones_like(weight)
        opt.step()


def _fifty_steps(dtype: torch.dtype, make, **kwargs) -> tuple[torch.Tensor, dict]:
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=dtype))
    opt = make([w], **kwargs)
    _steps(w, opt, 50)
    return w.detach(), opt.state[w]


def _through_a_file(state_dict: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize(("name", "impl"), PATHS)
@pytest.mark.parametrize("dtype", HALF)
def test_updates_below_half_an_ulp_are_lost(name, impl, dtype):
    # Each step moves the weight by about lr = 1e-4, below half the spacing of the grid at 1.0
    # (bfloat16 2**-8, float16 2**-11): rounded once per step, the weight never moves.
    weight, state = _fifty_steps(dtype, OPTIMIZERS[name], impl=impl)
    assert torch.equal(weight, torch.ones(2, 3, dtype=dtype)), f"{name} {impl} {dtype}: {weight.flatten().tolist()}"
    float_state = {key: value.dtype for key, value in state.items() if torch.is_tensor(value) and value.is_floating_point()}
    assert float_state and set(float_state.values()) == {torch.float32}, f"{name} state dtypes: {float_state}"
    assert "master_param" not in state, f"{name}: a master copy without master_weights=True"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_same_steps_move_a_float32_weight(name):
    weight, _ = _fifty_steps(torch.float32, OPTIMIZERS[name])
    assert torch.all(weight < 0.996), f"{name}: {weight.flatten().tolist()}"


@pytest.mark.parametrize(("name", "impl"), PATHS)
@pytest.mark.parametrize("dtype", HALF)
def test_master_weights_accumulate_updates_below_half_an_ulp(name, impl, dtype):
    # 50 updates of lr (a unit gradient: AdamW's m̂/√v̂ and Adafactor's clipped update are 1) bring
    # the float32 copy to 1 − 50·lr = 0.995, and the weight is that copy rounded to its dtype.
    weight, state = _fifty_steps(dtype, OPTIMIZERS[name], impl=impl, master_weights=True)
    master = state["master_param"]
    assert master.dtype == torch.float32 and master.shape == weight.shape
    assert torch.allclose(master, torch.full((2, 3), 1.0 - 50 * LR), rtol=0, atol=1e-6), f"{name} {impl}: {master.flatten().tolist()}"
    assert torch.equal(weight, master.to(dtype)), f"{name} {impl}: the weight is not its master copy rounded"
    assert torch.all(weight < 1.0), f"{name} {impl} {dtype}: the weight did not move"


@pytest.mark.parametrize(("name", "impl"), PATHS)
def test_the_master_copy_resumes_bit_identically_through_torch_load_weights_only(name, impl):
    make = OPTIMIZERS[name]
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.bfloat16))
    opt = make([w], impl=impl, master_weights=True)
    _steps(w, opt, 30)
    saved = _through_a_file(opt.state_dict())
    assert saved["param_groups"][0]["master_weights"] is True
    assert saved["state"][0]["master_param"].dtype == torch.float32
    assert not torch.equal(saved["state"][0]["master_param"], w.detach().float()), "the copy holds sub-ulp progress"

    resumed_w = torch.nn.Parameter(w.detach().clone())
    resumed = make([resumed_w], impl=impl)  # master_weights comes from the checkpoint
    resumed.load_state_dict(saved)
    _steps(w, opt, 20)
    _steps(resumed_w, resumed, 20)
    assert torch.equal(resumed_w, w), f"{name} {impl}: the resumed weight differs"
    assert torch.equal(resumed.state[resumed_w]["master_param"], opt.state[w]["master_param"])


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float32_and_float64_params_keep_no_copy_and_step_the_same(name, dtype):
    plain, plain_state = _fifty_steps(dtype, OPTIMIZERS[name])
    flagged, flagged_state = _fifty_steps(dtype, OPTIMIZERS[name], master_weights=True)
    assert "master_param" not in flagged_state
    assert torch.equal(plain, flagged)
    assert plain_state.keys() == flagged_state.keys()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_master_copy_costs_four_bytes_per_half_param_element(name):
    def state_bytes(master_weights: bool) -> int:
        w = torch.nn.Parameter(torch.ones(64, 32, dtype=torch.bfloat16))
        opt = OPTIMIZERS[name]([w], master_weights=master_weights)
        _steps(w, opt, 1)
        return sum(v.numel() * v.element_size() for v in opt.state[w].values() if torch.is_tensor(v))

    assert state_bytes(True) - state_bytes(False) == 4 * 64 * 32  # 2 bytes of bf16 weight: +200 %


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_checkpoint_without_copies_resumes_with_them_from_the_params(name):
    # transformers' checkpoints hold no master_weights key: the loading optimizer's True is kept,
    # and each copy starts from its param at the next step.
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.bfloat16))
    opt = OPTIMIZERS[name]([w])
    _steps(w, opt, 3)
    saved = _through_a_file(opt.state_dict())
    del saved["param_groups"][0]["master_weights"]
    resumed = OPTIMIZERS[name]([w], master_weights=True)
    resumed.load_state_dict(saved)
    assert "master_param" not in resumed.state[w]
    _steps(w, resumed, 50)
    assert torch.allclose(resumed.state[w]["master_param"], torch.full((2, 3), 1.0 - 50 * LR), rtol=0, atol=1e-6)
    assert torch.all(w < 1.0)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_turning_master_weights_off_between_steps_drops_the_copy(name):
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.bfloat16))
    opt = OPTIMIZERS[name]([w], master_weights=True)
    _steps(w, opt, 2)
    opt.param_groups[0]["master_weights"] = False
    _steps(w, opt, 1)
    assert "master_param" not in opt.state[w]
    OPTIMIZERS[name]([w]).load_state_dict(opt.state_dict())  # what it saves loads again
