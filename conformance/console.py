"""Terminal output of the ``optimspec`` commands.

* User and adapter text is printed literally, never parsed as rich markup (``[/x]`` in a glob or a
  message neither crashes nor vanishes): :func:`say` and :func:`labelled`.
* Tables (:class:`TextTable`) are boxed rich tables on a terminal, and full-width plain text when the
  output is piped or redirected (no wrapped names, no ``…``); ``--format`` picks plain, Markdown or
  JSON explicitly.
* A closed pipe (``optimspec check … | head``) ends the command quietly with the exit code of the
  verdict (:func:`exit_with`, :func:`quiet_broken_pipe`), so ``set -o pipefail`` reads the verdict.
* Framework log noise (TensorFlow's C++ start-up lines, absl, Python warnings from frameworks) is
  kept out of our output while frameworks load (:func:`quiet_frameworks`).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("auto", "table", "plain", "markdown", "json")
PLAIN_GAP = "  "


class _Console(Console):
    """rich's Console, but a closed pipe ends the command with the verdict's exit code (rich's own
    handler exits 1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def make_console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): no markup highlighting of numbers or paths in our text, and
    no line wrapping when it is not a terminal."""
    return _Console(stderr=stderr, highlight=False, soft_wrap=not (sys.stderr if stderr else sys.stdout).isatty())


def say(console: Console, text: Any, style: str | None = None) -> None:
    """Print ``text`` literally (no markup), unwrapped."""
    console.print(Text(str(text), style=style or ""), soft_wrap=True)


def labelled(console: Console, label: str, style: str, text: Any) -> None:
    """``label text`` with only the label styled: ``error: …``, ``warning: …``."""
    console.print(Text.assemble((label, style), " ", str(text)), soft_wrap=True)


# --------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------


@dataclass
class TextTable:
    """A table of strings, rendered for a terminal, as plain text, Markdown or JSON."""

    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    title: str = ""
    caption: str = ""
    right: Sequence[str] = ()  # right-justified columns
    row_styles: list[str] = field(default_factory=list)  # per row, terminal only ("" for none)

    def add_row(self, *cells: Any, style: str = "") -> None:
        self.rows.append([str(c) for c in cells])
        self.row_styles.append(style)

    def plain(self) -> str:
        """Aligned columns, full width, no box drawing."""
        widths = [max([len(c)] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)]

        def line(cells: Sequence[str]) -> str:
            padded = [cell.rjust(w) if name in self.right else cell.ljust(w) for name, cell, w in zip(self.columns, cells, widths)]
            return PLAIN_GAP.join(padded).rstrip()

        out = [self.title] if self.title else []
        out += [line(self.columns), line(["-" * w for w in widths]), *(line(r) for r in self.rows)]
        if self.caption:
            out.append(self.caption)
        return "\n".join(out)

    def markdown(self) -> str:
        lines = [f"**{self.title}**", ""] if self.title else []
        lines += markdown_table(self.columns, self.rows)
        if self.caption:
            lines += ["", self.caption]
        return "\n".join(lines)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def rich(self) -> Table:
        table = Table(title=self.title or None, caption=self.caption or None)
        for name in self.columns:
            table.add_column(name, justify="right" if name in self.right else "left", overflow="fold")
        for row, style in zip(self.rows, self.row_styles):
            table.add_row(*(Text(cell) for cell in row), style=style or None)
        return table


def markdown_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(markdown_escape(v) for v in row) + " |" for row in rows)
    return lines


def resolve_format(fmt: str, console: Console) -> str:
    """``auto``: a boxed table on a terminal, plain text otherwise."""
    if fmt == "auto":
        return "table" if console.is_terminal else "plain"
    return fmt


def print_table(console: Console, table: TextTable, fmt: str = "auto") -> None:
    fmt = resolve_format(fmt, console)
    if fmt == "table":
        console.print(table.rich())
    elif fmt == "plain":
        say(console, table.plain())
    elif fmt == "markdown":
        say(console, table.markdown())
    else:
        say(console, json.dumps(table.records(), ensure_ascii=False, indent=1))


# --------------------------------------------------------------------------------------------------
# pipes and exit codes
# --------------------------------------------------------------------------------------------------


class _Verdict:
    """The exit code a command has decided on before it prints (what a closed pipe exits with)."""

    code = 0


def exit_with(code: int) -> None:
    """Record the exit code of the verdict before printing it."""
    _Verdict.code = code


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """A reader that closed the pipe (``| head``) ends the command with the recorded exit code, no
    traceback, and no second error when Python flushes stdout at exit."""
    _Verdict.code = 0
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):  # not a real file (a test runner's buffer)
                pass
        sys.exit(_Verdict.code)


# --------------------------------------------------------------------------------------------------
# framework noise
# --------------------------------------------------------------------------------------------------

FRAMEWORK_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TRANSFORMERS_VERBOSITY": "error"}
FRAMEWORK_WARNINGS = ("tensorflow", "keras", "jax", "transformers", "torch", "absl", "optax", "google")


def silence_framework_logs() -> None:
    """Environment defaults (a user's own setting wins) and warning filters that keep framework
    log lines out of our output. Called once by the command line, before any framework loads."""
    for name, value in FRAMEWORK_ENV.items():
        os.environ.setdefault(name, value)
    for module in FRAMEWORK_WARNINGS:
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")


@contextmanager
def quiet_frameworks() -> Iterator[None]:
    """While the body runs (adapters loading and running their frameworks), native code writing to
    file descriptor 2 (TensorFlow's start-up lines, written before its logging is configured)
    writes to /dev/null, while Python's ``sys.stderr`` (our progress bars, warnings, tracebacks)
    still reaches the real stderr. absl's Python logger is lowered to errors afterwards."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    original = sys.stderr
    replaced = _uses_fd(original, 2)
    if replaced:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=original.encoding, errors=original.errors)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        if replaced:
            sys.stderr.close()
            sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        _lower_absl()


def _uses_fd(stream: Any, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def _lower_absl() -> None:
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)
