"""The schedule gallery (``docs/schedules/``): one picture per schedule of the catalogue, drawn from
the reference with hyperparameters that show what the schedule does, and a page that shows each
picture with the call that made it.

Step schedules are drawn exactly as ``optimspec plot NAME -p …`` draws them, so the command on the
page reproduces the image byte for byte. Metric- and gradient-driven schedules are drawn on the
synthetic inputs of the functions below, whose source the page prints.
"""

from __future__ import annotations

import inspect
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optimspec.reference import registry

from . import plot as plots

IMAGE_DIR = "schedules"


def plateau_metric() -> list[float]:
    """A validation loss that falls for 30 evaluations, then stalls with a small wobble."""
    return [max(0.3, 1.0 - t / 40) + 0.02 * math.sin(t) for t in range(80)]


def greedy_metric() -> list[float]:
    """A loss that improves, stalls, then improves again."""
    falling = [1.0 - 0.03 * t for t in range(20)]
    stalled = [0.43 + 0.01 * math.sin(t) for t in range(30)]
    return falling + stalled + [0.42 - 0.004 * t for t in range(30)]


def adafactor_inputs() -> list[dict[str, Any]]:
    """One param group of three weights, then a constant gradient for 60 steps: the relative step
    is 0.01 while the scale max(1e-3, RMS(w)) follows the weights down."""
    return [{"params": {"w": [1.0, 2.0, 3.0]}}] + [{"w": [1.0, 1.0, 1.0]}] * 60


@dataclass(frozen=True)
class Entry:
    """One picture: a step schedule with ``optimspec plot`` arguments, or a driven schedule with an
    input function."""

    name: str
    shows: str  # what to look at, for the page
    hparams: tuple[str, ...] = ()  # NAME=VALUE, as given to `optimspec plot -p`
    steps: int | None = None
    inputs: Callable[[], list[Any]] | None = None
    driven_hparams: tuple[tuple[str, Any], ...] = ()

    def plot(self) -> plots.Plot:
        if self.inputs is not None:
            return plots.driven_plot(self.name, self.inputs(), dict(self.driven_hparams))
        return plots.schedule_plot(self.name, plots.parse_hparams(self.hparams), self.steps)

    def call(self) -> str:
        """The call that draws this picture, for the page (Markdown code block)."""
        target = f"docs/{IMAGE_DIR}/{self.name}.png"
        if self.inputs is None:
            words = ["optimspec", "plot", self.name, *(f"-p {shlex.quote(item)}" for item in self.hparams)]
            if self.steps is not None:
                words.append(f"--steps {self.steps}")
            return "```sh\n" + " ".join([*words, f"--out {target}"]) + "\n```"
        source = inspect.getsource(self.inputs).rstrip()
        return (
            "```python\nimport math\nfrom pathlib import Path\nfrom typing import Any\n"
            "from optimspec.conformance.plot import driven_plot, write\n\n"
            f"{source}\n\n"
            f"write(Path({target!r}), driven_plot({self.name!r}, {self.inputs.__name__}(), {dict(self.driven_hparams)!r}))\n```"
        )


