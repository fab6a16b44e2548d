"""What the README says about half-precision params: float32 state, one rounding per step, and no
persistent float32 copy of the weights, so an update below half an ulp of the param is lost."""

from __future__ import annotations

import pytest
import torch

from optimspec.torch import Adafactor, AdamW

OPTIMIZERS = {
    "AdamW": lambda params: AdamW(params, lr=1e-4),
    "Adafactor": lambda params: Adafactor(params, lr=1e-4, relative_step=False, scale_parameter=False),
}


def _fifty_steps(dtype: torch.dtype, make) -> tuple[torch.Tensor, dict]:
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=dtype))
    opt = make([w])
    for _ in range(50):
        w.grad = torch.ones(2, 3, dtype=dtype)
        opt.step()
    return w.detach(), opt.state[w]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_updates_below_half_an_ulp_are_lost(name, dtype):
    # Each step moves the weight by about lr = 1e-4, below half the spacing of the grid at 1.0
    # (bfloat16 2**-8, float16 2**-11): rounded once per step, the weight never moves.
    weight, state = _fifty_steps(dtype, OPTIMIZERS[name])
    assert torch.equal(weight, torch.ones(2, 3, dtype=dtype)), f"{name} {dtype}: {weight.flatten().tolist()}"
    float_state = {key: value.dtype for key, value in state.items() if torch.is_tensor(value) and value.is_floating_point()}
    assert float_state and set(float_state.values()) == {torch.float32}, f"{name} state dtypes: {float_state}"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_same_steps_move_a_float32_weight(name):
    weight, _ = _fifty_steps(torch.float32, OPTIMIZERS[name])
    assert torch.all(weight < 0.996), f"{name}: {weight.flatten().tolist()}"
