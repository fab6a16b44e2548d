"""The kit for adapter authors: docs/adapters.md's walkthrough executed as written, the
`new-adapter` templates, the generic `--torch-optimizer` adapter, the public torch helpers and the
copying rule of the contract."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from optimspec.conformance import golden, runner, scaffold
from optimspec.conformance.adapters.reference import ReferenceAdapter
from optimspec.conformance.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"
BLOCK = re.compile(r"<!-- walkthrough: (?P<label>[^>]+?) -->\s*```python\n(?P<code>.*?)```", re.DOTALL)


def walkthrough() -> dict[str, str]:
    """The labelled code blocks of docs/adapters.md's walkthrough, dedented."""
    blocks = {}
    for match in BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        lines = match["code"].splitlines()
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        blocks[match["label"]] = "\n".join(line[indent:] for line in lines) + "\n"
    return blocks


def apply_edit(text: str, label: str, code: str) -> str:
    """Replace the code under ``# {label}:`` (after its comment lines, up to the next blank line)."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# {label}:"))
    while lines[start].startswith("#"):
        start += 1
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return "".join(lines[:start]) + code + "".join(lines[end:])


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# --------------------------------------------------------------------------------------------------
# the walkthrough
# --------------------------------------------------------------------------------------------------


def test_walkthrough_writes_a_conformant_adapter_for_a_hand_written_adamw(tmp_path: Path, golden_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Following only docs/adapters.md: the hand-written optimizer, the template, its five edits,
    then `optimspec check` on the AdamW cases."""
    pytest.importorskip("torch")
    blocks = walkthrough()
    assert list(blocks) == ["mypkg_adamw.py", "EDIT 1", "EDIT 2", "EDIT 3", "EDIT 4", "EDIT 5"], "the walkthrough's steps"
    (tmp_path / "mypkg_adamw.py").write_text(blocks.pop("mypkg_adamw.py"))
    result = invoke("new-adapter", "torch", "myadamw", "--dir", tmp_path)
    assert result.exit_code == 0, result.output
    adapter_file = tmp_path / "myadamw_adapter.py"
    text = adapter_file.read_text()
    for label, code in blocks.items():
        text = apply_edit(text, label, code)
    adapter_file.write_text(text)

    monkeypatch.syspath_prepend(str(tmp_path))
    report_path = tmp_path / "r.json"
    result = invoke("check", "--adapter", "myadamw_adapter:Adapter", "-s", "optim/adamw", "--golden", golden_root, "--report", report_path)
    assert result.exit_code == 0, result.output
    assert "myadamw_adapter:Adapter: conforms to the spec except for the declared conventions decay_order=before_update (adamw) (partially supported)" in result.output
    cases = json.loads(report_path.read_text())["cases"]
    outcomes = Counter(c["outcome"] for c in cases)
    assert outcomes["pass"] >= 20 and set(outcomes) <= {"pass", "not_applicable", "unsupported"}, outcomes
    assert {c["metric"] for c in cases if c["outcome"] == "not_applicable"} <= {"rejects"}, "only the invalid-hyperparameter cases it does not validate"
    large_decay = next(c for c in cases if c["id"] == "optim/adamw/conventions/f64/large-lr-decay-t3")
    assert (large_decay["outcome"], large_decay["conventions"]) == ("pass", {"decay_order": "before_update"}), "checked under the declared convention"
    unsupported = sorted(c["id"] for c in cases if c["outcome"] == "unsupported" and c["dtype"] in ("float64", "float32"))
    assert unsupported == [
        "optim/adamw/master-weights/f32/no-copy-t3", "optim/adamw/options/f32/no-bias-correction-t4", "optim/adamw/options/f64/no-bias-correction-t4",
    ], "the settings it cannot express"
    assert {c["dtype"] for c in cases if c["outcome"] == "unsupported"} == {"float32", "float64", "float16", "bfloat16"}, "and the dtypes it does not run"


