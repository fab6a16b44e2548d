"""Adafactor and AdafactorSchedule against transformers 5.24 (bit for bit) and a float64 NumPy oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import transformers.optimization as hf
from hypothesis import given, settings
from hypothesis import strategies as st

from optimspec.torch import Adafactor, AdafactorSchedule, get_adafactor_schedule

PROPERTY = settings.get_profile("optimspec-torch")
EPS64 = np.finfo(np.float64).eps

SHAPES = [(), (5,), (3, 4), (2, 3, 4), (2, 1, 3, 5)]
OPTIONS = [
    {},
    {"warmup_init": True},
    {"beta1": 0.9, "weight_decay": 0.1},
    {"scale_parameter": False},
    {"lr": 1e-2, "relative_step": False, "scale_parameter": False},
    {"lr": 3e-2, "relative_step": False, "clip_threshold": 0.05, "decay_rate": -0.5, "eps": (1e-20, 1e-2)},
]


def _run(cls, init, grads, **options):
    """``options`` may hold ``impl`` (optimspec only)."""
    params = [torch.nn.Parameter(x.clone()) for x in init]
    opt = cls(params, **options)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()
    return params, opt


def _data(dtype, steps=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen).to(dtype) for s in SHAPES]
    grads = [[torch.randn(s, generator=gen).to(dtype) for s in SHAPES] for _ in range(steps)]
    return init, grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_per_tensor_path_is_bit_identical_to_transformers(dtype, options):
    init, grads = _data(dtype)
    ours, ours_opt = _run(Adafactor, init, grads, impl="per_tensor", **options)
    theirs, theirs_opt = _run(hf.Adafactor, init, grads, **options)
    for a, b in zip(ours, theirs):
        assert a.dtype == dtype and torch.equal(a, b)
    for a, b in zip(ours, theirs):
        sa, sb = ours_opt.state[a], theirs_opt.state[b]
        assert sa.keys() == sb.keys() and sa["step"] == sb["step"]
        for key in sa.keys() - {"step", "RMS"}:
            assert sa[key].dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
            assert torch.equal(sa[key], sb[key])


def numpy_adafactor(param, grads, *, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8, beta1=None,
                    weight_decay=0.0, scale_parameter=True, relative_step=True, warmup_init=False):
    """The Adafactor formula (docs/spec/adafactor.md), written independently in NumPy float64."""

    def rms(x):
        return math.sqrt(math.fsum((x * x).ravel())) / math.sqrt(x.size)

    p = param.copy()
    factored = p.ndim >= 2
    row = np.zeros(p.shape[:-1]) if factored else None
    col = np.zeros(p.shape[:-2] + p.shape[-1:]) if factored else None
    v = None if factored else np.zeros_like(p)
    m = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        rho = min(1e-6 * t if warmup_init else 1e-2, 1.0 / math.sqrt(t)) if relative_step else lr
        alpha = max(eps[1], rms(p)) * rho if scale_parameter else rho
        beta2t = 1.0 - t**decay_rate
        u = g * g + eps[0]
        if factored:
            row = row * beta2t + (1.0 - beta2t) * u.mean(axis=-1)
            col = col * beta2t + (1.0 - beta2t) * u.mean(axis=-2)
            r_factor = 1.0 / np.sqrt(row / row.mean(axis=-1, keepdims=True))
            update = r_factor[..., None] * (1.0 / np.sqrt(col))[..., None, :] * g
        else:
            v = v * beta2t + (1.0 - beta2t) * u
            update = (1.0 / np.sqrt(v)) * g
        update = update / max(1.0, rms(update) / clip_threshold)
        update = update * alpha
        if beta1 is not None:
            m = m * beta1 + (1.0 - beta1) * update
            update = m
        if weight_decay != 0:
            p = p + (-weight_decay * alpha) * p
        p = p - update
    return p


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_fused_path_agrees_with_transformers_and_keeps_its_state_layout(dtype, options):
    """The fused kernel rounds each elementwise operation once and sums in float64 (transformers:
    float32 sums): a few float32 ulps of the step apart, the same state fields and dtypes."""
    init, grads = _data(dtype)
    ours, ours_opt = _run(Adafactor, init, grads, **options)
    theirs, theirs_opt = _run(Adafactor, init, grads, impl="per_tensor", **options)
    ulp = torch.finfo(dtype).eps
    for a, b, start in zip(ours, theirs, init):
        assert a.dtype == dtype
        moved = (b.detach().float() - start.float()).abs().max().item()
        assert (a.detach().float() - b.detach().float()).abs().max().item() <= 16 * ulp * (moved + b.detach().float().abs().max().item())
        sa, sb = ours_opt.state[a], theirs_opt.state[b]
        assert sa.keys() == sb.keys() and sa["step"] == sb["step"]
        assert math.isclose(float(sa["RMS"]), float(sb["RMS"]), rel_tol=1e-5)
        for key in sa.keys() - {"step", "RMS"}:
            assert sa[key].dtype == sb[key].dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
            torch.testing.assert_close(sa[key], sb[key], rtol=1e-5, atol=0)


@pytest.mark.parametrize("impl", Adafactor.IMPLS)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_float64_matches_numpy_reference(options, impl):
    init, grads = _data(torch.float64, steps=12, seed=1)
    ours, _ = _run(Adafactor, init, grads, impl=impl, **options)
    for i, p in enumerate(ours):
        expected = numpy_adafactor(init[i].numpy(), [g[i].numpy() for g in grads], **options)
        # Means and norms are summed in another order than NumPy's; the budget is a few eps of the
        # parameter scale.
        scale = np.abs(expected) + np.abs(init[i].numpy()) + 0.1
        assert np.all(np.abs(p.detach().numpy() - expected) <= 16 * EPS64 * scale)


def test_first_default_step_is_relative_step_times_param_rms_times_sign():
    w = torch.nn.Parameter(torch.tensor([3.0, -4.0], dtype=torch.float64))
    opt = Adafactor([w])
    w.grad = torch.tensor([0.5, -1e-3], dtype=torch.float64)
    opt.step()
    rms = math.sqrt(12.5)
    torch.testing.assert_close(w.detach(), torch.tensor([3.0 - 0.01 * rms, -4.0 + 0.01 * rms], dtype=torch.float64))


def test_factoring_uses_the_last_two_dims():
    w = torch.nn.Parameter(torch.ones(2, 3, 4, 5))
    opt = Adafactor([w])
    w.grad = torch.ones_like(w)
    opt.step()
    state = opt.state[w]
    assert state["exp_avg_sq_row"].shape == (2, 3, 4) and state["exp_avg_sq_col"].shape == (2, 3, 5)
    assert "exp_avg_sq" not in state


def test_converges_on_the_transformers_anchor_problem():
    w = torch.nn.Parameter(torch.tensor([0.1, -0.2, -0.1]))
    target = torch.tensor([0.4, 0.2, -0.5])
    opt = Adafactor([w], lr=1e-2, relative_step=False, scale_parameter=False, warmup_init=False, beta1=None)
    for _ in range(1000):
        opt.zero_grad()
        torch.nn.functional.mse_loss(w, target).backward()
        opt.step()
    torch.testing.assert_close(w.detach(), target, atol=1e-2, rtol=0)


@PROPERTY
@given(
    shape=st.sampled_from([(7,), (3, 5), (2, 3, 4)]),
    exponent=st.integers(-16, 30),  # below 2**-22, eps[0] = 1e-30 is no longer negligible next to c²g²
    beta1=st.sampled_from([None, 0.9]),
    options=st.sampled_from(OPTIONS[:4]),
    seed=st.integers(0, 2**16),
)
def test_update_is_invariant_to_gradient_scale(shape, exponent, beta1, options, seed):
    """u = g/sqrt(EMA(g²)) (and its RMS clipping) ignores a scale c on g while c²g² ≫ eps[0].

    With c a power of two every product is exact in float64, so the runs agree bit for bit.
    """
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(shape, generator=gen, dtype=torch.float64)]
    # Bounded away from zero so eps[0] = 1e-30 never matters, whatever the scale.
    grads = [[torch.empty(shape, dtype=torch.float64).uniform_(0.5, 2.0, generator=gen)
              * torch.randint(0, 2, shape, generator=gen).mul(2).sub(1)] for _ in range(4)]
    scaled = [[g * 2.0**exponent for g in step] for step in grads]
    options = {**options, "beta1": beta1}
    plain, _ = _run(Adafactor, init, grads, **options)
    rescaled, _ = _run(Adafactor, init, scaled, **options)
    assert torch.equal(plain[0], rescaled[0])


# --------------------------------------------------------------------------------------------------
# AdafactorSchedule
# --------------------------------------------------------------------------------------------------


def _two_group_setup(cls, **options):
    torch.manual_seed(0)
    a, b = torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(4))
    opt = cls([{"params": [a]}, {"params": [b], "warmup_init": True}], **options)
    return (a, b), opt


@pytest.mark.parametrize("impl", Adafactor.IMPLS)
def test_schedule_reads_back_the_internal_lr_like_transformers(impl):
    """per_tensor: the same values and types (0-d tensors); fused keeps RMS as a Python float from
    a float64 sum, so its lrs are floats within float32 rounding of transformers'."""
    (a, b), ours = _two_group_setup(Adafactor, impl=impl)
    (c, d), theirs = _two_group_setup(hf.Adafactor)
    ours_sched, theirs_sched = AdafactorSchedule(ours), hf.AdafactorSchedule(theirs)
    assert ours_sched.get_last_lr() == theirs_sched.get_last_lr() == [0.0, 0.0]
    for step in range(5):
        grads = (torch.randn(3, 2), torch.randn(4))
        for p, g in zip((a, b, c, d), grads + grads):
            p.grad = g.clone()
        ours.step()
        theirs.step()
        ours_sched.step()
        theirs_sched.step()
        if impl == "per_tensor":
            assert ours_sched.get_last_lr() == theirs_sched.get_last_lr()
        else:
            assert [float(x) for x in ours_sched.get_last_lr()] == pytest.approx([float(x) for x in theirs_sched.get_last_lr()], rel=1e-6)
    expected_first = 0.01 * max(1e-3, (a.detach().norm() / math.sqrt(6)).item())  # from the RMS before step 5
    assert float(ours_sched.get_last_lr()[0]) == pytest.approx(expected_first, rel=1e-3)
    assert float(ours_sched.get_last_lr()[1]) == pytest.approx(1e-6 * 5 * max(1e-3, b.norm().item() / 2), rel=1e-3)


def test_schedule_overwrites_a_manual_lr_as_transformers_does():
    w = torch.nn.Parameter(torch.ones(2))
    opt = Adafactor([w], lr=1e-2, relative_step=False)
    sched = get_adafactor_schedule(opt, initial_lr=0.5)
    assert isinstance(sched, AdafactorSchedule)
    assert opt.param_groups[0]["lr"] == 0.5 and "initial_lr" not in opt.param_groups[0]


def test_schedule_reports_initial_lr_for_a_group_that_has_not_stepped():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = Adafactor([{"params": [a]}, {"params": [b]}])
    sched = AdafactorSchedule(opt, initial_lr=1e-4)
    a.grad = torch.ones(2)
    opt.step()
    sched.step()
    assert [float(x) for x in sched.get_last_lr()] == [pytest.approx(0.01), 1e-4]
    b.grad = torch.ones(2)  # a grad but no step yet: transformers raises KeyError here
    sched.step()
    assert float(sched.get_last_lr()[1]) == 1e-4
