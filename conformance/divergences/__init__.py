"""Known divergences: curated TOML files that turn an expected failure into ``xfail``, ``skip`` or a
wider tolerance, with a reason (``docs/implementers.md``, "Divergence files").

One file per built-in adapter ships in this package (``<adapter name>.toml``) and is loaded
automatically for that adapter. Any adapter (an entry-point one, a ``module:Factory`` one) can ship
its own file next to its code and name it in a ``divergence_file`` attribute (a path, or an
``importlib.resources`` file): it is loaded first. Files given with ``--divergences`` are layered
on top, and among the entries that apply to a case the last one loaded wins. The format::

    [[divergence]]
    match = "optim/adamw/conventions/*"   # fnmatch glob on the case id (required)
    kind = "convention"                   # bug | convention | unsupported | numerics (required)
    outcome = "xfail"                     # xfail | skip | tolerance (required)
    reason = "..."                        # required, non-empty
    link = "https://..."                  # required when kind = "bug"
    strict = true                         # optional (default true): an XPASS counts as a failure
    tolerance = 64.0                      # required iff outcome = "tolerance": the budget k to use
    review_by = 2026-01-01                # optional: a warning once the date has passed
    [divergence.when]                     # optional conditions, all of which must hold
    dtype = ["float32"]
    versions = { torch = ">=2.4" }        # PEP 440 specifiers on adapter.info()["versions"]

A malformed file or entry raises :class:`DivergenceError` (a usage error, exit 2) naming the file
and the entry; every value is type-checked when the file is read, so nothing about an entry can fail
later in the run. This module imports no framework.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

KINDS = ("bug", "convention", "unsupported", "numerics")
DTYPES = ("float64", "float32", "float16", "bfloat16", "any")  # "any": the invalid-hyperparameter cases
OUTCOMES = ("xfail", "skip", "tolerance")
_ENTRY_KEYS = {"match", "kind", "outcome", "reason", "link", "strict", "tolerance", "review_by", "when"}
_WHEN_KEYS = {"dtype", "versions"}


class DivergenceError(Exception):
    """A divergence file or entry is malformed (a usage error)."""


@dataclass(frozen=True)
class Divergence:
    """One entry of a divergence file."""

    match: str
    kind: str
    outcome: str
    reason: str
    source: str  # the file it came from
    index: int  # its position in that file, from 0
    link: str | None = None
    strict: bool = True
    tolerance: float | None = None
    review_by: _dt.date | None = None
    dtypes: tuple[str, ...] | None = None
    versions: Mapping[str, SpecifierSet] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name this entry: file, index and glob."""
        return f"{self.source} entry {self.index} (match = {self.match!r})"

    def matches_id(self, case_id: str) -> bool:
        return fnmatchcase(case_id, self.match)

    def applies(self, case_id: str, dtype: str, versions: Mapping[str, str]) -> bool:
        """Does this entry cover the case ``case_id`` of ``dtype`` under these framework versions?"""
        if not self.matches_id(case_id):
            return False
        if self.dtypes is not None and dtype not in self.dtypes:
            return False
        return all(_version_in(versions.get(name), spec) for name, spec in self.versions.items())

    def as_dict(self) -> dict[str, Any]:
        """The entry as the JSON report records it."""
        out: dict[str, Any] = {
            "file": self.source, "index": self.index, "match": self.match, "kind": self.kind,
            "outcome": self.outcome, "reason": self.reason, "strict": self.strict,
        }
        if self.link:
            out["link"] = self.link
        if self.tolerance is not None:
            out["tolerance"] = self.tolerance
        if self.dtypes is not None or self.versions:
            out["when"] = {"dtype": list(self.dtypes or ()), "versions": {n: str(s) for n, s in self.versions.items()}}
        return out


def _version_in(version: str | None, spec: SpecifierSet) -> bool:
    if version is None:
        return False
    try:
        return spec.contains(Version(str(version)), prereleases=True)
    except InvalidVersion:
        return False


