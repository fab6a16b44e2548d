"""The metric-driven schedules ``reduce_lr_on_plateau`` and ``greedy``: hand-worked metric
sequences for every rule of the two reference docstrings, the rejected inputs, and bit-for-bit cross-checks
against torch ``ReduceLROnPlateau`` and transformers ``GreedyLR`` (both compute in Python floats)."""

from __future__ import annotations

import doctest
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from optimspec.conformance.cases import greedy as greedy_cases
from optimspec.conformance.cases import reduce_lr_on_plateau as plateau_cases
from optimspec.reference import run
from optimspec.reference._numeric import exact

NAN, INF = math.nan, math.inf


def lrs(algorithm: str, metrics: Sequence[float], **hparams: Any) -> list[list[float]]:
    """Every group lr after each step."""
    return run.schedule_values(algorithm, metrics, hparams).tolist()


def lr(algorithm: str, metrics: Sequence[float], **hparams: Any) -> list[float]:
    """The single group's lr after each step."""
    return [row[0] for row in lrs(algorithm, metrics, **hparams)]


# --------------------------------------------------------------------------------------------------
# reduce_lr_on_plateau
# --------------------------------------------------------------------------------------------------


def test_plateau_cuts_once_bad_steps_exceed_patience() -> None:
    # step 1 sets best; steps 2, 3 are bad (1, 2 ≤ patience); step 4 is the 3rd: cut, count reset.
    assert lr("reduce_lr_on_plateau", [1.0] * 7, lr=1.0, factor=0.5, patience=2) == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_plateau_construction_leaves_lr_and_first_metric_is_better() -> None:
    assert lr("reduce_lr_on_plateau", [5.0], lr=0.3, patience=0) == [0.3]


@pytest.mark.parametrize(
    ("mode", "threshold_mode", "metrics", "expected"),
    [
        # best 10, threshold 0.1: rel needs < 9 (min) or > 11 (max); abs needs < 9.9 or > 10.1.
        ("min", "rel", [10.0, 9.5], [1.0, 0.5]),
        ("min", "abs", [10.0, 9.5], [1.0, 1.0]),
        ("max", "rel", [10.0, 10.5], [1.0, 0.5]),
        ("max", "abs", [10.0, 10.5], [1.0, 1.0]),
        ("min", "abs", [10.0, 11.0], [1.0, 0.5]),
        ("max", "abs", [10.0, 9.0], [1.0, 0.5]),
    ],
)
def test_plateau_better_by_mode_and_threshold(mode: str, threshold_mode: str, metrics: list[float], expected: list[float]) -> None:
    got = lr("reduce_lr_on_plateau", metrics, lr=1.0, factor=0.5, patience=0, mode=mode, threshold_mode=threshold_mode, threshold=0.1)
    assert got == expected


def test_plateau_better_is_strict() -> None:
    # best·(1 − 0.25) = 0.75 exactly: 0.75 is not better, 0.7499999 is.
    assert lr("reduce_lr_on_plateau", [1.0, 0.75, 0.7499999, 0.75], lr=1.0, factor=0.5, patience=0, threshold=0.25) == [1.0, 0.5, 0.5, 0.25]


def test_plateau_cooldown_drops_bad_steps() -> None:
    # cut at step 2 (cooldown 2), steps 3 and 4 cool down, step 5 cuts again.
    got = lr("reduce_lr_on_plateau", [1.0] * 7, lr=1.0, factor=0.5, patience=0, cooldown=2)
    assert got == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_plateau_best_still_updates_in_cooldown() -> None:
    # 4.0 arrives during the cooldown and still becomes best, so 4.5 after it is bad: a cut.
    got = lr("reduce_lr_on_plateau", [5.0, 5.0, 4.0, 4.5, 4.0], lr=1.0, factor=0.5, patience=0, cooldown=1)
    assert got == [1.0, 0.5, 0.5, 0.25, 0.25]


