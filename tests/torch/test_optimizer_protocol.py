"""Both optimizers behave as torch.optim citizens: closures, zero_grad, hooks, groups, state dicts, errors."""

from __future__ import annotations

import io
import math

import pytest
import torch

from optimspec.torch import Adafactor, AdamW

OPTIMIZERS = {
    "adamw": lambda params: AdamW(params, lr=1e-2, weight_decay=0.1),
    "adafactor": lambda params: Adafactor(params, beta1=0.9, weight_decay=0.01),
    "adafactor-manual": lambda params: Adafactor(params, lr=1e-2, relative_step=False, scale_parameter=False),
}


@pytest.fixture(params=sorted(OPTIMIZERS))
def make(request):
    return OPTIMIZERS[request.param]


def _model(dtype=torch.float32):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).to(dtype)


def _train(model, opt, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    for _ in range(steps):
        x = torch.randn(8, 3, generator=gen).to(dtype)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()


def test_step_with_closure_returns_the_loss_and_updates(make):
    model = _model()
    opt = make(model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(5, 3)

    def closure():
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()  # needs grad mode, although step() runs under no_grad
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor) and loss.requires_grad
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_params_without_grad_are_skipped(make):
    model = _model()
    opt = make(model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    opt.zero_grad()
    opt.step()
    assert not opt.state
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_step_hooks_are_called(make):
    opt = make(_model().parameters())
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o)))
    opt.step()
    assert calls == [("pre", opt), ("post", opt)]


def test_state_dict_round_trip_through_weights_only_load_continues_bit_identically(make):
    model, twin = _model(), _model()
    opt, twin_opt = make(model.parameters()), make(twin.parameters())
    _train(model, opt, 3)
    _train(twin, twin_opt, 3)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    resumed_model = _model()
    resumed_model.load_state_dict(model.state_dict())
    resumed = make(resumed_model.parameters())
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    _train(resumed_model, resumed, 4, seed=2)
    _train(twin, twin_opt, 4, seed=2)
    for a, b in zip(resumed_model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_state_stays_float32_through_load_state_dict(make, dtype):
    model, twin = _model(dtype), _model(dtype)
    opt, twin_opt = make(model.parameters()), make(twin.parameters())
    _train(model, opt, 3)
    _train(twin, twin_opt, 3)
    resumed = make(model.parameters())
    resumed.load_state_dict(opt.state_dict())
    for state in resumed.state.values():
        for key, value in state.items():
            if torch.is_tensor(value) and value.dim() > 0:
                assert value.dtype == torch.float32, key
    _train(model, resumed, 3, seed=2)
    _train(twin, twin_opt, 3, seed=2)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert a.dtype == dtype and torch.equal(a, b)


def test_sparse_gradients_raise(make):
    embedding = torch.nn.Embedding(5, 3, sparse=True)
    opt = make(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        opt.step()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_gradients_propagate(make, bad):
    w = torch.nn.Parameter(torch.ones(4))
    opt = make([w])
    w.grad = torch.tensor([0.5, bad, -0.5, 0.25])
    opt.step()
    # Nothing is skipped: the non-finite value reaches the parameters (the RMS terms spread it).
    assert not torch.isfinite(w).all()


def test_added_param_groups_are_validated(make):
    opt = make([torch.nn.Parameter(torch.ones(1))])
    with pytest.raises(ValueError, match="weight_decay"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], "weight_decay": -1.0})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], "weight_decay": 0.5})
    assert opt.param_groups[1]["weight_decay"] == 0.5


def test_group_defaults_have_the_transformers_keys_and_optimspecs_own():
    assert set(AdamW([torch.nn.Parameter(torch.ones(1))]).defaults) == {
        "lr", "betas", "eps", "weight_decay", "correct_bias", "impl", "master_weights",
    }
    assert set(Adafactor([torch.nn.Parameter(torch.ones(1))]).defaults) == {
        "lr", "eps", "clip_threshold", "decay_rate", "beta1", "weight_decay", "scale_parameter", "relative_step",
        "warmup_init", "impl", "master_weights",
    }
