"""GreedyLR against transformers' GreedyLR (v5.24): same lrs, same state, loadable states."""

from __future__ import annotations

import pytest
import torch
import transformers.optimization as hf
from hypothesis import given, settings
from hypothesis import strategies as st

import optimspec.torch as ot

PROPERTY = settings.get_profile("optimspec-torch")


def _optimizer(lrs: tuple[float, ...] = (0.1,)) -> torch.optim.Optimizer:
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs])


def _pair(lrs: tuple[float, ...] = (0.1,), **kwargs):
    return ot.GreedyLR(_optimizer(lrs), **kwargs), hf.GreedyLR(_optimizer(lrs), **kwargs)


CONFIGS = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["min", "max"]),
        "threshold_mode": st.sampled_from(["abs", "rel"]),
        "factor": st.sampled_from([0.5, 0.9, 0.95]),
        "patience": st.integers(0, 3),
        "cooldown": st.integers(0, 2),
        "warmup": st.integers(0, 2),
        "threshold": st.sampled_from([0.0, 1e-6, 1e-2]),
        "min_lr": st.sampled_from([1e-3, 0.05]),
        "max_lr": st.sampled_from([0.2, 1.0]),
        "smooth": st.booleans(),
        "window_size": st.integers(1, 4),
        "reset_start": st.integers(1, 3),
    }
)


@PROPERTY
@given(config=CONFIGS, metrics=st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=60))
def test_matches_transformers_on_metric_sequences(config, metrics):
    ours, theirs = _pair((0.1, 0.3), **config)
    for metric in metrics:
        ours.step(metric)
        theirs.step(metric)
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert [g["lr"] for g in ours.optimizer.param_groups] == [g["lr"] for g in theirs.optimizer.param_groups]
    assert ours.state_dict() == theirs.state_dict()


def test_does_not_touch_the_lr_at_construction_and_accepts_tensors():
    sched = ot.GreedyLR(_optimizer((0.7,)))
    assert sched.get_last_lr() == [0.7] and sched.last_epoch == 0
    sched.step(torch.tensor(1.5))
    assert sched.best == 1.5 and sched.last_epoch == 1


def test_reduces_increases_and_resets():
    sched = ot.GreedyLR(_optimizer((0.4,)), factor=0.5, patience=0, min_lr=0.1, max_lr=0.8, reset_start=2)
    lrs = []
    for metric in [1.0, 0.5, 0.5, 0.5, 0.5, 0.5]:
        sched.step(metric)
        lrs.append(sched.get_last_lr()[0])
    # up on each improvement, down to min_lr on plateaus, then two steps at the floor reset to 0.4.
    assert lrs == [0.8, 0.8, 0.4, 0.2, 0.1, 0.4]


def test_state_dict_round_trip_and_interop_with_transformers():
    ours, theirs = _pair(factor=0.5, patience=1, smooth=True, window_size=3)
    for metric in [3.0, 2.0, 1.0, 1.0, 1.0, 0.5]:
        ours.step(metric)
        theirs.step(metric)
    for source in (ours, theirs):
        fresh = ot.GreedyLR(_optimizer(), factor=0.5, patience=1, smooth=True, window_size=3)
        fresh.load_state_dict(source.state_dict())
        assert fresh.state_dict() == ours.state_dict()
        assert fresh.optimizer.param_groups[0]["lr"] == ours.get_last_lr()[0]
    upstream = hf.GreedyLR(_optimizer(), factor=0.5, patience=1, smooth=True, window_size=3)
    upstream.load_state_dict(ours.state_dict())
    assert upstream.state_dict() == ours.state_dict()


def test_state_dict_does_not_alias_the_live_schedule():
    sched = ot.GreedyLR(_optimizer(), smooth=True)
    state = sched.state_dict()
    sched.step(1.0)
    assert state["_last_lr"] == [0.1] and state["_streaming_avg"]["values"] == []


def test_verbose_prints_the_changes(capsys):
    sched = ot.GreedyLR(_optimizer((0.4,)), factor=0.5, patience=0, verbose=True)
    sched.step(1.0)
    assert capsys.readouterr().out == "Epoch 1: increasing learning rate of group 0 to 8.0000e-01.\n"


def test_is_not_an_optimizer_error():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        ot.GreedyLR(object())


# StreamingAverage: the smoothing window, exported as transformers exports it.

window_values = st.lists(
    st.one_of(st.floats(allow_nan=False, width=64), st.sampled_from([float("inf"), -float("inf"), float("nan")])),
    max_size=30,
)


@PROPERTY
@given(window_size=st.integers(1, 6), values=window_values)
def test_streaming_average_matches_transformers(window_size, values):
    ours, theirs = ot.StreamingAverage(window_size), hf.StreamingAverage(window_size)
    for value in values:
        mine, upstream = ours.streamavg(value), theirs.streamavg(value)
        assert repr(mine) == repr(upstream), f"after {value!r}: {mine!r} != transformers' {upstream!r}"
    assert repr(ours.state_dict()) == repr(theirs.state_dict())


def test_streaming_average_states_load_across_the_two():
    theirs = hf.StreamingAverage(3)
    for value in [1.0, 2.0, 4.0, 8.0]:
        theirs.streamavg(value)
    ours = ot.StreamingAverage(1)
    ours.load_state_dict(theirs.state_dict())
    assert (ours.window_size, ours.values, ours.sum) == (3, [2.0, 4.0, 8.0], 14.0)
    assert ours.streamavg(16.0) == theirs.streamavg(16.0) == 28.0 / 3
    back = hf.StreamingAverage(1)
    back.load_state_dict(ours.state_dict())
    assert back.state_dict() == ours.state_dict()


def test_streaming_average_state_does_not_alias_its_values():
    average = ot.StreamingAverage(2)
    average.streamavg(1.0)
    state = average.state_dict()
    state["values"].append(99.0)
    assert average.values == [1.0]


@pytest.mark.parametrize("window_size", [0, -1, 1.5, None])
def test_streaming_average_rejects_a_window_that_holds_nothing(window_size):
    with pytest.raises(ValueError, match=r"StreamingAverage: `window_size`=.* must be an integer >= 1"):
        ot.StreamingAverage(window_size)


def test_greedy_smooths_with_a_streaming_average():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = ot.GreedyLR(opt, smooth=True, window_size=2)
    for loss in [4.0, 2.0, 6.0]:
        sched.step(loss)
    assert isinstance(sched._streaming_avg, ot.StreamingAverage)
    assert sched.state_dict()["_streaming_avg"] == {"window_size": 2, "values": [2.0, 6.0], "sum": 8.0}
