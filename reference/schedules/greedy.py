"""``greedy``: transformers ``GreedyLR`` (``get_greedy_schedule``, since v5.4.0): cut the lr on a
plateau, raise it while the metric keeps improving, and start over after a long stay at the floor.

Construction leaves every group lr as it is (``best`` = ±inf, every counter 0,
``reset_start`` = its hyperparameter). Each ``step(metric)``, in this order::

    x ← metric;  if smooth: x ← streamavg(x)           (the window is fed even while waiting)
    if cooldown_counter > 0:  cooldown_counter −= 1;  bad ← good ← 0        (metric ignored)
    elif warmup_counter > 0:  warmup_counter −= 1;    bad ← good ← 0        (metric ignored)
    else:
        if better(x, best):  best ← x;  bad ← 0;  good += 1     else: bad += 1;  good ← 0
        if good > patience:   increase();  warmup_counter ← warmup;    good ← 0
        elif bad > patience:  reduce();    cooldown_counter ← cooldown;  bad ← 0

increase: per group ``new ← min(lr_i/factor, max_lr_i)``, set if ``new − lr_i > eps``; then
``reset_start`` is restored to its hyperparameter value.

reduce: per group ``new ← max(lr_i·factor, min_lr_i)``, set if ``lr_i − new > eps``. If afterwards
every group has ``lr_i ≤ min_lr_i``, ``reset_start −= 1``, and when it reaches ≤ 0 the schedule
resets: every lr back to its initial value, ``best`` = ±inf, all counters 0, ``reset_start``
restored, a fresh smoothing window. The reset happens inside reduce, so the step then still sets
``cooldown_counter ← cooldown``.

better(x, best) is ReduceLROnPlateau's test (``reduce_lr_on_plateau``), with other defaults
(``threshold_mode="abs"``, ``threshold=1e-6``).

streamavg(v) (transformers' ``StreamingAverage``): append v, ``sum ← sum + v``; if more than
``window_size`` values are held, pop the oldest o and ``sum ← sum − o``; return ``sum / count``.
It is a running sum, so its float64 drift is part of the spec, and so is its memory: one inf
makes the sum inf, and its removal makes it NaN (inf − inf) until the next reset; a NaN average is
never better.

Everything is float64 in this order. ``verbose`` (printing only) is left out. ``factor`` ≥ 1 is
rejected upstream; ``factor`` ≤ 0 (unchecked upstream: the increase divides by it) is rejected here,
and so are negative counts, thresholds, bounds and ``eps``.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("greedy", [5.0, 4.0, 3.0, 2.0, 2.0, 2.0, 2.0],
    ...                     {"lr": 0.1, "factor": 0.5, "patience": 1, "min_lr": 0.0})[:, 0].tolist()
    [0.1, 0.2, 0.2, 0.4, 0.4, 0.2, 0.2]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._numeric import NumericContext, Scalar
from .._spec import AlgorithmSpec, Boolean, HParam, Integer, Real
from ._common import GROUP_LRS, LR
from ._metric_driven import MODES, THRESHOLD_MODES, RealOrPerGroup, base_lrs, is_better, matches_group_count, per_group, reduced, worst

SPEC = AlgorithmSpec(
    name="greedy",
    kind="schedule",
    summary="GreedyLR: divide the lr by `factor` while the metric improves, multiply by it on a plateau, reset after a stay at the floor",
    hparams=(
        LR,
        GROUP_LRS,
        HParam("mode", "min", MODES, "'min': lower metrics are better; 'max': higher are"),
        HParam("factor", 0.95, Real(0.0, 1.0, low_open=True, high_open=True), "lr multiplier on a plateau, divisor on improvement"),
        HParam("patience", 10, Integer(0), "good or bad steps tolerated before the lr moves"),
        HParam("threshold", 1e-6, Real(0.0), "how much better a metric must be to count"),
        HParam("threshold_mode", "abs", THRESHOLD_MODES, "'rel': relative to best; 'abs': absolute"),
        HParam("cooldown", 0, Integer(0), "steps ignored after a cut"),
        HParam("warmup", 0, Integer(0), "steps ignored after a raise"),
        HParam("min_lr", 1e-3, RealOrPerGroup(Real(0.0)), "floor of the lr: one value, or one per param group"),
        HParam("max_lr", 1.0, RealOrPerGroup(Real(0.0)), "ceiling of the lr: one value, or one per param group"),
        HParam("eps", 1e-8, Real(0.0), "a change smaller than this is skipped"),
        HParam("smooth", False, Boolean(), "feed the rolling mean of the metrics instead of the metric"),
        HParam("window_size", 50, Integer(1), "how many metrics the rolling mean holds"),
        HParam("reset_start", 500, Integer(0), "cuts ending with every group at its floor before a reset"),
    ),
    state_fields=(
        "best", "num_bad_epochs", "num_good_epochs", "cooldown_counter", "warmup_counter", "reset_start", "_streaming_avg",
    ),
    step_indexing=(
        "one row per step(metric) call, holding every group lr after that call; construction does not "
        "change the lr"
    ),
    source="transformers v5.24.0 optimization.py GreedyLR, StreamingAverage, get_greedy_schedule",
    checks=(matches_group_count("min_lr"), matches_group_count("max_lr")),
    history=(
        "v5.4.0 (PR #44271): added, with the `greedy` scheduler type and `StreamingAverage`.",
    ),
    decisions=(
        "`factor` <= 0 is rejected (unchecked upstream: the increase divides by it); so are negative counts, thresholds, bounds and `eps`, and `window_size` < 1.",
        "Kept: the running-sum mean drifts in float64, and an inf metric poisons it until the next reset.",
    ),
)


@dataclass
class StreamingAverage:
    """transformers' rolling mean over the last ``window_size`` metrics, kept as a running sum."""

    window_size: int
    sum: Scalar
    values: list[Scalar] = field(default_factory=list)

    def streamavg(self, value: Scalar, nx: NumericContext) -> Scalar:
        self.values.append(value)
        self.sum = self.sum + value
        if len(self.values) > self.window_size:
            self.sum = self.sum - self.values.pop(0)
        return self.sum / nx.scalar(len(self.values))


