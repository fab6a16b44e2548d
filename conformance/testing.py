"""Helpers for testing adapters and the harness against a small golden tree.

    >>> from optimspec.conformance.testing import build_golden_tree
    >>> root = build_golden_tree(tmp_path, ["adamw", "linear"])   # doctest: +SKIP

The tree is generated from the reference (with the shipped schemas and a manifest), so it verifies
and loads like the committed one; point ``--golden`` or ``$OPTIMSPEC_GOLDEN`` at it.
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Sequence
from pathlib import Path

from . import golden


def build_golden_tree(root: Path, algorithms: Sequence[str]) -> Path:
    """Generate the golden files of ``algorithms`` (and a manifest listing only them) under ``root``."""
    from optimspec.golden import ROOT

    from . import generate

    root = Path(root)
    shutil.copytree(ROOT / golden.SCHEMA_DIR, root / golden.SCHEMA_DIR, dirs_exist_ok=True)
    generate.write_all(root, generate.render_all(list(algorithms), root=root))
    return root


def docstring_gaps(obj: object) -> list[str]:
    """The sections a public callable's docstring lacks: ``Args:`` (when it takes arguments),
    ``Returns:`` (functions), ``Raises:``, and a runnable ``>>>`` example."""
    doc = inspect.getdoc(obj) or ""
    required = ["Raises:", ">>>"]
    if inspect.signature(obj).parameters:
        required.append("Args:")
    if inspect.isfunction(obj):
        required.append("Returns:")
    return [section for section in required if section not in doc]
