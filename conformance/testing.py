"""Helpers for testing adapters and the harness against a small golden tree.

    >>> from optimspec.conformance.testing import build_golden_tree
    >>> root = build_golden_tree(tmp_path, ["adamw", "linear"])   # doctest: +SKIP

The tree is generated from the reference (with the shipped schemas and a manifest), so it verifies
and loads like the committed one; point ``--golden`` or ``$OPTIMSPEC_GOLDEN`` at it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
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


def default_mismatches(
    function: object, algorithm: str, *, native: Mapping[str, str] | None = None, elsewhere: Sequence[str] = ()
) -> list[str]:
    """Where ``function``'s signature disagrees with the spec's hyperparameters of ``algorithm``:
    a spec hyperparameter it lacks, a default that differs, or one required on one side only.

    ``native`` maps spec names to the function's names; ``elsewhere`` lists spec hyperparameters
    the function does not take (a schedule's ``lr`` is the optimizer's).

    >>> from optimspec.conformance.testing import default_mismatches
    >>> def adamw(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, correct_bias=True): ...
    >>> default_mismatches(adamw, "adamw")
    ['eps: default 1e-08, the spec says 1e-06']
    """
    from optimspec.reference import registry

    native = dict(native or {})
    parameters = inspect.signature(function).parameters
    problems = []
    for hp in registry.spec(algorithm).hparams:
        if hp.name in elsewhere:
            continue
        name = native.get(hp.name, hp.name)
        if name not in parameters:
            problems.append(f"{name}: not an argument (the spec's `{hp.name}`)")
            continue
        default = parameters[name].default
        if hp.required != (default is inspect.Parameter.empty):
            problems.append(f"{name}: {'required' if default is inspect.Parameter.empty else 'optional'} here, {'required' if hp.required else 'optional'} in the spec")
        elif not hp.required and (default != hp.default or isinstance(default, bool) != isinstance(hp.default, bool)):
            problems.append(f"{name}: default {default!r}, the spec says {hp.default!r}")
    return problems


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
