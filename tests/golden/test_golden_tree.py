"""The committed golden tree: verified, byte-stable, tamper-evident, small, written atomically."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimspec.conformance import generate, golden, verify
from optimspec.conformance.testing import rehash
from optimspec.reference import registry

ROOT = golden.default_root()
PROJECT = Path(__file__).resolve().parents[2]
MAX_TOTAL_BYTES = 5_000_000
MAX_TENSOR_ELEMENTS = 64


def _cli(*args: str, env_root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if env_root is not None:
        env["OPTIMSPEC_GOLDEN"] = str(env_root)
    return subprocess.run(
        [str(Path(sys.executable).parent / "optimspec"), *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return generate.render_all()


@pytest.fixture()
def tree_copy(tmp_path: Path) -> Path:
    target = tmp_path / "golden"
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    return target


def test_committed_tree_matches_a_fresh_generation_byte_for_byte(rendered: dict[str, bytes]) -> None:
    for path, payload in rendered.items():
        on_disk = (ROOT / path).read_bytes()
        assert payload == on_disk, f"{path} differs from what the reference generates: run `make golden`"


def test_generation_is_deterministic(rendered: dict[str, bytes]) -> None:
    again = generate.render_all()
    assert again.keys() == rendered.keys()
    unstable = [path for path in again if again[path] != rendered[path]]
    assert not unstable, f"generating twice gave different bytes for {unstable}"


def test_verify_passes_on_the_committed_tree() -> None:
    summary = verify.verify(ROOT, regenerate=False)
    assert summary.files == len(registry.names())
    assert summary.cases > 0


def test_every_algorithm_has_a_golden_file_with_cases() -> None:
    manifest = golden.load_manifest(ROOT)
    by_algorithm = {entry["algorithm"]: entry for entry in manifest["files"]}
    assert sorted(by_algorithm) == registry.names()
    empty = [a for a, e in by_algorithm.items() if e["number_of_cases"] == 0]
    assert not empty, f"algorithms without cases: {empty}"


def test_goldens_are_small() -> None:
    total = sum(p.stat().st_size for p in (ROOT / golden.GOLDEN_SUBDIR).rglob("*.json"))
    assert total <= MAX_TOTAL_BYTES, f"goldens take {total / 1e6:.2f} MB, over the {MAX_TOTAL_BYTES / 1e6:g} MB budget"


def _tensors(obj: object):
    if golden.is_tensor(obj):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _tensors(value)


def test_optimizer_tensors_hold_at_most_64_elements() -> None:
    """Params, gradients and state; a schedule's expected lr sequence is not a tensor of the model."""
    for file in golden.load_all(ROOT):
        if file.kind == "schedule":
            continue
        for group, case in file.cases():
            big = [t["shape"] for t in _tensors(case) if len(t["values"]) > MAX_TENSOR_ELEMENTS]
            assert not big, f"{case['id']}: tensors of shapes {big} exceed {MAX_TENSOR_ELEMENTS} elements"


def test_numbers_round_trip_exactly_and_specials_are_strings() -> None:
    values = [0.1, -0.0, 1e-300, 5e-324, 1.7976931348623157e308, float("nan"), float("inf"), float("-inf")]
    encoded = golden.encode_tensor(np.array(values), "float64")
    text = golden.canonical_bytes(encoded)
    decoded = golden.decode_tensor(json.loads(text))
    assert b"NaN" not in text and b"Infinity" not in text
    assert decoded.tobytes()[:40] == np.array(values).tobytes()[:40]
    assert np.signbit(decoded[1]), "-0.0 lost its sign"
    assert np.isnan(decoded[5]) and decoded[6] == np.inf and decoded[7] == -np.inf


def _edit_one_digit(path: Path) -> None:
    text = path.read_text()
    match = re.search(r'"values": \[-?(\d)', text)
    assert match, f"{path}: no tensor digit to edit"
    digit = match.start(1)
    path.write_text(text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1 :])


def test_a_one_digit_edit_in_any_golden_file_is_caught_naming_file_and_case(tree_copy: Path) -> None:
    for entry in golden.load_manifest(tree_copy)["files"]:
        path = tree_copy / entry["path"]
        original = path.read_bytes()
        _edit_one_digit(path)
        with pytest.raises(golden.IntegrityError) as caught:
            verify.verify(tree_copy, regenerate=False)
        message = verify.locate_tampering(tree_copy, str(caught.value))
        assert entry["path"] in message and "was altered" in message, message
        assert "first differing case: " in message, f"the case is not named: {message}"
        path.write_bytes(original)


def test_cli_verify_exits_3_after_a_one_digit_edit(tree_copy: Path) -> None:
    path = tree_copy / golden.relative_path("optimizer", "adamw")
    _edit_one_digit(path)
    result = _cli("golden", "verify", "--no-regenerate", env_root=tree_copy)
    assert result.returncode == 3, result.stderr
    assert "v1/optimizers/adamw.json" in result.stderr and "first differing case: optim/adamw/" in result.stderr, result.stderr


def test_verify_exits_0_on_an_intact_copy(tree_copy: Path) -> None:
    result = _cli("golden", "verify", "--no-regenerate", env_root=tree_copy)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("remove-manifest", "manifest missing"),
        ("extra-file", "files not in the manifest"),
        ("schema-edit", "schema was altered"),
        ("bare-nan", "bare NaN"),
    ],
)
def test_integrity_errors_exit_3(tree_copy: Path, damage: str, expected: str) -> None:
    if damage == "remove-manifest":
        (tree_copy / golden.MANIFEST_NAME).unlink()
    elif damage == "extra-file":
        (tree_copy / golden.GOLDEN_SUBDIR / "schedules" / "stray.json").write_text("{}\n")
    elif damage == "schema-edit":
        schema = tree_copy / golden.SCHEMA_DIR / "common.schema.json"
        schema.write_text(schema.read_text().replace('"maxItems": 4096', '"maxItems": 4097'))
    elif damage == "bare-nan":
        entry = golden.load_manifest(tree_copy)["files"][0]
        path = tree_copy / entry["path"]
        rehash(tree_copy, entry["path"], path.read_bytes().replace(b'"values": [', b'"values": [NaN, ', 1))
    result = _cli("golden", "verify", "--no-regenerate", env_root=tree_copy)
    assert result.returncode == 3, result.stderr
    assert expected in result.stderr, result.stderr


