"""Adapters that attack the harness, each the reference adapter with one trick, for
``test_hostile_adapters.py``. The correct ones must pass, the wrong ones must fail or error, in the
default mode and with ``--isolate``.

Importable as ``hostile_adapters:<Class>`` once this folder is on ``sys.path`` (the conftest
registers the module; ``--isolate`` workers find it through ``sys.path``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optimspec.conformance.adapters.base import AlgorithmSupport, Capabilities
from optimspec.conformance.adapters.reference import ReferenceAdapter, _Stepper
from optimspec.reference import run as ref


class _Hostile(ReferenceAdapter):
    """The reference adapter whose steppers are ``stepper_class``."""

    stepper_class: type[_Stepper] = _Stepper

    def make_optimizer(self, algorithm: str, hparams: Mapping[str, Any], param_groups: Sequence[Mapping[str, Any]] | None, dtype: str) -> _Stepper:
        stepper = super().make_optimizer(algorithm, hparams, param_groups, dtype)
        stepper.__class__ = self.stepper_class
        return stepper


# --------------------------------------------------------------------------------------------------
# correct adapters: they must pass
# --------------------------------------------------------------------------------------------------


class _ZeroCopyStepper(_Stepper):
    """Keeps the arrays it is given (as ``torch.from_numpy`` would), updates them in place and hands
    back its own buffers: correct, as long as nobody else holds them."""

    def init(self, params: dict[str, np.ndarray]) -> None:
        self.params = params
        self.state = ref.init_state(self.algorithm, self.params, self.hparams, self.groups, self.dtype)

    def load_state(self, params: dict[str, np.ndarray], state: dict[str, dict[str, Any]]) -> None:
        super().load_state(params, state)
        self.params = params  # the very arrays the harness handed over

    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        new_params, self.state = ref.optimizer_step(self.algorithm, self.params, grads, self.state, self.hparams, groups=self.groups, dtype=self.dtype)
        for name, value in new_params.items():
            self.params[name][...] = value  # in place
        return self.params


class ZeroCopyAdapter(_Hostile):
    name = "zero-copy"
    stepper_class = _ZeroCopyStepper


class _NoSecondMomentStepper(_Stepper):
    def export_state(self) -> dict[str, dict[str, Any]]:
        return {n: {k: v for k, v in fields.items() if k != "exp_avg_sq"} for n, fields in super().export_state().items()}


class DeclaredUnexportedAdapter(_Hostile):
    """Does not export ``exp_avg_sq``, and says so: its state check is partly unsupported, not failed."""

    name = "declared-unexported"
    stepper_class = _NoSecondMomentStepper

    def capabilities(self) -> Capabilities:
        caps = super().capabilities()
        algorithms = {**caps.algorithms, "adamw": AlgorithmSupport(unexported_state=("exp_avg_sq",))}
        return Capabilities(algorithms, caps.dtypes, caps.can_load_state, caps.can_export_state, caps.validates_hparams, caps.schedule_dtype)


# --------------------------------------------------------------------------------------------------
# wrong adapters: each must fail or error
# --------------------------------------------------------------------------------------------------


class _ExitStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        sys.exit(0)


class ExitAdapter(_Hostile):
    """``sys.exit(0)`` inside a case: a false green if it ended the run."""

    name = "exits"
    stepper_class = _ExitStepper


class _InterruptStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        raise KeyboardInterrupt


class InterruptAdapter(_Hostile):
    name = "raises-keyboard-interrupt"
    stepper_class = _InterruptStepper


class _OsExitStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        os._exit(0)


class OsExitAdapter(_Hostile):
    """``os._exit(0)``: nothing in-process survives it; only ``--isolate`` contains it."""

    name = "os-exits"
    stepper_class = _OsExitStepper


class _IgnoresAlarmStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            time.sleep(0.01)


class IgnoresAlarmAdapter(_Hostile):
    """Hangs after switching SIGALRM off."""

    name = "ignores-sigalrm"
    stepper_class = _IgnoresAlarmStepper


class _SwallowsTimeoutStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        try:
            while True:
                time.sleep(0.01)
        except BaseException:  # noqa: BLE001 (the point: it swallows the harness's timeout)
            return super().step(grads)


class SwallowsTimeoutAdapter(_Hostile):
    """Hangs, catches the timeout with ``except BaseException`` and returns correct values late."""

    name = "swallows-timeout"
    stepper_class = _SwallowsTimeoutStepper


class _ComplexStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, Any]:
        return {n: p + 1e-30j for n, p in super().step(grads).items()}


class ComplexAdapter(_Hostile):
    """Correct real parts, complex values: the imaginary part must not be dropped silently."""

    name = "complex"
    stepper_class = _ComplexStepper


class _EmptyStateStepper(_Stepper):
    def export_state(self) -> dict[str, dict[str, Any]]:
        return {}


class EmptyStateAdapter(_Hostile):
    """Claims it can export state, exports nothing."""

    name = "empty-state"
    stepper_class = _EmptyStateStepper


class _MisnamedStateStepper(_Stepper):
    def export_state(self) -> dict[str, dict[str, Any]]:
        names = {"exp_avg": "m", "exp_avg_sq": "v"}
        return {n: {names.get(k, k): v for k, v in fields.items()} for n, fields in super().export_state().items()}


class MisnamedStateAdapter(_Hostile):
    """Exports its native slot names instead of the reference's."""

    name = "misnamed-state"
    stepper_class = _MisnamedStateStepper


