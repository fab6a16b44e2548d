"""Every optimspec.torch callable's defaults are the spec's (``SPEC.hparams``).

The conformance adapters pass only the hyperparameters a case gives, so the goldens check these
defaults only where a case leaves a hyperparameter out; this checks every one of them.
"""

from __future__ import annotations

import pytest
from torch.optim.lr_scheduler import ReduceLROnPlateau

import optimspec.torch as impl
from optimspec.conformance.adapters.optimspec_torch import LAMBDA_FACTORIES
from optimspec.conformance.testing import default_mismatches
from optimspec.reference import registry

# A schedule's lr and per-group lrs belong to the optimizer it drives.
OPTIMIZER_LRS = ("lr", "group_lrs")

CALLABLES = [
    (impl.AdamW, "adamw", ()),
    (impl.Adafactor, "adafactor", ()),
    # AdafactorSchedule takes an Adafactor: only initial_lr is its own.
    (impl.AdafactorSchedule, "adafactor_schedule", tuple(hp.name for hp in registry.spec("adafactor_schedule").hparams if hp.name != "initial_lr")),
    *((getattr(impl, factory), name, OPTIMIZER_LRS) for name, factory in LAMBDA_FACTORIES.items()),
    # The metric-driven factories pass **kwargs on to these classes.
    (ReduceLROnPlateau, "reduce_lr_on_plateau", OPTIMIZER_LRS),
    (impl.GreedyLR, "greedy", OPTIMIZER_LRS),
]


@pytest.mark.parametrize(("function", "algorithm", "elsewhere"), CALLABLES, ids=[c[1] for c in CALLABLES])
def test_defaults_are_the_specs(function, algorithm, elsewhere) -> None:
    assert default_mismatches(function, algorithm, elsewhere=elsewhere) == []


def test_every_torch_side_algorithm_is_covered() -> None:
    covered = {algorithm for _, algorithm, _ in CALLABLES}
    tf_side = {"adam_weight_decay", "create_optimizer", "gradient_accumulator", "polynomial_decay", "warmup"}
    assert covered == set(registry.names()) - tf_side
