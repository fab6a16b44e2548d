"""``make docs`` output is committed as generated: the spec pages and the schedule gallery are
regenerated into a temporary folder and must equal the committed files byte for byte."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimspec.conformance import cli, docs, gallery

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    docs.write(root)
    return root


@pytest.mark.parametrize("folder", docs.GENERATED_DIRS)
def test_committed_generated_docs_are_byte_identical_to_a_fresh_make_docs(regenerated: Path, folder: str) -> None:
    committed = {p.name: p.read_bytes() for p in (ROOT / "docs" / folder).iterdir() if p.is_file()}
    fresh = {p.name: p.read_bytes() for p in (regenerated / folder).iterdir() if p.is_file()}
    assert sorted(committed) == sorted(fresh), f"docs/{folder}: files differ from `make docs`; run `make docs`"
    differing = sorted(name for name in fresh if committed[name] != fresh[name])
    assert not differing, f"docs/{folder}: {differing} differ from a fresh `make docs`; run `make docs` and commit"


def test_every_algorithm_has_a_page_and_every_schedule_a_picture(regenerated: Path) -> None:
    from optimspec.reference import registry

    pages = {p.stem for p in (regenerated / "spec").glob("*.md")} - {"README"}
    pictures = {p.stem for p in (regenerated / gallery.IMAGE_DIR).glob("*.png")}
    assert pages == set(registry.names())
    assert pictures == {s.name for s in registry.specs() if s.kind == "schedule"}


def test_writing_again_changes_nothing_and_removes_stale_files(regenerated: Path) -> None:
    stale = regenerated / "spec" / "removed_algorithm.md"
    stale.write_text("old")
    assert docs.write(regenerated) == ["spec/removed_algorithm.md"]
    assert not stale.exists()
    assert docs.write(regenerated) == []


@pytest.mark.parametrize("entry", [e for e in gallery.ENTRIES if e.inputs is None], ids=lambda e: e.name)
def test_the_command_on_the_gallery_page_draws_the_same_picture(entry: gallery.Entry, tmp_path: Path, regenerated: Path) -> None:
    command = entry.call().splitlines()[1]
    args = shlex.split(command)[1:]  # without the program name
    out = tmp_path / f"{entry.name}.png"
    args[args.index("--out") + 1] = str(out)
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (regenerated / gallery.IMAGE_DIR / f"{entry.name}.png").read_bytes()


def test_docstring_conversion() -> None:
    text = docs.docstring_markdown(
        "``x``: see :func:`run.schedule_values` and :mod:`adafactor <optimspec.reference.optimizers.adafactor>`::\n\n"
        "    λ(t) = 1\n\n"
        "    1. ``a`` first\n\n"
        "Example::\n\n"
        "    >>> 1 + 1\n"
        "    2\n"
    )
    assert text == (
        "`x`: see `run.schedule_values` and `adafactor`:\n\n"
        "```text\nλ(t) = 1\n\n1. ``a`` first\n```\n\n"
        "Example:\n\n"
        "```python\n>>> 1 + 1\n2\n```\n"
    )


@pytest.mark.parametrize("entry", [e for e in gallery.ENTRIES if e.inputs is not None], ids=lambda e: e.name)
def test_the_python_on_the_gallery_page_draws_the_same_picture(entry: gallery.Entry, tmp_path: Path, regenerated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = entry.call().removeprefix("```python\n").removesuffix("\n```")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"<gallery {entry.name}>", "exec"), {"__name__": "gallery_example"})
    drawn = (tmp_path / "docs" / gallery.IMAGE_DIR / f"{entry.name}.png").read_bytes()
    assert drawn == (regenerated / gallery.IMAGE_DIR / f"{entry.name}.png").read_bytes()


@pytest.mark.parametrize("page", ["README.md", "docs/practitioners.md"])
def test_page_examples_run(page: str) -> None:
    import doctest
    import re

    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / page).read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, page, str(ROOT / page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert test.examples and runner.failures == 0, f"{runner.failures} {page} example(s) failed"
