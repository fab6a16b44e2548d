"""The pytest plugin: one test per case (node id ``optimspec::<case id>``), divergences as pytest
outcomes, and nothing at all unless --optimspec-adapter is given."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "optimspec.conformance.pytest_plugin")
CONVENTIONS = "optim/adamw/conventions/*"
EPS_AFTER = "broken_adapters:EpsAfterAdapter"


@pytest.fixture()
def run(pytester: pytest.Pytester, golden_root: Path):  # type: ignore[no-untyped-def]
    """Run pytest in a scratch folder with the plugin and the small golden tree."""

    def go(*args: str) -> pytest.RunResult:
        return pytester.runpytest(*PLUGIN, "--optimspec-golden", str(golden_root), "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", *args)

    return go


def divergence_file(pytester: pytest.Pytester, text: str) -> str:
    return str(pytester.makefile(".toml", known=text))


ENTRY = '[[divergence]]\nmatch = "{match}"\nkind = "convention"\noutcome = "{outcome}"\nreason = "known"\n{extra}\n'


def test_one_test_per_case_named_by_the_case_id(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--optimspec-adapter", "reference", "--optimspec-select", CONVENTIONS, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*optimspec::optim/adamw/conventions/f64/tiny-grads-t3 PASSED*"])


def test_failures_carry_the_diagnosis_and_repro(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--optimspec-adapter", EPS_AFTER, "--optimspec-select", CONVENTIONS)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["diagnosis: behaves like eps_placement=after_bias_correction", f"repro: optimspec explain * --adapter {EPS_AFTER}"])


def test_divergences_become_xfail_and_skip(run, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    toml = divergence_file(pytester, ENTRY.format(match="optim/adamw/conventions/f32/*", outcome="xfail", extra="") + ENTRY.format(match="optim/adamw/conventions/f64/*", outcome="skip", extra=""))
    result = run("--optimspec-adapter", EPS_AFTER, "--optimspec-select", CONVENTIONS, "--optimspec-divergences", toml)
    result.assert_outcomes(xfailed=2, skipped=2)


@pytest.mark.parametrize(("strict", "outcomes"), [("true", {"failed": 4}), ("false", {"xpassed": 4})])
def test_xpass(run, pytester: pytest.Pytester, strict: str, outcomes: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    toml = divergence_file(pytester, ENTRY.format(match=CONVENTIONS, outcome="xfail", extra=f"strict = {strict}"))
    run("--optimspec-adapter", "reference", "--optimspec-select", CONVENTIONS, "--optimspec-divergences", toml).assert_outcomes(**outcomes)


def test_declared_conventions_are_checked(run) -> None:  # type: ignore[no-untyped-def]
    select = ("--optimspec-select", "optim/adamw/conventions/f64/tiny*")
    run("--optimspec-adapter", "broken_adapters:DeclaredEpsAfterAdapter", *select).assert_outcomes(passed=1)
    result = run("--optimspec-adapter", "broken_adapters:ClaimsEpsAfterAdapter", *select)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["diagnosis: behaves like eps_placement=before_bias_correction (the spec's, not the declared after_bias_correction)"])


def test_conditional_entries_decide_after_the_run(run, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    named = ENTRY.format(match=CONVENTIONS, outcome="xfail", extra="[divergence.when]\nbehaves_like = 'eps_placement=after_bias_correction'\n")
    result = run("--optimspec-adapter", EPS_AFTER, "--optimspec-select", "optim/adamw/conventions/f64/*", "--optimspec-divergences", divergence_file(pytester, named))
    result.assert_outcomes(xfailed=2)
    other = named.replace("eps_placement=after_bias_correction", "decay_order=before_update")
    result = run("--optimspec-adapter", EPS_AFTER, "--optimspec-select", "optim/adamw/conventions/f64/*", "--optimspec-divergences", divergence_file(pytester, other))
    result.assert_outcomes(failed=2)


def test_nothing_is_collected_without_an_adapter(run, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    result = run("-v")
    result.assert_outcomes(passed=1)
    assert "optimspec::" not in result.stdout.str()


def test_marker_selects_only_the_cases(run, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    pytester.makepyfile(test_own="def test_own():\n    assert True\n")
    result = run("--optimspec-adapter", "reference", "--optimspec-select", "sched/linear/boundaries/w2*", "-m", "optimspec")
    result.assert_outcomes(passed=1, deselected=1)


def test_bad_adapter_is_a_usage_error(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--optimspec-adapter", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*optimspec: unknown adapter 'nope'*"])


def test_unmatched_divergences_are_reported(run, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    toml = divergence_file(pytester, ENTRY.format(match="optim/none/*", outcome="xfail", extra=""))
    result = run("--optimspec-adapter", "reference", "--optimspec-select", "sched/linear/boundaries/w2*", "--optimspec-divergences", toml)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*optimspec warnings*", "*(match = 'optim/none/[*]') matches no golden case"])
