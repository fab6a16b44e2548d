"""Resume cases for test_resume.py, and the script that resumes them in a fresh process.

``python resume_worker.py CHECKPOINT_DIR RESULT_FILE`` loads every ``<case>.pt`` checkpoint with
``torch.load(weights_only=True)`` into a freshly built optimizer and schedule, trains the remaining
steps and saves the final params and the learning rates it saw.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import optimspec.torch as ot

FIRST_STEPS = 5
MORE_STEPS = 6
SHAPES = [(4, 3), (3,), (2, 2, 3)]
STEPS = {"num_warmup_steps": 2, "num_training_steps": 8}  # the run goes past the total on purpose


def _adamw(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return ot.AdamW(params, lr=1e-2, weight_decay=0.1)


def _adamw_foreach(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return ot.AdamW(params, lr=1e-2, betas=(0.8, 0.99), impl="foreach")


def _adafactor_manual(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return ot.Adafactor(params, lr=1e-2, relative_step=False, scale_parameter=False, beta1=0.9)


def _named(name: str, **kwargs: Any) -> Callable[[torch.optim.Optimizer], Any]:
    return lambda opt: ot.get_scheduler(name, opt, **kwargs)


# case -> (param dtype, optimizer factory, schedule factory)
CASES: dict[str, tuple[torch.dtype, Callable, Callable]] = {
    "adamw-constant": (torch.float32, _adamw, _named("constant")),
    "adamw-constant-warmup": (torch.float64, _adamw, _named("constant_with_warmup", **STEPS)),
    "adamw-linear": (torch.float32, _adamw, _named("linear", **STEPS)),
    "adamw-foreach-cosine": (torch.float32, _adamw_foreach, _named("cosine", **STEPS)),
    "adamw-bf16-restarts": (
        torch.bfloat16, _adamw, _named("cosine_with_restarts", **STEPS, scheduler_specific_kwargs={"num_cycles": 2})
    ),
    "adamw-fp16-polynomial": (
        torch.float16, _adamw, _named("polynomial", **STEPS, scheduler_specific_kwargs={"power": 2.0})
    ),
    "adafactor-inverse-sqrt": (
        torch.float32,
        _adafactor_manual,
        _named("inverse_sqrt", num_warmup_steps=2, scheduler_specific_kwargs={"timescale": 3}),
    ),
    "adafactor-plateau": (
        torch.float32, _adafactor_manual, _named("reduce_lr_on_plateau", scheduler_specific_kwargs={"patience": 0})
    ),
    "adafactor-min-lr": (
        torch.float64,
        _adafactor_manual,
        _named("cosine_with_min_lr", **STEPS, scheduler_specific_kwargs={"min_lr_rate": 0.1}),
    ),
    "adafactor-bf16-warmup-min-lr": (
        torch.bfloat16,
        _adafactor_manual,
        _named("cosine_warmup_with_min_lr", **STEPS, scheduler_specific_kwargs={"min_lr": 1e-4, "warmup_lr_rate": 0.1}),
    ),
    "adafactor-wsd": (
        torch.float32,
        _adafactor_manual,
        _named(
            "warmup_stable_decay", **STEPS, scheduler_specific_kwargs={"num_decay_steps": 3, "decay_type": "1-sqrt"}
        ),
    ),
    "adafactor-greedy": (
        torch.float32,
        _adafactor_manual,
        _named("greedy", scheduler_specific_kwargs={"patience": 0, "factor": 0.5, "smooth": True, "window_size": 3}),
    ),
    "adafactor-relative-schedule": (
        torch.float32, lambda ps: ot.Adafactor(ps, beta1=0.9, warmup_init=True), ot.AdafactorSchedule
    ),
    "adafactor-fp16-relative-schedule": (torch.float16, ot.Adafactor, ot.get_adafactor_schedule),
    # master_weights=True: the float32 copies are saved and restored with the rest of the state
    "adamw-bf16-master-linear": (torch.bfloat16, lambda ps: ot.AdamW(ps, lr=1e-3, master_weights=True), _named("linear", **STEPS)),
    "adafactor-fp16-master-relative-schedule": (
        torch.float16, lambda ps: ot.Adafactor(ps, beta1=0.9, weight_decay=0.01, master_weights=True), ot.AdafactorSchedule
    ),
}


def build(case: str) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer, Any]:
    dtype, make_optimizer, make_schedule = CASES[case]
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=gen).to(dtype)) for shape in SHAPES]
    optimizer = make_optimizer(params)
    return params, optimizer, make_schedule(optimizer)


def _is_metric_driven(schedule: Any) -> bool:
    return isinstance(schedule, (torch.optim.lr_scheduler.ReduceLROnPlateau, ot.GreedyLR))


def train(
    params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer, schedule: Any, steps: range
) -> list[float]:
    """One update per global step ``k``, with data drawn from seed ``k``; returns the lrs used."""
    lrs = []
    for k in steps:
        gen = torch.Generator().manual_seed(1000 + k)
        optimizer.zero_grad()
        loss = sum((p.float() * torch.randn(p.shape, generator=gen)).sin().sum() for p in params)
        loss.backward()
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        if _is_metric_driven(schedule):
            schedule.step(loss.item())
        else:
            schedule.step()
    return lrs


def checkpoint(params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer, schedule: Any) -> dict:
    return {
        "params": [p.detach().clone() for p in params],
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
    }


def resume(case: str, path: Path) -> tuple[list[torch.Tensor], list[float]]:
    """Build fresh, restore as a trainer does (optimizer, then schedule), and finish the run."""
    saved = torch.load(path, weights_only=True)
    params, optimizer, schedule = build(case)
    with torch.no_grad():
        for p, value in zip(params, saved["params"]):
            p.copy_(value)
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    lrs = train(params, optimizer, schedule, range(FIRST_STEPS, FIRST_STEPS + MORE_STEPS))
    return [p.detach() for p in params], lrs


def main(checkpoint_dir: str, result_file: str) -> None:
    results = {case: resume(case, Path(checkpoint_dir) / f"{case}.pt") for case in CASES}
    torch.save(results, result_file)


if __name__ == "__main__":
    main(*sys.argv[1:])
