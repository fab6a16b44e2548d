"""AdamW: the legacy transformers math against a float64 NumPy oracle, the three paths, half dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optimspec.torch import AdamW

PROPERTY = settings.get_profile("optimspec-torch")
EPS64 = np.finfo(np.float64).eps


def numpy_adamw(param, grads, lr, betas, eps, weight_decay, correct_bias):
    """The AdamW formula (docs/spec/adamw.md), written independently in NumPy float64 (one op at a time, no fusion)."""
    beta1, beta2 = betas
    p, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
    for t, g in enumerate(grads, start=1):
        m = m * beta1 + (1.0 - beta1) * g
        v = v * beta2 + (1.0 - beta2) * (g * g)
        denom = np.sqrt(v) + eps
        step_size = (lr * math.sqrt(1.0 - beta2**t)) / (1.0 - beta1**t) if correct_bias else lr
        p = p + (-step_size) * (m / denom)
        if weight_decay > 0.0:
            p = p + (-lr * weight_decay) * p
    return p


def run_adamw(param, grads, dtype=torch.float64, **hparams):
    w = torch.nn.Parameter(torch.tensor(param, dtype=dtype))
    opt = AdamW([w], **hparams)
    for g in grads:
        w.grad = torch.tensor(g, dtype=dtype)
        opt.step()
    return w, opt


@pytest.mark.parametrize(
    "hparams",
    [
        {},
        {"lr": 1e-2, "weight_decay": 0.1},
        {"lr": 0.3, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.5},
        {"lr": 1e-3, "correct_bias": False, "weight_decay": 0.01},
        {"lr": 1e-2, "betas": (0.0, 0.0), "eps": 0.0},
    ],
)
@pytest.mark.parametrize("impl", AdamW.IMPLS)
def test_float64_matches_numpy_reference(hparams, impl):
    rng = np.random.default_rng(7)
    param = rng.normal(size=(6, 5))
    grads = [rng.normal(size=(6, 5)) * 10.0 ** rng.uniform(-4, 1) for _ in range(25)]
    w, _ = run_adamw(param, grads, impl=impl, **hparams)
    full = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0, "correct_bias": True, **hparams}
    expected = numpy_adamw(param, grads, **full)
    # Budget in units of float64 eps times the scale of the terms combined (docs/design.md, "Tolerance").
    scale = np.abs(expected) + np.abs(param) + full["lr"] * len(grads)
    assert np.all(np.abs(w.detach().numpy() - expected) <= 8 * EPS64 * scale)
    if impl == "fused":  # one IEEE rounding per operation, in the formula's order: the oracle's bits
        assert np.array_equal(w.detach().numpy().view(np.uint64), expected.view(np.uint64))


def test_first_step_is_lr_times_sign_of_grad_scaled_by_eps_hat():
    # t=1: m = 0.1 g, sqrt(v) = sqrt(0.001)|g|, s = lr·sqrt(0.001)/0.1 → update = lr·|g|/(|g| + eps/sqrt(0.001)).
    w, _ = run_adamw(np.zeros(2), [np.array([1e-5, 2.0])], lr=1.0)
    expected = -np.array([1e-5, 2.0]) / (np.array([1e-5, 2.0]) + 1e-6 / math.sqrt(0.001))
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-14)


def test_converges_on_the_transformers_anchor_problem():
    w = torch.nn.Parameter(torch.tensor([0.1, -0.2, -0.1]))
    target = torch.tensor([0.4, 0.2, -0.5])
    opt = AdamW([w], lr=0.2, weight_decay=0.0)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.mse_loss(w, target).backward()
        opt.step()
    torch.testing.assert_close(w.detach(), target, atol=1e-2, rtol=0)


def test_groups_keep_their_own_hyperparameters():
    rng = np.random.default_rng(3)
    a0, b0 = rng.normal(size=4), rng.normal(size=(2, 3))
    grads = [(rng.normal(size=4), rng.normal(size=(2, 3))) for _ in range(5)]
    a, b = torch.nn.Parameter(torch.tensor(a0)), torch.nn.Parameter(torch.tensor(b0))
    opt = AdamW([{"params": [a]}, {"params": [b], "lr": 0.1, "weight_decay": 0.2, "correct_bias": False}], lr=1e-2)
    for ga, gb in grads:
        a.grad, b.grad = torch.tensor(ga), torch.tensor(gb)
        opt.step()
    solo_a, _ = run_adamw(a0, [g for g, _ in grads], lr=1e-2)
    solo_b, _ = run_adamw(b0, [g for _, g in grads], lr=0.1, weight_decay=0.2, correct_bias=False)
    assert torch.equal(a, solo_a) and torch.equal(b, solo_b)


SHAPES = st.lists(st.sampled_from([(), (1,), (5,), (3, 4), (2, 3, 2)]), min_size=1, max_size=4)


@PROPERTY
@given(
    shapes=SHAPES,
    lr=st.floats(1e-4, 1.0),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.0, 0.9999),
    eps=st.sampled_from([0.0, 1e-8, 1e-6, 1e-2]),
    weight_decay=st.sampled_from([0.0, 1e-2, 0.3]),
    correct_bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_paths_agree(shapes, lr, beta1, beta2, eps, weight_decay, correct_bias, seed):
    """foreach and per_tensor run the same torch ops: bit-identical. fused rounds each operation
    once (torch fuses some multiply-adds): within a few float64 ulps of them."""
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    hparams = {
        "lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay, "correct_bias": correct_bias
    }
    runs = {}
    for impl in AdamW.IMPLS:
        params = [torch.nn.Parameter(x.clone()) for x in init]
        runs[impl] = (params, AdamW(params, impl=impl, **hparams))
    for step in range(4):
        grads = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
        for params, opt in runs.values():
            for i, (p, g) in enumerate(zip(params, grads)):
                # Param 0 skips step 1, so the per-param step counters (and step sizes) differ.
                p.grad = None if (i == 0 and step == 1) else g.clone()
            opt.step()
    (loop, loop_opt), (multi, multi_opt), (fused, fused_opt) = (runs[i] for i in ("per_tensor", "foreach", "fused"))
    for single, many, one_pass in zip(loop, multi, fused):
        assert torch.equal(single, many)
        torch.testing.assert_close(one_pass, single, rtol=64 * EPS64, atol=64 * EPS64)
    for states in zip(loop_opt.state.values(), multi_opt.state.values(), fused_opt.state.values()):
        assert states[0]["step"] == states[1]["step"] == states[2]["step"]
        assert torch.equal(states[0]["exp_avg_sq"], states[1]["exp_avg_sq"])
        torch.testing.assert_close(states[2]["exp_avg_sq"], states[0]["exp_avg_sq"], rtol=8 * EPS64, atol=0)


def test_impl_is_per_group_and_survives_a_transformers_state_dict():
    opt = AdamW([torch.nn.Parameter(torch.zeros(1))], impl="per_tensor")
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "impl": "foreach"})
    assert [g["impl"] for g in opt.param_groups] == ["per_tensor", "foreach"]
    state = opt.state_dict()
    for group in state["param_groups"]:
        del group["impl"]  # a transformers AdamW state has no such key
    opt.load_state_dict(state)
    assert [g["impl"] for g in opt.param_groups] == ["per_tensor", "foreach"]


def test_unknown_impl_is_rejected_at_construction():
    with pytest.raises(ValueError, match="`impl`='cuda' is out of range: must be one of 'fused', 'foreach', 'per_tensor'"):
        AdamW([torch.nn.Parameter(torch.zeros(1))], impl="cuda")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_params_use_fp32_state_and_round_once_per_step(dtype):
    torch.manual_seed(0)
    init = torch.randn(4, 3).to(dtype)
    grads = [torch.randn(4, 3).to(dtype) for _ in range(6)]
    w = torch.nn.Parameter(init.clone())
    opt = AdamW([w], lr=1e-2, weight_decay=0.1)
    # The documented semantics, spelled out: an fp32 copy of the param, fp32 moments, one rounding.
    shadow = torch.nn.Parameter(init.float())
    shadow_opt = AdamW([shadow], lr=1e-2, weight_decay=0.1)
    for g in grads:
        w.grad = g
        opt.step()
        shadow.grad = g.float()
        shadow_opt.step()
        expected = shadow.detach().to(dtype)
        assert torch.equal(w.detach(), expected)
        shadow.data.copy_(expected.float())  # the next step starts from the rounded param
    assert w.dtype == dtype
    assert opt.state[w]["exp_avg"].dtype == torch.float32
    assert opt.state[w]["exp_avg_sq"].dtype == torch.float32


def test_fp16_small_gradients_do_not_underflow():
    # g² = 1e-8 underflows to 0 in float16 (smallest subnormal ≈ 6e-8): upstream's in-dtype math
    # then divides by eps alone, a first step of lr·sqrt(1e-3)·(1e-5/1e-6) ≈ 0.032. In float32
    # it is lr·g/(g + eps/sqrt(1e-3)) ≈ 0.0076, then rounded to the float16 grid (2**-11 below 1).
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float16))
    opt = AdamW([w], lr=1e-2)
    w.grad = torch.full((3,), 1e-4, dtype=torch.float16)
    opt.step()
    step = 1.0 - w.detach().double()
    fp32_step = 1e-2 * 1e-4 / (1e-4 + 1e-6 / math.sqrt(1e-3))
    assert torch.all((step - fp32_step).abs() <= 2.0**-12)
