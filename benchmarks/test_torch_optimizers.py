"""Per-step time of optimspec.torch optimizers against their peers, on the bert-base-like set.

Group ``adamw``: optimspec's AdamW (default path, which is the for-loop on CPU, and
``foreach=True``) against ``torch.optim.AdamW`` for-loop, foreach and fused; baseline
``torch.forloop``. Group ``adafactor``: optimspec's Adafactor against transformers' and
``torch.optim.Adafactor``; baseline ``transformers``.

Every optimizer gets the same hyperparameters where the algorithms share them. The algorithms are
not identical (optimspec's AdamW is transformers' legacy one: ε on the uncorrected sqrt(v), decay
after the update; torch.optim.Adafactor is a different Adafactor variant), but within a group they
read and write the same state per param, so the ratios measure implementation overhead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Measure

torch = pytest.importorskip("torch")
optimspec_torch = pytest.importorskip("optimspec.torch")
transformers_optimization = pytest.importorskip("transformers.optimization")

Factory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]

ADAMW_HYPERPARAMETERS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.01}

ADAMW_BASELINE = "torch.forloop"
ADAMW: dict[str, Factory] = {
    "optimspec.default": lambda p: optimspec_torch.AdamW(p, **ADAMW_HYPERPARAMETERS),
    "optimspec.foreach": lambda p: optimspec_torch.AdamW(p, **ADAMW_HYPERPARAMETERS, foreach=True),
    "torch.forloop": lambda p: torch.optim.AdamW(p, **ADAMW_HYPERPARAMETERS, foreach=False),
    "torch.foreach": lambda p: torch.optim.AdamW(p, **ADAMW_HYPERPARAMETERS, foreach=True),
    "torch.fused": lambda p: torch.optim.AdamW(p, **ADAMW_HYPERPARAMETERS, fused=True),
}

# Each library's defaults: relative-step Adafactor (lr 1e-2 schedule, factored second moment,
# no first moment, no weight decay) for optimspec and transformers; torch's own lr=1e-2 variant.
ADAFACTOR_BASELINE = "transformers"
ADAFACTOR: dict[str, Factory] = {
    "optimspec": lambda p: optimspec_torch.Adafactor(p),
    "transformers": lambda p: transformers_optimization.Adafactor(p),
    "torch": lambda p: torch.optim.Adafactor(p),
}


def _time_steps(measure: Measure, factory: Factory, params: list[torch.nn.Parameter], label: str, baseline: str) -> None:
    """Build the optimizer outside the timer, then time one ``step()`` per round."""
    optimizer = factory(params)
    calls = measure(optimizer.step, label=label, baseline=baseline)
    assert all(int(optimizer.state[p]["step"]) >= calls for p in params)


@pytest.mark.benchmark(group="adamw")
@pytest.mark.parametrize("label", list(ADAMW))
def test_adamw_step(measure: Measure, torch_params: list[torch.nn.Parameter], label: str) -> None:
    """One AdamW step over every param of the shape set."""
    _time_steps(measure, ADAMW[label], torch_params, label, ADAMW_BASELINE)


@pytest.mark.benchmark(group="adafactor")
@pytest.mark.parametrize("label", list(ADAFACTOR))
def test_adafactor_step(measure: Measure, torch_params: list[torch.nn.Parameter], label: str) -> None:
    """One Adafactor step over every param of the shape set."""
    _time_steps(measure, ADAFACTOR[label], torch_params, label, ADAFACTOR_BASELINE)
