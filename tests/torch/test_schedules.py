"""The LambdaLR schedules, SchedulerType and get_scheduler against transformers 5.24 and the spec."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
import transformers.optimization as hf
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

import optimspec.torch as ot

PROPERTY = settings.get_profile("optimspec-torch")

WARMUPS = (0, 1, 2, 5)
TOTALS = (1, 2, 3, 5, 10, 17)  # T = 0 is rejected (a schedule that never runs)


def _optimizer(lr: float = 1.0, group_lrs: tuple[float, ...] = ()) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))]}]
    groups += [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": g} for g in group_lrs]
    return torch.optim.SGD(groups, lr=lr)


def _bits(value: float) -> str:
    """Exact identity of a float64 (0 and 0.0 agree, -0.0 does not)."""
    return float(value).hex()


def _lambda_pair(name: str, lr: float = 1.0, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # WSD with both step counts warns
        ours = getattr(ot, name)(_optimizer(lr), **kwargs).lr_lambdas[0]
        theirs = getattr(hf, name)(_optimizer(lr), **kwargs).lr_lambdas[0]
    return ours, theirs


def _horizon(kwargs: dict) -> range:
    """Every step up to well past the end of every phase."""
    counts = [v for k, v in kwargs.items() if k.startswith("num_") and k != "num_cycles" and v is not None]
    return range(0, 2 * sum(counts) + 6)


def _cases() -> list[tuple[str, dict]]:
    cases: list[tuple[str, dict]] = [("get_constant_schedule", {})]
    for w in WARMUPS:
        cases.append(("get_constant_schedule_with_warmup", {"num_warmup_steps": w}))
        for timescale in (None, 1, 3, 10_000):
            cases.append(("get_inverse_sqrt_schedule", {"num_warmup_steps": w, "timescale": timescale}))
    for w, t in itertools.product(WARMUPS, TOTALS):
        steps = {"num_warmup_steps": w, "num_training_steps": t}
        cases.append(("get_linear_schedule_with_warmup", steps))
        for nc in (0, 0.25, 0.5, 1, 1.5, 3):
            cases.append(("get_cosine_schedule_with_warmup", {**steps, "num_cycles": nc}))
            for rate in (0.0, 0.1, 1.0):
                min_lr_case = {**steps, "num_cycles": nc, "min_lr_rate": rate}
                cases.append(("get_cosine_with_min_lr_schedule_with_warmup", min_lr_case))
        for nc in (0, 1, 2, 3.5):
            cases.append(("get_cosine_with_hard_restarts_schedule_with_warmup", {**steps, "num_cycles": nc}))
        if w != t:  # W == T is rejected here (transformers divides by zero)
            for lr_end, power in itertools.product((0.0, 1e-7, 3e-3), (0.0, 0.5, 1.0, 2.0)):
                cases.append(("get_polynomial_decay_schedule_with_warmup", {**steps, "lr_end": lr_end, "power": power}))
        for min_lr, warmup_rate in itertools.product(({"min_lr_rate": 0.1}, {"min_lr": 1e-3}), (None, 0.0, 0.2)):
            shifted_case = {**steps, **min_lr, "warmup_lr_rate": warmup_rate}
            cases.append(("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", shifted_case))
    for w, d, warm, decay in itertools.product((0, 1, 3), (0, 1, 4), ot.schedules.WSD_SHAPES, ot.schedules.WSD_SHAPES):
        for stable in ({"num_stable_steps": 2}, {"num_training_steps": 8}, {"num_training_steps": 2}):  # last: S < 0
            for ratio in (0, 0.1):
                cases.append(
                    (
                        "get_wsd_schedule",
                        {"num_warmup_steps": w, "num_decay_steps": d, **stable, "warmup_type": warm,
                         "decay_type": decay, "min_lr_ratio": ratio, "num_cycles": 0.5},
                    )
                )
    return cases


CASES = _cases()
FACTORY_NAMES = sorted({name for name, _ in CASES})


@pytest.mark.parametrize("name", FACTORY_NAMES)
def test_lambdas_are_bit_identical_to_transformers_on_a_grid(name):
    cases = [kwargs for case_name, kwargs in CASES if case_name == name]
    assert cases
    for kwargs in cases:
        ours, theirs = _lambda_pair(name, lr=0.01, **kwargs)
        for t in _horizon(kwargs):
            assert _bits(ours(t)) == _bits(theirs(t)), (name, kwargs, t)


@settings(PROPERTY, max_examples=300)  # cheap: pure-Python lambdas
@given(
    w=st.integers(0, 50),
    total=st.integers(0, 300),
    t=st.integers(0, 1000),
    nc=st.floats(0.0, 4.0),
    rate=st.floats(0.0, 1.0),
    power=st.floats(0.0, 4.0),
    timescale=st.integers(1, 20_000),
)
def test_lambdas_are_bit_identical_to_transformers_on_random_points(w, total, t, nc, rate, power, timescale):
    steps = {"num_warmup_steps": w, "num_training_steps": max(1, total)}  # T >= 1; WSD's D = total may be 0
    configs = [
        ("get_linear_schedule_with_warmup", steps),
        ("get_cosine_schedule_with_warmup", {**steps, "num_cycles": nc}),
        ("get_cosine_with_hard_restarts_schedule_with_warmup", {**steps, "num_cycles": nc}),
        ("get_cosine_with_min_lr_schedule_with_warmup", {**steps, "num_cycles": nc, "min_lr_rate": rate}),
        ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", {**steps, "min_lr_rate": rate, "warmup_lr_rate": rate}),
        ("get_inverse_sqrt_schedule", {"num_warmup_steps": w, "timescale": timescale}),
        (
            "get_wsd_schedule",
            {"num_warmup_steps": w, "num_decay_steps": total, "num_stable_steps": w, "min_lr_ratio": rate},
        ),
    ]
    if w != steps["num_training_steps"]:
        configs.append(("get_polynomial_decay_schedule_with_warmup", {**steps, "power": power, "lr_end": 1e-7 * rate}))
    for name, kwargs in configs:
        ours, theirs = _lambda_pair(name, lr=3e-4, **kwargs)
        assert _bits(ours(t)) == _bits(theirs(t)), (name, kwargs, t)


def test_stepped_learning_rates_match_transformers_for_every_group():
    """Through LambdaLR.step() with several groups (polynomial reads optimizer.defaults['lr'])."""
    kwargs = {"num_warmup_steps": 3, "num_training_steps": 12}
    for name, extra in [
        ("get_linear_schedule_with_warmup", {}),
        ("get_polynomial_decay_schedule_with_warmup", {"power": 2.0}),
        ("get_cosine_with_min_lr_schedule_with_warmup", {"min_lr": 1e-4}),
    ]:
        ours = getattr(ot, name)(_optimizer(1e-3, (5e-4, 7e-3)), **kwargs, **extra)
        theirs = getattr(hf, name)(_optimizer(1e-3, (5e-4, 7e-3)), **kwargs, **extra)
        for _ in range(20):
            assert [_bits(x) for x in ours.get_last_lr()] == [_bits(x) for x in theirs.get_last_lr()]
            ours.optimizer.step()
            theirs.optimizer.step()
            ours.step()
            theirs.step()


# transformers' test table: base lr 10.0, W=2, T=10, lr(t) for t = 0..9.
SPEC_TABLE = {
    ("get_constant_schedule", ()): [10.0] * 10,
    ("get_constant_schedule_with_warmup", (("num_warmup_steps", 4),)): [0, 2.5, 5, 7.5, 10, 10, 10, 10, 10, 10],
    ("get_linear_schedule_with_warmup", ()): [0, 5, 10, 8.75, 7.5, 6.25, 5, 3.75, 2.5, 1.25],
    ("get_cosine_schedule_with_warmup", ()): [
        0, 5, 10, 9.619397662556434, 8.535533905932738, 6.913417161825449, 5.0, 3.0865828381745515,
        1.4644660940672627, 0.3806023374435663,
    ],
    ("get_cosine_with_hard_restarts_schedule_with_warmup", (("num_cycles", 2),)): [
        0, 5, 10, 8.535533905932738, 5.0, 1.4644660940672627, 10.0, 8.535533905932738, 5.0, 1.4644660940672627,
    ],
    ("get_polynomial_decay_schedule_with_warmup", (("power", 2.0),)): [
        0, 5, 10, 7.656250023437501, 5.625000043750001, 3.9062500609375, 2.500000075, 1.4062500859375002,
        0.62500009375, 0.15625009843750004,
    ],
    ("get_inverse_sqrt_schedule", ()): [
        0, 5, 10, 8.16496580927726, 7.071067811865475, 6.324555320336759, 5.773502691896258,
        5.3452248382484875, 5.0, 4.714045207910317,
    ],
    ("get_cosine_with_min_lr_schedule_with_warmup", (("min_lr_rate", 0.1),)): [
        0, 5, 10, 9.65745789630079, 8.681980515339463, 7.222075445642904, 5.5, 3.777924554357096,
        2.3180194846605366, 1.3425421036992096,
    ],
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", (("min_lr_rate", 0.1),)): [
        5, 10, 9.65745789630079, 8.681980515339463, 7.222075445642904, 5.5, 3.777924554357096,
        2.3180194846605366, 1.3425421036992096, 1.0,
    ],
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", (("min_lr_rate", 0.1), ("warmup_lr_rate", 0.2))): [
        2.0, 10, 9.65745789630079, 8.681980515339463, 7.222075445642904, 5.5, 3.777924554357096,
        2.3180194846605366, 1.3425421036992096, 1.0,
    ],
    ("get_wsd_schedule", (("num_stable_steps", 3), ("num_decay_steps", 4), ("min_lr_ratio", 0.1))): [
        1.0, 5.5, 10, 10, 10, 10, 8.681980515339463, 5.5, 2.3180194846605366, 1.0,
    ],
}


def _spec_steps(name: str) -> dict:
    if name == "get_constant_schedule":
        return {}
    if name in ("get_constant_schedule_with_warmup", "get_inverse_sqrt_schedule"):
        return {"num_warmup_steps": 2}
    if name == "get_wsd_schedule":
        return {"num_warmup_steps": 2}
    return {"num_warmup_steps": 2, "num_training_steps": 10}


@pytest.mark.parametrize(("name", "extra"), list(SPEC_TABLE), ids=[f"{n}{dict(e)}" for n, e in SPEC_TABLE])
def test_spec_reference_table(name, extra):
    sched = getattr(ot, name)(_optimizer(10.0), **{**_spec_steps(name), **dict(extra)})
    got = []
    for _ in range(10):
        got.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    assert got == SPEC_TABLE[(name, extra)]


def test_cosine_rises_again_past_the_total_steps():
    sched = ot.get_cosine_schedule_with_warmup(_optimizer(10.0), num_warmup_steps=2, num_training_steps=10)
    past_total = [10.0 * sched.lr_lambdas[0](t) for t in range(10, 20)]
    assert past_total == [
        0.0, 0.38060233744356575, 1.4644660940672616, 3.0865828381745484, 4.999999999999999,
        6.91341716182545, 8.535533905932738, 9.619397662556432, 10.0, 9.619397662556434,
    ]


WARMUP_FACTORIES = {
    "get_constant_schedule_with_warmup": {},
    "get_linear_schedule_with_warmup": {"num_training_steps": None},
    "get_cosine_schedule_with_warmup": {"num_training_steps": None},
    "get_cosine_with_hard_restarts_schedule_with_warmup": {"num_training_steps": None},
    "get_cosine_with_min_lr_schedule_with_warmup": {"num_training_steps": None, "min_lr_rate": 0.1},
    "get_polynomial_decay_schedule_with_warmup": {"num_training_steps": None},
    "get_inverse_sqrt_schedule": {},
}


@PROPERTY
@given(w=st.integers(1, 200), extra=st.integers(1, 200), name=st.sampled_from(sorted(WARMUP_FACTORIES)))
def test_warmup_ramp_reaches_the_peak_continuously(w, extra, name):
    """λ(t) = t/W on the ramp, λ(W) = 1: the only jump at the boundary is one ramp increment."""
    kwargs = {k: (w + extra if v is None else v) for k, v in WARMUP_FACTORIES[name].items()}
    lam = getattr(ot, name)(_optimizer(1.0), num_warmup_steps=w, **kwargs).lr_lambdas[0]
    assert lam(w - 1) == (w - 1) / w
    assert lam(w) == pytest.approx(1.0, rel=2**-52)  # polynomial: ((lr - lr_end)·1 + lr_end)/lr
    assert lam(w) - lam(w - 1) == pytest.approx(1 / w)


@PROPERTY
@given(w=st.integers(1, 100), extra=st.integers(1, 100), rate=st.floats(0.0, 1.0))
def test_shifted_cosine_warmup_reaches_one_a_step_early(w, extra, rate):
    lam = ot.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
        _optimizer(), num_warmup_steps=w, num_training_steps=w + extra, min_lr_rate=rate
    ).lr_lambdas[0]
    assert lam(0) == 1 / w  # the first update already has lr > 0
    assert lam(w - 1) == 1.0
    assert rate <= lam(w) <= 1.0


@PROPERTY
@given(
    w=st.integers(0, 50),
    total=st.integers(0, 120),
    t=st.integers(0, 600),
    nc=st.floats(0.0, 3.0),
    rate=st.floats(0.0, 1.0),
    power=st.floats(0.0, 3.0),
)
def test_multipliers_stay_in_the_unit_interval(w, total, t, nc, rate, power):
    """0 ≤ λ ≤ 1 (so lr ∈ [0, 1]·base lr) for every step, past the total too; ≥ r after a min-lr warmup."""
    opt = _optimizer(1.0)
    steps = {"num_warmup_steps": w, "num_training_steps": max(1, total)}  # T >= 1; WSD's D = total may be 0
    schedules = [
        ot.get_linear_schedule_with_warmup(opt, **steps),
        ot.get_cosine_schedule_with_warmup(opt, **steps, num_cycles=nc),
        ot.get_cosine_with_hard_restarts_schedule_with_warmup(opt, **steps, num_cycles=nc),
        ot.get_inverse_sqrt_schedule(opt, num_warmup_steps=w),
        ot.get_constant_schedule_with_warmup(opt, num_warmup_steps=w),
    ]
    if w != steps["num_training_steps"]:
        schedules.append(ot.get_polynomial_decay_schedule_with_warmup(opt, **steps, power=power))
    for sched in schedules:
        assert 0.0 <= sched.lr_lambdas[0](t) <= 1.0
    floored = [
        ot.get_cosine_with_min_lr_schedule_with_warmup(opt, **steps, num_cycles=nc, min_lr_rate=rate),
        ot.get_wsd_schedule(opt, num_warmup_steps=w, num_decay_steps=total, num_stable_steps=1, min_lr_ratio=rate),
    ]
    for sched in floored:
        value = sched.lr_lambdas[0](t)
        assert 0.0 <= value <= 1.0
        if t >= w:
            assert value >= rate * (1 - 2**-52)


def test_polynomial_and_min_lr_read_the_optimizer_default_lr():
    opt = _optimizer(1e-3, (1e-2,))
    sched = ot.get_polynomial_decay_schedule_with_warmup(opt, 0, 4, lr_end=1e-4)
    for _ in range(6):
        opt.step()
        sched.step()
    # λ(T+) = lr_end / defaults["lr"]: the second group ends at lr_end scaled by its own lr.
    assert sched.get_last_lr() == [1e-3 * (1e-4 / 1e-3), 1e-2 * (1e-4 / 1e-3)]
    min_lr = ot.get_cosine_with_min_lr_schedule_with_warmup(opt, 0, 4, min_lr=1e-4).lr_lambdas[0]
    assert min_lr(4) == pytest.approx(0.1)


def test_inverse_sqrt_default_timescale():
    assert ot.get_inverse_sqrt_schedule(_optimizer(), 0).lr_lambdas[0](10_000) == 1.0 / 2.0**0.5
    assert ot.get_inverse_sqrt_schedule(_optimizer(), 4).lr_lambdas[0](16) == 0.5


def test_wsd_warns_when_both_step_counts_are_given_and_uses_the_stable_count():
    with pytest.warns(UserWarning, match="num_stable_steps will be used"):
        sched = ot.get_wsd_schedule(_optimizer(), 1, 1, num_training_steps=100, num_stable_steps=2)
    assert [sched.lr_lambdas[0](t) for t in range(5)] == [0.0, 1.0, 1.0, 1.0, 0]


def test_schedules_are_lambda_lr_with_a_plain_state_dict():
    opt = _optimizer(0.5)
    sched = ot.get_cosine_schedule_with_warmup(opt, 2, 10)
    assert isinstance(sched, LambdaLR)
    for _ in range(4):
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert state["last_epoch"] == 4 and state["lr_lambdas"] == [{}]
    fresh = ot.get_cosine_schedule_with_warmup(_optimizer(0.5), 2, 10)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 4 and fresh.get_last_lr() == sched.get_last_lr()


def test_resuming_with_last_epoch_continues_the_schedule():
    opt = _optimizer(1.0)
    sched = ot.get_linear_schedule_with_warmup(opt, 2, 10)
    for _ in range(5):
        opt.step()
        sched.step()
    resumed = ot.get_linear_schedule_with_warmup(opt, 2, 10, last_epoch=sched.last_epoch)
    assert resumed.get_last_lr() == [sched.lr_lambdas[0](6)]


# --------------------------------------------------------------------------------------------------
# SchedulerType and get_scheduler
# --------------------------------------------------------------------------------------------------


def test_scheduler_type_values_match_transformers():
    assert [m.value for m in ot.SchedulerType] == [m.value for m in transformers_scheduler_type()]
    assert len(ot.SchedulerType) == 12
    assert ot.SchedulerType("greedy") is ot.SchedulerType.GREEDY
    assert ot.SchedulerType(transformers_scheduler_type().COSINE) is ot.SchedulerType.COSINE
    assert isinstance(ot.SchedulerType.LINEAR, str) and ot.SchedulerType.LINEAR == "linear"


def transformers_scheduler_type():
    from transformers.trainer_utils import SchedulerType

    return SchedulerType


def test_unknown_scheduler_name():
    with pytest.raises(ValueError, match="is not a valid SchedulerType, please select one of"):
        ot.get_scheduler("cosine_annealing", _optimizer())


GET_SCHEDULER_CASES = [
    ("linear", "get_linear_schedule_with_warmup", {}),
    ("cosine", "get_cosine_schedule_with_warmup", {"num_cycles": 1.5}),
    ("cosine_with_restarts", "get_cosine_with_hard_restarts_schedule_with_warmup", {"num_cycles": 3}),
    ("polynomial", "get_polynomial_decay_schedule_with_warmup", {"power": 2.0, "lr_end": 1e-3}),
    ("cosine_with_min_lr", "get_cosine_with_min_lr_schedule_with_warmup", {"min_lr_rate": 0.2}),
    (
        "cosine_warmup_with_min_lr",
        "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
        {"min_lr": 0.01, "warmup_lr_rate": 0.1},
    ),
    ("warmup_stable_decay", "get_wsd_schedule", {"num_decay_steps": 4, "decay_type": "1-sqrt"}),
]


@pytest.mark.parametrize(("name", "factory", "kwargs"), GET_SCHEDULER_CASES)
def test_get_scheduler_forwards_steps_and_kwargs(name, factory, kwargs):
    via_name = ot.get_scheduler(name, _optimizer(), 3, 12, scheduler_specific_kwargs=kwargs).lr_lambdas[0]
    direct = getattr(ot, factory)(_optimizer(), num_warmup_steps=3, num_training_steps=12, **kwargs).lr_lambdas[0]
    theirs = hf.get_scheduler(name, _optimizer(), 3, 12, scheduler_specific_kwargs=kwargs).lr_lambdas[0]
    for t in range(30):
        assert _bits(via_name(t)) == _bits(direct(t)) == _bits(theirs(t))


def test_get_scheduler_forwards_inverse_sqrt_timescale():
    sched = ot.get_scheduler("inverse_sqrt", _optimizer(), 2, scheduler_specific_kwargs={"timescale": 8})
    assert sched.lr_lambdas[0](2 + 24) == 1.0 / 2.0**1.0  # sqrt((t + 8 - 2)/8) = sqrt(4) = 2


def test_get_scheduler_constant_types_ignore_extra_arguments():
    constant = ot.get_scheduler("constant", _optimizer(), scheduler_specific_kwargs={"bogus": 1})
    assert constant.lr_lambdas[0](100) == 1
    warm = ot.get_scheduler("constant_with_warmup", _optimizer(), 4, 10, scheduler_specific_kwargs={"bogus": 1})
    assert [warm.lr_lambdas[0](t) for t in (0, 2, 4, 50)] == [0.0, 0.5, 1.0, 1.0]


def test_get_scheduler_metric_driven_types_take_only_kwargs():
    plateau = ot.get_scheduler("reduce_lr_on_plateau", _optimizer(), scheduler_specific_kwargs={"patience": 3})
    assert isinstance(plateau, ReduceLROnPlateau) and plateau.patience == 3
    greedy = ot.get_scheduler(ot.SchedulerType.GREEDY, _optimizer(), scheduler_specific_kwargs={"factor": 0.5})
    assert isinstance(greedy, ot.GreedyLR) and greedy.factor == 0.5


def test_get_scheduler_wsd_accepts_missing_total_steps():
    sched = ot.get_scheduler(
        "warmup_stable_decay", _optimizer(), 1, scheduler_specific_kwargs={"num_decay_steps": 2, "num_stable_steps": 1}
    )
    assert [sched.lr_lambdas[0](t) for t in range(5)] == [0.0, 1.0, 1.0, 0.5, 0]


@pytest.mark.parametrize(
    ("name", "warmup", "total", "kwargs", "error", "match"),
    [
        ("linear", None, 10, None, ValueError, "requires `num_warmup_steps`"),
        ("inverse_sqrt", None, None, None, ValueError, "requires `num_warmup_steps`"),
        ("cosine", 2, None, None, ValueError, "requires `num_training_steps`"),
        ("polynomial", 2, None, None, ValueError, "requires `num_training_steps`"),
        ("warmup_stable_decay", 2, 10, None, ValueError, "requires `num_decay_steps`"),  # upstream: TypeError
        ("linear", 2, 10, {"num_cycles": 2}, TypeError, "num_cycles"),
        ("cosine_with_min_lr", 2, 10, None, ValueError, "One of min_lr or min_lr_rate"),
    ],
)
def test_get_scheduler_errors(name, warmup, total, kwargs, error, match):
    with pytest.raises(error, match=match):
        ot.get_scheduler(name, _optimizer(), warmup, total, scheduler_specific_kwargs=kwargs)


# The grad hook steps the schedule before any update, which torch warns about.
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_get_scheduler_layer_wise_optimizer_gets_one_schedule_per_parameter():
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer, LayerWiseDummyScheduler

    # One parameter: transformers' LayerWiseDummyScheduler itself fails under torch 2.13 with more
    # (its get_lr lists every per-parameter lr against the dummy's single group).
    param = torch.nn.Parameter(torch.ones(2))
    param_optimizer = torch.optim.SGD([param], lr=1.0)
    dummy = LayerWiseDummyOptimizer(optimizer_dict={param: param_optimizer}, lr=1.0)
    sched = ot.get_scheduler("linear", dummy, num_warmup_steps=2, num_training_steps=4)
    assert isinstance(sched, LayerWiseDummyScheduler)
    assert param_optimizer.param_groups[0]["lr"] == 0.0
    # Each backward steps the parameter's own schedule from its grad hook.
    param.sum().backward()
    assert param_optimizer.param_groups[0]["lr"] == 0.5
