"""Known-divergence files: parsing, validation (every malformed entry is named), conditions,
layering, warnings, and every file shipped in optimspec.conformance.divergences."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pytest

from optimspec.conformance import divergences
from optimspec.conformance.divergences import DivergenceError, DivergenceSet

VALID = """
[[divergence]]
match = "optim/adamw/*/f32/*"
kind = "bug"
outcome = "xfail"
reason = "ε placed after bias correction"
link = "https://example.org/issue/1"
strict = false
review_by = 2999-01-01
[divergence.when]
dtype = ["float32"]
versions = { torch = ">=2.4" }

[[divergence]]
match = "sched/*"
kind = "numerics"
outcome = "tolerance"
reason = "recursive schedule drifts"
tolerance = 64.0
"""

BASE = 'match = "optim/*"\nkind = "convention"\noutcome = "xfail"\nreason = "r"\n'


def parse(text: str, name: str = "test.toml") -> divergences.DivergenceFile:
    return divergences.parse(text.encode("utf-8"), name)


def test_parse_a_valid_file() -> None:
    file = parse(VALID)
    first, second = file.entries
    assert (first.kind, first.outcome, first.strict, first.link) == ("bug", "xfail", False, "https://example.org/issue/1")
    assert first.dtypes == ("float32",) and str(first.versions["torch"]) == ">=2.4"
    assert first.review_by == dt.date(2999, 1, 1)
    assert (second.outcome, second.tolerance, second.strict) == ("tolerance", 64.0, True)
    assert len(file.sha256) == 64
    assert first.as_dict()["when"] == {"dtype": ["float32"], "versions": {"torch": ">=2.4"}}


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('kind = "convention"\noutcome = "xfail"\nreason = "r"\n', "`match` is required"),
        ('match = "optim/*"\nkind = "convention"\noutcome = "xfail"\n', "`reason` is required"),
        ('match = "optim/*"\nkind = "convention"\noutcome = "xfail"\nreason = "  "\n', "`reason` is required"),
        ('match = "optim/*"\nkind = "feature"\noutcome = "xfail"\nreason = "r"\n', "`kind` = 'feature' is not one of"),
        ('match = "optim/*"\nkind = "convention"\noutcome = "ignore"\nreason = "r"\n', "`outcome` = 'ignore' is not one of"),
        ('match = "optim/*"\nkind = "bug"\noutcome = "xfail"\nreason = "r"\n', 'kind = "bug" requires a `link`'),
        ('match = "optim/*"\nkind = "numerics"\noutcome = "tolerance"\nreason = "r"\n', "requires `tolerance`"),
        ('match = "optim/*"\nkind = "numerics"\noutcome = "tolerance"\nreason = "r"\ntolerance = -1.0\n', "requires `tolerance`"),
        (BASE + "tolerance = 8.0\n", "`tolerance` is only allowed with"),
        (BASE + 'reson = "typo"\n', "unknown key(s) ['reson']"),
        (BASE + 'strict = "yes"\n', "`strict` must be true or false"),
        (BASE + 'review_by = "soon"\n', "`review_by` must be a TOML date"),
        (BASE + "[divergence.when]\ndevice = ['cpu']\n", "unknown condition(s) ['device']"),
        (BASE + "[divergence.when]\nversions = { torch = 'two' }\n", "is not a PEP 440 specifier"),
        (BASE + "[divergence.when]\ndtype = 32\n", "`when.dtype` must be a list"),
        (BASE + "review_by = 2026-01-31T10:00:00\n", "`review_by` must be a TOML date"),
        (BASE + "review_by = 10:00:00\n", "`review_by` must be a TOML date"),
        ('match = "optim/*"\nkind = "numerics"\noutcome = "tolerance"\nreason = "r"\ntolerance = inf\n', "positive, finite budget"),
        (BASE + "[divergence.when]\ndtype = ['float128']\n", "`when.dtype` must be a list of dtype names"),
        (BASE + "[divergence.when]\nversions = { torch = 2 }\n", "`when.versions.torch` must be a string"),
        (BASE + "[divergence.when]\nbehaves_like = 'eps_placement=sideways'\n", "`when.behaves_like` eps_placement='sideways' is not one of before_bias_correction, after_bias_correction"),
        (BASE + "[divergence.when]\nbehaves_like = 'eps_place=after_bias_correction'\n", "'eps_place=after_bias_correction' is not axis=value with a known axis"),
        (BASE + "[divergence.when]\nbehaves_like = 3\n", "`when.behaves_like` must be"),
        (BASE + "[divergence.when]\nmax_error = -1\n", "`when.max_error` must be a positive, finite error in ε·S"),
        (BASE + "[divergence.when]\nmax_error = 'big'\n", "`when.max_error` must be a positive, finite error in ε·S"),
        (BASE.replace('"xfail"', '"skip"') + "[divergence.when]\nmax_error = 10.0\n", "need outcome = \"xfail\" or \"tolerance\""),
    ],
    ids=[
        "no-match", "no-reason", "blank-reason", "bad-kind", "bad-outcome", "bug-without-link", "tolerance-missing", "tolerance-negative",
        "tolerance-with-xfail", "unknown-key", "strict-not-bool", "review-by-not-date", "unknown-condition", "bad-specifier", "dtype-not-list",
        "review-by-datetime", "review-by-time", "tolerance-inf", "unknown-dtype", "version-not-string",
        "behaves-like-unknown-value", "behaves-like-unknown-axis", "behaves-like-not-text", "max-error-negative", "max-error-not-number",
        "conditions-on-skip",
    ],
)
def test_malformed_entries_are_named(entry: str, complaint: str) -> None:
    text = "[[divergence]]\n" + BASE + "\n[[divergence]]\n" + entry
    with pytest.raises(DivergenceError) as info:
        parse(text, "peer.toml")
    message = str(info.value)
    assert message.startswith("peer.toml: entry 1"), f"the file and entry index must be named: {message}"
    assert complaint in message
    if "match = " in entry:
        assert "(match = 'optim/*')" in message, f"the entry's glob must be named: {message}"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[[divergence]\nmatch = 1", "not valid TOML"),
        ("divergence = 3", "must be an array of tables"),
        ("[[divergences]]\nmatch = 'x'", "unknown top-level key(s) ['divergences']"),
    ],
)
def test_malformed_files_are_named(text: str, complaint: str) -> None:
    with pytest.raises(DivergenceError, match=r"^bad\.toml: ") as info:
        parse(text, "bad.toml")
    assert complaint in str(info.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DivergenceError, match="cannot read divergence file"):
        divergences.load_file(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("case_id", "dtype", "versions", "applies"),
    [
        ("optim/adamw/conventions/f32/tiny", "float32", {"torch": "2.13.0+cpu"}, True),
        ("optim/adamw/conventions/f32/tiny", "float32", {"torch": "2.5.0rc1"}, True),
        ("optim/adamw/conventions/f32/tiny", "float32", {"torch": "2.3.1"}, False),
        ("optim/adamw/conventions/f32/tiny", "float32", {}, False),
        ("optim/adamw/conventions/f32/tiny", "float32", {"torch": "not-a-version"}, False),
        ("optim/adamw/conventions/f32/tiny", "float64", {"torch": "2.13.0"}, False),
        ("optim/adafactor/conventions/f32/tiny", "float32", {"torch": "2.13.0"}, False),
    ],
)
def test_conditions(case_id: str, dtype: str, versions: dict[str, str], applies: bool) -> None:
    first = parse(VALID).entries[0]
    assert first.applies(case_id, dtype, versions) is applies


def test_lookup_takes_the_last_applicable_entry(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped.toml"
    shipped.write_text("[[divergence]]\n" + BASE)
    user = tmp_path / "user.toml"
    user.write_text('[[divergence]]\nmatch = "optim/adamw/*"\nkind = "convention"\noutcome = "skip"\nreason = "mine"\n')
    layered = divergences.load(None, [shipped, user])
    assert [e.outcome for e in layered.lookup("optim/adamw/x", "float32", {})] == ["skip"]
    assert [e.outcome for e in layered.lookup("optim/adafactor/x", "float32", {})] == ["xfail"]
    assert layered.lookup("sched/linear/x", "float64", {}) == ()
    assert [f.path for f in layered.files] == [str(shipped), str(user)]


CONDITIONAL = BASE + "[divergence.when]\nbehaves_like = 'decay_order=before_update, eps_placement=after_bias_correction'\nmax_error = 1e3\n"


def test_conditions_on_the_diagnosis_and_the_error_parse_and_report() -> None:
    (entry,) = parse("[[divergence]]\n" + CONDITIONAL).entries
    assert entry.conditional and entry.behaves_like == {"eps_placement=after_bias_correction", "decay_order=before_update"}
    assert entry.max_error == 1e3
    assert entry.as_dict()["when"] == {"behaves_like": ["decay_order=before_update", "eps_placement=after_bias_correction"], "max_error": 1e3}
    as_list = parse("[[divergence]]\n" + BASE + "[divergence.when]\nbehaves_like = ['eps_placement=after_bias_correction']\n").entries[0]
    assert as_list.behaves_like == {"eps_placement=after_bias_correction"} and as_list.max_error is None


@pytest.mark.parametrize(
    ("passed", "named", "error", "holds"),
    [
        (False, {"eps_placement=after_bias_correction", "decay_order=before_update"}, 37.0, True),
        (False, {"eps_placement=after_bias_correction", "decay_order=before_update"}, 2e3, False),
        (False, {"eps_placement=after_bias_correction"}, 37.0, False),
        (False, set(), 37.0, False),
        (False, {"eps_placement=after_bias_correction", "decay_order=before_update"}, None, False),
        (True, set(), 0.5, True),
    ],
    ids=["named-within-cap", "grew-past-cap", "other-diagnosis", "unexplained", "crashed", "passes"],
)
def test_a_conditional_entry_excuses_only_the_failure_it_was_written_for(passed: bool, named: set[str], error: float | None, holds: bool) -> None:
    (entry,) = parse("[[divergence]]\n" + CONDITIONAL).entries
    assert entry.holds(passed, frozenset(named), error) is holds


def test_a_conditional_entry_falls_back_to_the_entry_before_it() -> None:
    broad = "[[divergence]]\n" + BASE.replace('reason = "r"', 'reason = "broad"')
    layered = DivergenceSet((parse(broad + "\n[[divergence]]\n" + CONDITIONAL),))
    candidates = layered.lookup("optim/adamw/x", "float64", {})
    assert [e.reason for e in candidates] == ["broad", "r"]
    assert divergences.decide(candidates, False, frozenset({"eps_placement=after_bias_correction"}), 5.0).reason == "broad"
    assert divergences.decide(DivergenceSet((parse("[[divergence]]\n" + CONDITIONAL),)).lookup("optim/x", "float64", {}), False, frozenset(), 5.0) is None


def test_warnings_for_unmatched_and_overdue_entries() -> None:
    overdue = "[[divergence]]\n" + BASE + "review_by = 2020-01-01\n"
    layered = DivergenceSet((parse(VALID), parse(overdue, "old.toml")))
    warnings = layered.warnings([("optim/adamw/x", "float64")], {"torch": "2.13"}, today=dt.date(2025, 1, 1))
    assert warnings == [
        "divergence test.toml entry 0 (match = 'optim/adamw/*/f32/*') matches no golden case",
        "divergence test.toml entry 1 (match = 'sched/*') matches no golden case",
        "divergence old.toml entry 0 (match = 'optim/*') was due for review by 2020-01-01",
    ]


def test_factory_adapters_get_no_shipped_file() -> None:
    assert divergences.shipped_file("pkg.module:Factory") is None
    assert divergences.shipped_file("no-such-adapter") is None


def test_every_shipped_file_parses() -> None:
    """The curated files shipped with optimspec are valid (a bad one would break `make check`)."""
    shipped = [p for p in resources.files("optimspec.conformance.divergences").iterdir() if p.name.endswith(".toml")]
    for resource in shipped:
        name = resource.name.removesuffix(".toml")
        file = divergences.shipped_file(name)
        assert file is not None and file.path.endswith(f"{name}.toml")


class _OwnFileAdapter:
    """An adapter (an entry-point one, say) that ships its known divergences itself."""

    name = "mylib"

    def __init__(self, location: object) -> None:
        self.divergence_file = location


def test_an_adapter_ships_its_own_divergence_file(tmp_path: Path) -> None:
    own = tmp_path / "mylib.toml"
    own.write_text(VALID)
    user = tmp_path / "user.toml"
    user.write_text("[[divergence]]\n" + BASE.replace('"xfail"', '"skip"'))
    for location in (own, str(own), resources.files("optimspec.conformance.divergences").joinpath("torch.toml")):
        layered = divergences.load("mylib", [], adapter=_OwnFileAdapter(location))
        assert len(layered.files) == 1 and layered.files[0].entries, f"{location!r} is loaded"
    layered = divergences.load("mylib", [user], adapter=_OwnFileAdapter(own))
    assert [f.path for f in layered.files] == [str(own), str(user)], "its own file first, user files on top"
    assert [e.outcome for e in layered.lookup("optim/adamw/x/f32/y", "float32", {"torch": "2.13"})] == ["skip"]
    assert divergences.load("mylib", [own], adapter=_OwnFileAdapter(own)).files == layered.files[:1], "the same bytes load once"
    with pytest.raises(divergences.DivergenceError, match="cannot read"):
        divergences.load("mylib", [], adapter=_OwnFileAdapter(tmp_path / "missing.toml"))
    with pytest.raises(divergences.DivergenceError, match="divergence_file"):
        divergences.load("mylib", [], adapter=_OwnFileAdapter(object()))