@dataclass(frozen=True)
class DivergenceFile:
    """A parsed file: where it came from, its sha256 (recorded in reports) and its entries."""

    path: str
    sha256: str
    entries: tuple[Divergence, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "entries": len(self.entries)}


# --------------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------------


def _require_str(entry: Mapping[str, Any], key: str, where: str, choices: Sequence[str] | None = None) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DivergenceError(f"{where}: `{key}` is required and must be a non-empty string")
    if choices is not None and value not in choices:
        raise DivergenceError(f"{where}: `{key}` = {value!r} is not one of {', '.join(choices)}")
    return value


def _parse_when(when: Any, where: str) -> tuple[tuple[str, ...] | None, dict[str, SpecifierSet]]:
    if when is None:
        return None, {}
    if not isinstance(when, Mapping):
        raise DivergenceError(f"{where}: `when` must be a table")
    unknown = sorted(set(when) - _WHEN_KEYS)
    if unknown:
        raise DivergenceError(f"{where}: unknown condition(s) {unknown} in `when` (known: {sorted(_WHEN_KEYS)})")
    dtypes = when.get("dtype")
    if dtypes is not None:
        if isinstance(dtypes, str):
            dtypes = [dtypes]
        if not isinstance(dtypes, list) or not all(isinstance(d, str) and d in DTYPES for d in dtypes):
            raise DivergenceError(f"{where}: `when.dtype` must be a list of dtype names ({', '.join(DTYPES)})")
        dtypes = tuple(dtypes)
    versions = when.get("versions", {})
    if not isinstance(versions, Mapping):
        raise DivergenceError(f"{where}: `when.versions` must be a table of framework = \"specifier\"")
    specs: dict[str, SpecifierSet] = {}
    for name, text in versions.items():
        if not isinstance(text, str):
            raise DivergenceError(f"{where}: `when.versions.{name}` must be a string such as \">=2.4\"")
        try:
            specs[name] = SpecifierSet(str(text))
        except InvalidSpecifier:
            raise DivergenceError(f"{where}: `when.versions.{name}` = {text!r} is not a PEP 440 specifier") from None
    return dtypes, specs


def _parse_tolerance(entry: Mapping[str, Any], outcome: str, where: str) -> float | None:
    value = entry.get("tolerance")
    if outcome != "tolerance":
        if value is not None:
            raise DivergenceError(f"{where}: `tolerance` is only allowed with outcome = \"tolerance\"")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise DivergenceError(f"{where}: outcome = \"tolerance\" requires `tolerance` = a positive, finite budget k")
    return float(value)


def parse_entry(entry: Any, source: str, index: int) -> Divergence:
    """One ``[[divergence]]`` table, validated."""
    where = f"{source}: entry {index}"
    if not isinstance(entry, Mapping):
        raise DivergenceError(f"{where}: must be a table")
    match = _require_str(entry, "match", where)
    where = f"{where} (match = {match!r})"
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise DivergenceError(f"{where}: unknown key(s) {unknown} (known: {sorted(_ENTRY_KEYS)})")
    kind = _require_str(entry, "kind", where, KINDS)
    outcome = _require_str(entry, "outcome", where, OUTCOMES)
    reason = _require_str(entry, "reason", where)
    link = entry.get("link")
    if link is not None and not isinstance(link, str):
        raise DivergenceError(f"{where}: `link` must be a string")
    if kind == "bug" and not (link and link.strip()):
        raise DivergenceError(f"{where}: kind = \"bug\" requires a `link` to the bug report")
    strict = entry.get("strict", True)
    if not isinstance(strict, bool):
        raise DivergenceError(f"{where}: `strict` must be true or false")
    review_by = entry.get("review_by")
    if review_by is not None and (isinstance(review_by, _dt.datetime) or not isinstance(review_by, _dt.date)):
        raise DivergenceError(f"{where}: `review_by` must be a TOML date such as 2026-01-31 (not a date-time, time or string)")
    dtypes, versions = _parse_when(entry.get("when"), where)
    return Divergence(
        match=match, kind=kind, outcome=outcome, reason=reason, source=source, index=index, link=link,
        strict=strict, tolerance=_parse_tolerance(entry, outcome, where), review_by=review_by,
        dtypes=dtypes, versions=versions,
    )


