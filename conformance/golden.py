"""Golden files: the canonical JSON encoding, tensors, the manifest, atomic writes and integrity checks.

Encoding rules (also in ``docs/design.md``, "Golden vectors"):
* numbers are JSON numbers written as the shortest decimal that round-trips to the binary64 value
  (Python's ``repr``); NaN and infinities are the strings ``"nan"``, ``"inf"``, ``"-inf"``; ``-0.0``
  keeps its sign;
* a tensor is ``{"dtype": ..., "shape": [...], "values": [flat, row-major]}``;
* canonical layout: sorted keys, one-space indent, lists of scalars on one line, ``\\n`` at the end,
  so generating twice gives identical bytes.

Loading (:func:`load_all`) trusts nothing it reads: every file must be a regular file of at most
``MAX_FILE_BYTES`` (checked before reading; a named pipe never blocks), its sha256 must match the
manifest before it is parsed, and it must then satisfy its JSON Schema (the schemas shipped with
this package), the case-id grammar (:data:`CASE_ID`; ids are used in file names), unique ids, and
the consistency the runner relies on (tensor sizes, checkpoint steps, row counts). Any failure is an
:class:`IntegrityError` naming the file and, where it can, the case and field (exit 3 in the CLI).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import numpy as np

FORMAT_VERSION = 1
SPEC_VERSION = "1.0.0"
GOLDEN_SUBDIR = "v1"
MANIFEST_NAME = "MANIFEST.json"
SCHEMA_DIR = "schema"
FAMILY_DIRS = {"optimizer": "optimizers", "accumulator": "optimizers", "schedule": "schedules"}
SCHEMA_FILES = {"optimizer": "optimizer.schema.json", "accumulator": "accumulator.schema.json", "schedule": "schedule.schema.json"}
SCHEMA_NAMES = ("common.schema.json", *sorted(set(SCHEMA_FILES.values())))
MAX_FILE_BYTES = 64 * 2**20  # any file of a golden tree; the shipped ones are below 0.5 MB
# family/algorithm/segments: lower-case words, digits, _ . -, no segment starting with a dot
CASE_ID = re.compile(r"(optim|sched)/[a-z0-9_]+(/[a-z0-9_][a-z0-9_.-]*)+")
FAMILY = {"optimizer": "optim", "accumulator": "optim", "schedule": "sched"}

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class IntegrityError(Exception):
    """A golden file, the manifest or a schema does not check out. Exit code 3 in the CLI."""


def default_root() -> Path:
    """The golden folder: $OPTIMSPEC_GOLDEN, else the one shipped as ``optimspec.golden``."""
    env = os.environ.get("OPTIMSPEC_GOLDEN")
    if env:
        return Path(env)
    from optimspec.golden import ROOT

    return ROOT


# --------------------------------------------------------------------------------------------------
# numbers and tensors
# --------------------------------------------------------------------------------------------------


def encode_number(value: float | int) -> float | int | str:
    if isinstance(value, (bool, int, np.integer)):
        return int(value)
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def decode_number(value: Any) -> float:
    if isinstance(value, str):
        try:
            return _SPECIAL[value]
        except KeyError:
            raise IntegrityError(f"not a number: {value!r} (only 'nan', 'inf', '-inf' are allowed as strings)") from None
    return float(value)


def encode_tensor(array: Any, dtype: str) -> dict[str, Any]:
    array = np.asarray(array, dtype=np.float64)
    return {"dtype": dtype, "shape": list(array.shape), "values": [encode_number(v) for v in array.reshape(-1).tolist()]}


def decode_tensor(obj: Mapping[str, Any]) -> np.ndarray:
    values = np.array([decode_number(v) for v in obj["values"]], dtype=np.float64)
    shape = tuple(obj["shape"])
    if values.size != math.prod(shape):
        raise IntegrityError(f"tensor has {values.size} values but shape {list(shape)}")
    return values.reshape(shape)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Mapping) and set(obj) == {"dtype", "shape", "values"}


# --------------------------------------------------------------------------------------------------
# canonical JSON
# --------------------------------------------------------------------------------------------------


def _scalar_json(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite float {value!r} must be encoded with encode_number first")
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _dump(obj: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(obj, Mapping):
        if not obj:
            out.append("{}")
            return
        out.append("{\n")
        items = sorted(obj.items())
        for i, (key, value) in enumerate(items):
            out.append(f"{pad} {json.dumps(str(key), ensure_ascii=False)}: ")
            _dump(value, indent + 1, out)
            out.append(",\n" if i < len(items) - 1 else "\n")
        out.append(pad + "}")
    elif isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in obj):
            out.append("[" + ", ".join(_scalar_json(v) for v in obj) + "]")
            return
        out.append("[\n")
        for i, value in enumerate(obj):
            out.append(pad + " ")
            _dump(value, indent + 1, out)
            out.append(",\n" if i < len(obj) - 1 else "\n")
        out.append(pad + "]")
    else:
        out.append(_scalar_json(obj))


def canonical_bytes(obj: Any) -> bytes:
    """The one byte string a golden object is written as."""
    out: list[str] = []
    _dump(obj, 0, out)
    return ("".join(out) + "\n").encode("utf-8")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename: never a half-written file. The
    file gets the usual permissions (0o666 less the umask), not the temporary file's 0o600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path, name: str | None = None) -> bytes:
    """The bytes of a golden-tree file; IntegrityError (naming it ``name``) if it is missing, not a
    regular file, or larger than ``MAX_FILE_BYTES``. Checked before reading, so a named pipe or a
    device never blocks and a huge file is never loaded."""
    name = name or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise IntegrityError(f"{name}: missing") from None
    except OSError as exc:
        raise IntegrityError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise IntegrityError(f"{name}: not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise IntegrityError(f"{name}: {info.st_size} bytes, more than the {MAX_FILE_BYTES} a golden file may have")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise IntegrityError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise IntegrityError(f"{name}: more than the {MAX_FILE_BYTES} bytes a golden file may have")
    return data


def parse_json(data: bytes, name: str) -> Any:
    """Parse golden JSON; bare NaN/Infinity tokens are rejected (they are not canonical). Invalid
    UTF-8, malformed JSON, integers beyond Python's digit limit and nesting beyond its recursion
    limit are IntegrityErrors naming the file."""

    def reject(token: str) -> Any:
        raise IntegrityError(f"{name}: bare {token} is not allowed; use the strings 'nan', 'inf', '-inf'")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=reject)
    except UnicodeDecodeError as exc:
        raise IntegrityError(f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{name}: not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit integer
        raise IntegrityError(f"{name}: not valid JSON: {str(exc)[:200]}") from None


def load_json(path: Path) -> Any:
    """:func:`read_file` then :func:`parse_json`."""
    return parse_json(read_file(path), str(path))


# --------------------------------------------------------------------------------------------------
# schemas
# --------------------------------------------------------------------------------------------------

_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format_version", "files", "schemas"],
    "properties": {
        "format_version": {"type": "integer"},
        "spec_version": {"type": "string"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "sha256", "kind", "algorithm", "number_of_cases"],
                "properties": {
                    "path": {"type": "string"}, "sha256": _HEX64, "kind": {"enum": sorted(SCHEMA_FILES)},
                    "algorithm": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "number_of_cases": {"type": "integer", "minimum": 0},
                },
            },
        },
        "schemas": {"type": "array", "items": {"type": "object", "required": ["path", "sha256"], "properties": {"path": {"type": "string"}, "sha256": _HEX64}}},
    },
}


def shipped_schema_dir() -> Path:
    from optimspec.golden import ROOT

    return ROOT / SCHEMA_DIR


@functools.lru_cache(maxsize=1)
def validators() -> dict[str, Callable[[Any], Any]]:
    """Compiled validators (fastjsonschema), one per golden file kind and one for the manifest, from
    the schemas shipped with this package; compiled once per process."""
    schemas = {name: parse_json(read_file(shipped_schema_dir() / name), f"{SCHEMA_DIR}/{name}") for name in SCHEMA_NAMES}

    def fetch(uri: str) -> Any:
        return schemas[uri.partition("#")[0]]

    compiled = {kind: fastjsonschema.compile(schemas[file], handlers={"": fetch}, use_formats=False) for kind, file in SCHEMA_FILES.items()}
    compiled["manifest"] = fastjsonschema.compile(MANIFEST_SCHEMA, use_formats=False)
    return compiled


def validate(kind: str, data: Any, name: str) -> None:
    """IntegrityError naming ``name`` and the offending path unless ``data`` satisfies the schema."""
    try:
        validators()[kind](data)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = "/" + "/".join(str(p) for p in exc.path[1:])
        raise IntegrityError(f"{name}: schema violation at {where}: {exc.message.replace(exc.name + ' ', '', 1)[:300]}") from None


# --------------------------------------------------------------------------------------------------
# the golden tree
# --------------------------------------------------------------------------------------------------


def relative_path(kind: str, algorithm: str) -> str:
    return f"{GOLDEN_SUBDIR}/{FAMILY_DIRS[kind]}/{algorithm}.json"


@dataclass(frozen=True)
class GoldenFile:
    """One parsed golden file."""

    path: str  # relative to the golden root
    data: dict[str, Any]

    @property
    def algorithm(self) -> str:
        return self.data["algorithm"]

    @property
    def kind(self) -> str:
        return self.data["kind"]

    def cases(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(group, case) pairs in file order."""
        for group in self.data["groups"]:
            for case in group["cases"]:
                yield group, case


