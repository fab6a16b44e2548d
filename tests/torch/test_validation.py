"""Every rejected input raises at construction, and the message names the argument."""

from __future__ import annotations

import io
import math

import pytest
import torch
import transformers.optimization as hf

import optimspec.torch as ot


def _params():
    return [torch.nn.Parameter(torch.zeros(2))]


def _opt(lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.SGD(_params(), lr=lr)


STEPS = {"num_warmup_steps": 2, "num_training_steps": 10}
COSINE = ot.get_cosine_schedule_with_warmup
MIN_LR = ot.get_cosine_with_min_lr_schedule_with_warmup
SHIFTED_MIN_LR = ot.get_cosine_with_min_lr_schedule_with_warmup_lr_rate

# (test id, call that must raise ValueError, the argument name its message must contain)
REJECTED = [
    # AdamW
    ("adamw-lr-negative", lambda: ot.AdamW(_params(), lr=-1e-3), "lr"),
    ("adamw-master-weights-not-bool", lambda: ot.AdamW(_params(), master_weights=1), "master_weights"),
    ("adafactor-master-weights-not-bool", lambda: ot.Adafactor(_params(), master_weights="yes"), "master_weights"),
    ("adamw-lr-nan", lambda: ot.AdamW(_params(), lr=math.nan), "lr"),
    ("adamw-lr-not-a-number", lambda: ot.AdamW(_params(), lr="1e-3"), "lr"),
    ("adamw-beta1-one", lambda: ot.AdamW(_params(), betas=(1.0, 0.999)), "betas[0]"),
    ("adamw-beta1-negative", lambda: ot.AdamW(_params(), betas=(-0.1, 0.999)), "betas[0]"),
    ("adamw-beta2-one", lambda: ot.AdamW(_params(), betas=(0.9, 1.0)), "betas[1]"),
    ("adamw-betas-not-a-pair", lambda: ot.AdamW(_params(), betas=(0.9,)), "betas"),
    ("adamw-eps-negative", lambda: ot.AdamW(_params(), eps=-1e-8), "eps"),
    ("adamw-weight-decay-negative", lambda: ot.AdamW(_params(), weight_decay=-0.01), "weight_decay"),
    ("adamw-group-lr-negative", lambda: ot.AdamW([{"params": _params(), "lr": -1.0}]), "lr"),
    ("adamw-correct-bias-not-bool", lambda: ot.AdamW(_params(), correct_bias=1), "correct_bias"),
    ("adamw-impl-unknown", lambda: ot.AdamW(_params(), impl="yes"), "impl"),
    ("adafactor-impl-not-a-string", lambda: ot.Adafactor(_params(), impl=True), "impl"),
    ("adamw-lr-beyond-float", lambda: ot.AdamW(_params(), lr=10**400), "lr"),
    ("adamw-complex-param", lambda: ot.AdamW([torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))]), "param 0 of param group 0"),
    ("adafactor-complex-param", lambda: ot.Adafactor([torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, dtype=torch.complex128))]), "param 1 of param group 0"),
    ("schedule-last-epoch-without-initial-lr", lambda: ot.get_linear_schedule_with_warmup(_opt(), last_epoch=5, **STEPS), "last_epoch"),
    ("schedule-last-epoch-below-minus-one", lambda: ot.get_cosine_schedule_with_warmup(_opt(), last_epoch=-2, **STEPS), "last_epoch"),
    # Adafactor: the two upstream errors, then the added checks
    ("adafactor-manual-lr-with-relative-step", lambda: ot.Adafactor(_params(), lr=1e-3), "lr"),
    ("adafactor-warmup-init-without-relative-step",
     lambda: ot.Adafactor(_params(), lr=1e-3, relative_step=False, warmup_init=True), "warmup_init"),
    ("adafactor-no-lr-without-relative-step", lambda: ot.Adafactor(_params(), relative_step=False), "lr"),
    ("adafactor-lr-negative", lambda: ot.Adafactor(_params(), lr=-1.0, relative_step=False), "lr"),
    ("adafactor-eps1-negative", lambda: ot.Adafactor(_params(), eps=(-1e-30, 1e-3)), "eps[0]"),
    ("adafactor-eps2-negative", lambda: ot.Adafactor(_params(), eps=(1e-30, -1e-3)), "eps[1]"),
    ("adafactor-eps-not-a-pair", lambda: ot.Adafactor(_params(), eps=1e-30), "eps"),
    ("adafactor-clip-threshold-zero", lambda: ot.Adafactor(_params(), clip_threshold=0.0), "clip_threshold"),
    ("adafactor-clip-threshold-negative", lambda: ot.Adafactor(_params(), clip_threshold=-1.0), "clip_threshold"),
    ("adafactor-decay-rate-positive", lambda: ot.Adafactor(_params(), decay_rate=0.5), "decay_rate"),
    ("adafactor-beta1-one", lambda: ot.Adafactor(_params(), beta1=1.0), "beta1"),
    ("adafactor-beta1-negative", lambda: ot.Adafactor(_params(), beta1=-0.1), "beta1"),
    ("adafactor-weight-decay-negative", lambda: ot.Adafactor(_params(), weight_decay=-0.1), "weight_decay"),
    ("adafactor-scale-parameter-not-bool", lambda: ot.Adafactor(_params(), scale_parameter=1), "scale_parameter"),
    ("adafactor-relative-step-not-bool", lambda: ot.Adafactor(_params(), relative_step="yes"), "relative_step"),
    ("adafactor-warmup-init-not-bool", lambda: ot.Adafactor(_params(), warmup_init=0), "warmup_init"),
    ("adafactor-schedule-initial-lr-negative",
     lambda: ot.AdafactorSchedule(ot.Adafactor(_params()), initial_lr=-1e-3), "initial_lr"),
    # LambdaLR schedules
    ("constant-group-lr-negative",
     lambda: ot.get_constant_schedule(torch.optim.SGD([{"params": _params()}, {"params": _params(), "lr": -1.0}], lr=1.0)),
     "optimizer.param_groups[1]['lr']"),
    ("cosine-optimizer-lr-none", lambda: COSINE(ot.Adafactor(_params()), **STEPS), "optimizer.param_groups[0]['lr']"),
    ("linear-total-zero", lambda: ot.get_linear_schedule_with_warmup(_opt(), 0, 0), "num_training_steps"),
    ("cosine-total-zero", lambda: COSINE(_opt(), 0, 0), "num_training_steps"),
    ("restarts-total-zero",
     lambda: ot.get_cosine_with_hard_restarts_schedule_with_warmup(_opt(), 0, 0), "num_training_steps"),
    ("min-lr-total-zero", lambda: MIN_LR(_opt(), 0, 0, min_lr_rate=0.1), "num_training_steps"),
    ("warmup-min-lr-total-zero", lambda: SHIFTED_MIN_LR(_opt(), 0, 0, min_lr_rate=0.1), "num_training_steps"),
    ("wsd-total-zero", lambda: ot.get_wsd_schedule(_opt(), 2, 4, 0), "num_training_steps"),
    ("constant-warmup-negative", lambda: ot.get_constant_schedule_with_warmup(_opt(), -1), "num_warmup_steps"),
    ("linear-warmup-negative", lambda: ot.get_linear_schedule_with_warmup(_opt(), -1, 10), "num_warmup_steps"),
    ("linear-warmup-fractional", lambda: ot.get_linear_schedule_with_warmup(_opt(), 1.5, 10), "num_warmup_steps"),
    ("linear-total-negative", lambda: ot.get_linear_schedule_with_warmup(_opt(), 2, -10), "num_training_steps"),
    ("linear-total-infinite", lambda: ot.get_linear_schedule_with_warmup(_opt(), 2, math.inf), "num_training_steps"),
    ("cosine-cycles-negative", lambda: COSINE(_opt(), **STEPS, num_cycles=-0.5), "num_cycles"),
    ("cosine-cycles-nan", lambda: COSINE(_opt(), **STEPS, num_cycles=math.nan), "num_cycles"),
    ("restarts-cycles-negative",
     lambda: ot.get_cosine_with_hard_restarts_schedule_with_warmup(_opt(), **STEPS, num_cycles=-1), "num_cycles"),
    ("polynomial-warmup-equals-total",
     lambda: ot.get_polynomial_decay_schedule_with_warmup(_opt(), 5, 5), "num_training_steps"),
    ("polynomial-lr-end-negative",
     lambda: ot.get_polynomial_decay_schedule_with_warmup(_opt(), **STEPS, lr_end=-1e-7), "lr_end"),
    ("polynomial-lr-end-equals-lr",
     lambda: ot.get_polynomial_decay_schedule_with_warmup(_opt(1e-3), **STEPS, lr_end=1e-3), "lr_end"),
    ("polynomial-lr-end-above-lr",
     lambda: ot.get_polynomial_decay_schedule_with_warmup(_opt(1e-3), **STEPS, lr_end=1e-2), "lr_end"),
    ("polynomial-power-negative",
     lambda: ot.get_polynomial_decay_schedule_with_warmup(_opt(), **STEPS, power=-1.0), "power"),
    ("polynomial-optimizer-lr-none",
     lambda: ot.get_polynomial_decay_schedule_with_warmup(ot.Adafactor(_params()), **STEPS), "lr"),
    ("inverse-sqrt-warmup-negative", lambda: ot.get_inverse_sqrt_schedule(_opt(), -2), "num_warmup_steps"),
    ("inverse-sqrt-timescale-zero", lambda: ot.get_inverse_sqrt_schedule(_opt(), 2, timescale=0), "timescale"),
    ("inverse-sqrt-timescale-negative", lambda: ot.get_inverse_sqrt_schedule(_opt(), 2, timescale=-4), "timescale"),
    ("min-lr-both-given",
     lambda: MIN_LR(_opt(), **STEPS, min_lr=1e-5, min_lr_rate=0.1), "min_lr"),
    ("min-lr-neither-given", lambda: MIN_LR(_opt(), **STEPS), "min_lr"),
    ("min-lr-rate-above-one",
     lambda: MIN_LR(_opt(), **STEPS, min_lr_rate=1.5), "min_lr_rate"),
    ("min-lr-negative", lambda: MIN_LR(_opt(), **STEPS, min_lr=-1e-5), "min_lr"),
    ("min-lr-above-lr",
     lambda: MIN_LR(_opt(1e-3), **STEPS, min_lr=1e-2), "min_lr"),
    ("min-lr-cycles-negative",
     lambda: MIN_LR(_opt(), **STEPS, min_lr_rate=0.1, num_cycles=-1), "num_cycles"),
    ("warmup-min-lr-both-given",
     lambda: SHIFTED_MIN_LR(_opt(), **STEPS, min_lr=1e-5, min_lr_rate=0.1), "min_lr"),
    ("warmup-min-lr-neither-given",
     lambda: SHIFTED_MIN_LR(_opt(), **STEPS), "min_lr"),
    ("warmup-lr-rate-above-one",
     lambda: SHIFTED_MIN_LR(_opt(), **STEPS, min_lr_rate=0.1, warmup_lr_rate=1.5),
     "warmup_lr_rate"),
    ("wsd-no-length", lambda: ot.get_wsd_schedule(_opt(), 2, 4), "num_training_steps"),
    ("wsd-warmup-type", lambda: ot.get_wsd_schedule(_opt(), 2, 4, 10, warmup_type="exp"), "warmup_type"),
    ("wsd-decay-type", lambda: ot.get_wsd_schedule(_opt(), 2, 4, 10, decay_type="exp"), "decay_type"),
    ("wsd-decay-negative", lambda: ot.get_wsd_schedule(_opt(), 2, -4, 10), "num_decay_steps"),
    ("wsd-stable-negative", lambda: ot.get_wsd_schedule(_opt(), 2, 4, num_stable_steps=-1), "num_stable_steps"),
    ("wsd-min-lr-ratio-above-one", lambda: ot.get_wsd_schedule(_opt(), 2, 4, 10, min_lr_ratio=2.0), "min_lr_ratio"),
    ("wsd-cycles-negative", lambda: ot.get_wsd_schedule(_opt(), 2, 4, 10, num_cycles=-1.0), "num_cycles"),
    ("get-scheduler-no-warmup", lambda: ot.get_scheduler("cosine", _opt()), "num_warmup_steps"),
    ("get-scheduler-no-total", lambda: ot.get_scheduler("linear", _opt(), 2), "num_training_steps"),
    ("get-scheduler-wsd-no-decay", lambda: ot.get_scheduler("warmup_stable_decay", _opt(), 2, 10), "num_decay_steps"),
    # ReduceLROnPlateau: torch's own errors, then the added checks
    ("plateau-factor-one", lambda: ot.get_reduce_on_plateau_schedule(_opt(), factor=1.0), "factor"),
    ("plateau-factor-negative", lambda: ot.get_reduce_on_plateau_schedule(_opt(), factor=-0.5), "factor"),
    ("plateau-patience-negative", lambda: ot.get_reduce_on_plateau_schedule(_opt(), patience=-1), "patience"),
    ("plateau-cooldown-negative", lambda: ot.get_reduce_on_plateau_schedule(_opt(), cooldown=-1), "cooldown"),
    ("plateau-threshold-negative", lambda: ot.get_reduce_on_plateau_schedule(_opt(), threshold=-1e-4), "threshold"),
    ("plateau-eps-negative", lambda: ot.get_reduce_on_plateau_schedule(_opt(), eps=-1e-8), "eps"),
    ("plateau-min-lr-negative", lambda: ot.get_reduce_on_plateau_schedule(_opt(), min_lr=-1e-3), "min_lr"),
    ("plateau-min-lr-list-negative", lambda: ot.get_reduce_on_plateau_schedule(_opt(), min_lr=[-1e-3]), "min_lr[0]"),
    # GreedyLR: the upstream errors, then the added checks
    ("greedy-factor-one", lambda: ot.GreedyLR(_opt(), factor=1.0), "factor"),
    ("greedy-factor-zero", lambda: ot.GreedyLR(_opt(), factor=0.0), "factor"),
    ("greedy-factor-negative", lambda: ot.GreedyLR(_opt(), factor=-0.5), "factor"),
    ("greedy-min-lr-list-length", lambda: ot.GreedyLR(_opt(), min_lr=[1e-3, 1e-4]), "min_lr"),
    ("greedy-max-lr-list-length", lambda: ot.GreedyLR(_opt(), max_lr=[1.0, 0.5]), "max_lr"),
    ("greedy-mode", lambda: ot.GreedyLR(_opt(), mode="avg"), "mode"),
    ("greedy-threshold-mode", lambda: ot.GreedyLR(_opt(), threshold_mode="pct"), "threshold_mode"),
    ("greedy-patience-negative", lambda: ot.GreedyLR(_opt(), patience=-1), "patience"),
    ("greedy-cooldown-negative", lambda: ot.GreedyLR(_opt(), cooldown=-1), "cooldown"),
    ("greedy-warmup-negative", lambda: ot.GreedyLR(_opt(), warmup=-1), "warmup"),
    ("greedy-reset-start-negative", lambda: ot.GreedyLR(_opt(), reset_start=-1), "reset_start"),
    ("greedy-window-size-zero", lambda: ot.GreedyLR(_opt(), smooth=True, window_size=0), "window_size"),
    ("greedy-threshold-negative", lambda: ot.GreedyLR(_opt(), threshold=-1e-6), "threshold"),
    ("greedy-eps-negative", lambda: ot.GreedyLR(_opt(), eps=-1e-8), "eps"),
    ("greedy-min-lr-negative", lambda: ot.GreedyLR(_opt(), min_lr=-1e-3), "min_lr[0]"),
    ("greedy-max-lr-below-min-lr", lambda: ot.GreedyLR(_opt(), min_lr=0.1, max_lr=0.01), "max_lr[0]"),
]