class _FractionalStepStepper(_Stepper):
    def export_state(self) -> dict[str, dict[str, Any]]:
        return {n: {k: (v + 0.7 if k == "step" else v) for k, v in fields.items()} for n, fields in super().export_state().items()}


class FractionalStepAdapter(_Hostile):
    """A step counter of t + 0.7: not an integer, whatever int() would make of it."""

    name = "fractional-step"
    stepper_class = _FractionalStepStepper


class _MutatingStepper(_Stepper):
    """Returns results off by 1e-3 (relative), and scales up in place every array it was given, so
    that a harness computing budgets from those arrays afterwards would accept the error."""

    def load_state(self, params: dict[str, np.ndarray], state: dict[str, dict[str, Any]]) -> None:
        super().load_state(params, state)
        for array in params.values():
            array *= 1e9

    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        result = {n: p * (1 + 1e-3) for n, p in super().step(grads).items()}
        for grad in grads.values():
            if grad is not None:
                grad *= 1e9
        return result


class MutatingInputsAdapter(_Hostile):
    name = "mutates-inputs"
    stepper_class = _MutatingStepper


class InfoRaisesAdapter(ReferenceAdapter):
    name = "info-raises"

    def info(self) -> dict[str, Any]:
        raise RuntimeError("no info today")


class CapabilitiesRaisesAdapter(ReferenceAdapter):
    name = "capabilities-raises"

    def capabilities(self) -> Capabilities:
        raise ValueError("capabilities unknown")


class SupportsNothingAdapter(ReferenceAdapter):
    """Implements no algorithm: a run of it checks nothing."""

    name = "supports-nothing"

    def capabilities(self) -> Capabilities:
        return Capabilities(algorithms={})


NASTY_TEXT = "bad \udc80 surrogate, \x1b[31mred\x1b[0m, bell \x07, markup [/x] [[divergence]] [bold]"


class _NastyMessageStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        raise RuntimeError(NASTY_TEXT)


class NastyTextAdapter(_Hostile):
    """Every string it provides carries a lone surrogate, ANSI codes, a control character and rich
    markup: its name, its info() and its error messages."""

    name = "nasty [/x] \x1b[1m"
    stepper_class = _NastyMessageStepper

    def info(self) -> dict[str, Any]:
        return {**super().info(), "name": NASTY_TEXT, "versions": {"nasty\x1b": NASTY_TEXT}}


class _UnstoppableStepper(_Stepper):
    def step(self, grads: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
        while True:
            try:
                time.sleep(0.01)
            except BaseException:  # noqa: BLE001, S110 (the point: nothing in-process stops it)
                pass


class UnstoppableAdapter(_Hostile):
    """Hangs and swallows every exception forever: only a worker process can be stopped."""

    name = "unstoppable"
    stepper_class = _UnstoppableStepper
