"""``adafactor_schedule``: transformers' ``AdafactorSchedule``, the lr read back from Adafactor.

A LambdaLR proxy over an :mod:`adafactor <optimspec.reference.optimizers.adafactor>` optimizer,
driven by the usual loop ``optimizer.step(); scheduler.step()``. Each row is what the scheduler
writes into every group's ``lr``::

    row 0 (construction):  lr_g = initial_lr                      for every group
    row k (after step k):  lr_g = α = max(eps2, RMS)·ρ(t)         (ρ alone without scale_parameter)

where ``t`` and ``RMS`` are the step counter and stored RMS of the group's FIRST param after the
k-th optimizer step: the α that param used at its last step (Adafactor's own ``get_lr``).

Edge cases (kept: defined upstream behaviour):

* With ``relative_step=False`` the optimizer steps with ``group["lr"]``, which the schedule has
  overwritten: the manual lr is replaced by ``initial_lr`` at construction (0.0 by default, so the
  params never move), and with ``scale_parameter`` every read-back multiplies in another
  ``max(eps2, RMS)``, so the lr compounds from step to step.
* With ``relative_step=True`` the group lr is never read; the rows are pure read-backs.

Inputs, one row each: ``inputs[0]`` is the optimizer at construction, either one group
``{"params": {name: values}}`` or several ``{"groups": [{"params": {name: values}, "hparams":
{...}}, ...]}`` (group hparams override the case's); a group's params are in name order, so its
first param is the first name. ``inputs[k] = {name: grad}`` are the gradients of step k. Every
group's first param needs a gradient at every step (upstream drops a group whose first param has
none and shifts the others onto the wrong groups).

Example::

    >>> from optimspec.reference import run
    >>> inputs = [{"params": {"w": [3.0, -4.0]}}, {"w": [0.5, 0.25]}, {"w": [0.5, 0.25]}]
    >>> rows = run.schedule_values("adafactor_schedule", inputs, {})[:, 0].tolist()
    >>> rows[:2]                           # initial_lr, then 0.01·RMS(p₀) = 0.01·√12.5
    [0.0, 0.035355339059327376]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import run as driver
from .._numeric import NumericContext
from .._spec import AlgorithmSpec, HParam, Real
from ..optimizers import adafactor

OPTIMIZER = adafactor.SPEC.name

SPEC = AlgorithmSpec(
    name="adafactor_schedule",
    kind="schedule",
    summary="AdafactorSchedule: initial_lr at construction, then the α of each group's first param",
    hparams=(*adafactor.SPEC.hparams, HParam("initial_lr", 0.0, Real(0.0), "the lr written into every group at construction")),
    checks=adafactor.SPEC.checks,
    step_indexing="row 0 = construction; row k = after the k-th optimizer step (opt.step(); sched.step())",
    source="transformers v5.24.0 src/transformers/optimization.py (AdafactorSchedule)",
    history=(
        "PR #12123: added as a read-back proxy of Adafactor's internal lr; unchanged since.",
    ),
    decisions=(
        "Kept: construction writes `initial_lr` into every group, which zeroes a manual lr under `relative_step=False` (transformers#14574); golden cases cover it.",
        "Every group's first param needs a gradient at every step: upstream drops a group without one and shifts the others (the implementation reports `initial_lr` for it instead).",
    ),
)


def _with_lr(group: Mapping[str, Any], optimizer_hp: Mapping[str, Any], lr: Any) -> dict[str, Any]:
    """The group as the optimizer sees it once the schedule has written ``lr`` into it."""
    hparams = dict(group.get("hparams", {}))
    if not hparams.get("relative_step", optimizer_hp["relative_step"]):
        # The group lr is a float hyperparameter (the oracle's value is rounded here, as stored).
        hparams["lr"] = float(lr)
    return {"params": list(group["params"]), "hparams": hparams}


def run(inputs: Sequence[Any], hp: Mapping[str, Any], variant: Mapping[str, str], nx: NumericContext) -> list[list[Any]]:
    construction, step_grads = inputs[0], inputs[1:]
    given = construction.get("groups") or [{"params": construction["params"]}]
    params = {n: np.asarray(v, dtype=np.float64) for g in given for n, v in g["params"].items()}
    groups = [{"params": sorted(g["params"]), "hparams": g.get("hparams", {})} for g in given]
    optimizer_hp = {k: v for k, v in hp.items() if k != "initial_lr"}
    first_params = [g["params"][0] for g in groups]

    lrs = [nx.scalar(hp["initial_lr"])] * len(groups)
    rows = [lrs]
    state = driver.init_state(OPTIMIZER, params, optimizer_hp, groups)
    for k, grads in enumerate(step_grads, start=1):
        missing = [n for n in first_params if grads.get(n) is None]
        if missing:
            raise ValueError(f"step {k}: the first param of each group needs a gradient; none for {missing}")
        live = [_with_lr(g, optimizer_hp, lr) for g, lr in zip(groups, lrs)]
        grads = {n: None if g is None else np.asarray(g, dtype=np.float64) for n, g in grads.items()}
        params, state = driver.optimizer_step(OPTIMIZER, params, grads, state, optimizer_hp, groups=live, nx=nx)
        per_name = driver.group_hparams(OPTIMIZER, optimizer_hp, live, list(params))
        lrs = [adafactor.get_lr(state[n].step, state[n].RMS, per_name[n], nx) for n in first_params]
        rows.append(lrs)
    return rows