def test_each_template_checks_a_conformant_implementation(tmp_path: Path, golden_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As written, the torch, numpy and optax templates conform on the AdamW cases."""
    monkeypatch.syspath_prepend(str(tmp_path))
    for framework, requires in (("torch", "torch"), ("numpy", "numpy"), ("optax", "optax")):
        pytest.importorskip(requires)
        assert invoke("new-adapter", framework, f"t-{framework}", "--dir", tmp_path).exit_code == 0
        result = invoke("check", "--adapter", f"t_{framework}_adapter:Adapter", "-s", "optim/adamw", "--golden", golden_root)
        assert result.exit_code == 0, result.output
        assert re.search(rf"t_{framework}_adapter:Adapter: conformant[^\n]*\d+ pass", result.output), result.output


@pytest.mark.slow
def test_keras_template_and_a_generated_test_run(tmp_path: Path) -> None:
    """The keras template conforms on AdamWeightDecay cases (installed goldens), and a generated
    pytest file passes as written."""
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    for framework in ("keras", "torch"):
        assert invoke("new-adapter", framework, f"g-{framework}", "--dir", tmp_path).exit_code == 0
    select = "optim/adam_weight_decay/decay-names/f32/regex-patterns-t1"
    code = (
        "import sys; from optimspec.conformance import golden, runner, divergences; "
        "import g_keras_adapter as m; a = m.Adapter(); "
        f"r = runner.execute(a, golden.load_all(golden.default_root()), runner.Options(select=({select!r},))).results; "
        "print([x.outcome for x in r]); sys.exit(any(x.failing for x in r) or not r)"
    )
    keras = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    assert keras.returncode == 0 and "['pass']" in keras.stdout, keras.stdout + keras.stderr
    generated = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_g_torch_adapter.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stdout + generated.stderr


def test_new_adapter_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    assert invoke("new-adapter", "numpy", "mine", "--dir", tmp_path).exit_code == 0
    again = invoke("new-adapter", "numpy", "mine", "--dir", tmp_path)
    assert again.exit_code == 2 and "--force" in again.output
    assert invoke("new-adapter", "numpy", "mine", "--dir", tmp_path, "--force").exit_code == 0
    bad = invoke("new-adapter", "numpy", "9lives", "--dir", tmp_path)
    assert bad.exit_code == 2 and "must start with a letter" in bad.output
    assert invoke("new-adapter", "jax", "x", "--dir", tmp_path).exit_code == 2
    rendered = scaffold.render("torch", "my.opt")
    assert set(rendered) == {"my_opt_adapter.py", "test_my_opt_adapter.py"}
    assert 'name = "my.opt"' in rendered["my_opt_adapter.py"] and "${" not in "".join(rendered.values())


# --------------------------------------------------------------------------------------------------
# --torch-optimizer
# --------------------------------------------------------------------------------------------------


def test_generic_torch_adapter_maps_names(tmp_path: Path, golden_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walkthrough's optimizer checked with no adapter code, through --map."""
    pytest.importorskip("torch")
    (tmp_path / "mypkg_adamw.py").write_text(walkthrough()["mypkg_adamw.py"])
    monkeypatch.syspath_prepend(str(tmp_path))
    maps = ["eps=epsilon", "betas=beta1,beta2", "step=t", "exp_avg=m", "exp_avg_sq=v"]
    args = ["check", "--torch-optimizer", "mypkg_adamw.MyAdamW", *[a for m in maps for a in ("--map", m)], "-s", "optim/adamw", "--golden", golden_root, "--report", tmp_path / "r.json"]
    result = invoke(*args)
    assert result.exit_code == 1, "it decays before the update and declares nothing: the separating cases fail"
    cases = {c["id"]: c for c in json.loads((tmp_path / "r.json").read_text())["cases"]}
    decay = cases["optim/adamw/conventions/f64/large-lr-decay-t3"]
    assert decay["outcome"] == "fail" and decay["diagnosis"] == "behaves like decay_order=before_update"
    assert cases["optim/adamw/conventions/f64/tiny-grads-t3"]["outcome"] == "pass", "ε placement: the spec's"
    assert cases["optim/adamw/options/f64/no-bias-correction-t4"]["outcome"] == "unsupported", "correct_bias=False has no keyword"


def test_generic_torch_adapter_finds_state_and_rejects_bad_input() -> None:
    pytest.importorskip("torch")
    from optimspec.conformance.adapters import AdapterError
    from optimspec.conformance.adapters.generic_torch import TorchOptimizerAdapter

    torch_adamw = TorchOptimizerAdapter("torch.optim.AdamW")
    assert torch_adamw.state_map.names() == {"step": "step", "exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}
    assert torch_adamw.capabilities().can_load_state and torch_adamw.translate({"lr": 0.1, "betas": (0.8, 0.9), "correct_bias": True}) == {"lr": 0.1, "betas": (0.8, 0.9)}
    unmapped = TorchOptimizerAdapter("torch.optim.SGD", {})
    assert not unmapped.capabilities().can_load_state and unmapped.missing == ["exp_avg", "exp_avg_sq", "step"]
    for target, mapping, match in (
        ("torch.optim.Nope", {}, "no attribute 'Nope'"),
        ("numpy.ndarray", {}, "not a torch.optim.Optimizer"),
        ("torch.optim.AdamW", {"momentum": "m"}, "neither hyperparameters nor state fields"),
    ):
        with pytest.raises(AdapterError, match=match):
            TorchOptimizerAdapter(target, mapping)
    assert invoke("check", "--torch-optimizer", "torch.optim.AdamW", "--adapter", "torch").exit_code == 2
    assert invoke("check", "--torch-optimizer", "torch.optim.AdamW", "--map", "eps").exit_code == 2


# --------------------------------------------------------------------------------------------------
# the contract: copies
# --------------------------------------------------------------------------------------------------


class ScribblingAdapter(ReferenceAdapter):
    """The reference, but its stepper overwrites every array it was given once it has used it."""

    name = "scribbling"

    def make_optimizer(self, algorithm, hparams, param_groups, dtype):  # type: ignore[no-untyped-def]
        inner = super().make_optimizer(algorithm, hparams, param_groups, dtype)

        class Stepper:
            def init(self, params):  # type: ignore[no-untyped-def]
                inner.init(params)
                _scribble(params)

            def load_state(self, params, state):  # type: ignore[no-untyped-def]
                inner.load_state(copy.deepcopy(params), copy.deepcopy(state))
                _scribble(params)
                for fields in state.values():
                    _scribble(fields)

            def step(self, grads):  # type: ignore[no-untyped-def]
                out = inner.step(grads)
                _scribble(grads)
                return out

            def export_state(self):  # type: ignore[no-untyped-def]
                return inner.export_state()

        return Stepper()


def _scribble(arrays: dict[str, Any]) -> None:
    for value in arrays.values():
        if isinstance(value, np.ndarray) and value.size and value.flags.writeable:
            value[...] = 12345.0


def test_an_adapter_may_mutate_what_it_is_given(golden_files: list[golden.GoldenFile]) -> None:
    results = runner.run(ScribblingAdapter(), golden_files, runner.Options(select=("optim/adamw",)))
    outcomes = Counter(r.outcome for r in results)
    assert outcomes["pass"] == len([c for c in runner.iter_cases(golden_files) if c.id.startswith("optim/adamw")]), outcomes
