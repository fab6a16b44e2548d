"""Golden files: the canonical JSON encoding, tensors, the manifest, atomic writes and integrity checks.

Encoding rules (also in ``docs/design.md``, "Golden vectors"):
* numbers are JSON numbers written as the shortest decimal that round-trips to the binary64 value
  (Python's ``repr``); NaN and infinities are the strings ``"nan"``, ``"inf"``, ``"-inf"``; ``-0.0``
  keeps its sign;
* a tensor is ``{"dtype": ..., "shape": [...], "values": [flat, row-major]}``;
* canonical layout: sorted keys, one-space indent, lists of scalars on one line, ``\\n`` at the end,
  so generating twice gives identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
SPEC_VERSION = "1.0.0"
GOLDEN_SUBDIR = "v1"
MANIFEST_NAME = "MANIFEST.json"
SCHEMA_DIR = "schema"
FAMILY_DIRS = {"optimizer": "optimizers", "accumulator": "optimizers", "schedule": "schedules"}
SCHEMA_FILES = {"optimizer": "optimizer.schema.json", "accumulator": "accumulator.schema.json", "schedule": "schedule.schema.json"}

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
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


def load_json(path: Path) -> Any:
    """Parse a golden JSON file; bare NaN/Infinity tokens are rejected (they are not canonical)."""

    def reject(token: str) -> Any:
        raise IntegrityError(f"{path}: bare {token} is not allowed; use the strings 'nan', 'inf', '-inf'")

    try:
        return json.loads(path.read_bytes(), parse_constant=reject)
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{path}: not valid JSON: {exc}") from None


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
    path = root / MANIFEST_NAME
    if not path.exists():
        raise IntegrityError(f"{path}: manifest missing (run `optimspec golden generate`)")
    return load_json(path)


def load_all(root: Path | None = None) -> list[GoldenFile]:
    """Every golden file listed in the manifest, each checked against its sha256 first."""
    root = root or default_root()
    manifest = load_manifest(root)
    files = []
    for entry in manifest["files"]:
        path = root / entry["path"]
        if not path.exists():
            raise IntegrityError(f"{entry['path']}: listed in the manifest but missing")
        data = path.read_bytes()
        if sha256(data) != entry["sha256"]:
            raise IntegrityError(f"{entry['path']}: sha256 does not match the manifest (the file was altered)")
        files.append(GoldenFile(entry["path"], load_json(path)))
    return files
