"""The ``adafactor_schedule`` reference (AdafactorSchedule read-back) against hand-computed values and transformers."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from optimspec.reference import run
from optimspec.reference.schedules import adafactor_schedule

ALGO = "adafactor_schedule"


def _rms(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    return math.sqrt(math.fsum((x * x).ravel().tolist())) / math.sqrt(x.size)


def _values(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> list:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).tolist()


def _one_group(steps: int, seed: int, shape: tuple[int, ...] = (2, 3), scale: float = 1.0) -> list:
    return [{"params": {"w": _values(seed, shape, scale)}}, *({"w": _values(seed + 1 + k, shape)} for k in range(steps))]


def _rows(inputs: list, hparams: dict) -> list[list[float]]:
    return run.schedule_values(ALGO, inputs, hparams).tolist()


def _param_rms_before_each_step(inputs: list, hparams: dict) -> list[float]:
    """RMS of the single param ``w`` before steps 1, 2, … of the (separately tested) optimizer."""
    grads = [{"w": np.asarray(g["w"])} for g in inputs[1:]]
    snapshots = run.optimizer_trajectory("adafactor", {"w": np.asarray(inputs[0]["params"]["w"])}, grads, hparams)
    return [_rms(s.params["w"]) for s in snapshots[:-1]]


def test_docstring_example() -> None:
    assert doctest.testmod(adafactor_schedule).failed == 0


def test_relative_step_reads_back_one_percent_of_the_param_rms() -> None:
    inputs = _one_group(4, 10)
    rows = _rows(inputs, {})
    assert rows[0] == [0.0]
    expected = [0.01 * max(1e-3, rms) for rms in _param_rms_before_each_step(inputs, {})]
    np.testing.assert_allclose([r[0] for r in rows[1:]], expected, rtol=1e-15)


def test_warmup_init_reads_back_the_growing_step() -> None:
    inputs = _one_group(4, 20, (4,))
    rows = _rows(inputs, {"warmup_init": True})
    rms = _param_rms_before_each_step(inputs, {"warmup_init": True})
    np.testing.assert_allclose([r[0] for r in rows[1:]], [1e-6 * t * rms[t - 1] for t in range(1, 5)], rtol=1e-15)


def test_without_parameter_scale_the_read_back_is_the_relative_step() -> None:
    assert _rows(_one_group(3, 30), {"scale_parameter": False}) == [[0.0], [0.01], [0.01], [0.01]]


def test_small_params_read_back_eps2_times_the_step() -> None:
    rows = _rows(_one_group(3, 40, scale=1e-4), {})
    np.testing.assert_allclose(rows, [[0.0], [1e-5], [1e-5], [1e-5]], rtol=1e-15)


def test_initial_lr_fills_only_the_construction_row() -> None:
    inputs = _one_group(2, 50)
    with_initial, without = _rows(inputs, {"initial_lr": 1e-3}), _rows(inputs, {})
    assert with_initial[0] == [1e-3] and without[0] == [0.0]
    assert with_initial[1:] == without[1:]


def test_each_group_reads_its_first_param() -> None:
    a1, a2, b = _values(60, (3,)), _values(61, (2, 2), 10.0), _values(62, (4,))
    construction = {"groups": [{"params": {"a2": a2, "a1": a1}, "hparams": {}}, {"params": {"b": b}, "hparams": {"warmup_init": True}}]}
    rows = _rows([construction, {"a1": _values(63, (3,)), "a2": _values(64, (2, 2)), "b": _values(65, (4,))}], {})
    assert rows[0] == [0.0, 0.0]
    # a1 comes first in name order, whatever order the group lists them in; a2's RMS (≈10) is unused.
    assert rows[1] == pytest.approx([0.01 * _rms(a1), 1e-6 * _rms(b)], rel=1e-15)


def test_manual_lr_is_replaced_by_a_zero_initial_lr() -> None:
    assert _rows(_one_group(3, 70, (4,)), {"relative_step": False, "lr": 1e-3}) == [[0.0]] * 4


def test_manual_lr_compounds_with_the_parameter_scale() -> None:
    inputs = _one_group(3, 80, (4,), scale=0.1)
    rows = _rows(inputs, {"relative_step": False, "lr": 1e-3, "initial_lr": 0.05})
    # The optimizer steps with the lr the schedule last wrote; each read-back multiplies by RMS again.
    params, expected = {"w": np.asarray(inputs[0]["params"]["w"])}, [0.05]
    state = run.init_state("adafactor", params, {"relative_step": False, "lr": 0.05})
    for grads in inputs[1:]:
        written = expected[-1]
        expected.append(written * max(1e-3, _rms(params["w"])))
        params, state = run.optimizer_step("adafactor", params, {"w": np.asarray(grads["w"])}, state, {"relative_step": False, "lr": written})
    np.testing.assert_allclose([r[0] for r in rows], expected, rtol=1e-15)
    assert rows[3][0] < 1e-4  # 0.05·RMS³ with RMS ≈ 0.1


def test_manual_lr_without_scale_stays_at_initial_lr() -> None:
    hp = {"relative_step": False, "lr": 1e-3, "scale_parameter": False, "initial_lr": 0.02}
    assert _rows(_one_group(3, 90, (3,)), hp) == [[0.02]] * 4


def test_a_first_param_without_gradient_is_rejected() -> None:
    inputs = [{"params": {"a": [1.0], "b": [2.0]}}, {"a": None, "b": [0.5]}]
    with pytest.raises(ValueError, match="first param"):
        _rows(inputs, {})


@pytest.mark.parametrize(
    ("hparams", "argument"),
    [
        ({"initial_lr": -1e-3}, "initial_lr"),
        ({"initial_lr": math.inf}, "initial_lr"),
        ({"lr": 1e-3}, "lr"),
        ({"relative_step": False}, "lr"),
        ({"warmup_init": True, "relative_step": False, "lr": 1e-3}, "warmup_init"),
        ({"decay_rate": 0.5}, "decay_rate"),
    ],
)
def test_rejected_hyperparameters_name_the_argument(hparams: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=f"`{argument}`"):
        adafactor_schedule.SPEC.resolve(hparams)


@pytest.mark.parametrize(
    "hparams",
    [{}, {"warmup_init": True}, {"scale_parameter": False, "initial_lr": 1e-3}, {"relative_step": False, "lr": 1e-3, "initial_lr": 0.05}],
    ids=["defaults", "warmup-init", "no-scale", "manual-compounds"],
)
def test_matches_transformers_in_float64(hparams: dict) -> None:
    torch = pytest.importorskip("torch")
    optimization = pytest.importorskip("transformers.optimization")
    shapes = {"a1": (3,), "a2": (2, 2), "b": (4,)}
    start = {n: _values(100 + i, s, 0.5) for i, (n, s) in enumerate(shapes.items())}
    grads = [{n: _values(200 + 10 * k + i, s) for i, (n, s) in enumerate(shapes.items())} for k in range(5)]
    construction = {"groups": [{"params": {n: start[n] for n in ("a1", "a2")}, "hparams": {}}, {"params": {"b": start["b"]}, "hparams": {"beta1": 0.9}}]}
    expected_rows = _rows([construction, *grads], hparams)

    tensors = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in start.items()}
    optimizer_hp = {k: v for k, v in hparams.items() if k != "initial_lr"}
    groups = [{"params": [tensors["a1"], tensors["a2"]]}, {"params": [tensors["b"]], "beta1": 0.9}]
    optimizer = optimization.Adafactor(groups, **optimizer_hp)
    scheduler = optimization.AdafactorSchedule(optimizer, hparams.get("initial_lr", 0.0))
    actual = [scheduler.get_last_lr()]
    for step in grads:
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(step[name], dtype=torch.float64)
        optimizer.step()
        scheduler.step()
        actual.append([float(v) for v in scheduler.get_last_lr()])
    np.testing.assert_allclose(np.array(expected_rows), np.array(actual, dtype=np.float64), rtol=1e-13, atol=0)