@pytest.mark.parametrize(("call", "argument"), [(c, a) for _, c, a in REJECTED], ids=[i for i, _, _ in REJECTED])
def test_rejected_at_construction_naming_the_argument(call, argument):
    with pytest.raises(ValueError) as excinfo:
        call()
    assert argument in str(excinfo.value)


def test_out_of_range_messages_state_the_allowed_range():
    with pytest.raises(ValueError) as excinfo:
        ot.AdamW(_params(), betas=(1.0, 0.999))
    assert str(excinfo.value) == "AdamW: `betas[0]`=1.0 is out of range: must be in [0, 1)"
    with pytest.raises(ValueError) as excinfo:
        ot.get_inverse_sqrt_schedule(_opt(), 2, timescale=0)
    assert str(excinfo.value) == "get_inverse_sqrt_schedule: `timescale`=0 is out of range: must be an integer >= 1"


def test_tensor_and_zero_group_lrs_are_accepted():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [w], "lr": torch.tensor(0.5)}, {"params": _params(), "lr": 0.0}], lr=0.1)
    sched = ot.get_linear_schedule_with_warmup(opt, 0, 4)
    assert [float(lr) for lr in sched.get_last_lr()] == [0.5, 0.0]


def test_integral_floats_are_accepted_as_step_counts():
    ours = ot.get_linear_schedule_with_warmup(_opt(), 2.0, 10.0).lr_lambdas[0]
    theirs = hf.get_linear_schedule_with_warmup(_opt(), 2.0, 10.0).lr_lambdas[0]
    assert [ours(t) for t in range(12)] == [theirs(t) for t in range(12)]


