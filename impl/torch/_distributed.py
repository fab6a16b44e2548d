"""What the optimizers need under ``torch.distributed``: sharded parameters (``DTensor``: FSDP2,
tensor parallel) and ``torch.distributed.checkpoint``.

Elementwise math needs nothing: a ``DTensor`` op acts on each rank's shard. A reduction over a whole
dimension or tensor (Adafactor's row/column means, an RMS) is computed by ``DTensor`` over the whole
tensor, as the spec requires; what it cannot guess is how a new state tensor that holds such a
reduction should be laid out, which :func:`zeros_reduced` decides.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch.optim import Optimizer

#: The state entry of a half param's persistent float32 copy (``master_weights=True``).
MASTER_PARAM = "master_param"


def _is_dtensor(tensor: torch.Tensor) -> bool:
    # torch.distributed.tensor costs ~0.5 s to import: a tensor can only be a DTensor once it is loaded.
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def zeros_reduced(tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """Zeros shaped like ``tensor.mean(dim)``, in ``tensor``'s dtype and device.

    For a ``DTensor`` the zeros are laid out as the reduction leaves its result: a mesh dimension
    that shards ``dim`` becomes replicated (every rank holds the whole mean), one that shards a
    later dimension shards the next lower one, the others are kept. So a row statistic of a
    row-sharded matrix stays sharded with its rows and the update built from it keeps the
    gradient's sharding (``new_zeros`` would replicate the statistic, then every rank would build
    the whole update and in-place ops on the sharded param would fail).

    Example:
        >>> import torch
        >>> zeros_reduced(torch.ones(2, 3), -1)
        tensor([0., 0.])
    """
    dim = dim % tensor.dim()
    shape = tensor.shape[:dim] + tensor.shape[dim + 1 :]
    if not _is_dtensor(tensor):
        return tensor.new_zeros(shape)
    from torch.distributed.tensor import Replicate, Shard, zeros

    placements = []
    for placement in tensor.placements:
        if isinstance(placement, Shard) and placement.dim == dim:
            placement = Replicate()
        elif isinstance(placement, Shard) and placement.dim > dim:
            placement = Shard(placement.dim - 1)
        placements.append(placement)
    return zeros(shape, dtype=tensor.dtype, device_mesh=tensor.device_mesh, placements=placements)


def placed_like(tensor: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``tensor`` laid out as ``like`` (the same tensor for plain tensors or matching layouts).

    ``DTensor`` replicates the result of an op on a dimension sharded over more ranks than it has
    entries (a 1×n weight on two ranks), and then refuses an in-place op of that replicated
    tensor into the still sharded param or state; slicing it back to ``like``'s layout is local.
    """
    if not _is_dtensor(tensor) or tensor.placements == like.placements:
        return tensor
    return tensor.redistribute(like.device_mesh, like.placements)


def _called_by_checkpoint_state_init() -> bool:
    """Whether ``torch.distributed.checkpoint.state_dict._init_optim_state`` is on the call stack."""
    module = sys.modules.get("torch.distributed.checkpoint.state_dict")
    init_code = getattr(getattr(module, "_init_optim_state", None), "__code__", None)
    frame = sys._getframe(1)
    while frame is not None and init_code is not None:
        if frame.f_code is init_code:
            return True
        frame = frame.f_back
    return False


def _snapshot_params_for_state_init(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
    # DCP never calls step() from compiled code, and dynamo cannot trace a stack walk.
    if torch.compiler.is_compiling() or optimizer.state or not _called_by_checkpoint_state_init():
        return
    optimizer._params_before_state_init = [
        (p, p.detach().clone()) for group in optimizer.param_groups for p in group["params"]
    ]


@torch.no_grad()
def _undo_state_init_step(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
    if torch.compiler.is_compiling() or "_params_before_state_init" not in optimizer.__dict__:
        return
    saved = optimizer.__dict__.pop("_params_before_state_init")
    for p, value in saved:
        p.copy_(value)
    for p, state in optimizer.state.items():
        for key, value in state.items():
            if key == MASTER_PARAM:
                value.copy_(p)  # a fresh master copy holds the (restored) param's value
            elif torch.is_tensor(value):
                value.zero_()
            elif isinstance(value, (int, float)):
                state[key] = type(value)(0)


def guard_checkpoint_state_init(optimizer: Optimizer) -> None:
    """Make the zero-gradient step of ``torch.distributed.checkpoint`` create fresh state only.

    ``get_state_dict``/``set_state_dict`` call ``optimizer.step()`` once with zero gradients and
    ``lr = 0`` when the optimizer has no state yet, so that its state tensors exist. For these
    optimizers that step is a real step: the step counter advances, Adafactor's statistics absorb
    ``eps[0]``, and with ``relative_step`` (which ignores ``lr``) weight decay moves the params.
    This registers step hooks that recognize that call, put the params back and reset the new
    state to the fresh state (every entry zero, except a master copy, which holds the param's
    value), so a checkpoint taken before the first step, or
    a fresh optimizer prepared as a load target, continues exactly like an untouched one. The
    params are copied once for that call. Idempotent (the hooks do not survive pickling, so
    ``__setstate__`` calls it again).
    """
    if optimizer.__dict__.get("_checkpoint_state_init_guarded"):
        return
    optimizer.register_step_pre_hook(_snapshot_params_for_state_init)
    optimizer.register_step_post_hook(_undo_state_init_step)
    optimizer._checkpoint_state_init_guarded = True
