"""Shared settings for the optimspec.torch tests.

Property tests use the ``optimspec-torch`` Hypothesis profile: derandomized (the same examples on
every run, so CI is reproducible) and small enough that the folder runs in well under a minute.
Tests apply it explicitly (``@settings.get_profile("optimspec-torch")``) so that other test
folders keep their own settings.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "optimspec-torch",
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