# Where transformers accepts the input and fails only later (or never, with a wrong result).
FAILS_LATE_UPSTREAM = [
    ("polynomial W == T: ZeroDivisionError at t = W",
     lambda lib: lib.get_polynomial_decay_schedule_with_warmup(_opt(), 0, 0), ZeroDivisionError),
    ("inverse_sqrt timescale=0: ZeroDivisionError at t = W",
     lambda lib: lib.get_inverse_sqrt_schedule(_opt(), 0, timescale=0), ZeroDivisionError),
    ("Adafactor relative_step=False without lr: TypeError at the first step",
     lambda lib: _first_adafactor_step(lib, relative_step=False), TypeError),
]


def _first_adafactor_step(lib, **options):
    w = torch.nn.Parameter(torch.ones(2))
    opt = lib.Adafactor([w], **options)
    w.grad = torch.ones(2)
    opt.step()


@pytest.mark.parametrize(("build", "upstream_error"), [(b, e) for _, b, e in FAILS_LATE_UPSTREAM],
                         ids=[i for i, _, _ in FAILS_LATE_UPSTREAM])
def test_inputs_transformers_fails_on_late_are_rejected_early(build, upstream_error):
    with pytest.raises(upstream_error):
        build(hf)
    with pytest.raises(ValueError):
        build(ot)