def test_plateau_min_lr_floor() -> None:
    assert lr("reduce_lr_on_plateau", [1.0] * 4, lr=1.0, factor=0.5, patience=0, min_lr=0.3) == [1.0, 0.5, 0.3, 0.3]


def test_plateau_eps_skips_small_cuts() -> None:
    assert lr("reduce_lr_on_plateau", [1.0] * 3, lr=1e-7, factor=0.5, patience=0, eps=1e-7) == [1e-7] * 3
    assert lr("reduce_lr_on_plateau", [1.0] * 2, lr=0.0150000001, factor=0.5, patience=0, min_lr=0.015) == [0.0150000001] * 2


def test_plateau_per_group_min_lr() -> None:
    got = lrs("reduce_lr_on_plateau", [1.0] * 3, lr=1.0, group_lrs=[1.0, 0.4], factor=0.5, patience=0, min_lr=[0.0, 0.3])
    assert got == [[1.0, 0.4], [0.5, 0.3], [0.25, 0.3]]


def test_plateau_nan_metric_is_a_bad_step() -> None:
    assert lr("reduce_lr_on_plateau", [1.0, NAN, NAN, 0.5], lr=1.0, factor=0.5, patience=1) == [1.0, 1.0, 0.5, 0.5]


def test_plateau_nothing_beats_minus_inf() -> None:
    assert lr("reduce_lr_on_plateau", [-INF, -1e308, -1e308], lr=1.0, factor=0.5, patience=1) == [1.0, 1.0, 0.5]


def test_plateau_runs_in_the_exact_context() -> None:
    metrics = [1.0, 1.0, 0.5, 0.5, 0.5]
    hp = {"lr": 1.0, "factor": 0.5, "patience": 1, "group_lrs": [1.0, 0.25]}
    assert run.schedule_values("reduce_lr_on_plateau", metrics, hp, nx=exact()).tolist() == run.schedule_values("reduce_lr_on_plateau", metrics, hp).tolist()


# --------------------------------------------------------------------------------------------------
# greedy
# --------------------------------------------------------------------------------------------------

GREEDY = {"lr": 0.1, "factor": 0.5, "min_lr": 0.0}


def test_greedy_defaults() -> None:
    hp = run.registry.spec("greedy").defaults()
    assert (hp["mode"], hp["factor"], hp["patience"], hp["threshold"], hp["threshold_mode"]) == ("min", 0.95, 10, 1e-6, "abs")
    assert (hp["min_lr"], hp["max_lr"], hp["eps"], hp["window_size"], hp["reset_start"]) == (1e-3, 1.0, 1e-8, 50, 500)


def test_greedy_increases_while_improving_up_to_max_lr() -> None:
    # patience 1: every second improving step divides by 0.5; 0.8 is capped at 0.5.
    got = lr("greedy", [5.0, 4.0, 3.0, 2.0, 1.0, 0.5], **GREEDY, patience=1, max_lr=0.5)
    assert got == [0.1, 0.2, 0.2, 0.4, 0.4, 0.5]


def test_greedy_reduces_on_plateau_down_to_min_lr() -> None:
    got = lr("greedy", [1.0] * 7, **{**GREEDY, "min_lr": 0.03}, patience=1)
    assert got == [0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03]


def test_greedy_warmup_ignores_steps_after_a_raise() -> None:
    # patience 0: the first metric raises; the next two are ignored, the 4th raises again.
    got = lr("greedy", [5.0, 4.0, 3.0, 2.0, 1.0], **GREEDY, patience=0, warmup=2)
    assert got == [0.2, 0.2, 0.2, 0.4, 0.4]


def test_greedy_cooldown_ignores_steps_after_a_cut() -> None:
    got = lr("greedy", [1.0] * 6, **{**GREEDY, "lr": 0.8}, patience=0, cooldown=2)
    assert got == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_greedy_eps_skips_small_changes() -> None:
    assert lr("greedy", [1.0, 1.0], **{**GREEDY, "lr": 1e-8}, patience=0, eps=1e-8) == [1e-8, 1e-8]


