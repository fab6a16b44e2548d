"""Plots of learning-rate schedules (``optimspec plot``).

Two kinds of plot, both one line per param group:

* a schedule from the reference (:func:`schedule_plot`): ``run.schedule_values`` over steps 0..N
  with the given hyperparameters, with the warmup / stable / decay / total boundaries marked where
  the schedule has those hyperparameters. Step counts and required arguments that are not given
  take :data:`PLOT_FILLS` (W = 10, T = 100, …), so a bare ``optimspec plot cosine`` draws a
  readable curve rather than the spec's degenerate defaults (W = 0, T = 1); the title lists every
  hyperparameter the curve was drawn with and says which were filled in;
* a metric- or gradient-driven schedule on given inputs (:func:`driven_plot`), with the metric on
  a second axis;
* a golden schedule case (:func:`case_plot`): its expected values and, when an adapter was run on it
  (``runner.run_case``), the adapter's values on top and a lower panel with the error in units of
  ε·S against the case's budget k, so a divergence is visible.

Besides, :func:`render_heatmap` draws the conformance matrix (adapters × algorithms, coloured by
verdict) for ``optimspec matrix``.

Matplotlib is imported only by the renderers, and only its Agg canvas is used (no pyplot, no
screen, no global backend switch), in matplotlib's default style and without metadata, so the bytes
depend only on what is drawn and the matplotlib version. Nothing here imports a framework.
"""

from __future__ import annotations

import ast
import io
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimspec.reference import registry
from optimspec.reference import run as ref
from optimspec.reference._dtypes import EPS

from . import golden

if TYPE_CHECKING:
    from .adapters.base import Capabilities
    from .runner import Case, CaseResult

MAX_POINTS = 2001  # a schedule plot over more steps than this is sampled (boundaries always kept)
MAX_STEPS = 10**9  # the longest range a schedule plot spans (steps stay exact integers below it)
DEFAULT_STEPS = 100  # N when the schedule has no total step count
MIN_STEPS = 10
FORMATS = ("png", "svg", "pdf")
PLOTS_DIR = Path("plots")
_SPECIAL_WORDS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "nan": math.nan}


class PlotError(Exception):
    """The plot cannot be made as asked (a usage error: exit 2 in the CLI)."""


# --------------------------------------------------------------------------------------------------
# what to draw
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    label: str
    x: np.ndarray
    y: np.ndarray
    group: int  # colour index
    style: str = "expected"  # "expected" (solid) or "actual" (dashed, drawn on top)


@dataclass(frozen=True)
class Marker:
    """A vertical line at a step the hyperparameters name (end of warmup, total steps, …)."""

    step: float
    label: str
    kind: str = "end"  # "warmup" (where the warmup ends) or "end" (a later phase boundary)


@dataclass(frozen=True)
class ErrorPanel:
    """|actual − expected| per group in units of ε·S, and the budget k."""

    x: np.ndarray
    k: np.ndarray  # rows × groups; NaN where not comparable (a non-finite value)
    budget: float
    labels: tuple[str, ...]


@dataclass
class Plot:
    title: str
    subtitle: str
    xlabel: str
    ylabel: str = "learning rate"
    lines: list[Line] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    metric: tuple[np.ndarray, np.ndarray] | None = None  # (x, metric) of a metric-driven case
    errors: ErrorPanel | None = None
    points: bool = False  # draw a dot at every value (sparse steps)


# --------------------------------------------------------------------------------------------------
# hyperparameters from the command line
# --------------------------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A Python literal (``3``, ``1e-3``, ``None``, ``[0.1, 0.01]``, ``'cosine'``); ``inf``/``nan``
    as floats; anything else that is not a literal (``cosine``) as the plain string."""
    stripped = text.strip()
    if stripped.lower() in _SPECIAL_WORDS:
        return _SPECIAL_WORDS[stripped.lower()]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return stripped


def parse_hparams(items: Sequence[str]) -> dict[str, Any]:
    """``["name=value", ...]`` -> ``{name: value}``; PlotError on a malformed or repeated item."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise PlotError(f"--hparam expects NAME=VALUE, got {item!r}")
        if name in out:
            raise PlotError(f"--hparam {name} is given twice")
        out[name] = parse_value(value)
    return out


