"""Helpers for testing adapters and the harness against a small golden tree.

    >>> from optimspec.conformance.testing import build_golden_tree
    >>> root = build_golden_tree(tmp_path, ["adamw", "linear"])   # doctest: +SKIP

The tree is generated from the reference (with the shipped schemas and a manifest), so it verifies
and loads like the committed one; point ``--golden`` or ``$OPTIMSPEC_GOLDEN`` at it.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

from . import golden


def rehash(root: Path, relative: str, payload: bytes) -> None:
    """Write ``payload`` to the golden file ``relative`` and record its sha256 in the manifest, as
    someone editing a tree on purpose would: the hashes check out, the content must still be
    validated (a test helper for the loader's checks)."""
    import json

    golden.write_atomic(root / relative, payload)
    manifest = json.loads((root / golden.MANIFEST_NAME).read_text())
    for entry in manifest["files"]:
        if entry["path"] == relative:
            entry["sha256"] = golden.sha256(payload)
    golden.write_atomic(root / golden.MANIFEST_NAME, golden.canonical_bytes(manifest))


def build_golden_tree(root: Path, algorithms: Sequence[str]) -> Path:
    """Generate the golden files of ``algorithms`` (and a manifest listing only them) under ``root``."""
    from . import generate

    root = Path(root)
    golden.install_schemas(root)
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