def test_schema_violation_is_reported_with_its_location(tree_copy: Path) -> None:
    entry = golden.load_manifest(tree_copy)["files"][0]
    path = tree_copy / entry["path"]
    data = json.loads(path.read_text())
    data["groups"][0]["cases"][0]["id"] = "Not A Valid Id"
    rehash(tree_copy, entry["path"], golden.canonical_bytes(data))
    with pytest.raises(golden.IntegrityError, match=r"schema violation at /groups/0/cases/0/id"):
        verify.verify(tree_copy, regenerate=False)


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "file.json"
    target.write_bytes(b"old\n")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        golden.write_atomic(target, b"new\n")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"], "a temporary file was left behind"


def test_golden_io_never_uses_pickle() -> None:
    for module in ("golden.py", "generate.py", "verify.py", "runner.py"):
        tree = ast.parse((PROJECT / "conformance" / module).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"pickle", "dill", "cloudpickle", "joblib"}, f"{module} imports a pickle library"
        source = (PROJECT / "conformance" / module).read_text()
        assert "np.load(" not in source and "allow_pickle" not in source, f"{module} loads NumPy binary data"


def test_list_prints_every_case_id() -> None:
    result = _cli("list")
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    manifest = golden.load_manifest(ROOT)
    assert len(ids) == sum(e["number_of_cases"] for e in manifest["files"])
    assert len(set(ids)) == len(ids)
    assert "sched/linear/boundaries/w2-t10" in ids


def test_catalogue_table_lists_every_algorithm() -> None:
    result = _cli("catalogue")  # 80 columns when not on a terminal: names must still not be cut
    assert result.returncode == 0, result.stderr
    for name in registry.names():
        assert name in result.stdout, f"{name} missing from the catalogue table"


def test_unknown_command_is_a_usage_error() -> None:
    assert _cli("no-such-command").returncode == 2


def test_a_stray_pipe_beside_the_golden_files_is_reported_not_opened(tree_copy: Path) -> None:
    os.mkfifo(tree_copy / golden.GOLDEN_SUBDIR / "schedules" / "stray")
    with pytest.raises(golden.IntegrityError, match=r"files not in the manifest: \['v1/schedules/stray'\]"):
        verify.verify(tree_copy, regenerate=False)


# --------------------------------------------------------------------------------------------------
# the loader under fuzzing: only IntegrityError, whatever a (re-hashed) file holds
# --------------------------------------------------------------------------------------------------

FUZZED_ALGORITHMS = ("linear", "gradient_accumulator", "adamw")
HUGE_INTEGER = "<a 5000-digit integer>"  # written into the JSON text (Python refuses to print one)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8) | st.just(HUGE_INTEGER),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(obj: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document (keys and indices), the root included; long value lists
    contribute their first entries only."""
    out = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj[:3]):
            out += _paths(value, (*prefix, index))
    return out


@pytest.fixture(scope="module")
def fuzz_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes], dict[str, list[tuple]]]:
    from optimspec.conformance.testing import build_golden_tree

    root = build_golden_tree(tmp_path_factory.mktemp("fuzz"), FUZZED_ALGORITHMS)
    names = [golden.MANIFEST_NAME] + [golden.relative_path(registry.spec(a).kind, a) for a in FUZZED_ALGORITHMS]
    originals = {name: (root / name).read_bytes() for name in names}
    return root, originals, {name: _paths(json.loads(data)) for name, data in originals.items()}


def _set(document: object, path: tuple, value: object, delete: bool) -> object:
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]  # type: ignore[index]
    if delete:
        del parent[path[-1]]  # type: ignore[union-attr]
    else:
        parent[path[-1]] = value  # type: ignore[index]
    return document


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_golden_file_is_an_integrity_error_or_loads(fuzz_tree: tuple[Path, dict[str, bytes], dict[str, list[tuple]]], data: st.DataObject) -> None:
    root, originals, paths = fuzz_tree
    name = data.draw(st.sampled_from(sorted(originals)))
    try:
        if data.draw(st.booleans()):  # a structural edit, re-hashed so that it reaches the parser
            document = _set(json.loads(originals[name]), data.draw(st.sampled_from(paths[name])), data.draw(JSON_VALUES), data.draw(st.booleans()))
            payload = json.dumps(document).replace(json.dumps(HUGE_INTEGER), "7" * 5000).encode("utf-8")
        else:  # raw bytes: truncated, or a byte replaced (bad UTF-8 included)
            raw = bytearray(originals[name])
            cut = data.draw(st.integers(0, len(raw) - 1))
            payload = bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw[:cut] + bytes([data.draw(st.integers(0, 255))]) + raw[cut + 1 :])
        if name == golden.MANIFEST_NAME:
            (root / name).write_bytes(payload)
        else:
            rehash(root, name, payload)
        try:
            golden.load_all(root)
        except golden.IntegrityError as exc:
            assert str(exc).strip(), "an integrity error must say what is wrong"
    finally:
        for original_name, original in originals.items():
            (root / original_name).write_bytes(original)