@pytest.mark.parametrize("cls", [ot.AdamW, ot.Adafactor])
def test_complex_gradients_are_rejected_at_step_naming_the_param(cls):
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    optimizer = cls(params)
    params[1].data = params[1].data.to(torch.complex64)  # made complex after construction
    params[1].grad = torch.ones(2, dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"the gradient of param 1 of param group 0 is complex"):
        optimizer.step()


# --------------------------------------------------------------------------------------------------
# load_state_dict validates what it loads
# --------------------------------------------------------------------------------------------------


def _stepped(cls, dtype=torch.float32, **kwargs):
    params = [torch.nn.Parameter(torch.ones(2, 3, dtype=dtype)), torch.nn.Parameter(torch.ones(3, dtype=dtype))]
    optimizer = cls(params, **kwargs)
    for p in params:
        p.grad = torch.full_like(p, 0.5)
    optimizer.step()
    return optimizer, params


def _damaged(state_dict, damage):
    group, state = state_dict["param_groups"][0], state_dict["state"]
    kind, key, value = damage
    if kind == "group":
        group[key] = value
    elif kind == "drop-group-key":
        del group[key]
    elif kind == "state":
        state[0][key] = value
    elif kind == "drop-state-key":
        del state[0][key]
    else:
        state[7] = {"step": 1}
    return state_dict


