"""``optimspec plot``: a reference schedule, a golden case with an adapter on top, the usage errors,
the hyperparameter parsing and the default step range; and no matplotlib for the other commands."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from optimspec.conformance import cli
from optimspec.conformance import plot as plots

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CASE = "sched/linear/boundaries/w2-t10"


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch, golden_root: Path) -> None:
    monkeypatch.setattr(cli, "console", Console(width=250))
    monkeypatch.setattr(cli, "errors", Console(stderr=True, width=250))
    monkeypatch.setenv("OPTIMSPEC_GOLDEN", str(golden_root))


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli.main, ["plot", *(str(a) for a in args)])


def assert_exit(result: Result, code: int) -> None:
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}\n{result.output}\n{result.exception!r}"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


# --------------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------------


def test_schedule_png_is_written(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "cosine.png"
    result = invoke("cosine", "-p", "lr=3e-4", "--hparam", "num_warmup_steps=10", "-p", "num_training_steps=100", "--out", out)
    assert_exit(result, 0)
    assert f"wrote {out}" in result.output
    assert_png(out)
    assert not list(out.parent.glob(".cosine.png.*"))  # the atomic write left no temporary file


def test_schedule_default_path_and_param_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("warmup_stable_decay", "-p", "group_lrs=[1e-3, 5e-4]", "-p", "num_warmup_steps=5", "-p", "num_decay_steps=20",
                    "-p", "num_training_steps=100", "-p", "decay_type=linear", "--steps", "120")
    assert_exit(result, 0)
    assert_png(tmp_path / "plots" / "warmup_stable_decay.png")


@pytest.mark.parametrize(("adapter", "code"), [("reference", 0), ("broken_adapters:OffByOneScheduleAdapter", 1)])
def test_case_png_with_adapter(tmp_path: Path, adapter: str, code: int) -> None:
    out = tmp_path / "case.png"
    result = invoke("--case", CASE, "--adapter", adapter, "--out", out)
    assert_exit(result, code)  # a failing adapter: exit 1, and the plot shows where
    assert_png(out)
    assert ("pass" if code == 0 else "fail") in result.output


def test_case_default_path_without_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_exit(invoke("--case", CASE), 0)
    assert_png(tmp_path / "plots" / f"{CASE}.png")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("cosine", "-p", "num_warmup_steps=-1"), "`num_warmup_steps`=-1 is out of range"),
        (("cosine", "-p", "num_training_steps=0"), "`num_training_steps`=0 is out of range"),
        (("linear", "-p", "warmup=3"), "unknown hyperparameter(s) warmup"),
        (("cosine_with_min_lr", "-p", "min_lr=0.1", "-p", "min_lr_rate=0.1"), "only one of `min_lr` or `min_lr_rate` may be set"),
        (("linear", "-p", "lr"), "--hparam expects NAME=VALUE"),
        (("no_such_schedule",), "unknown schedule 'no_such_schedule'; schedules: adafactor_schedule, constant"),
        (("adamw",), "'adamw' is an optimizer, not a schedule"),
        (("reduce_lr_on_plateau",), "driven by metrics or gradients"),
        ((), "give a SCHEDULE or --case CASE_ID"),
        (("linear", "--adapter", "reference"), "--adapter needs --case"),
        (("linear", "--out", "x.jpg"), "the suffix must be one of .png, .svg, .pdf"),
        (("--case", "sched/linear/boundaries/nope"), "no case 'sched/linear/boundaries/nope'"),
        (("--case", "optim/adamw/conventions/f64/tiny-grads-t3"), "not a schedule case"),
        (("--case", CASE, "-p", "lr=1.0"), "--case takes no SCHEDULE"),
    ],
    ids=["bad-warmup", "bad-total", "unknown-hparam", "exclusive-pair", "no-equals", "unknown-schedule", "optimizer",
         "metric-driven", "nothing", "adapter-without-case", "bad-suffix", "unknown-case", "optimizer-case", "case-and-hparam"],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], complaint: str) -> None:
    result = invoke(*args) if "--out" in args else invoke(*args, "--out", tmp_path / "p.png")
    assert_exit(result, 2)
    assert complaint in result.output
    assert not (tmp_path / "p.png").exists()


# --------------------------------------------------------------------------------------------------
# the pieces
# --------------------------------------------------------------------------------------------------


def test_parse_hparams() -> None:
    parsed = plots.parse_hparams(["a=3", "b=1e-3", "c=None", "d=[0.1, 0.01]", "e=cosine", "f='1-sqrt'", "g=inf", "h=True"])
    assert parsed == {"a": 3, "b": 1e-3, "c": None, "d": [0.1, 0.01], "e": "cosine", "f": "1-sqrt", "g": math.inf, "h": True}
    assert isinstance(parsed["a"], int)
    with pytest.raises(plots.PlotError, match="given twice"):
        plots.parse_hparams(["a=1", "a=2"])


@pytest.mark.parametrize(
    ("algorithm", "hparams", "steps", "marks"),
    [
        ("cosine", {"num_warmup_steps": 100, "num_training_steps": 1000}, 1500, [100, 1000]),
        ("linear", {"num_warmup_steps": 0, "num_training_steps": 1}, plots.MIN_STEPS, [1]),
        ("constant", {}, plots.DEFAULT_STEPS, []),
        ("constant_with_warmup", {"num_warmup_steps": 50}, 200, [50]),
        ("warmup", {"initial_learning_rate": 1.0, "warmup_steps": 10, "decay_steps": 30}, 60, [10, 40]),
        ("warmup_stable_decay", {"num_warmup_steps": 10, "num_decay_steps": 20, "num_training_steps": 100}, 150, [10, 80, 100]),
        ("warmup_stable_decay", {"num_warmup_steps": 10, "num_decay_steps": 20, "num_stable_steps": 30}, 90, [10, 40, 60]),
    ],
)
def test_boundaries_and_default_steps(algorithm: str, hparams: dict[str, int], steps: int, marks: list[int]) -> None:
    from optimspec.reference import registry

    hp = registry.spec(algorithm).resolve(hparams)
    assert [m.step for m in plots.boundaries(algorithm, hp)] == marks
    assert plots.default_steps(algorithm, hp) == steps


@pytest.mark.parametrize("algorithm", ["cosine", "linear"])
def test_bare_schedule_draws_100_steps_with_a_10_step_warmup_and_names_every_parameter(algorithm: str) -> None:
    from optimspec.reference import registry

    figure = plots.schedule_plot(algorithm, {})
    assert [m.step for m in figure.markers] == [10, 100]
    assert figure.lines[0].x[-1] == 150 and figure.lines[0].y[10] == 1.0 and figure.lines[0].y[0] == 0.0
    for hp in registry.spec(algorithm).hparams:
        assert f"{hp.name}=" in figure.subtitle, f"the title does not list {hp.name}: {figure.subtitle!r}"
    assert "chosen for the plot: num_warmup_steps, num_training_steps" in figure.subtitle


def test_given_values_are_never_replaced_by_plot_fills() -> None:
    figure = plots.schedule_plot("cosine", {"num_warmup_steps": 0})
    assert figure.lines[0].y[0] == 1.0 and "num_warmup_steps=0" in figure.subtitle
    assert plots.filled("warmup_stable_decay", {"num_stable_steps": 5}) == {"num_warmup_steps": 10, "num_decay_steps": 20}
    assert plots.filled("cosine_with_min_lr", {"min_lr": 0.01}) == {"num_warmup_steps": 10, "num_training_steps": 100}
    assert plots.filled("constant", {}) == {}


def test_bare_required_arguments_are_filled_too(tmp_path: Path) -> None:
    for algorithm in plots.step_schedule_names():
        out = tmp_path / f"{algorithm}.png"
        assert_exit(invoke(algorithm, "--out", out), 0)


def test_driven_plot_draws_the_metric_on_a_second_axis() -> None:
    metrics = [3.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    figure = plots.driven_plot("reduce_lr_on_plateau", metrics, {"lr": 1.0, "factor": 0.5, "patience": 1})
    assert figure.lines[0].y.tolist() == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert figure.metric is not None and figure.metric[1].tolist() == metrics
    with pytest.raises(plots.PlotError, match="not a metric- or gradient-driven schedule"):
        plots.driven_plot("cosine", [0, 1], {})


def test_heatmap_is_a_deterministic_png_with_a_cell_per_adapter_and_algorithm() -> None:
    verdicts = {("torch", "adamw"): "known divergences", ("torch", "cosine"): "conformant (partially supported)", ("optax", "adamw"): "fails"}
    first = plots.render_heatmap(verdicts, ["torch", "optax"], ["adamw", "cosine"])
    assert first.startswith(PNG_SIGNATURE) and len(first) > 5000
    assert first == plots.render_heatmap(dict(verdicts), ["torch", "optax"], ["adamw", "cosine"])
    assert first != plots.render_heatmap({**verdicts, ("optax", "adamw"): "conformant"}, ["torch", "optax"], ["adamw", "cosine"])


def test_long_ranges_are_sampled_with_the_boundaries_kept() -> None:
    figure = plots.schedule_plot("cosine", {"num_warmup_steps": 1001, "num_training_steps": 100_003})
    (line,) = figure.lines
    steps = line.x.astype(int).tolist()
    assert steps[0] == 0 and steps[-1] == 150_005 and len(steps) <= plots.MAX_POINTS + 9
    assert {1000, 1001, 1002, 100_002, 100_003, 100_004} <= set(steps)
    assert "sampled" in figure.xlabel


def test_other_commands_do_not_import_matplotlib(subprocess_env: dict[str, str]) -> None:
    probe = (
        "import sys\n"
        "from optimspec.conformance import cli, plot\n"
        "for args in (['--help'], ['plot', '--help'], ['list'], ['catalogue'], ['golden', 'verify', '--no-regenerate']):\n"
        "    try:\n"
        "        cli.main(args, standalone_mode=False)\n"
        "    except BaseException:\n"
        "        pass\n"
        "print('MPL:' + str('matplotlib' in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "MPL:False", out.stderr[-2000:]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("linear", "-p", f"num_training_steps={10**400}"), "steps too large to plot"),
        (("linear", "-p", f"num_training_steps={10**20}"), "the plot would span 150000000000000000000 steps"),
        (("linear", "--steps", str(10**30)), "is not in the range 1<=x<=1000000000"),
    ],
    ids=["huge-integer", "huge-total", "huge-steps"],
)
def test_huge_step_counts_are_usage_errors(tmp_path: Path, args: tuple[str, ...], complaint: str) -> None:
    result = invoke(*args, "--out", tmp_path / "x.png")
    assert_exit(result, 2)
    assert complaint in result.output


@pytest.mark.parametrize("case_id", ["sched/linear/../../escape", "sched/linear//x", "../x"])
def test_derived_plot_paths_stay_in_the_plots_folder(case_id: str) -> None:
    with pytest.raises(plots.PlotError, match="outside plots/"):
        plots.default_case_path(case_id)


def test_plots_get_the_usual_permissions(tmp_path: Path) -> None:
    out = tmp_path / "linear.png"
    mask = os.umask(0o022)
    try:
        assert_exit(invoke("linear", "--out", out), 0)
    finally:
        os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