def test_greedy_reset_after_reset_start_floor_cuts() -> None:
    # 0.2 (raise), 0.1, 0.05 (floor: 1 left), 0.05 (0 left: reset to 0.1), then best = inf again.
    got = lr("greedy", [1.0] * 6, **{**GREEDY, "min_lr": 0.05}, patience=0, reset_start=2)
    assert got == [0.2, 0.1, 0.05, 0.1, 0.2, 0.1]


def test_greedy_reset_restores_every_group() -> None:
    got = lrs("greedy", [1.0] * 4, **{**GREEDY, "group_lrs": [0.1, 0.4], "min_lr": [0.05, 0.2]}, patience=0, reset_start=2, max_lr=[0.2, 0.8])
    assert got == [[0.2, 0.8], [0.1, 0.4], [0.05, 0.2], [0.1, 0.4]]


def test_greedy_countdown_waits_for_every_group_at_its_floor() -> None:
    got = lrs("greedy", [1.0] * 4, **{**GREEDY, "group_lrs": [0.1, 0.8], "min_lr": [0.05, 0.1]}, patience=0, reset_start=1)
    assert got == [[0.2, 1.0], [0.1, 0.5], [0.05, 0.25], [0.05, 0.125]]


def test_greedy_reset_cut_still_starts_the_cooldown() -> None:
    got = lr("greedy", [1.0] * 5, **{**GREEDY, "min_lr": 0.1}, patience=0, reset_start=1, cooldown=2)
    assert got == [0.2, 0.1, 0.1, 0.1, 0.2]


def test_greedy_increase_restores_the_countdown() -> None:
    # floor cut (2 left), raise (3 again), then three floor cuts: the reset comes on step 6.
    got = lr("greedy", [2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0], **{**GREEDY, "min_lr": 0.1}, patience=0, reset_start=3)
    assert got == [0.2, 0.1, 0.2, 0.1, 0.1, 0.1, 0.2]
    # without the raise it comes on step 4, the third floor cut
    assert lr("greedy", [2.0] * 5, **{**GREEDY, "min_lr": 0.1}, patience=0, reset_start=3) == [0.2, 0.1, 0.1, 0.1, 0.2]


def test_greedy_modes_and_thresholds() -> None:
    # max/rel 0.1: 1.05 is not above 1.1, 1.2 is.
    assert lr("greedy", [1.0, 1.05, 1.2], **GREEDY, patience=0, mode="max", threshold_mode="rel", threshold=0.1) == [0.2, 0.1, 0.2]
    # min/abs default 1e-6: a drop of 5e-7 is not an improvement.
    assert lr("greedy", [1.0, 0.9999995], **GREEDY, patience=0) == [0.2, 0.1]


def test_greedy_smooth_feeds_the_window_mean() -> None:
    # window 2: means 4, 3, 2, 2 — three improvements then a bad step; unsmoothed, 2.0 repeats at step 3.
    assert lr("greedy", [4.0, 2.0, 2.0, 2.0], **GREEDY, patience=0, smooth=True, window_size=2) == [0.2, 0.4, 0.8, 0.4]
    assert lr("greedy", [4.0, 2.0, 2.0, 2.0], **GREEDY, patience=0) == [0.2, 0.4, 0.2, 0.1]


def test_greedy_running_sum_drift_decides() -> None:
    # Window means from step 3 on are all (0.71 + 0.59 + 0.3)/3 in exact arithmetic, so step 4 is
    # not an improvement with exact means; the running sum lands an ulp lower, so it is one.
    metrics = [0.71, 0.59, 0.3, 0.71]
    hp = {**GREEDY, "patience": 1, "threshold": 0.0}
    assert lr("greedy", metrics, **hp, smooth=True, window_size=3) == [0.1, 0.2, 0.2, 0.4]
    exact_means = [math.fsum(metrics[max(0, i - 2) : i + 1]) / min(i + 1, 3) for i in range(4)]
    assert lr("greedy", exact_means, **hp) == [0.1, 0.2, 0.2, 0.2]


