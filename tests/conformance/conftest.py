"""Shared fixtures for the harness tests: a small golden tree (adamw + linear) generated from the
reference, and the deliberately broken adapters of ``broken_adapters.py`` and
``hostile_adapters.py``, importable by name (``broken_adapters:EpsAfterAdapter``) for the CLI, the
pytest plugin and ``--isolate`` workers."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from optimspec.conformance import divergences, golden
from optimspec.conformance.divergences import DivergenceSet
from optimspec.conformance.testing import build_golden_tree

HERE = Path(__file__).resolve().parent
ALGORITHMS = ("adamw", "linear")


def _register(name: str) -> None:
    """Import ``name``.py of this folder under its own name, once (test modules cannot import
    siblings under --import-mode=importlib)."""
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register("broken_adapters")
_register("hostile_adapters")


@pytest.fixture(scope="session")
def golden_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A golden tree holding only adamw and linear (read-only: copy it before tampering)."""
    return build_golden_tree(tmp_path_factory.mktemp("golden"), ALGORITHMS)


@pytest.fixture(scope="session")
def golden_files(golden_root: Path) -> list[golden.GoldenFile]:
    return golden.load_all(golden_root)


@pytest.fixture()
def subprocess_env(golden_root: Path) -> dict[str, str]:
    """Environment for a child process: the small golden tree, and the broken adapters importable."""
    return {**os.environ, "OPTIMSPEC_GOLDEN": str(golden_root), "PYTHONPATH": str(HERE)}


@pytest.fixture()
def known() -> Callable[[str], DivergenceSet]:
    """Build a DivergenceSet from TOML text (one file named ``test.toml``)."""

    def build(text: str) -> DivergenceSet:
        return DivergenceSet((divergences.parse(text.encode("utf-8"), "test.toml"),))

    return build


@pytest.fixture()
def cli_consoles(monkeypatch: pytest.MonkeyPatch, golden_root: Path) -> None:
    """For in-process CLI tests: wide consoles (no wrapping in assertions), the small tree as the
    default golden root, no adapter from the environment."""
    from rich.console import Console

    from optimspec.conformance import cli

    monkeypatch.setattr(cli, "console", Console(width=250))
    monkeypatch.setattr(cli, "errors", Console(stderr=True, width=250))
    monkeypatch.setenv("OPTIMSPEC_GOLDEN", str(golden_root))
    monkeypatch.delenv("OPTIMSPEC_ADAPTER", raising=False)


@pytest.fixture()
def cli_consoles(monkeypatch: pytest.MonkeyPatch, golden_root: Path) -> None:
    """The CLI's consoles wide (no wrapping in assertions), and the small golden tree as the default root."""
    from rich.console import Console

    from optimspec.conformance import cli

    monkeypatch.setattr(cli, "console", Console(width=250))
    monkeypatch.setattr(cli, "errors", Console(stderr=True, width=250))
    monkeypatch.setenv("OPTIMSPEC_GOLDEN", str(golden_root))
