"""The training runs the distributed tests compare: one small model, one batch per step split over
the ranks, every optimizer case on every selectable implementation path, in one process, under DDP
and under FSDP2.

The model's parameters cover what a sharded optimizer can get wrong. Under FSDP2 the first weight
(6×8) is sharded along dim 0, the dimension Adafactor's column statistic averages over; the middle
weight (5×6) along dim 1, the dimension the row statistic averages over; the last weight (1×5) and
bias (1) leave rank 1 an empty shard; the 5-element bias is split unevenly (3 + 2). Every tensor's
RMS (Adafactor's ``scale_parameter`` and update clipping) is a mean over the whole tensor.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor, Shard
from torch.distributed.tensor.debug import CommDebugMode
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

import optimspec.torch as ot
from optimspec.torch.checkpoint import WeightsOnlyLoadPlanner

WORLD_SIZE = 2
STEPS = 10
BATCH = 8  # BATCH // WORLD_SIZE rows per rank
FEATURES = 8
SHARD_DIMS = {"2.weight": 1}  # FSDP2 shards along dim 0 except where named here
EPS32 = float(torch.finfo(torch.float32).eps)
# How far a float32 run on two processes may end from the one-process run, as the largest
# normwise relative difference of any param, in units of ε = 2⁻²³ (see :func:`error_in_eps`).
# The two runs compute the same formulas in a different reduction order: the batch mean as two
# per-rank means averaged by the all-reduce and, under FSDP2, Adafactor's whole-dimension means
# and RMS as per-shard partial sums combined across ranks. Each of those moves a gradient or a
# statistic by a few ε relative; Adam's and Adafactor's normalized updates pass that on to an
# update of size lr ≤ 1e-2 on params of size ~0.3, so after 10 steps the params move by well
# under 1 ε (measured: ≤ 0.7 ε). 16 ε leaves room for other kernels' reduction orders and stays
# four orders of magnitude below what a per-shard statistic does (≥ 6·10⁴ ε, the control).
BUDGET_EPS = 16.0


@dataclass(frozen=True)
class Case:
    """An optimizer with its hyperparameters, and the schedule that drives it."""

    optimizer: type[Optimizer]
    hyperparameters: dict[str, Any]
    schedule: Callable[[Optimizer], LRScheduler]


def _named_schedule(name: str) -> Callable[[Optimizer], LRScheduler]:
    return lambda optimizer: ot.get_scheduler(name, optimizer, num_warmup_steps=2, num_training_steps=STEPS)


CASES = {
    "adamw": Case(ot.AdamW, {"lr": 1e-2, "weight_decay": 0.1}, _named_schedule("cosine")),
    # transformers' defaults: relative step, scale_parameter; lr read back by AdafactorSchedule.
    "adafactor": Case(ot.Adafactor, {"weight_decay": 0.1}, ot.AdafactorSchedule),
    # the Trainer's setting, with a first moment and an external schedule.
    "adafactor-trainer": Case(
        ot.Adafactor,
        {"lr": 1e-2, "relative_step": False, "scale_parameter": False, "beta1": 0.9, "weight_decay": 0.01},
        _named_schedule("linear"),
    ),
}


def implementation_paths(cls: type[Optimizer]) -> dict[str, dict[str, Any]]:
    """Every selectable implementation path of ``cls`` (``cls.IMPLS``), as the keywords that select it."""
    return {f"impl={name}": {"impl": name} for name in cls.IMPLS}


def run_ids() -> list[str]:
    """``case[path]`` for every case and every path of its optimizer."""
    return [f"{case}[{path}]" for case, spec in CASES.items() for path in implementation_paths(spec.optimizer)]


def parse_run_id(run_id: str) -> tuple[Case, dict[str, Any]]:
    case, path = run_id.rstrip("]").split("[")
    spec = CASES[case]
    return spec, implementation_paths(spec.optimizer)[path]


def make_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(FEATURES, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1))


def batch(step: int, shard: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s batch, or the rows of it that rank ``shard`` trains on."""
    generator = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(BATCH, FEATURES, generator=generator)
    y = torch.randn(BATCH, 1, generator=generator)
    if shard is None:
        return x, y
    rows = slice(shard * BATCH // WORLD_SIZE, (shard + 1) * BATCH // WORLD_SIZE)
    return x[rows], y[rows]


def shard_placement(model: nn.Module) -> Callable[[nn.Parameter], Shard]:
    dims = {id(p): SHARD_DIMS.get(name, 0) for name, p in model.named_parameters()}
    return lambda p: Shard(dims[id(p)])


@dataclass
class Run:
    """One training run: ``module`` holds the named parameters, ``forward`` is what to call."""

    module: nn.Module
    forward: nn.Module
    optimizer: Optimizer
    schedule: LRScheduler
    lrs: list[list[float]]


DISTRIBUTED_MODES = ("ddp", "fsdp")
CHECKPOINT_STEPS = (0, STEPS // 2)  # before the first step (DCP's state-init step runs), and mid-run


def build(run_id: str, mode: str, optimizer_cls: Callable[..., Optimizer] | None = None) -> Run:
    """A fresh run of ``run_id`` in ``mode``:

    - ``single``: one process, the whole batch;
    - ``averaged``: one process that averages the ranks' gradients as DDP's all-reduce does;
    - ``ddp``: ``DistributedDataParallel`` over the process group, this rank's rows;
    - ``fsdp``: ``fully_shard`` (params become DTensors), this rank's rows.

    ``optimizer_cls`` replaces the case's optimizer class (the per-shard control).
    """
    case, path = parse_run_id(run_id)
    module = make_model()
    forward: nn.Module = module
    if mode == "ddp":
        forward = DistributedDataParallel(module)
    elif mode == "fsdp":
        fully_shard(module, shard_placement_fn=shard_placement(module))
    optimizer = (optimizer_cls or case.optimizer)(module.parameters(), **case.hyperparameters, **path)
    return Run(module, forward, optimizer, case.schedule(optimizer), [])


def _loss(forward: nn.Module, step: int, shard: int | None) -> torch.Tensor:
    x, y = batch(step, shard)
    return nn.functional.mse_loss(forward(x), y)


def _set_averaged_grads(run: Run, step: int) -> None:
    shard_grads = []
    for shard in range(WORLD_SIZE):
        run.optimizer.zero_grad(set_to_none=True)
        _loss(run.forward, step, shard).backward()
        shard_grads.append([p.grad for p in run.module.parameters()])
    for p, grads in zip(run.module.parameters(), zip(*shard_grads, strict=True), strict=True):
        p.grad = sum(grads[1:], grads[0]) / WORLD_SIZE


def train(run: Run, mode: str, steps: Iterable[int]) -> None:
    """Optimizer and schedule steps for ``steps``, recording each step's learning rates."""
    shard = dist.get_rank() if mode in DISTRIBUTED_MODES else None
    for step in steps:
        if mode == "averaged":
            _set_averaged_grads(run, step)
        else:
            _loss(run.forward, step, shard).backward()
        run.optimizer.step()
        run.schedule.step()
        run.optimizer.zero_grad(set_to_none=True)
        run.lrs.append([float(lr) for lr in run.schedule.get_last_lr()])


def full_params(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter as a whole tensor (FSDP2's DTensors are gathered: a collective)."""
    return {
        name: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone()
        for name, p in module.named_parameters()
    }


def state_layout(run: Run) -> dict[str, dict[str, str]]:
    """For each param, each optimizer state entry's DTensor placements (its type name otherwise)."""
    names = {p: name for name, p in run.module.named_parameters()}
    return {
        names[p]: {
            key: str(tuple(value.placements)) if isinstance(value, DTensor) else type(value).__name__
            for key, value in state.items()
        }
        for p, state in run.optimizer.state.items()
    }


def count_step_collectives(optimizer: Optimizer) -> Counter[str]:
    """A counter, by collective, of the communication inside every later ``optimizer.step()``
    (``DTensor`` redistributions; FSDP2's own gathers and reduce-scatters are outside the step)."""
    counts: Counter[str] = Counter()
    modes: list[CommDebugMode] = []

    def enter(*_: Any) -> None:
        modes.append(CommDebugMode())
        modes[-1].__enter__()

    def leave(*_: Any) -> None:
        mode = modes.pop()
        mode.__exit__(None, None, None)
        counts.update({str(op): n for op, n in mode.get_comm_counts().items()})

    optimizer.register_step_pre_hook(enter)
    optimizer.register_step_post_hook(leave)
    return counts


def result(run: Run) -> dict[str, Any]:
    return {"params": full_params(run.module), "lrs": run.lrs, "state_layout": state_layout(run)}


def error_in_eps(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> float:
    """The largest normwise relative difference over the tensors, in units of float32 ε:
    max over tensors of ``max|a − e| / max|e|``, divided by ε = 2⁻²³."""
    assert actual.keys() == expected.keys(), f"parameter names differ: {sorted(actual)} vs {sorted(expected)}"
    worst = 0.0
    for name, e in expected.items():
        diff = (actual[name].double() - e.double()).abs().max().item()
        worst = max(worst, diff / max(e.double().abs().max().item(), math.ulp(0.0)))
    return worst / EPS32


def per_shard(cls: type[Optimizer]) -> type[Optimizer]:
    """A deliberately wrong ``cls`` for the negative control: each rank steps its local shards
    (``DTensor.to_local()``) as if they were whole tensors, so every statistic over a whole
    dimension or tensor (Adafactor's row/column means, RMS, update clipping) is a per-shard one."""

    class PerShard(cls):
        def __init__(self, params: Iterable[torch.Tensor], **kwargs: Any) -> None:
            super().__init__(params, **kwargs)
            with torch.no_grad():  # plain views of the shards' storage: updates land in the DTensors
                self._shards = cls([p.to_local() for p in self.param_groups[0]["params"]], **kwargs)

        @torch.no_grad()
        def step(self, closure: Callable[[], float] | None = None) -> float | None:
            (group,), (shard_group,) = self.param_groups, self._shards.param_groups
            shard_group.update({k: v for k, v in group.items() if k != "params"})
            for p, shard in zip(group["params"], shard_group["params"], strict=True):
                shard.grad = p.grad.to_local()
            return self._shards.step(closure)

    PerShard.__name__ = PerShard.__qualname__ = f"PerShard{cls.__name__}"
    return PerShard


def save_checkpoint(run: Run, path: str) -> None:
    """Model, optimizer and schedule state of ``run``, written by every rank with ``dcp.save``."""
    model_state, optimizer_state = get_state_dict(run.module, run.optimizer)
    dcp.save({"model": model_state, "optim": optimizer_state, "schedule": run.schedule.state_dict()}, checkpoint_id=path)


def load_checkpoint(run: Run, path: str) -> None:
    """Load what :func:`save_checkpoint` wrote into a fresh ``run`` (same model, optimizer, schedule)."""
    model_state, optimizer_state = get_state_dict(run.module, run.optimizer)  # targets laid out as saved
    state = {"model": model_state, "optim": optimizer_state, "schedule": run.schedule.state_dict()}
    dcp.load(state, checkpoint_id=path, planner=WeightsOnlyLoadPlanner())
    set_state_dict(run.module, run.optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    run.schedule.load_state_dict(state["schedule"])