def format_hparams(hparams: Mapping[str, Any], width: int = 100) -> str:
    if not hparams:
        return "default hyperparameters"
    text = ", ".join(f"{name}={value!r}" for name, value in hparams.items())
    return "\n".join(textwrap.wrap(text, width)) or text


@dataclass(frozen=True)
class Fill:
    """A value :func:`schedule_plot` uses for ``name`` when it is not given (nor any of ``unless``)."""

    name: str
    value: Any
    unless: tuple[str, ...] = ()


# The spec's own defaults (W = 0, T = 1) and its required arguments draw nothing readable; these
# draw a 100-step run with a 10-step warmup. Each applies only where the schedule has the argument.
PLOT_FILLS = (
    Fill("num_warmup_steps", 10),
    Fill("num_training_steps", 100, unless=("num_stable_steps",)),
    Fill("num_decay_steps", 20),
    Fill("init_lr", 1.0),
    Fill("num_train_steps", 100),
    Fill("initial_learning_rate", 1.0),
    Fill("warmup_steps", 10),
    Fill("decay_steps", 90),
    Fill("min_lr_rate", 0.1, unless=("min_lr",)),
)


def resolved(algorithm: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of ``algorithm``, in the spec's order: ``hparams`` over the defaults
    (PlotError with the reference's message when it rejects them)."""
    spec = registry.spec(algorithm)
    try:
        values = spec.resolve(hparams)
    except ValueError as exc:
        raise PlotError(str(exc)) from None
    return {hp.name: values[hp.name] for hp in spec.hparams}


def filled(algorithm: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`PLOT_FILLS` values ``algorithm`` takes and ``hparams`` does not give."""
    names = {hp.name for hp in registry.spec(algorithm).hparams}
    return {
        fill.name: fill.value
        for fill in PLOT_FILLS
        if fill.name in names and fill.name not in hparams and not any(other in hparams for other in fill.unless)
    }


# --------------------------------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------------------------------


def schedule_names() -> list[str]:
    return [n for n in registry.names() if registry.spec(n).kind == "schedule"]


def step_schedule_names() -> list[str]:
    return [n for n in schedule_names() if ref.is_step_schedule(n)]


def check_schedule(name: str) -> None:
    """PlotError unless ``name`` is a step schedule of the catalogue."""
    names = schedule_names()
    if name not in registry.names():
        raise PlotError(f"unknown schedule {name!r}; schedules: {', '.join(names)}")
    kind = registry.spec(name).kind
    if kind != "schedule":
        raise PlotError(f"{name!r} is an {kind}, not a schedule; schedules: {', '.join(names)}")
    if not ref.is_step_schedule(name):
        raise PlotError(
            f"{name!r} is driven by metrics or gradients, not by a step count, so it has no curve of its own; "
            f"plot one of its golden cases instead: `optimspec list -a {name}`, then `optimspec plot --case CASE_ID`"
        )


def _int(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


def boundaries(algorithm: str, hp: Mapping[str, Any]) -> list[Marker]:
    """The steps the (resolved) hyperparameters name: the end of the warmup, the start and end of a
    decay, the total number of steps. Empty for metric-driven schedules."""
    warmup = _int(hp.get("num_warmup_steps", hp.get("warmup_steps")))
    total = _int(hp.get("num_training_steps", hp.get("num_train_steps")))
    found: list[Marker] = []
    if warmup:
        found.append(Marker(warmup, f"end of warmup (W={warmup})", "warmup"))
    if algorithm == "warmup_stable_decay":
        decay = _int(hp.get("num_decay_steps")) or 0
        stable = _int(hp.get("num_stable_steps"))
        if stable is None and total is not None:
            stable = total - (warmup or 0) - decay
        if stable is not None:
            start = (warmup or 0) + stable
            if start > (warmup or 0):
                found.append(Marker(start, f"decay start (W+S={start})"))
            found.append(Marker(start + decay, f"decay end (W+S+D={start + decay})"))
    elif hp.get("decay_steps") is not None:
        # TF WarmUp shifts its decay by the warmup; a bare Keras PolynomialDecay starts at 0
        end = _int(hp["decay_steps"]) + ((warmup or 0) if algorithm == "warmup" else 0)
        found.append(Marker(end, f"decay end ({'W+' if algorithm == 'warmup' else ''}decay_steps={end})"))
    if total is not None and all(m.step != total for m in found):
        found.append(Marker(total, f"total steps (T={total})"))
    return found


def default_steps(algorithm: str, hp: Mapping[str, Any]) -> int:
    """N: 1.5 × the last boundary after the warmup (the total steps, or the end of the decay), at
    least ``MIN_STEPS``; without one, ``DEFAULT_STEPS`` (or 4 × the warmup, when longer)."""
    marks = boundaries(algorithm, hp)
    warmup = _int(hp.get("num_warmup_steps", hp.get("warmup_steps"))) or 0
    ends = [m.step for m in marks if m.kind == "end"]
    if ends:
        return max(MIN_STEPS, math.ceil(1.5 * max(ends)))
    return max(DEFAULT_STEPS, 4 * warmup)


def sample_steps(n: int, marks: Sequence[Marker] = (), max_points: int = MAX_POINTS) -> list[int]:
    """0..n, or ``max_points`` evenly spread integer steps plus every boundary and its neighbours."""
    if n + 1 <= max_points:
        return list(range(n + 1))
    grid = set(np.linspace(0, n, max_points).round().astype(np.int64).tolist())
    for mark in marks:
        for t in (int(mark.step) - 1, int(mark.step), int(mark.step) + 1):
            if 0 <= t <= n:
                grid.add(t)
    return sorted(grid)


def _group_labels(hp: Mapping[str, Any], groups: int) -> list[str]:
    """``group i (base lr x)`` per param group; plain ``lr`` for a Keras-style one-value schedule."""
    base = hp.get("group_lrs") or ([hp["lr"]] if isinstance(hp.get("lr"), (int, float)) else None)
    if base is None:
        return ["lr"] if groups == 1 else [f"group {i}" for i in range(groups)]
    return [f"group {i}" + (f" (base lr {base[i]:g})" if i < len(base) else "") for i in range(groups)]


def schedule_plot(algorithm: str, hparams: Mapping[str, Any], steps: int | None = None) -> Plot:
    """The reference schedule ``algorithm`` over steps 0..``steps`` (default: :func:`default_steps`),
    with :func:`filled` values for what ``hparams`` leaves out. PlotError on an unknown name, an
    optimizer, a metric-driven schedule, or hyperparameters the reference rejects (its ValueError
    message, naming the argument)."""
    check_schedule(algorithm)
    fills = filled(algorithm, hparams)
    hparams = {**hparams, **fills}
    hp = resolved(algorithm, hparams)
    try:
        marks = boundaries(algorithm, hp)
        n = steps if steps is not None else default_steps(algorithm, hp)
    except (OverflowError, ValueError) as exc:  # step counts beyond what a float can hold
        raise PlotError(f"the hyperparameters name steps too large to plot ({exc}); give smaller ones or --steps") from None
    if not 1 <= n <= MAX_STEPS:
        raise PlotError(f"the plot would span {n} steps; it must span 1 to {MAX_STEPS} (give --steps)")
    xs = sample_steps(n, [m for m in marks if m.step <= n])
    sampled = "" if len(xs) == n + 1 else f", {len(xs)} of {n + 1} steps sampled"
    note = f"\nnot given, chosen for the plot: {', '.join(fills)}" if fills else ""
    return Plot(
        title=f"{algorithm}",
        subtitle=format_hparams(hp) + note,
        xlabel=f"step t (0..{n}{sampled})",
        lines=_reference_lines(algorithm, xs, hparams, hp, np.asarray(xs, dtype=np.float64)),
        markers=[m for m in marks if m.step <= n],
        points=len(xs) <= 40,
    )


def _reference_lines(algorithm: str, inputs: Sequence[Any], hparams: Mapping[str, Any], hp: Mapping[str, Any], x: np.ndarray) -> list[Line]:
    """The reference's lrs on ``inputs``, one line per param group (PlotError with its message)."""
    try:
        values = ref.schedule_values(algorithm, inputs, hparams)
    except (ValueError, OverflowError, ArithmeticError) as exc:
        raise PlotError(f"{algorithm}: {exc}") from None
    labels = _group_labels(hp, values.shape[1])
    return [Line(labels[g], x, values[:, g], g) for g in range(values.shape[1])]


def driven_plot(algorithm: str, inputs: Sequence[Any], hparams: Mapping[str, Any]) -> Plot:
    """A schedule driven by metrics or gradients (``reduce_lr_on_plateau``, ``greedy``,
    ``adafactor_schedule``) on ``inputs``, one row each (see the algorithm's ``step_indexing``);
    numeric inputs (metrics) are drawn on a second axis. PlotError on a step schedule or on
    hyperparameters or inputs the reference rejects."""
    if algorithm not in schedule_names() or ref.is_step_schedule(algorithm):
        raise PlotError(f"{algorithm!r} is not a metric- or gradient-driven schedule; use schedule_plot")
    hp = resolved(algorithm, hparams)
    x = np.arange(len(inputs), dtype=np.float64)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in inputs)
    return Plot(
        title=algorithm,
        subtitle=format_hparams(hp),
        xlabel="\n".join(textwrap.wrap(registry.spec(algorithm).step_indexing, 110)),
        lines=_reference_lines(algorithm, inputs, hparams, hp, x),
        metric=(x, np.asarray(inputs, dtype=np.float64)) if numeric else None,
        points=len(inputs) <= 40,
    )


# --------------------------------------------------------------------------------------------------
# golden cases
# --------------------------------------------------------------------------------------------------


def check_case(case: Case) -> None:
    if case.invalid:
        raise PlotError(f"{case.id} is an invalid-hyperparameter case: it has no values to plot")
    if case.kind != "schedule":
        raise PlotError(f"{case.id} is an {case.kind} case, not a schedule case; `optimspec explain {case.id}` shows it")


def _scalar_inputs(inputs: Sequence[Any]) -> np.ndarray | None:
    """The metrics of a metric-driven case, as floats; None when the inputs are not numbers."""
    try:
        return np.array([golden.decode_number(v) for v in inputs], dtype=np.float64)
    except (TypeError, ValueError, golden.IntegrityError):
        return None


def case_plot(case: Case, result: CaseResult | None = None, adapter_name: str | None = None, caps: Capabilities | None = None) -> Plot:
    """A golden schedule case's expected values (under the conventions ``result`` was judged under,
    when given), with ``result.actual`` (an adapter's values) on top, and the error panel when both
    are comparable."""
    from .expected import describe, schedule_expectation

    check_case(case)
    expectation = schedule_expectation(case, result.conventions if result is not None else None)
    expected = expectation.values
    hp = case.hparams()
    stepped = "steps" in case.raw
    if stepped:
        x = np.asarray(case.raw["steps"], dtype=np.float64)
        xlabel = "step t"
        try:
            marks = boundaries(case.algorithm, registry.spec(case.algorithm).resolve(hp))
        except ValueError:
            marks = []
        metric = None
    else:
        inputs = case.raw["inputs"]
        x = np.arange(len(inputs), dtype=np.float64)
        indexing = registry.spec(case.algorithm).step_indexing
        xlabel = indexing if indexing.startswith("row") else "row: " + indexing
        marks = []
        values = _scalar_inputs(inputs)
        metric = (x, values) if values is not None else None
    labels = _group_labels(hp, expected.shape[1])
    plot = Plot(
        title=case.id,
        subtitle=format_hparams(hp),
        xlabel="\n".join(textwrap.wrap(xlabel, 110)),
        markers=[m for m in marks if m.step <= x.max(initial=0)],
        metric=metric,
        points=True,
    )
    for g in range(expected.shape[1]):
        under = f" under {describe(expectation.variant)}" if expectation.variant else ""
        plot.lines.append(Line(f"{labels[g]}: expected{under}", x, expected[:, g], g))
    if result is None:
        return plot
    name = adapter_name or "adapter"
    verdict = f"{name}: {result.outcome}" + (f" ({result.message})" if result.message else "")
    plot.subtitle += "\n" + "\n".join(textwrap.wrap(verdict, 110))
    actual = None if result.actual is None else np.asarray(result.actual, dtype=np.float64)
    if actual is not None and actual.ndim == 1:
        actual = actual[:, None]
    if actual is None or actual.shape != expected.shape:
        return plot
    for g in range(actual.shape[1]):
        plot.lines.append(Line(f"{labels[g]}: {name}", x, actual[:, g], g, style="actual"))
    eps = max(EPS[case.group["dtype"]], EPS[caps.schedule_dtype]) if caps is not None else EPS[case.group["dtype"]]
    unit = eps * expectation.scale if expectation.scale else eps
    with np.errstate(invalid="ignore"):
        k = np.where(np.isfinite(actual) & np.isfinite(expected), np.abs(actual - expected) / unit, np.nan)
    plot.errors = ErrorPanel(x, k, float(case.group["tolerance"]["k"]), tuple(labels))
    return plot


def default_case_path(case_id: str, adapter_name: str | None = None) -> Path:
    """plots/<case id>.png (the id's slashes become folders), ``.<adapter>`` before the suffix.
    PlotError unless the path stays inside plots/ (ids are checked against the id grammar when a
    golden tree is loaded; this holds for any id)."""
    stem = case_id + (f".{re.sub(r'[^A-Za-z0-9._-]+', '_', adapter_name)}" if adapter_name else "")
    path = PLOTS_DIR / f"{stem}.png"
    if any(part in ("", ".", "..") for part in case_id.split("/")) or not path.resolve().is_relative_to(PLOTS_DIR.resolve()):
        raise PlotError(f"case id {case_id!r} would put its plot outside {PLOTS_DIR}/; give --out")
    return path


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------


def output_format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in FORMATS:
        raise PlotError(f"cannot write {path}: the suffix must be one of {', '.join('.' + f for f in FORMATS)}")
    return fmt


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError("plotting needs matplotlib: pip install 'optimspec[plot]'") from None


_METADATA = {"png": {"Software": None}, "svg": {"Creator": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


def _figure(width: float, height: float) -> Any:
    """A matplotlib Figure on its own Agg canvas (no pyplot, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()


def render(plot: Plot, fmt: str = "png") -> bytes:
    """The figure as ``fmt`` bytes, drawn on an Agg canvas in matplotlib's default style."""
    require_matplotlib()
    import matplotlib.style

    with matplotlib.style.context("default"):
        return _draw(plot, fmt)


def _draw(plot: Plot, fmt: str) -> bytes:
    from matplotlib.ticker import MaxNLocator

    fig = _figure(10, 7.5 if plot.errors is not None else 6)
    if plot.errors is not None:
        ax, err_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
    else:
        ax, err_ax = fig.subplots(), None
    colors = [f"C{i % 10}" for i in range(max((line.group for line in plot.lines), default=0) + 1)]
    for line in plot.lines:
        if line.style == "actual":
            ax.plot(line.x, line.y, color=colors[line.group], linestyle="--", linewidth=1.4, marker="x", markersize=7, label=line.label, zorder=3)
        else:
            marker = "o" if plot.points else None
            ax.plot(line.x, line.y, color=colors[line.group], linewidth=1.8, marker=marker, markersize=4, label=line.label, zorder=2, alpha=0.85 if plot.errors is not None else 1.0)
    marker_styles = ("dotted", "dashdot", (0, (5, 2)), (0, (1, 3)))
    for i, mark in enumerate(plot.markers):
        ax.axvline(mark.step, color="0.35", linestyle=marker_styles[i % len(marker_styles)], linewidth=1.1, label=mark.label, zorder=1)
    if plot.metric is not None:
        twin = ax.twinx()
        twin.plot(*plot.metric, color="0.6", linewidth=1.0, marker=".", label="metric (input)", zorder=0)
        twin.set_ylabel("metric passed to step()", color="0.45")
        twin.tick_params(axis="y", colors="0.45")
        handles, labels = ax.get_legend_handles_labels()
        more_handles, more_labels = twin.get_legend_handles_labels()
        ax.legend(handles + more_handles, labels + more_labels, loc="best", fontsize=9)
    else:
        ax.legend(loc="best", fontsize=9)
    ax.set_ylabel(plot.ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.set_title(plot.subtitle, fontsize=9, loc="left")
    fig.suptitle(plot.title, fontsize=13, fontweight="bold")
    if err_ax is not None and plot.errors is not None:
        _draw_errors(err_ax, plot.errors, colors)
        err_ax.set_xlabel(plot.xlabel)
    else:
        ax.set_xlabel(plot.xlabel)
    return _save(fig, fmt)


def _draw_errors(ax: Any, panel: ErrorPanel, colors: Sequence[str]) -> None:
    ax.axhline(panel.budget, color="red", linewidth=1.0, linestyle="--", label=f"budget k = {panel.budget:g}")
    finite = panel.k[np.isfinite(panel.k)]
    if finite.size and finite.max() > 0:
        for g in range(panel.k.shape[1]):
            column = panel.k[:, g]
            shown = np.where(column > 0, column, np.nan)  # log scale: exact rows are left out
            ax.plot(panel.x, shown, color=colors[g % len(colors)], marker="o", markersize=3, linewidth=1.0, label=panel.labels[g])
        ax.set_yscale("log")
        ax.set_title(f"|actual − expected| in units of ε·S (worst {finite.max():.3g}); exact matches not drawn", fontsize=9, loc="left")
    else:
        for g in range(panel.k.shape[1]):
            ax.plot(panel.x, panel.k[:, g], color=colors[g % len(colors)], marker="o", markersize=3, linewidth=0, label=panel.labels[g])
        ax.set_ylim(-0.05 * panel.budget, panel.budget * 1.2)
        ax.set_title("|actual − expected| in units of ε·S: identical at every comparable step", fontsize=9, loc="left")
    ax.set_ylabel("error (ε·S)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)


# Verdicts of the conformance matrix (``report.combined_rows``), by their first word, and their colours.
VERDICT_COLOURS = {
    "conformant": "#4caf50",
    "conforms": "#9ccc65",  # conforms to the spec except for the declared conventions
    "known": "#ffb300",  # known divergences
    "fails": "#e53935",
    "unsupported": "#bdbdbd",
    "not": "#eeeeee",  # not run, not implemented
}
_VERDICT_LABELS = {"conformant": "conformant", "conforms": "declared", "known": "diverges", "fails": "fails", "unsupported": "unsupported", "not": "—"}


def render_heatmap(verdicts: Mapping[tuple[str, str], str], adapters: Sequence[str], algorithms: Sequence[str]) -> bytes:
    """The conformance matrix as a PNG: one column per adapter, one row per algorithm, each cell
    coloured by its verdict (``verdicts[(adapter, algorithm)]``; a missing cell is "not
    implemented")."""
    require_matplotlib()
    import matplotlib.style
    from matplotlib.patches import Patch, Rectangle

    with matplotlib.style.context("default"):
        fig = _figure(1.6 + 1.25 * len(adapters), 1.4 + 0.32 * len(algorithms))
        ax = fig.subplots()
        for row, algorithm in enumerate(algorithms):
            for column, adapter in enumerate(adapters):
                key = verdicts.get((adapter, algorithm), "not implemented").split(" ")[0]
                key = key if key in VERDICT_COLOURS else "not"
                ax.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, facecolor=VERDICT_COLOURS[key], edgecolor="white", linewidth=1.5))
                ax.text(column, row, _VERDICT_LABELS[key], ha="center", va="center", fontsize=7)
        ax.set_xlim(-0.5, len(adapters) - 0.5)
        ax.set_ylim(len(algorithms) - 0.5, -0.5)
        ax.set_xticks(range(len(adapters)), adapters, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(algorithms)), algorithms, fontsize=8)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        names = {
            "conformant": "conformant", "conforms": "conformant under declared conventions", "known": "known divergences", "fails": "fails",
            "unsupported": "unsupported", "not": "not implemented / not run",
        }
        handles = [Patch(facecolor=colour, edgecolor="white", label=names[key]) for key, colour in VERDICT_COLOURS.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
        fig.suptitle("optimspec conformance: verdict per adapter and algorithm", fontsize=10, fontweight="bold")
        return _save(fig, "png")


def write(path: Path, plot: Plot) -> int:
    """Render ``plot`` in the format of ``path``'s suffix and write it atomically; the byte count."""
    data = render(plot, output_format(path))
    golden.write_atomic(path, data)
    return len(data)
