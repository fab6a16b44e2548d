"""Computing the learning rate of 10⁶ steps: optimspec.torch's schedules against transformers'.

Groups ``schedule-cosine`` and ``schedule-linear`` of ``implementations.SCHEDULE_GROUPS``, baseline
``transformers``. One round builds the schedule for ``OPTIMSPEC_BENCH_SCHEDULE_STEPS`` training
steps (default 10⁶, 1 % warmup) over a one-param SGD optimizer and runs ``scheduler.step()`` and
``scheduler.get_last_lr()`` that many times; building it costs microseconds of the round's seconds.
Both libraries' schedules are ``LambdaLR``s, so the time is the λ plus torch's scheduler
bookkeeping. The scale of the run does not matter here (``make bench`` runs these once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from implementations import SCHEDULE_GROUPS

if TYPE_CHECKING:
    from conftest import BenchConfig, Measure

pytest.importorskip("torch")
pytest.importorskip("optimspec.torch")
pytest.importorskip("transformers.optimization")

CASES = [(group.name, label) for group in SCHEDULE_GROUPS.values() for label in group.labels]


@pytest.mark.parametrize(("group", "label"), CASES)
def test_lr_trace(measure: Measure, bench_config: BenchConfig, group: str, label: str) -> None:
    """The lr of every step of a schedule."""
    spec = SCHEDULE_GROUPS[group]
    steps = bench_config.schedule_steps
    last_epochs: list[int] = []
    measure(
        lambda: last_epochs.append(spec.lr_trace(label, steps)),
        group=group,
        label=label,
        baseline=spec.baseline,
        rounds=bench_config.schedule_rounds,
        warmup_rounds=0,
        steps=steps,
    )
    assert last_epochs and set(last_epochs) == {steps}, f"rounds ended at last_epoch {sorted(set(last_epochs))}, not {steps}"