def load_schema(root: Path, kind: str) -> dict[str, Any]:
    return load_json(root / SCHEMA_DIR / SCHEMA_FILES[kind])


def load_manifest(root: Path) -> dict[str, Any]:
    """The manifest, structurally validated (paths confined to the tree's own layout)."""
    path = root / MANIFEST_NAME
    if not path.exists():
        raise IntegrityError(f"{path}: manifest missing (run `optimspec golden generate`)")
    manifest = parse_json(read_file(path, MANIFEST_NAME), MANIFEST_NAME)
    validate("manifest", manifest, MANIFEST_NAME)
    if manifest["format_version"] != FORMAT_VERSION:
        raise IntegrityError(f"{MANIFEST_NAME}: format_version {manifest['format_version']!r}, expected {FORMAT_VERSION}")
    for index, entry in enumerate(manifest["files"]):
        expected = relative_path(entry["kind"], entry["algorithm"])
        if entry["path"] != expected:
            raise IntegrityError(f"{MANIFEST_NAME}: files[{index}].path is {entry['path']!r}; a {entry['kind']} file of {entry['algorithm']} lives at {expected!r}")
    return manifest


def check_schema_hashes(root: Path, manifest: Mapping[str, Any]) -> None:
    """The tree's schema files are the ones its manifest records."""
    recorded = {e["path"]: e["sha256"] for e in manifest["schemas"]}
    for name in SCHEMA_NAMES:
        relative = f"{SCHEMA_DIR}/{name}"
        if recorded.get(relative) != sha256(read_file(root / relative, relative)):
            raise IntegrityError(f"{relative}: sha256 does not match the manifest (the schema was altered)")


