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
    behaves_like = "eps_placement=after_bias_correction"  # the failure's diagnosis names exactly these
    max_error = 1e3                       # the failure's measured error is at most this (ε·S; ulps for half steps)

``behaves_like`` and ``max_error`` make an ``xfail`` or ``tolerance`` entry excuse only the failure
it was written for: a failure the diagnosis explains otherwise (or not at all), one that grew past
the cap, or a crash, is not covered by it (an earlier entry that covers the case still may be). A
case that passes is covered whatever they say (so a fixed divergence reads ``xpass``).
``behaves_like`` is one ``axis=value`` or several, comma-separated or as a list, each a convention
the spec names (``optimspec catalogue``); they are checked when the file is read.

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
_WHEN_KEYS = {"dtype", "versions", "behaves_like", "max_error"}


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
    behaves_like: frozenset[str] | None = None  # "axis=value" tokens the diagnosis must name, exactly
    max_error: float | None = None  # in the measured error's units: ε·S (ulps for half-precision steps)

    @property
    def conditional(self) -> bool:
        """Does the entry depend on how the case fails (decided after running it)?"""
        return self.behaves_like is not None or self.max_error is not None

    def holds(self, passed: bool, conventions: frozenset[str], max_error: float | None) -> bool:
        """Do ``when.behaves_like`` and ``when.max_error`` hold for a judged case? A passing case
        (``passed``) is covered; a failure only when its diagnosis names exactly ``behaves_like``
        (``conventions``) and its measured error (``max_error``, in ε·S; None for a crash) is at
        most the cap."""
        if passed:
            return True
        if self.behaves_like is not None and conventions != self.behaves_like:
            return False
        return self.max_error is None or (max_error is not None and max_error <= self.max_error)

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
        when: dict[str, Any] = {}
        if self.dtypes is not None or self.versions:
            when = {"dtype": list(self.dtypes or ()), "versions": {n: str(s) for n, s in self.versions.items()}}
        if self.behaves_like is not None:
            when["behaves_like"] = sorted(self.behaves_like)
        if self.max_error is not None:
            when["max_error"] = self.max_error
        if when:
            out["when"] = when
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


@dataclass(frozen=True)
class _When:
    dtypes: tuple[str, ...] | None = None
    versions: Mapping[str, SpecifierSet] = field(default_factory=dict)
    behaves_like: frozenset[str] | None = None
    max_error: float | None = None


def known_conventions() -> dict[str, tuple[str, ...]]:
    """Every convention axis the spec names, with its values (over all algorithms)."""
    from optimspec.reference import registry

    axes: dict[str, tuple[str, ...]] = {}
    for name in registry.names():
        for convention in registry.spec(name).conventions:
            axes[convention.axis] = tuple(dict.fromkeys(axes.get(convention.axis, ()) + convention.values))
    return axes


def _parse_behaves_like(value: Any, where: str) -> frozenset[str]:
    """``"a=x, b=y"`` or ``["a=x", "b=y"]``: each a convention axis and value the spec names."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise DivergenceError(f"{where}: `when.behaves_like` must be \"axis=value\" (several comma-separated, or a list of them)")
    axes = known_conventions()
    tokens = []
    for raw in value:
        axis, sep, choice = (part.strip() for part in raw.partition("="))
        if not sep or axis not in axes:
            raise DivergenceError(f"{where}: `when.behaves_like` {raw.strip()!r} is not axis=value with a known axis ({', '.join(sorted(axes))})")
        if choice not in axes[axis]:
            raise DivergenceError(f"{where}: `when.behaves_like` {axis}={choice!r} is not one of {', '.join(axes[axis])}")
        tokens.append(f"{axis}={choice}")
    return frozenset(tokens)


def _parse_max_error(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise DivergenceError(f"{where}: `when.max_error` must be a positive, finite error in ε·S (such as 1e3)")
    return float(value)


def _parse_when(when: Any, outcome: str, where: str) -> _When:
    if when is None:
        return _When()
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
    behaves_like = _parse_behaves_like(when["behaves_like"], where) if "behaves_like" in when else None
    max_error = _parse_max_error(when["max_error"], where) if "max_error" in when else None
    if outcome == "skip" and (behaves_like is not None or max_error is not None):
        raise DivergenceError(f"{where}: `when.behaves_like` and `when.max_error` need outcome = \"xfail\" or \"tolerance\" (a skipped case is never run, so it has no diagnosis or error)")
    return _When(dtypes, specs, behaves_like, max_error)


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
    when = _parse_when(entry.get("when"), outcome, where)
    return Divergence(
        match=match, kind=kind, outcome=outcome, reason=reason, source=source, index=index, link=link,
        strict=strict, tolerance=_parse_tolerance(entry, outcome, where), review_by=review_by,
        dtypes=when.dtypes, versions=when.versions, behaves_like=when.behaves_like, max_error=when.max_error,
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

    def lookup(self, case_id: str, dtype: str, versions: Mapping[str, str]) -> tuple[Divergence, ...]:
        """The entries that may decide this case, in load order: those that apply to its id, dtype
        and versions, from the last one that does not depend on how the case fails (the fallback)
        on. The last one whose ``behaves_like`` / ``max_error`` hold once the case is judged decides
        it (:func:`decide`)."""
        candidates = [entry for entry in self.entries if entry.applies(case_id, dtype, versions)]
        fallback = max((i for i, entry in enumerate(candidates) if not entry.conditional), default=0)
        return tuple(candidates[fallback:])

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


def decide(candidates: Sequence[Divergence], passed: bool, conventions: frozenset[str], max_error: float | None) -> Divergence | None:
    """The entry that decides a judged case: the last of ``candidates`` (from
    :meth:`DivergenceSet.lookup`) whose conditions hold (:meth:`Divergence.holds`)."""
    for entry in reversed(candidates):
        if entry.holds(passed, conventions, max_error):
            return entry
    return None


def skips(candidates: Sequence[Divergence]) -> Divergence | None:
    """The skip entry that decides a case before it runs: the fallback, when it is a skip and no
    conditional entry after it might take the case instead."""
    if len(candidates) == 1 and candidates[0].outcome == "skip":
        return candidates[0]
    return None


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
