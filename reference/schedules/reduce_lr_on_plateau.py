"""``reduce_lr_on_plateau``: ``get_reduce_on_plateau_schedule`` = torch ``ReduceLROnPlateau``.

Construction leaves every group lr as it is (``best`` = +inf for ``mode="min"``, −inf for ``"max"``;
no bad steps; no cooldown). Each ``step(metric)``, in this order::

    if better(metric, best):  best ← metric;  bad ← 0      else: bad ← bad + 1
    if cooldown_counter > 0:  cooldown_counter ← cooldown_counter − 1;  bad ← 0
    if bad > patience:
        for each group i:  new ← max(lr_i·factor, min_lr_i);  lr_i ← new  if lr_i − new > eps
        cooldown_counter ← cooldown;  bad ← 0

better(a, best): min/rel ``a < best·(1 − threshold)``, min/abs ``a < best − threshold``,
max/rel ``a > best·(1 + threshold)``, max/abs ``a > best + threshold``. All in float64, in this
order: the decisions depend on it.

Edge cases: a NaN metric is never better (it counts as a bad step); the first finite metric is
always better than the initial ±inf (except in min/rel mode with ``threshold`` ≥ 1, where
``inf·(1 − thr)`` is NaN or −inf and nothing is ever better); bad steps seen while cooling down are dropped; ``min_lr`` floors each group and a
cut smaller than ``eps`` is skipped, so an lr already within ``eps`` of its floor never moves.
Negative factors, counts, thresholds, floors and ``eps`` (accepted upstream) are rejected here;
``factor`` ≥ 1 is rejected upstream too.

Example::

    >>> from optimspec.reference import run
    >>> run.schedule_values("reduce_lr_on_plateau", [1.0, 1.0, 1.0, 0.5, 0.6, 0.7],
    ...                     {"lr": 1.0, "factor": 0.5, "patience": 1})[:, 0].tolist()
    [1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._numeric import NumericContext
from .._spec import AlgorithmSpec, HParam, Integer, Real
from ._common import GROUP_LRS, LR
from ._metric_driven import MODES, THRESHOLD_MODES, RealOrPerGroup, base_lrs, is_better, matches_group_count, per_group, reduced, worst

SPEC = AlgorithmSpec(
    name="reduce_lr_on_plateau",
    kind="schedule",
    summary="torch ReduceLROnPlateau: cut every group lr by `factor` once the metric stops improving for `patience` steps",
    hparams=(
        LR,
        GROUP_LRS,
        HParam("mode", "min", MODES, "'min': lower metrics are better; 'max': higher are"),
        HParam("factor", 0.1, Real(0.0, 1.0, high_open=True), "lr multiplier on a plateau, in [0, 1)"),
        HParam("patience", 10, Integer(0), "bad steps tolerated before a cut"),
        HParam("threshold", 1e-4, Real(0.0), "how much better a metric must be to count"),
        HParam("threshold_mode", "rel", THRESHOLD_MODES, "'rel': relative to best; 'abs': absolute"),
        HParam("cooldown", 0, Integer(0), "steps after a cut during which bad steps are dropped"),
        HParam("min_lr", 0, RealOrPerGroup(Real(0.0)), "floor of the lr: one value, or one per param group"),
        HParam("eps", 1e-8, Real(0.0), "a cut smaller than this is skipped"),
    ),
    state_fields=("best", "num_bad_epochs", "cooldown_counter"),
    step_indexing=(
        "one row per step(metric) call, holding every group lr after that call; construction does not "
        "change the lr"
    ),
    source=(
        "transformers v5.24.0 optimization.py get_reduce_on_plateau_schedule -> "
        "torch 2.13 torch/optim/lr_scheduler.py ReduceLROnPlateau"
    ),
    checks=(matches_group_count("min_lr"),),
    history=(
        "torch's `ReduceLROnPlateau`, unchanged; transformers adds the factory and the `get_scheduler` entry.",
    ),
    decisions=(
        "Rejected at construction: a negative `factor`, `patience`, `cooldown`, `threshold`, `eps` or `min_lr`, which torch accepts and then misbehaves with (negative lrs, a cut at every step); torch itself rejects `factor` >= 1.",
    ),
)


def run(inputs: Sequence[Any], hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> list[list[Any]]:
    """The group lrs after each ``step(metric)``, one row per metric in ``inputs``."""
    lrs = [nx.scalar(lr) for lr in base_lrs(hp)]
    floors = [nx.scalar(v) for v in per_group(hp["min_lr"], len(lrs))]
    factor, eps = nx.scalar(hp["factor"]), nx.scalar(hp["eps"])
    best, num_bad_epochs, cooldown_counter = worst(hp["mode"], nx), 0, 0
    rows = []
    for metric in inputs:
        current = nx.scalar(metric)
        if is_better(current, best, hp, nx):
            best, num_bad_epochs = current, 0
        else:
            num_bad_epochs += 1
        if cooldown_counter > 0:
            cooldown_counter -= 1
            num_bad_epochs = 0
        if num_bad_epochs > hp["patience"]:
            lrs = [reduced(lr, factor, floor, eps) for lr, floor in zip(lrs, floors)]
            cooldown_counter, num_bad_epochs = hp["cooldown"], 0
        rows.append(list(lrs))
    return rows
