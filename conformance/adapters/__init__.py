"""Finding an adapter by name, lazily.

An adapter is named by one of:

* a built-in name (:data:`BUILTINS`: ``reference``, ``torch``, ``optimspec.torch``, …);
* the name of an entry point in the ``optimspec.adapters`` group (a third-party package declares
  ``[project.entry-points."optimspec.adapters"] mylib = "mylib.conformance:Adapter"``);
* a ``package.module:Factory`` string.

The factory is a zero-argument callable (usually the adapter class) returning an adapter. Nothing is
imported until :func:`load` is called, and then only the adapter's own module: ``optimspec --help``,
``list`` and ``golden verify`` import no framework.

Loading never ends the process: an adapter module or factory that calls ``sys.exit()`` is an
:class:`AdapterError` (``os._exit()`` cannot be caught in-process: see ``optimspec check --isolate``).

A built-in whose framework (or adapter module) is not installed is *unavailable*
(:class:`AdapterUnavailable`, with the reason); the matrix skips it with a note. An unknown name or a
broken ``module:Factory`` string is a usage error (:class:`AdapterError`).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "optimspec.adapters"
_HERE = __name__  # "optimspec.conformance.adapters"


class AdapterError(Exception):
    """The adapter cannot be found or built as named (a usage error, exit 2)."""


class AdapterUnavailable(Exception):
    """A built-in adapter whose framework or module is not importable here."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"adapter {name!r} is unavailable: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class Builtin:
    """A built-in adapter: its ``module:Factory`` and the top-level modules it needs."""

    target: str
    requires: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]


BUILTINS: dict[str, Builtin] = {
    "reference": Builtin(f"{_HERE}.reference:ReferenceAdapter"),
    "torch": Builtin(f"{_HERE}.torch_optim:TorchOptimAdapter", ("torch",)),
    "transformers": Builtin(f"{_HERE}.transformers_v5:TransformersAdapter", ("transformers", "torch")),
    "keras": Builtin(f"{_HERE}.keras3:KerasAdapter", ("keras",)),
    "optax": Builtin(f"{_HERE}.optax_adapter:OptaxAdapter", ("optax", "jax")),
    "timm": Builtin(f"{_HERE}.timm_adapter:TimmAdapter", ("timm", "torch")),
    "pytorch_optimizer": Builtin(f"{_HERE}.pytorch_optimizer_adapter:PytorchOptimizerAdapter", ("pytorch_optimizer", "torch")),
    "optimi": Builtin(f"{_HERE}.optimi_adapter:decoupled", ("optimi", "torch")),
    "optimi-fully-decoupled": Builtin(f"{_HERE}.optimi_adapter:fully_decoupled", ("optimi", "torch")),
    "optimspec.torch": Builtin(f"{_HERE}.optimspec_torch:OptimspecTorchAdapter", ("torch",)),
    # every other selectable implementation path of optimspec.torch, so a bug in one is a failure
    "optimspec.torch-foreach": Builtin(f"{_HERE}.optimspec_torch:foreach", ("torch",)),
    "optimspec.torch-per_tensor": Builtin(f"{_HERE}.optimspec_torch:per_tensor", ("torch",)),
    "optimspec.tf": Builtin(f"{_HERE}.optimspec_tf:OptimspecTfAdapter", ("tensorflow", "keras")),
}

_REQUIRED_METHODS = ("info", "capabilities", "make_optimizer", "make_schedule")


def builtin_names() -> list[str]:
    """The built-in adapter names, in a stable order (the reference first)."""
    return list(BUILTINS)


def entry_point_targets() -> dict[str, str]:
    """``name -> module:Factory`` for every installed entry point of the adapter group."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_names() -> list[str]:
    """Built-in names, then entry-point names (a built-in name cannot be overridden)."""
    return builtin_names() + sorted(set(entry_point_targets()) - set(BUILTINS))


def target_of(name: str) -> str:
    """The ``module:Factory`` a name stands for; AdapterError listing the known names otherwise."""
    if name in BUILTINS:
        return BUILTINS[name].target
    targets = entry_point_targets()
    if name in targets:
        return targets[name]
    if ":" in name:
        return name
    raise AdapterError(
        f"unknown adapter {name!r}; known: {', '.join(known_names())} (or give package.module:Factory)"
    )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unavailable_reason(name: str) -> str | None:
    """Why a built-in cannot be loaded here, found without importing any framework; None if it can
    (as far as can be told before importing)."""
    builtin = BUILTINS.get(name)
    if builtin is None:
        return None
    missing = [module for module in builtin.requires if not _importable(module)]
    if missing:
        return f"{', '.join(missing)} not installed"
    if not _importable(builtin.module):
        return f"adapter module {builtin.module} not found"
    return None


def _resolve(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise AdapterError(f"adapter target {target!r} must look like package.module:Factory")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AdapterError(f"{module_name} has no attribute {attribute!r} (from {target!r})") from None
    return obj


def _is_adapter(obj: Any) -> bool:
    return not isinstance(obj, type) and all(callable(getattr(obj, m, None)) for m in _REQUIRED_METHODS)


def _build(target: str) -> Any:
    factory = _resolve(target)
    adapter = factory if _is_adapter(factory) else factory() if callable(factory) else factory
    if not _is_adapter(adapter):
        raise AdapterError(f"{target} did not give an adapter (an object with {', '.join(_REQUIRED_METHODS)})")
    if not isinstance(getattr(adapter, "name", None), str):
        raise AdapterError(f"{target}: the adapter has no `name` string")
    return adapter


def load(name: str) -> Any:
    """Build the adapter ``name`` names (see the module docstring).

    Raises AdapterUnavailable for a built-in that cannot be imported here, AdapterError for an
    unknown name or a target that does not give an adapter.
    """
    target = target_of(name)
    reason = unavailable_reason(name)
    if reason:
        raise AdapterUnavailable(name, reason)
    try:
        return _build(target)
    except ImportError as exc:
        if name in BUILTINS:
            raise AdapterUnavailable(name, f"import failed: {exc}") from exc
        raise AdapterError(f"cannot import adapter {target!r}: {exc}") from exc
    except SystemExit as exc:  # an adapter module that ends the interpreter must not end the run green
        raise AdapterError(f"adapter {target!r} called sys.exit({exc.code!r}) while loading") from None
