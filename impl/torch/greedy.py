"""``GreedyLR``: the metric-driven schedule of transformers v5.4+ (arXiv 2512.14527).

Like ``ReduceLROnPlateau`` it is stepped with a metric, ``sched.step(val_loss)``, but it also
*raises* the lr while the metric keeps improving:

* a step counts as better when ``x < best − threshold`` (min/abs; min/rel: ``x < best·(1 − threshold)``;
  max mode mirrors it);
* more than ``patience`` better steps in a row: every group's lr becomes
  ``min(lr / factor, max_lr)`` (when that moves it by more than ``eps``), then ``warmup`` steps
  ignore the metric;
* more than ``patience`` worse steps in a row: ``max(lr · factor, min_lr)`` (same ``eps`` rule),
  then ``cooldown`` steps ignore the metric. Each reduction that leaves every group at its
  ``min_lr`` counts ``reset_start`` down; at 0 the schedule resets to its initial lrs and state;
* ``smooth=True`` replaces the metric by its running mean over the last ``window_size`` values
  (a running sum, so its float drift is part of the behaviour).

As upstream it is a plain class (not a torch ``LRScheduler``): it leaves the lr alone at
construction, and its ``state_dict`` has transformers' keys, so states load across the two.
With ``transformers.Trainer`` choose it by ``lr_scheduler_type="greedy"``: the Trainer only steps
its own ``GreedyLR`` class with the evaluation metric.

>>> import torch
>>> from optimspec.torch import GreedyLR
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
>>> sched = GreedyLR(opt, patience=1, factor=0.5)
>>> for loss in [3.0, 2.0, 1.0, 1.0, 1.0]:   # 2 improvements > patience: up; 2 plateaus: down
...     sched.step(loss)
...     print(sched.get_last_lr())
[0.5]
[1.0]
[1.0]
[1.0]
[0.5]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch.optim import Optimizer

from . import _checks

_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")

# Attributes saved by state_dict, with transformers' key names (so the two load each other's states).
_STATE_KEYS = (
    "factor",
    "min_lrs",
    "max_lrs",
    "patience",
    "verbose",
    "cooldown",
    "warmup",
    "cooldown_counter",
    "warmup_counter",
    "mode",
    "threshold",
    "threshold_mode",
    "best",
    "num_bad_epochs",
    "num_good_epochs",
    "eps",
    "last_epoch",
    "smooth",
    "window_size",
    "reset_start",
    "reset_start_original",
    "_last_lr",
    "_init_lrs",
)


class StreamingAverage:
    """The mean of the last ``window_size`` values, kept as a running sum (transformers' class).

    ``streamavg(v)`` appends ``v`` and adds it to ``sum``; when more than ``window_size`` values are
    held it pops the oldest ``o`` and subtracts it; it returns ``sum / len(values)``. The running sum
    is the behaviour, float drift included: one ``inf`` makes the sum ``inf`` and its removal makes
    it NaN. :class:`GreedyLR` smooths its metric with one of these when ``smooth=True``.

    Args:
        window_size: how many of the latest values the mean covers (an integer >= 1).

    Raises:
        ValueError: ``window_size`` is not an integer >= 1 (transformers accepts it, then divides
            by zero at the first value).

    Example:
        >>> from optimspec.torch import StreamingAverage
        >>> average = StreamingAverage(window_size=2)
        >>> [average.streamavg(v) for v in [1.0, 3.0, 5.0]]
        [1.0, 2.0, 4.0]
        >>> average.state_dict()
        {'window_size': 2, 'values': [3.0, 5.0], 'sum': 8.0}
    """

    def __init__(self, window_size: int) -> None:
        _checks.integer(type(self).__name__, "window_size", window_size, low=1)
        self.window_size: int = window_size
        self.values: list[float] = []
        self.sum: float = 0.0

    def streamavg(self, value: float) -> float:
        """Add ``value`` and return the mean of the values now held.

        Args:
            value: the latest metric.

        Returns:
            ``sum / len(values)`` after adding ``value`` (and dropping the oldest past the window).
        """
        self.values.append(value)
        self.sum += value
        if len(self.values) > self.window_size:
            self.sum -= self.values.pop(0)
        return self.sum / len(self.values)

    def state_dict(self) -> dict[str, Any]:
        """``{"window_size", "values" (a copy), "sum"}``, transformers' keys.

        Returns:
            The state as plain Python values (loads with ``torch.load(weights_only=True)``).
        """
        return {"window_size": self.window_size, "values": list(self.values), "sum": self.sum}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state; a missing key keeps the window size, or empties the values and sum.

        Args:
            state_dict: a dict from :meth:`state_dict` (or from transformers' ``StreamingAverage``).
        """
        self.window_size = state_dict.get("window_size", self.window_size)
        self.values = list(state_dict.get("values", []))
        self.sum = state_dict.get("sum", 0.0)


class GreedyLR:
    """Adaptive schedule that lowers the lr on plateaus and raises it on sustained improvement.

    Same signature, defaults, errors and state as ``transformers.GreedyLR`` (v5.4+). Besides the
    upstream errors (``factor >= 1``, a non-optimizer, wrong ``min_lr``/``max_lr`` list lengths,
    unknown ``mode``/``threshold_mode``) it rejects, at construction, ``factor <= 0`` (upstream
    divides by zero or produces negative lrs), negative counts, thresholds, ``eps`` or lr bounds,
    ``max_lr < min_lr`` and ``window_size < 1``.

    Args:
        optimizer: the optimizer whose group lrs are moved.
        mode: ``"min"`` (lower metrics are better) or ``"max"``.
        factor: the lr is multiplied by it on a plateau and divided by it on improvement (0 < f < 1).
        patience: good or bad steps tolerated before the lr moves (an integer >= 0).
        threshold: how much better a metric must be to count (>= 0).
        threshold_mode: ``"abs"`` (``best − threshold``) or ``"rel"`` (``best·(1 − threshold)``).
        cooldown: steps ignored after a cut (>= 0).
        warmup: steps ignored after a raise (>= 0).
        min_lr: the floor, one value or one per group (>= 0).
        max_lr: the ceiling, one value or one per group (>= ``min_lr``).
        eps: a change smaller than this is skipped (>= 0).
        verbose: print each change.
        smooth: feed the mean of the last ``window_size`` metrics (:class:`StreamingAverage`).
        window_size: the smoothing window (an integer >= 1).
        reset_start: how many cuts ending at the floor before everything resets (>= 0).

    Raises:
        ValueError: an out-of-domain argument (above), naming it; ``factor >= 1`` with
            transformers' own message.
        TypeError: ``optimizer`` is not a torch ``Optimizer``.

    Example:
        >>> import torch
        >>> from optimspec.torch import GreedyLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
        >>> sched = GreedyLR(opt, patience=1, factor=0.5, min_lr=0.1)
        >>> lrs = []
        >>> for loss in [1.0] * 7:              # a plateau: a cut after every 2 bad steps, to min_lr
        ...     sched.step(loss)
        ...     lrs.append(sched.get_last_lr()[0])
        >>> lrs
        [0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.1]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.95,
        patience: int = 10,
        threshold: float = 1e-6,
        threshold_mode: str = "abs",
        cooldown: int = 0,
        warmup: int = 0,
        min_lr: float | list[float] = 1e-3,
        max_lr: float | list[float] = 1.0,
        eps: float = 1e-8,
        verbose: bool = False,
        smooth: bool = False,
        window_size: int = 50,
        reset_start: int = 500,
    ) -> None:
        owner = type(self).__name__
        if factor >= 1.0:
            raise ValueError(f"{owner}: Factor should be < 1.0. (`factor`={factor!r} must be in (0, 1))")
        _checks.real(owner, "factor", factor, low=0.0, high=1.0, low_open=True)
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        num_groups = len(optimizer.param_groups)
        self.min_lrs = _per_group(owner, "min_lr", min_lr, num_groups)
        self.max_lrs = _per_group(owner, "max_lr", max_lr, num_groups)
        if mode not in _MODES:
            raise ValueError(f"{owner}: mode {mode} is unknown! (`mode` must be one of {_MODES})")
        if threshold_mode not in _THRESHOLD_MODES:
            raise ValueError(
                f"{owner}: threshold mode {threshold_mode} is unknown! "
                f"(`threshold_mode` must be one of {_THRESHOLD_MODES})"
            )
        counts = {"patience": patience, "cooldown": cooldown, "warmup": warmup, "reset_start": reset_start}
        for name, count in counts.items():
            _checks.integer(owner, name, count)
        _checks.integer(owner, "window_size", window_size, low=1)
        _checks.real(owner, "threshold", threshold, low=0.0)
        _checks.real(owner, "eps", eps, low=0.0)
        for i, (low, high) in enumerate(zip(self.min_lrs, self.max_lrs)):
            _checks.real(owner, f"min_lr[{i}]", low, low=0.0)
            _checks.real(owner, f"max_lr[{i}]", high, low=low)

        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.warmup = warmup
        self.eps = eps
        self.verbose = verbose
        self.smooth = smooth
        self.window_size = window_size
        self.reset_start = reset_start
        self.reset_start_original = reset_start
        self.last_epoch = 0
        self._init_lrs = [group["lr"] for group in optimizer.param_groups]
        self._last_lr = list(self._init_lrs)
        self._clear_progress()

    def _clear_progress(self) -> None:
        """The initial counters, best value and running mean (construction and reset)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.num_good_epochs = 0
        self.cooldown_counter = 0
        self.warmup_counter = 0
        self._streaming_avg = StreamingAverage(self.window_size) if self.smooth else None

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (1.0 + self.threshold)
        return current > best + self.threshold

    def step(self, metrics: float, epoch: int | None = None) -> None:
        """Take one step with the latest metric (a float or a 0-d tensor)."""
        current = float(metrics)
        if self._streaming_avg is not None:
            current = self._streaming_avg.streamavg(current)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.cooldown_counter > 0 or self.warmup_counter > 0:
            # A pause after a change: the metric is ignored and `best` is left alone.
            if self.cooldown_counter > 0:
                self.cooldown_counter -= 1
            else:
                self.warmup_counter -= 1
            self.num_bad_epochs = 0
            self.num_good_epochs = 0
        else:
            if self.is_better(current, self.best):
                self.best = current
                self.num_bad_epochs = 0
                self.num_good_epochs += 1
            else:
                self.num_bad_epochs += 1
                self.num_good_epochs = 0
            if self.num_good_epochs > self.patience:
                self._increase_lr()
                self.warmup_counter = self.warmup
                self.num_good_epochs = 0
            elif self.num_bad_epochs > self.patience:
                self._reduce_lr()
                self.cooldown_counter = self.cooldown
                self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _set_lr(self, i: int, group: dict[str, Any], new_lr: float, verb: str) -> None:
        group["lr"] = new_lr
        if self.verbose:
            print(f"Epoch {self.last_epoch}: {verb} learning rate of group {i} to {new_lr:.4e}.")

    def _reduce_lr(self) -> None:
        all_at_min = True
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                self._set_lr(i, group, new_lr, "reducing")
            if group["lr"] > self.min_lrs[i]:
                all_at_min = False
        if all_at_min:
            self.reset_start -= 1
            if self.reset_start <= 0:
                self._reset()

    def _increase_lr(self) -> None:
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = min(old_lr / self.factor, self.max_lrs[i])
            if new_lr - old_lr > self.eps:
                self._set_lr(i, group, new_lr, "increasing")
        self.reset_start = self.reset_start_original

    def _reset(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._init_lrs):
            group["lr"] = lr
        self._clear_progress()
        self.reset_start = self.reset_start_original
        if self.verbose:
            print("Scheduler reset to initial state.")

    def get_last_lr(self) -> list[float]:
        """The group lrs after the last step (the initial lrs before the first)."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """Every counter and setting (plain Python values: loads with ``torch.load(weights_only=True)``)."""
        state = {key: _copied(getattr(self, key)) for key in _STATE_KEYS}
        if self._streaming_avg is not None:
            state["_streaming_avg"] = self._streaming_avg.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state; missing keys keep their current values. Writes ``_last_lr`` into the groups."""
        for key in _STATE_KEYS:
            setattr(self, key, _copied(state_dict.get(key, getattr(self, key))))
        if "_streaming_avg" in state_dict:
            if self._streaming_avg is None:
                self._streaming_avg = StreamingAverage(self.window_size)
            self._streaming_avg.load_state_dict(state_dict["_streaming_avg"])
        if "_last_lr" in state_dict:
            for group, lr in zip(self.optimizer.param_groups, self._last_lr):
                group["lr"] = lr


def _per_group(owner: str, name: str, value: float | Sequence[float], num_groups: int) -> list[float]:
    """A scalar broadcast to every param group, or a list with one value per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != num_groups:
            raise ValueError(f"{owner}: expected {num_groups} {name}s, got {len(value)} (`{name}`)")
        return list(value)
    return [value] * num_groups


def _copied(value: Any) -> Any:
    """Lists are copied so a state dict never aliases the live schedule."""
    return list(value) if isinstance(value, list) else value
