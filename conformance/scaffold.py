"""``optimspec new-adapter FRAMEWORK NAME``: a working, commented adapter and its test, to edit.

Each template checks an implementation that conforms (so the generated test passes as written)
and marks with ``EDIT`` the lines an author changes for their own optimizer; docs/adapters.md walks
through them. Files are written atomically and never over existing ones unless ``overwrite``.

Example::

    >>> sorted(FRAMEWORKS)
    ['keras', 'numpy', 'optax', 'torch']
    >>> module_name("my-adamw")
    'my_adamw_adapter'
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import golden


@dataclass(frozen=True)
class Template:
    """One framework's template file and the golden cases its test runs."""

    file: str
    select: str


FRAMEWORKS = {
    "torch": Template("torch.py.tmpl", "optim/adamw"),
    "numpy": Template("numpy.py.tmpl", "optim/adamw"),
    "optax": Template("optax.py.tmpl", "optim/adamw"),
    "keras": Template("keras.py.tmpl", "optim/adam_weight_decay"),
}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


class ScaffoldError(Exception):
    """Bad framework or name, or a file that exists already (a usage error)."""


def module_name(name: str) -> str:
    """The adapter module's name for adapter ``name`` (a Python identifier)."""
    return re.sub(r"\W", "_", name) + "_adapter"


def render(framework: str, name: str) -> dict[str, str]:
    """``{file name: text}`` of the adapter and its test."""
    if framework not in FRAMEWORKS:
        raise ScaffoldError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"adapter name {name!r} must start with a letter and hold only letters, digits, _ . -")
    template = FRAMEWORKS[framework]
    module = module_name(name)
    values = {"name": name, "module": module, "select": template.select}
    folder = resources.files(__package__).joinpath("templates")
    return {
        f"{module}.py": string.Template(folder.joinpath(template.file).read_text("utf-8")).substitute(values),
        f"test_{module}.py": string.Template(folder.joinpath("test.py.tmpl").read_text("utf-8")).substitute(values),
    }


def write(framework: str, name: str, folder: Path, overwrite: bool = False) -> list[Path]:
    """Write the adapter and its test into ``folder``; the paths written."""
    files = {Path(folder) / file: text for file, text in render(framework, name).items()}
    existing = [str(path) for path in files if path.exists()]
    if existing and not overwrite:
        raise ScaffoldError(f"{', '.join(existing)} exist(s); pass --force to overwrite")
    for path, text in files.items():
        golden.write_atomic(path, text.encode("utf-8"))
        path.chmod(0o644)
    return list(files)