def parse(data: bytes, source: str) -> DivergenceFile:
    """A divergence file from its bytes; ``source`` names it in messages and reports."""
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DivergenceError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"divergence"})
    if unknown:
        raise DivergenceError(f"{source}: unknown top-level key(s) {unknown}; entries go in [[divergence]] tables")
    entries = document.get("divergence", [])
    if not isinstance(entries, list):
        raise DivergenceError(f"{source}: `divergence` must be an array of tables ([[divergence]])")
    parsed = tuple(parse_entry(entry, source, index) for index, entry in enumerate(entries))
    return DivergenceFile(source, hashlib.sha256(data).hexdigest(), parsed)


def load_file(path: Path) -> DivergenceFile:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DivergenceError(f"{path}: cannot read divergence file: {exc.strerror or exc}") from None
    return parse(data, str(path))


def shipped_file(adapter_name: str) -> DivergenceFile | None:
    """The curated file shipped for ``adapter_name`` (``<name>.toml`` in this package), if any."""
    if not adapter_name or any(c in adapter_name for c in "/\\:"):
        return None  # a `pkg.module:Factory` adapter ships its divergences itself
    resource = resources.files(__package__).joinpath(f"{adapter_name}.toml")
    if not resource.is_file():
        return None
    return parse(resource.read_bytes(), f"optimspec.conformance.divergences/{adapter_name}.toml")


# --------------------------------------------------------------------------------------------------
# the layered set
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DivergenceSet:
    """Every file in load order; later entries win."""

    files: tuple[DivergenceFile, ...] = ()

    @property
    def entries(self) -> list[Divergence]:
        return [entry for file in self.files for entry in file.entries]

    def lookup(self, case_id: str, dtype: str, versions: Mapping[str, str]) -> Divergence | None:
        """The entry that decides this case: the last one loaded that applies, or None."""
        for entry in reversed(self.entries):
            if entry.applies(case_id, dtype, versions):
                return entry
        return None

    def warnings(self, cases: Iterable[tuple[str, str]], versions: Mapping[str, str], today: _dt.date | None = None) -> list[str]:
        """Entries that apply to none of ``cases`` (``(case id, dtype)`` pairs), and entries past their
        review date."""
        cases = list(cases)
        today = today or _dt.date.today()
        out = []
        for entry in self.entries:
            if not any(entry.applies(case_id, dtype, versions) for case_id, dtype in cases):
                out.append(f"divergence {entry.label} matches no golden case")
            if entry.review_by is not None and entry.review_by < today:
                out.append(f"divergence {entry.label} was due for review by {entry.review_by.isoformat()}")
        return out


def adapter_file(adapter: Any) -> DivergenceFile | None:
    """The file an adapter ships itself, named by its optional ``divergence_file`` attribute: a path
    or an ``importlib.resources`` Traversable (``resources.files("mylib") / "divergences.toml"``)."""
    location = getattr(adapter, "divergence_file", None)
    if location is None:
        return None
    if isinstance(location, (str, Path)):
        return load_file(Path(location))
    try:
        data = location.read_bytes()
    except (AttributeError, OSError) as exc:
        raise DivergenceError(f"adapter {getattr(adapter, 'name', adapter)!r}: cannot read its divergence_file {location!r}: {exc}") from None
    return parse(data, str(location))


def load(adapter_name: str | None, user_files: Sequence[Path] = (), adapter: Any = None) -> DivergenceSet:
    """The adapter's own file (``divergence_file``), the file shipped here for ``adapter_name``, then
    ``user_files`` in order; the same bytes reached twice are loaded once."""
    candidates = [adapter_file(adapter) if adapter is not None else None, shipped_file(adapter_name) if adapter_name else None]
    candidates.extend(load_file(Path(path)) for path in user_files)
    files: list[DivergenceFile] = []
    for file in candidates:
        if file is not None and all(f.sha256 != file.sha256 for f in files):
            files.append(file)
    return DivergenceSet(tuple(files))