def test_greedy_inf_in_the_window_leaves_nan_until_reset() -> None:
    # window 1: the mean of inf is inf, then (inf + 1) − inf = NaN forever: every step is bad.
    assert lr("greedy", [1.0, INF, 1.0, 0.5, 0.25], **GREEDY, patience=0, smooth=True, window_size=1) == [0.2, 0.1, 0.05, 0.025, 0.0125]


def test_greedy_runs_in_the_exact_context() -> None:
    metrics = [4.0, 2.0, 2.0, 2.0, 1.0]
    hp = {**GREEDY, "patience": 0, "smooth": True, "window_size": 2, "group_lrs": [0.1, 0.5]}
    assert run.schedule_values("greedy", metrics, hp, nx=exact()).tolist() == run.schedule_values("greedy", metrics, hp).tolist()


# --------------------------------------------------------------------------------------------------
# rejected inputs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "hparams", "argument"),
    [
        ("reduce_lr_on_plateau", {"factor": 1.0}, "factor"),
        ("reduce_lr_on_plateau", {"factor": -0.1}, "factor"),
        ("reduce_lr_on_plateau", {"mode": "minimum"}, "mode"),
        ("reduce_lr_on_plateau", {"threshold_mode": "relative"}, "threshold_mode"),
        ("reduce_lr_on_plateau", {"group_lrs": [0.1, 0.2], "min_lr": [0.0]}, "min_lr"),
        ("reduce_lr_on_plateau", {"min_lr": [0.0, -1.0]}, "min_lr"),
        ("reduce_lr_on_plateau", {"min_lr": []}, "min_lr"),
        ("reduce_lr_on_plateau", {"patience": -1}, "patience"),
        ("reduce_lr_on_plateau", {"cooldown": -1}, "cooldown"),
        ("reduce_lr_on_plateau", {"threshold": -1e-4}, "threshold"),
        ("reduce_lr_on_plateau", {"eps": -1e-8}, "eps"),
        ("greedy", {"factor": 1.0}, "factor"),
        ("greedy", {"factor": 0.0}, "factor"),
        ("greedy", {"factor": -0.5}, "factor"),
        ("greedy", {"group_lrs": [0.1, 0.2], "min_lr": [0.0, 0.0, 0.0]}, "min_lr"),
        ("greedy", {"max_lr": [1.0, 1.0]}, "max_lr"),
        ("greedy", {"max_lr": None}, "max_lr"),
        ("greedy", {"mode": "maximum"}, "mode"),
        ("greedy", {"threshold_mode": "absolute"}, "threshold_mode"),
        ("greedy", {"smooth": True, "window_size": 0}, "window_size"),
        ("greedy", {"patience": -1}, "patience"),
        ("greedy", {"cooldown": -1}, "cooldown"),
        ("greedy", {"warmup": -1}, "warmup"),
        ("greedy", {"reset_start": -1}, "reset_start"),
        ("greedy", {"eps": -1.0}, "eps"),
    ],
)
def test_rejected(algorithm: str, hparams: Mapping[str, Any], argument: str) -> None:
    with pytest.raises(ValueError, match=f"`{argument}`"):
        run.schedule_values(algorithm, [1.0], hparams)


# --------------------------------------------------------------------------------------------------
# cross-checks against the real classes: bit for bit
# --------------------------------------------------------------------------------------------------


def _upstream_rows(scheduler_class: Any, hparams: Mapping[str, Any], metrics: Sequence[float]) -> list[list[float]]:
    import torch

    group_lrs = hparams.get("group_lrs") or [hparams.get("lr", 1.0)]
    kwargs = {k: v for k, v in hparams.items() if k not in ("lr", "group_lrs")}
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": g} for g in group_lrs])
    scheduler = scheduler_class(optimizer, **kwargs)
    rows = []
    for metric in metrics:
        scheduler.step(metric)
        rows.append([float(group["lr"]) for group in optimizer.param_groups])
    return rows


