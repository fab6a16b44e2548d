"""The project stands alone: nothing in the repository cites a document that is not in it, and every
relative link in the Markdown pages points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", ".venv", "build", "dist", "reports", "plots", "__pycache__", ".hypothesis", ".benchmarks"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".json", ".txt", ".cfg", ".ini", ".yml", ".yaml"}
# Design notes and surveys the project was written from; they live outside the repository.
OUTSIDE_DOCUMENTS = re.compile(
    r"DESIGN\.md|transformers-optimization\.md|peer-conventions|conformance-anchors|shared/|§|spec section \d"
)
THIS_FILE = Path(__file__).resolve()


def _project_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIPPED_DIRS or not path.is_file() or path.resolve() == THIS_FILE:
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in {"Makefile", "run"}:
            files.append(path)
    return files


def test_no_file_cites_a_document_outside_the_repository() -> None:
    offenders = []
    for path in _project_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if OUTSIDE_DOCUMENTS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not offenders, "references to documents outside the repository:\n" + "\n".join(offenders)


def test_help_of_the_packages_points_inside() -> None:
    import pydoc

    import optimspec.reference
    import optimspec.torch

    for module in (optimspec.torch, optimspec.reference):
        text = pydoc.render_doc(module, renderer=pydoc.plaintext)
        assert not OUTSIDE_DOCUMENTS.search(text), f"help({module.__name__}) cites an outside document"


MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)|<img [^>]*src=\"([^\"]+)\"")


@pytest.mark.parametrize("page", sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("*.md")) + sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md")))
def test_relative_links_resolve(page: str) -> None:
    path = ROOT / page
    broken = []
    for match in MARKDOWN_LINK.finditer(path.read_text(encoding="utf-8")):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z]+:", target):  # http(s):, mailto:
            continue
        if not (path.parent / target).exists():
            broken.append(target)
    assert not broken, f"{page} links to missing files: {broken}"