ENTRIES = (
    Entry("constant", "every param group keeps its own lr", ("group_lrs=[1.0,0.5]",)),
    Entry("constant_with_warmup", "a linear warmup from 0, then the base lr", ("num_warmup_steps=20",)),
    Entry("linear", "warmup, a straight line to 0 at T, then 0", ("num_warmup_steps=10", "num_training_steps=100")),
    Entry("cosine", "warmup, a half cosine to 0 at T, and the rise after T (the progress is not clamped)", ("num_warmup_steps=10", "num_training_steps=100")),
    Entry("cosine_with_restarts", "three cosine cycles, each restarting at the peak; 0 from T on", ("num_warmup_steps=10", "num_training_steps=100", "num_cycles=3")),
    Entry("polynomial", "a quadratic decay to `lr_end`, held after T", ("num_warmup_steps=10", "num_training_steps=100", "lr_end=0.1", "power=2.0")),
    Entry("inverse_sqrt", "warmup, then 1/√t decay; no end", ("num_warmup_steps=10",), 200),
    Entry("cosine_with_min_lr", "the cosine lifted onto a floor of 10%, periodic past T", ("num_warmup_steps=10", "num_training_steps=100", "min_lr_rate=0.1")),
    Entry("cosine_warmup_with_min_lr", "the warmup from `warmup_lr_rate`, one step ahead of cosine_with_min_lr", ("num_warmup_steps=10", "num_training_steps=100", "min_lr_rate=0.1", "warmup_lr_rate=0.2")),
    Entry("warmup_stable_decay", "a cosine warmup from the floor, a stable phase, a 1-sqrt decay back to the floor", ("num_warmup_steps=10", "num_decay_steps=30", "num_training_steps=100", "warmup_type=cosine", "decay_type=1-sqrt", "min_lr_ratio=0.1")),
    Entry("warmup", "TF WarmUp: a quadratic warmup (power 2), then a linear PolynomialDecay of t − W", ("initial_learning_rate=1.0", "warmup_steps=20", "power=2.0", "decay_steps=80", "end_learning_rate=0.1")),
    Entry("polynomial_decay", "Keras PolynomialDecay with power 0.5, held at the end lr", ("initial_learning_rate=1.0", "decay_steps=80", "end_learning_rate=0.1", "power=0.5"), 120),
    Entry("create_optimizer", "TF create_optimizer: a linear warmup, then a quadratic decay to 10% at T", ("init_lr=1.0", "num_train_steps=100", "num_warmup_steps=10", "min_lr_ratio=0.1", "power=2.0")),
    Entry(
        "reduce_lr_on_plateau", "the lr halves each time the loss stalls for more than 5 evaluations; 3 evaluations of cooldown after each cut",
        inputs=plateau_metric, driven_hparams=(("lr", 1.0), ("factor", 0.5), ("patience", 5), ("cooldown", 3)),
    ),
    Entry(
        "greedy", "GreedyLR raises the lr while the loss keeps improving and cuts it on the plateau",
        inputs=greedy_metric, driven_hparams=(("lr", 0.1), ("factor", 0.8), ("patience", 2), ("min_lr", 0.01), ("max_lr", 0.5)),
    ),
    Entry(
        "adafactor_schedule", "the lr AdafactorSchedule reads back: 0 at construction, then 0.01·max(1e-3, RMS(w)) as the weights move",
        inputs=adafactor_inputs,
    ),
)


def check_complete() -> None:
    """Every schedule of the catalogue has exactly one entry (ValueError otherwise)."""
    names = [entry.name for entry in ENTRIES]
    expected = sorted(plots.schedule_names())
    if sorted(names) != expected:
        raise ValueError(f"the gallery covers {sorted(names)}, the catalogue's schedules are {expected}")


def images() -> dict[str, bytes]:
    """``{file name: PNG bytes}`` for every entry (deterministic: see :func:`plot.render`)."""
    check_complete()
    return {f"{entry.name}.png": plots.render(entry.plot(), "png") for entry in ENTRIES}


def page() -> str:
    """``docs/schedules/README.md``: every picture with the call that made it."""
    lines = [
        "<!-- Generated by `make docs` (python -m optimspec.conformance.docs); do not edit by hand. -->",
        "",
        "# Schedule gallery",
        "",
        "Every learning-rate schedule of the catalogue, drawn from the reference (`optimspec.reference`),",
        "one line per param group, with the end of the warmup, the phase boundaries and the total steps",
        "marked. Under each picture is the call that drew it; the step schedules' commands reproduce the",
        "image byte for byte. Each title lists every hyperparameter. The formulas are in [the spec](../spec/README.md).",
        "",
        "| | | |",
        "|---|---|---|",
    ]
    cells = [f'<a href="#{entry.name}"><img src="{entry.name}.png" width="260" alt="{entry.name}"></a>' for entry in ENTRIES]
    for i in range(0, len(cells), 3):
        row = cells[i:i + 3] + [""] * (3 - len(cells[i:i + 3]))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for entry in ENTRIES:
        spec = registry.spec(entry.name)
        lines += [
            f"## {entry.name}",
            "",
            f"{entry.shows[0].upper()}{entry.shows[1:]}. Spec: [{entry.name}](../spec/{entry.name}.md) — {spec.summary}.",
            "",
            f"![{entry.name}]({entry.name}.png)",
            "",
            entry.call(),
            "",
        ]
    return "\n".join(lines)