def _random_metrics(generator: np.random.Generator, steps: int) -> list[float]:
    """Coarsely rounded noisy walks, so ties, plateaus and threshold edges occur; a few NaN/inf."""
    values = np.round(1.0 + (generator.normal(-0.01, 0.05, steps)).cumsum(), int(generator.integers(1, 4)))
    metrics = [float(v) for v in values]
    for _ in range(int(generator.integers(0, 2))):
        metrics[int(generator.integers(steps))] = float(generator.choice([NAN, INF, -INF]))
    return metrics


def _random_bound(generator: np.random.Generator, groups: int, choices: Sequence[float]) -> Any:
    if generator.random() < 0.5:
        return float(generator.choice(choices))
    return [float(generator.choice(choices)) for _ in range(groups)]


def _random_common(generator: np.random.Generator) -> dict[str, Any]:
    groups = int(generator.integers(1, 4))
    return {
        "lr": 0.1,
        "group_lrs": [float(v) for v in generator.choice([0.1, 0.03, 1.0, 0.007], groups)],
        "mode": str(generator.choice(["min", "max"])),
        "threshold_mode": str(generator.choice(["rel", "abs"])),
        "threshold": float(generator.choice([0.0, 1e-6, 1e-4, 1e-2, 0.1])),
        "factor": float(generator.choice([0.1, 0.5, 0.9, 0.95])),
        "patience": int(generator.integers(0, 5)),
        "cooldown": int(generator.integers(0, 4)),
        "eps": float(generator.choice([0.0, 1e-8, 1e-3])),
    }


def test_plateau_matches_torch_on_the_golden_cases() -> None:
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    for group in plateau_cases.GROUPS:
        for case in group.cases:
            expected = _upstream_rows(ReduceLROnPlateau, case.hparams, case.inputs)
            assert run.schedule_values("reduce_lr_on_plateau", case.inputs, case.hparams).tolist() == expected, case.name


def test_plateau_matches_torch_on_random_sequences() -> None:
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    generator = np.random.default_rng(20260)
    for trial in range(300):
        hp = _random_common(generator)
        hp["min_lr"] = _random_bound(generator, len(hp["group_lrs"]), [0.0, 1e-3, 0.02])
        metrics = _random_metrics(generator, 60)
        got = run.schedule_values("reduce_lr_on_plateau", metrics, hp).tolist()
        assert got == _upstream_rows(ReduceLROnPlateau, hp, metrics), (trial, hp, metrics)


def test_greedy_matches_transformers_on_the_golden_cases() -> None:
    optimization = pytest.importorskip("transformers.optimization")

    for group in greedy_cases.GROUPS:
        for case in group.cases:
            expected = _upstream_rows(optimization.GreedyLR, case.hparams, case.inputs)
            assert run.schedule_values("greedy", case.inputs, case.hparams).tolist() == expected, case.name


def test_greedy_matches_transformers_on_random_sequences() -> None:
    optimization = pytest.importorskip("transformers.optimization")

    generator = np.random.default_rng(20261)
    for trial in range(300):
        hp = _random_common(generator)
        groups = len(hp["group_lrs"])
        hp.update(
            warmup=int(generator.integers(0, 3)),
            min_lr=_random_bound(generator, groups, [0.0, 1e-3, 0.02]),
            max_lr=_random_bound(generator, groups, [0.05, 0.5, 1.0, 2.0]),
            smooth=bool(generator.random() < 0.5),
            window_size=int(generator.integers(1, 7)),
            reset_start=int(generator.integers(0, 5)),
        )
        metrics = _random_metrics(generator, 60)
        got = run.schedule_values("greedy", metrics, hp).tolist()
        assert got == _upstream_rows(optimization.GreedyLR, hp, metrics), (trial, hp, metrics)


@pytest.mark.parametrize("algorithm", ["reduce_lr_on_plateau", "greedy"])
def test_docstring_example(algorithm: str) -> None:
    result = doctest.testmod(run.registry.module(algorithm))
    assert result.attempted > 0 and result.failed == 0
