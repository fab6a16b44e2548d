"""``optimspec golden verify``: is the golden tree exactly what the reference generates?

Checks, in order, each failure an :class:`~optimspec.conformance.golden.IntegrityError` that names
the file (and the case, where one can be named):

1. the manifest and its format version;
2. every schema file against the sha256 the manifest records;
3. every listed file: present, sha256, JSON Schema, algorithm/kind/count as listed, unique ids;
4. the catalogue: every reference algorithm has a file and nothing unlisted lies in the tree;
5. regeneration: the reference generates every file again, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from optimspec.reference import registry

from . import golden

SCHEMA_NAMES = ("common.schema.json", *sorted(set(golden.SCHEMA_FILES.values())))


@dataclass(frozen=True)
class Summary:
    files: int
    cases: int


def schema_entries(root: Path) -> list[dict[str, str]]:
    """Manifest entries (path, sha256) of the schema files."""
    return [
        {"path": f"{golden.SCHEMA_DIR}/{name}", "sha256": golden.sha256((root / golden.SCHEMA_DIR / name).read_bytes())}
        for name in SCHEMA_NAMES
    ]


def _validators(root: Path) -> dict[str, jsonschema.protocols.Validator]:
    schemas = {name: golden.load_json(root / golden.SCHEMA_DIR / name) for name in SCHEMA_NAMES}
    store = Registry().with_resources((name, Resource.from_contents(s)) for name, s in schemas.items())
    return {
        kind: jsonschema.Draft202012Validator(schemas[file], registry=store)
        for kind, file in golden.SCHEMA_FILES.items()
    }


def _case_ids(data: Mapping[str, Any]) -> list[str]:
    return [c["id"] for g in data["groups"] for c in g["cases"]] + [c["id"] for c in data["invalid"]]


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


def _check_file(root: Path, entry: Mapping[str, Any], validators: Mapping[str, Any], seen: set[str]) -> dict[str, Any]:
    path = root / entry["path"]
    if not path.exists():
        raise golden.IntegrityError(f"{entry['path']}: listed in the manifest but missing")
    data = golden.load_json(path)
    if golden.sha256(path.read_bytes()) != entry["sha256"]:
        raise golden.IntegrityError(f"{entry['path']}: sha256 does not match the manifest (the file was altered)")
    errors = sorted(validators[entry["kind"]].iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path)
        raise golden.IntegrityError(f"{entry['path']}: schema violation at /{where}: {errors[0].message[:300]}")
    for key in ("algorithm", "kind", "number_of_cases"):
        if data[key] != entry[key]:
            raise golden.IntegrityError(f"{entry['path']}: {key} is {data[key]!r} but the manifest says {entry[key]!r}")
    ids = _case_ids(data)
    if len(ids) != data["number_of_cases"]:
        raise golden.IntegrityError(f"{entry['path']}: number_of_cases is {data['number_of_cases']} but the file holds {len(ids)}")
    for case_id in ids:
        if case_id in seen:
            raise golden.IntegrityError(f"{entry['path']}: duplicate case id {case_id}")
        if not case_id.split("/")[1] == data["algorithm"]:
            raise golden.IntegrityError(f"{entry['path']}: case {case_id} does not belong to algorithm {data['algorithm']}")
        seen.add(case_id)
    return data


def verify(root: Path | None = None, *, regenerate: bool = True, progress: Callable[[str], None] | None = None) -> Summary:
    """Run every check; raise IntegrityError at the first failure."""
    from . import generate

    root = root or golden.default_root()
    manifest = golden.load_manifest(root)
    if manifest.get("format_version") != golden.FORMAT_VERSION:
        raise golden.IntegrityError(f"{golden.MANIFEST_NAME}: format_version {manifest.get('format_version')!r}, expected {golden.FORMAT_VERSION}")
    recorded = {e["path"]: e["sha256"] for e in manifest.get("schemas", [])}
    for entry in schema_entries(root):
        if recorded.get(entry["path"]) != entry["sha256"]:
            raise golden.IntegrityError(f"{entry['path']}: sha256 does not match the manifest (the schema was altered)")
    validators = _validators(root)
    seen: set[str] = set()
    parsed = {entry["path"]: _check_file(root, entry, validators, seen) for entry in manifest["files"]}

    listed = set(parsed)
    expected_paths = {golden.relative_path(registry.spec(a).kind, a) for a in registry.names()}
    if listed != expected_paths:
        missing = sorted(expected_paths - listed)
        extra = sorted(listed - expected_paths)
        raise golden.IntegrityError(f"{golden.MANIFEST_NAME}: catalogue mismatch; missing files {missing}, unexpected files {extra}")
    on_disk = {str(p.relative_to(root)) for p in (root / golden.GOLDEN_SUBDIR).rglob("*.json")}
    if on_disk - listed:
        raise golden.IntegrityError(f"{golden.GOLDEN_SUBDIR}: files not in the manifest: {sorted(on_disk - listed)}")

    if regenerate:
        rendered = generate.render_all(progress=progress, root=root)
        for path, payload in rendered.items():
            if path == golden.MANIFEST_NAME:
                continue
            if payload != (root / path).read_bytes():
                case_id = first_differing_case(parsed[path], json.loads(payload))
                raise golden.IntegrityError(
                    f"{path}: differs from what the reference generates"
                    + (f" (first differing case: {case_id})" if case_id else "")
                )
        if rendered[golden.MANIFEST_NAME] != (root / golden.MANIFEST_NAME).read_bytes():
            raise golden.IntegrityError(f"{golden.MANIFEST_NAME}: differs from the regenerated manifest")
    return Summary(files=len(parsed), cases=len(seen))


def locate_tampering(root: Path, message: str) -> str:
    """For a sha256 failure, name the first case that differs from a fresh generation."""
    from . import generate

    path = message.split(":", 1)[0]
    if not path.startswith(golden.GOLDEN_SUBDIR) or not (root / path).exists():
        return message
    algorithm = Path(path).stem
    try:
        fresh = generate.build_file(algorithm)
        current = golden.load_json(root / path)
    except (golden.IntegrityError, generate.GenerationError, ValueError):
        return message
    fresh = json.loads(golden.canonical_bytes(fresh))
    case_id = first_differing_case(current, fresh)
    if case_id:
        return f"{message}; first differing case: {case_id}"
    fields = sorted(k for k in set(current) | set(fresh) if current.get(k) != fresh.get(k))
    return f"{message}; differing header fields: {', '.join(fields)}" if fields else message
