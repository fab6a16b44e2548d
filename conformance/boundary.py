"""The boundary between the harness and an adapter: what crosses it, and how a misbehaving adapter
is contained in-process.

Everything an adapter is given is a private copy (:func:`handed`), so an adapter that updates its
inputs in place (a zero-copy ``torch.from_numpy`` adapter) or rescales them cannot change the
harness's expectations, scales or later gradients. Everything it returns is converted at once into
fresh float64 arrays (:func:`real_array`) that reject what is not a real number (complex, object,
string, bool), and counters are read with :func:`counter` (an integer, never a truncated float).
Every string it provides (exception messages, ``info()``, capabilities) is made printable once,
where it enters (:func:`clean_text`): no lone surrogate, control character or ANSI escape reaches a
report, a JUnit file or the terminal.

Per-case time limits (:func:`time_limit`) combine ``SIGALRM`` (main thread; it also interrupts a
blocking ``sleep``) with a watchdog thread that raises :class:`CaseTimeout` asynchronously in the
running thread ``WATCHDOG_GRACE_S`` later, again every ``WATCHDOG_REPEAT_S``, for adapters that
ignore ``SIGALRM``. A case whose adapter catches the timeout and carries on is still timed out
(:attr:`Deadline.expired`). What no in-process measure contains — ``os._exit``, a hang inside C code
that never returns to Python, an adapter that catches ``BaseException`` forever — is what
``optimspec check --isolate`` (:mod:`optimspec.conformance.isolate`) is for.

    >>> import numpy as np
    >>> real_array([1, 2.5], "params[w]")
    array([1. , 2.5])
    >>> real_array(np.array([1 + 2j]), "params[w]")
    Traceback (most recent call last):
    ...
    optimspec.conformance.boundary.AdapterOutputError: params[w]: complex128 values, expected real numbers
    >>> counter(3.7, "state[w].step") is None
    True
    >>> clean_text("ok\\x1b[31m red\\udc80")
    'ok\\\\x1b[31m red\\\\udc80'
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

WATCHDOG_GRACE_S = 1.0  # after SIGALRM had its chance
WATCHDOG_REPEAT_S = 0.5
MAX_TEXT = 4000  # characters of one adapter-provided message kept in reports
_NOT_REAL = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "b": "bool", "M": "datetime", "m": "timedelta", "V": "structured"}


class AdapterOutputError(Exception):
    """What the adapter returned is not what the interface asks for (an ``error`` outcome)."""


class CaseTimeout(BaseException):
    """The per-case time limit expired. A BaseException, so an adapter's ``except Exception`` does not
    swallow it."""


# --------------------------------------------------------------------------------------------------
# what crosses the boundary
# --------------------------------------------------------------------------------------------------


def handed(value: Any) -> Any:
    """A private copy of harness data for an adapter call: arrays copied (writable), mappings and
    lists rebuilt, scalars as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, Mapping):
        return {key: handed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [handed(item) for item in value]
    if isinstance(value, tuple):
        return tuple(handed(item) for item in value)
    return value


def real_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a fresh float64 array; AdapterOutputError naming ``what`` unless it holds real
    numbers (complex, object, string and bool arrays are refused, not cast)."""
    try:
        array = np.array(value, copy=True)
    except Exception as exc:  # a ragged list, a tensor that refuses conversion, ...
        raise AdapterOutputError(f"{what}: not convertible to an array ({type(value).__name__}): {clean_text(str(exc))}") from None
    kind = _NOT_REAL.get(array.dtype.kind)
    if kind is not None and not (kind == "structured" and array.dtype.names is None):
        raise AdapterOutputError(f"{what}: {array.dtype} values, expected real numbers")
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError) as exc:  # an extension dtype without a float conversion
        raise AdapterOutputError(f"{what}: {array.dtype} values, expected real numbers ({clean_text(str(exc))})") from None


def counter(value: Any, what: str) -> int | None:
    """A step counter as an int; None when it is not an integer (3.7, True, "3", an array)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        array = np.asarray(value)
    except Exception:
        return None
    if array.shape != () or array.dtype.kind not in "iuf":
        return None
    number = array.item()
    if isinstance(number, float) and not number.is_integer():
        return None
    return int(number)


def clean_text(text: Any) -> str:
    """``text`` as printable, encodable text: control characters (but newline and tab), lone
    surrogates and the XML non-characters U+FFFE/U+FFFF become ``\\xNN`` / ``\\uNNNN`` escapes; at
    most ``MAX_TEXT`` characters."""
    text = str(text)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"… ({len(text) - MAX_TEXT} more characters)"
    if text.isprintable():
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def _unsafe(char: str) -> bool:
    return char not in "\n\t" and (unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean_tree(value: Any) -> Any:
    """:func:`clean_text` on every string (keys too) of a JSON-like value."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_tree(v) for v in value]
    return value


def describe_exception(exc: BaseException) -> str:
    """``Type: message``, cleaned; ``sys.exit(code)`` said as such."""
    if isinstance(exc, SystemExit):
        return f"the adapter called sys.exit({exc.code!r}) (SystemExit)"
    if isinstance(exc, KeyboardInterrupt):
        return "the adapter raised KeyboardInterrupt"
    if isinstance(exc, AdapterOutputError):  # the harness's own finding: its message says it all
        return clean_text(exc)
    return clean_text(f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------------
# time limits
# --------------------------------------------------------------------------------------------------


@dataclass
class Deadline:
    """Set by :func:`time_limit` when the limit passed, whatever the adapter did with the exception."""

    seconds: float
    expired: bool = False

    @property
    def message(self) -> str:
        return f"timed out after {self.seconds:g} s"


def _raise_async(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in thread ``thread_id`` at its next bytecode (None clears a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None)


@contextmanager
def _alarm(deadline: Deadline) -> Iterator[None]:
    if not (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        deadline.expired = True
        raise CaseTimeout(deadline.message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, deadline.seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _watchdog(deadline: Deadline) -> Iterator[None]:
    target = threading.get_ident()
    done = threading.Event()
    lock = threading.Lock()
    fired = []

    def watch() -> None:
        wait = deadline.seconds + WATCHDOG_GRACE_S
        while not done.wait(wait):
            with lock:
                if done.is_set():
                    return
                deadline.expired = True
                fired.append(time.monotonic())
                _raise_async(target, CaseTimeout)
            wait = WATCHDOG_REPEAT_S

    thread = threading.Thread(target=watch, name="optimspec-case-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with lock:
            done.set()
            if fired:
                _raise_async(target, None)  # a timeout still pending must not fire in harness code
        thread.join()


@contextmanager
def time_limit(seconds: float) -> Iterator[Deadline]:
    """Interrupt the body with CaseTimeout after ``seconds`` (0: no limit). The yielded Deadline
    says whether the limit passed, also when the adapter caught the exception."""
    deadline = Deadline(seconds)
    if seconds <= 0:
        yield deadline
        return
    with _watchdog(deadline), _alarm(deadline):
        yield deadline


# --------------------------------------------------------------------------------------------------
# interrupts
# --------------------------------------------------------------------------------------------------


@dataclass
class UserInterrupts:
    """Tells a Ctrl-C from the terminal (the run stops) from a KeyboardInterrupt an adapter raises
    (that case is an ``error``)."""

    seen: bool = False


@contextmanager
def watch_user_interrupts() -> Iterator[UserInterrupts]:
    """Record SIGINTs delivered to the process while the body runs (main thread only; elsewhere
    every KeyboardInterrupt counts as the user's)."""
    interrupts = UserInterrupts()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        interrupts.seen = True
        yield interrupts
        return

    def interrupted(signum: int, frame: Any) -> None:
        interrupts.seen = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
