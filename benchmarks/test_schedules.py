"""``scheduler.step()`` of optimspec.torch's cosine-with-warmup schedule against transformers'.

Group ``schedule-cosine``, baseline ``transformers``. Both are ``LambdaLR``s over a one-param
optimizer, so the time is the lr lambda plus torch's scheduler bookkeeping (a few microseconds):
the ratio shows parity, not a speedup. Each round runs many steps to get above the timer's
resolution; the steps run past ``num_training_steps`` without harm (the cosine rises again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

torch = pytest.importorskip("torch")
optimspec_torch = pytest.importorskip("optimspec.torch")
transformers_optimization = pytest.importorskip("transformers.optimization")

if TYPE_CHECKING:
    from conftest import Measure

BASELINE = "transformers"
WARMUP_STEPS = 100
TRAINING_STEPS = 10_000
ROUNDS = 50
WARMUP_ROUNDS = 2
STEPS_PER_ROUND = 200

ScheduleFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
COSINE: dict[str, ScheduleFactory] = {
    "optimspec": optimspec_torch.get_cosine_schedule_with_warmup,
    "transformers": transformers_optimization.get_cosine_schedule_with_warmup,
}


@pytest.mark.benchmark(group="schedule-cosine")
@pytest.mark.parametrize("label", list(COSINE))
def test_cosine_schedule_step(measure: Measure, label: str) -> None:
    """One ``scheduler.step()`` of a cosine schedule with linear warmup."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = COSINE[label](optimizer, num_warmup_steps=WARMUP_STEPS, num_training_steps=TRAINING_STEPS)
    optimizer.step()  # after the scheduler wraps it, so torch does not warn that the scheduler stepped first
    calls = measure(
        scheduler.step,
        label=label,
        baseline=BASELINE,
        rounds=ROUNDS,
        warmup_rounds=WARMUP_ROUNDS,
        iterations=STEPS_PER_ROUND,
    )
    assert scheduler.last_epoch >= calls  # the constructor's own step leaves last_epoch at 0