LOAD_DAMAGE = [
    ("lr-negative", ot.AdamW, {}, ("group", "lr", -5.0), r"param_groups\[0\]: 'lr' must be a finite number >= 0, got -5.0"),
    ("betas-out-of-range", ot.AdamW, {}, ("group", "betas", (0.9, 1.5)), r"param_groups\[0\]: AdamW: `betas\[1\]`=1.5 is out of range"),
    ("step-fractional", ot.AdamW, {}, ("state", "step", 1.5), r"state\[0\]\['step'\] must be an integer >= 0"),
    ("moment-wrong-shape", ot.AdamW, {}, ("state", "exp_avg", torch.zeros(3, 2)), r"state\[0\]\['exp_avg'\] must be a tensor of shape \[2, 3\]"),
    ("moment-wrong-dtype", ot.AdamW, {}, ("state", "exp_avg_sq", torch.zeros(2, 3, dtype=torch.float64)), r"\['exp_avg_sq'\] must be a tensor of shape \[2, 3\] and dtype torch.float32"),
    ("state-key-missing", ot.AdamW, {}, ("drop-state-key", "exp_avg", None), r"state\[0\]: missing key 'exp_avg'"),
    ("state-key-extra", ot.AdamW, {}, ("state", "momentum_buffer", torch.zeros(2, 3)), r"state\[0\]: unexpected key 'momentum_buffer'"),
    ("group-key-missing", ot.AdamW, {}, ("drop-group-key", "eps", None), r"param_groups\[0\]: missing key 'eps'"),
    ("state-of-no-param", ot.AdamW, {}, ("orphan", None, None), r"state\[7\] belongs to no param"),
    ("adafactor-rms-negative", ot.Adafactor, {}, ("state", "RMS", -1.0), r"state\[0\]\['RMS'\] must be a number >= 0 \(or NaN\)"),
    ("adafactor-row-wrong-shape", ot.Adafactor, {}, ("state", "exp_avg_sq_row", torch.zeros(3)), r"\['exp_avg_sq_row'\] must be a tensor of shape \[2\]"),
    ("adafactor-momentum-without-beta1", ot.Adafactor, {}, ("state", "exp_avg", torch.zeros(2, 3)), r"unexpected key 'exp_avg'"),
    ("master-weights-not-bool", ot.AdamW, {}, ("group", "master_weights", 1), r"param_groups\[0\]: AdamW: `master_weights`=1 is out of range: must be True or False"),
    ("master-in-half", ot.AdamW, {"dtype": torch.bfloat16, "master_weights": True}, ("state", "master_param", torch.ones(2, 3, dtype=torch.bfloat16)), r"state\[0\]\['master_param'\] must be a tensor of shape \[2, 3\] and dtype torch.float32"),
    ("master-wrong-shape", ot.Adafactor, {"dtype": torch.float16, "master_weights": True}, ("state", "master_param", torch.ones(3, 2)), r"\['master_param'\] must be a tensor of shape \[2, 3\]"),
    ("master-without-master-weights", ot.AdamW, {"dtype": torch.bfloat16}, ("state", "master_param", torch.ones(2, 3)), r"state\[0\]: unexpected key 'master_param'"),
    ("master-of-a-float32-param", ot.Adafactor, {"master_weights": True}, ("state", "master_param", torch.ones(2, 3)), r"state\[0\]: unexpected key 'master_param'"),
]


