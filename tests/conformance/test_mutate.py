"""The mutation harness (``optimspec mutate``): the catalogue applies to today's code, mutants are
planted in a private copy only, a planted bug is killed and a harmless edit survives.

The full run (every mutant, several minutes) is ``make mutate``, not part of ``make test``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimspec.conformance import golden, mutate
from optimspec.conformance.adapters import BUILTINS
from optimspec.conformance.cli import main
from optimspec.conformance.mutants import MUTANTS
from optimspec.conformance.runner import iter_cases, pattern_matches


def test_every_mutant_applies_to_the_current_source() -> None:
    assert mutate.problems(MUTANTS) == []


def test_the_catalogue_has_at_least_sixty_behavioural_mutants_across_torch_kernels_and_tf() -> None:
    behavioural = [m for m in MUTANTS if m.kind == "behavioural"]
    assert len(behavioural) >= 60
    files = {m.file for m in behavioural}
    assert {"torch/adamw.py", "torch/adafactor.py", "torch/kernels.c", "tf/adam_weight_decay.py", "tf/factory.py"} <= files


def test_every_mutant_names_built_in_adapters_and_selects_real_cases() -> None:
    ids = [c.id for c in iter_cases(golden.load_all())]
    for mutant in MUTANTS:
        assert set(mutant.adapters) <= set(BUILTINS), f"{mutant.id}: unknown adapter in {mutant.adapters}"
        for pattern in mutant.select:
            assert any(pattern_matches(pattern, case_id) for case_id in ids), f"{mutant.id}: --select {pattern} matches no case"


@pytest.mark.parametrize(("edit", "count"), [(("no such text", "x"), 0), (("import", "x"), "many")])
def test_an_edit_must_match_exactly_once(edit, count) -> None:
    mutant = mutate.Mutant("m", "torch/adamw.py", (edit,), ("optimspec.torch",), (), "")
    source = Path(mutate.package_dirs()["torch"], "adamw.py").read_text()
    with pytest.raises(mutate.MutationError, match="must be exactly once"):
        mutant.apply(source)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_mutant_is_planted_in_a_copy_never_in_the_package(tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.id == "kernels.adamw.eps-inside-sqrt")
    original = mutate.package_dirs()["torch"] / "kernels.c"
    before = _digest(original)
    copy = mutate.copy_package(tmp_path, mutant)
    planted = (copy / "optimspec" / "torch" / "kernels.c").read_text()
    assert "(mi / sqrt(vi + e))" in planted and "(mi / (sqrt(vi) + e))" not in planted
    assert _digest(original) == before, "the installed source must be untouched"
    assert mutate.imported_from(copy, tmp_path / "cache").startswith(str(copy)), "checks must import the copy"


@pytest.mark.slow
def test_a_planted_bug_is_killed_and_a_harmless_edit_survives(tmp_path: Path) -> None:
    bug = mutate.Mutant(
        "bug", "torch/adamw.py", (("m.mul_(h.beta1).add_(g, alpha=1.0 - h.beta1)", "m.mul_(h.beta1).add_(g)"),),
        ("optimspec.torch-per_tensor",), ("optim/adamw/shapes/f64/vector-t5",), "the first moment adds g without (1 − β1)",
    )
    harmless = mutate.Mutant(
        "harmless", "torch/adamw.py", (('"""transformers\' loop, one param at a time."""', '"""One param at a time."""'),),
        ("optimspec.torch-per_tensor",), ("optim/adamw/shapes/f64/vector-t5",), "a docstring edit",
    )
    cache = tmp_path / "cache"
    killed, survived = mutate.run_mutant(bug, tmp_path, cache), mutate.run_mutant(harmless, tmp_path, cache)
    assert killed.verdict == "killed" and "optim/adamw/shapes/f64/vector-t5" in killed.evidence, killed.as_dict()
    assert survived.verdict == "survived" and survived.checks[0].exit_code == 0, survived.as_dict()
    as_precision = mutate.run_mutant(mutate.Mutant(**{**harmless.__dict__, "kind": "precision"}), tmp_path, cache)
    assert as_precision.verdict == "tolerated"


def test_the_cli_lists_the_catalogue_and_rejects_an_unknown_selection() -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["mutate", "--list", "-k", "kernels."])
    count = len(mutate.selected(MUTANTS, ["kernels."]))
    assert listed.exit_code == 0 and f"mutation catalogue ({count} mutants)" in listed.output and count >= 20
    assert runner.invoke(main, ["mutate", "-k", "no-such-mutant"]).exit_code == 2


def test_a_summary_counts_only_behavioural_mutants() -> None:
    behavioural, precision = (next(m for m in MUTANTS if m.kind == kind) for kind in ("behavioural", "precision"))
    run = mutate.MutationRun(
        [mutate.MutantResult(behavioural, "survived"), mutate.MutantResult(precision, "tolerated")], [], 1.0
    )
    summary = run.as_dict()["summary"]
    assert (summary["behavioural"], summary["killed"], summary["survivors"], summary["tolerated"]) == (1, 0, [behavioural.id], [precision.id])
