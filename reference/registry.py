"""The catalogue: every reference module under ``optimizers/`` and ``schedules/`` that declares a
``SPEC`` is an algorithm. Adding a module adds it here; there is no hand-kept list.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from ._spec import AlgorithmSpec

_FAMILIES = ("optimizers", "schedules")


@cache
def _modules() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for family in _FAMILIES:
        package = importlib.import_module(f"{__package__}.{family}")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            spec = getattr(module, "SPEC", None)
            if isinstance(spec, AlgorithmSpec):
                if spec.name in found:
                    raise RuntimeError(f"two reference modules declare the algorithm {spec.name!r}")
                found[spec.name] = module
    return found


def names() -> list[str]:
    """All algorithm names, sorted."""
    return sorted(_modules())


def module(name: str) -> ModuleType:
    """The reference module of ``name``; ValueError listing the known names otherwise."""
    try:
        return _modules()[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(names())}") from None


def spec(name: str) -> AlgorithmSpec:
    return module(name).SPEC


def specs() -> list[AlgorithmSpec]:
    return [module(n).SPEC for n in names()]