@pytest.mark.parametrize(("cls", "kwargs", "damage", "message"), [case[1:] for case in LOAD_DAMAGE], ids=[case[0] for case in LOAD_DAMAGE])
def test_load_state_dict_rejects_what_it_cannot_resume_from(cls, kwargs, damage, message):
    source, _ = _stepped(cls, **kwargs)
    target, params = _stepped(cls, **kwargs)
    before = {k: v.clone() for k, v in target.state[params[0]].items() if torch.is_tensor(v)}
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(_damaged(source.state_dict(), damage))
    after = {k: v for k, v in target.state[params[0]].items() if torch.is_tensor(v)}
    assert all(torch.equal(before[k], after[k]) for k in before), "a rejected state_dict must load nothing"


@pytest.mark.parametrize("cls", [ot.AdamW, ot.Adafactor])
def test_load_state_dict_accepts_its_own_and_a_fresh_state(cls):
    source, _ = _stepped(cls)
    target = cls([torch.nn.Parameter(torch.ones(2, 3)), torch.nn.Parameter(torch.ones(3))])
    target.load_state_dict(cls(target.param_groups[0]["params"]).state_dict())
    target.load_state_dict(source.state_dict())
    assert target.state_dict()["state"][0]["step"] == 1


def test_load_state_dict_accepts_a_transformers_adamw_checkpoint_without_optimspec_keys():
    source, _ = _stepped(ot.AdamW)
    saved = source.state_dict()
    for key in ("impl", "master_weights"):  # transformers' AdamW had neither
        del saved["param_groups"][0][key]
    target, _ = _stepped(ot.AdamW, impl="per_tensor", master_weights=True)
    target.load_state_dict(saved)
    group = target.param_groups[0]
    assert (group["impl"], group["master_weights"]) == ("per_tensor", True), "the loading optimizer's own choices must be kept"