class GreedyLR:
    """The scheduler's state and its ``step``, in transformers' names and order."""

    def __init__(self, hp: Mapping[str, Any], nx: NumericContext) -> None:
        self.hp, self.nx = hp, nx
        self._init_lrs = [nx.scalar(lr) for lr in base_lrs(hp)]
        self.min_lrs = [nx.scalar(v) for v in per_group(hp["min_lr"], len(self._init_lrs))]
        self.max_lrs = [nx.scalar(v) for v in per_group(hp["max_lr"], len(self._init_lrs))]
        self.factor, self.eps = nx.scalar(hp["factor"]), nx.scalar(hp["eps"])
        self.lrs = list(self._init_lrs)
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.best = worst(self.hp["mode"], self.nx)
        self.num_bad_epochs = self.num_good_epochs = 0
        self.cooldown_counter = self.warmup_counter = 0
        self.reset_start = self.hp["reset_start"]
        self._streaming_avg = StreamingAverage(self.hp["window_size"], self.nx.scalar(0.0)) if self.hp["smooth"] else None

    def step(self, metric: Any) -> None:
        current = self.nx.scalar(metric)
        if self._streaming_avg is not None:
            current = self._streaming_avg.streamavg(current, self.nx)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        elif self.warmup_counter > 0:
            self.warmup_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        else:
            if is_better(current, self.best, self.hp, self.nx):
                self.best, self.num_bad_epochs = current, 0
                self.num_good_epochs += 1
            else:
                self.num_bad_epochs += 1
                self.num_good_epochs = 0
            if self.num_good_epochs > self.hp["patience"]:
                self._increase_lr()
                self.warmup_counter, self.num_good_epochs = self.hp["warmup"], 0
            elif self.num_bad_epochs > self.hp["patience"]:
                self._reduce_lr()
                self.cooldown_counter, self.num_bad_epochs = self.hp["cooldown"], 0

    def _increase_lr(self) -> None:
        for i, (old, ceiling) in enumerate(zip(self.lrs, self.max_lrs)):
            new = min(old / self.factor, ceiling)  # Python's min, as upstream
            if new - old > self.eps:
                self.lrs[i] = new
        self.reset_start = self.hp["reset_start"]

    def _reduce_lr(self) -> None:
        self.lrs = [reduced(lr, self.factor, floor, self.eps) for lr, floor in zip(self.lrs, self.min_lrs)]
        if all(lr <= floor for lr, floor in zip(self.lrs, self.min_lrs)):
            self.reset_start -= 1
            if self.reset_start <= 0:
                self.lrs = list(self._init_lrs)
                self._reset_counters()


def run(inputs: Sequence[Any], hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> list[list[Any]]:
    """The group lrs after each ``step(metric)``, one row per metric in ``inputs``."""
    scheduler = GreedyLR(hp, nx)
    rows = []
    for metric in inputs:
        scheduler.step(metric)
        rows.append(list(scheduler.lrs))
    return rows