def case_ids(data: Mapping[str, Any]) -> list[str]:
    return [c["id"] for g in data["groups"] for c in g["cases"]] + [c["id"] for c in data["invalid"]]


def _tensors(obj: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if is_tensor(obj):
        yield where, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _tensors(value, f"{where}.{key}")
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _tensors(value, f"{where}[{index}]")


def _case_problem(kind: str, case: Mapping[str, Any]) -> str | None:
    """What the runner could not use in a schema-valid case, or None."""
    for where, tensor in _tensors(case, ""):
        if len(tensor["values"]) != math.prod(tensor["shape"]):
            return f"tensor{where} has {len(tensor['values'])} values but shape {tensor['shape']}"
    if kind == "optimizer":
        names, steps = set(case["params"]), [c["step"] for c in case["checkpoints"]]
        if 0 not in steps or any(not 0 <= t <= len(case["grads"]) for t in steps) or len(set(steps)) != len(steps):
            return f"checkpoint steps {steps} must be distinct, include 0 and lie within the {len(case['grads'])} gradient steps"
        if any(set(g) - names for g in case["grads"]) or any(set(c["params"]) != names or set(c["state"]) != names for c in case["checkpoints"]):
            return "grads and checkpoints must name the case's params"
        if case.get("param_groups") and sorted(n for g in case["param_groups"] for n in g["params"]) != sorted(names):
            return "param_groups must hold each param exactly once"
    elif kind == "schedule":
        rows = len(case.get("steps", case.get("inputs", [])))
        if case["expected"]["shape"][:1] != [rows] or any(not 0 <= r < rows for r in case.get("exact_rows", [])):
            return f"expected must have one row per input ({rows}) and exact_rows must index them"
    elif len(case["events"]) != len(case["expected"]):
        return "events and expected must have the same length"
    return None


def check_file(data: Mapping[str, Any], entry: Mapping[str, Any], seen: set[str]) -> None:
    """Schema, manifest agreement, case-id grammar and uniqueness (``seen`` holds the ids of files
    already checked), and :func:`_case_problem` for every case."""
    name = entry["path"]
    validate(entry["kind"], data, name)
    for key in ("algorithm", "kind", "number_of_cases"):
        if data[key] != entry[key]:
            raise IntegrityError(f"{name}: {key} is {data[key]!r} but the manifest says {entry[key]!r}")
    ids = case_ids(data)
    if len(ids) != data["number_of_cases"]:
        raise IntegrityError(f"{name}: number_of_cases is {data['number_of_cases']} but the file holds {len(ids)}")
    # A group may hold cases of another kind than its file (create_optimizer's optimizer groups).
    kinds = [group.get("kind", data["kind"]) for group in data["groups"] for _ in group["cases"]] + [data["kind"]] * len(data["invalid"])
    for case_id, kind in zip(ids, kinds):
        if not CASE_ID.fullmatch(case_id) or case_id.split("/")[0] != FAMILY[kind]:
            raise IntegrityError(f"{name}: case id {case_id!r} does not follow the id grammar ({FAMILY[kind]}/<algorithm>/<segment>/..., lower-case words)")
        if case_id.split("/")[1] != data["algorithm"]:
            raise IntegrityError(f"{name}: case {case_id} does not belong to algorithm {data['algorithm']}")
        if case_id in seen:
            raise IntegrityError(f"{name}: duplicate case id {case_id}")
        seen.add(case_id)
    for group in data["groups"]:
        for case in group["cases"]:
            problem = _case_problem(group.get("kind", data["kind"]), case)
            if problem:
                raise IntegrityError(f"{name}: case {case['id']}: {problem}")


def load_entry(root: Path, entry: Mapping[str, Any], seen: set[str]) -> GoldenFile:
    """One manifest entry: read (size-capped), hashed, then parsed and checked."""
    raw = read_file(root / entry["path"], entry["path"])
    if sha256(raw) != entry["sha256"]:
        raise IntegrityError(f"{entry['path']}: sha256 does not match the manifest (the file was altered)")
    data = parse_json(raw, entry["path"])
    check_file(data, entry, seen)
    return GoldenFile(entry["path"], data)


def load_all(root: Path | None = None) -> list[GoldenFile]:
    """Every golden file listed in the manifest, each checked (see the module docstring)."""
    root = root or default_root()
    manifest = load_manifest(root)
    check_schema_hashes(root, manifest)
    seen: set[str] = set()
    return [load_entry(root, entry, seen) for entry in manifest["files"]]


def install_schemas(root: Path) -> None:
    """Copy the shipped schema files into ``root`` (a new golden tree) where they are missing."""
    for name in SCHEMA_NAMES:
        target = root / SCHEMA_DIR / name
        if not target.exists():
            write_atomic(target, read_file(shipped_schema_dir() / name))
