"""``optimspec golden verify``: is the golden tree exactly what the reference generates?

Checks, in order, each failure an :class:`~optimspec.conformance.golden.IntegrityError` that names
the file (and the case, where one can be named):

1. the manifest: its structure and format version;
2. every schema file against the sha256 the manifest records;
3. every listed file as :func:`golden.load_all` checks it: a regular file under the size cap, its
   sha256 (before parsing), JSON Schema, algorithm/kind/count as listed, the id grammar, unique
   ids, consistent tensors and checkpoints;
4. the catalogue: every reference algorithm has a file and nothing unlisted lies in the tree (a
   named pipe or any other file included);
5. regeneration: the reference generates every file again, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimspec.reference import registry

from . import golden

SCHEMA_NAMES = golden.SCHEMA_NAMES


@dataclass(frozen=True)
class Summary:
    files: int
    cases: int


def schema_entries(root: Path) -> list[dict[str, str]]:
    """Manifest entries (path, sha256) of the schema files."""
    return [
        {"path": f"{golden.SCHEMA_DIR}/{name}", "sha256": golden.sha256(golden.read_file(root / golden.SCHEMA_DIR / name))}
        for name in SCHEMA_NAMES
    ]


def first_differing_case(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The id of the first case whose content differs between two versions of a golden object."""
    old_cases = {c["id"]: c for g in old.get("groups", []) for c in g.get("cases", [])}
    old_cases.update({c["id"]: c for c in old.get("invalid", [])})
    new_cases = {c["id"]: c for g in new.get("groups", []) for c in g.get("cases", [])}
    new_cases.update({c["id"]: c for c in new.get("invalid", [])})
    for case_id in sorted(set(old_cases) | set(new_cases)):
        if old_cases.get(case_id) != new_cases.get(case_id):
            return case_id
    return None


def verify(root: Path | None = None, *, regenerate: bool = True, progress: Callable[[str], None] | None = None) -> Summary:
    """Run every check; raise IntegrityError at the first failure."""
    from . import generate

    root = root or golden.default_root()
    manifest = golden.load_manifest(root)
    golden.check_schema_hashes(root, manifest)
    seen: set[str] = set()
    parsed = {entry["path"]: golden.load_entry(root, entry, seen).data for entry in manifest["files"]}
    if len(parsed) != len(manifest["files"]):
        raise golden.IntegrityError(f"{golden.MANIFEST_NAME}: a file is listed twice")

    listed = set(parsed)
    expected_paths = {golden.relative_path(registry.spec(a).kind, a) for a in registry.names()}
    if listed != expected_paths:
        missing = sorted(expected_paths - listed)
        extra = sorted(listed - expected_paths)
        raise golden.IntegrityError(f"{golden.MANIFEST_NAME}: catalogue mismatch; missing files {missing}, unexpected files {extra}")
    on_disk = {str(p.relative_to(root)) for p in (root / golden.GOLDEN_SUBDIR).rglob("*") if not p.is_dir()}
    if on_disk - listed:
        raise golden.IntegrityError(f"{golden.GOLDEN_SUBDIR}: files not in the manifest: {sorted(on_disk - listed)}")

    if regenerate:
        rendered = generate.render_all(progress=progress, root=root)
        for path, payload in rendered.items():
            if path == golden.MANIFEST_NAME:
                continue
            if payload != golden.read_file(root / path, path):
                case_id = first_differing_case(parsed[path], json.loads(payload))
                raise golden.IntegrityError(
                    f"{path}: differs from what the reference generates"
                    + (f" (first differing case: {case_id})" if case_id else "")
                )
        if rendered[golden.MANIFEST_NAME] != golden.read_file(root / golden.MANIFEST_NAME, golden.MANIFEST_NAME):
            raise golden.IntegrityError(f"{golden.MANIFEST_NAME}: differs from the regenerated manifest")
    return Summary(files=len(parsed), cases=len(seen))


def locate_tampering(root: Path, message: str) -> str:
    """For a sha256 failure, name the first case that differs from a fresh generation (a hint: any
    problem finding it leaves the message as it is)."""
    from . import generate

    path = message.split(":", 1)[0]
    if "sha256 does not match" not in message or not path.startswith(golden.GOLDEN_SUBDIR) or not (root / path).is_file():
        return message
    try:
        fresh = json.loads(golden.canonical_bytes(generate.build_file(Path(path).stem)))
        current = golden.load_json(root / path)
        case_id = first_differing_case(current, fresh)
        fields = sorted(k for k in set(current) | set(fresh) if current.get(k) != fresh.get(k))
    except Exception:  # a hint only; the integrity error stands as it is
        return message
    if case_id:
        return f"{message}; first differing case: {case_id}"
    return f"{message}; differing header fields: {', '.join(fields)}" if fields else message