def test_a_transformers_adafactor_checkpoint_loads_and_continues_bit_identically():
    def params():
        return [torch.nn.Parameter(torch.linspace(-1, 1, 6).reshape(2, 3)), torch.nn.Parameter(torch.linspace(0.5, 1, 3))]

    def step(optimizer, ps, scale):
        for p in ps:
            p.grad = torch.cos(scale * torch.arange(p.numel(), dtype=p.dtype)).reshape(p.shape)
        optimizer.step()

    theirs = params()
    upstream = hf.Adafactor(theirs, lr=1e-2, relative_step=False, scale_parameter=True)
    step(upstream, theirs, 1.0)
    ours = [torch.nn.Parameter(p.detach().clone()) for p in theirs]
    optimizer = ot.Adafactor(ours, lr=1e-2, relative_step=False, scale_parameter=True, impl="per_tensor")
    checkpoint = io.BytesIO()
    torch.save(upstream.state_dict(), checkpoint)  # a real checkpoint: no tensor shared with upstream's state
    checkpoint.seek(0)
    optimizer.load_state_dict(torch.load(checkpoint, weights_only=True))  # no "impl", no "master_weights"
    step(upstream, theirs, 2.0)
    step(optimizer, ours, 2.0)
    for mine, upstreams in zip(ours, theirs):
        assert torch.equal(mine, upstreams), f"after resuming from transformers' state: {mine.tolist()} != {upstreams.tolist()}"
