"""Every optimspec.tf callable's defaults are the spec's (``SPEC.hparams``).

The conformance adapter passes only the hyperparameters a case gives, so the goldens check these
defaults only where a case leaves a hyperparameter out; this checks every one of them.
"""

from __future__ import annotations

import pytest

import optimspec.tf as otf
from optimspec.conformance.testing import default_mismatches

CALLABLES = [
    (otf.AdamWeightDecay, "adam_weight_decay", {}, ()),
    (otf.create_optimizer, "create_optimizer", {}, ()),
    (otf.PolynomialDecay, "polynomial_decay", {}, ()),
    # The spec's warmup names the decay it wraps (a PolynomialDecay): WarmUp takes the schedule itself.
    (otf.WarmUp, "warmup", {}, ("decay_steps", "end_learning_rate", "decay_power")),
    (otf.PolynomialDecay, "warmup", {"decay_power": "power"}, ("initial_learning_rate", "warmup_steps", "power")),
]


@pytest.mark.parametrize(("function", "algorithm", "native", "elsewhere"), CALLABLES, ids=[f"{c[1]}-{c[0].__name__}" for c in CALLABLES])
def test_defaults_are_the_specs(function, algorithm, native, elsewhere) -> None:
    assert default_mismatches(function, algorithm, native=native, elsewhere=elsewhere) == []
