"""Pieces shared by the LambdaLR-style schedules: the hyperparameters every one of them takes, the
generic step-offset convention, and the linear warmup ramp.

``lr`` is the optimizer's default learning rate (``optimizer.defaults["lr"]``, which polynomial
and the min-lr cosines read); ``group_lrs`` lists each param group's own base lr (default: one
group at ``lr``). The driver multiplies each group lr by the schedule's multiplier λ(t).
"""

from __future__ import annotations

from typing import Any

from .._numeric import NumericContext
from .._spec import REQUIRED, Convention, HParam, Integer, Real, RealList

LR = HParam("lr", 1.0, Real(0.0, low_open=True), "the optimizer's default lr (optimizer.defaults['lr'])")
GROUP_LRS = HParam("group_lrs", None, RealList(Real(0.0)), "base lr of each param group (default: [lr])")
# Required, as transformers' get_*_schedule factories require them (no default W or T).
WARMUP = HParam("num_warmup_steps", REQUIRED, Integer(0), "W: linear warmup length")
TOTAL = HParam("num_training_steps", REQUIRED, Integer(1), "T: total number of training steps")

STEP_OFFSET = Convention(
    "step_offset",
    ("0", "1", "-1"),
    "Which step the n-th update sees: λ(n−1) (LambdaLR, optax, keras), λ(n) (fairseq, "
    "pytorch_optimizer's warmup schedulers: one step late), or λ(n−2) (one step early).",
    {"fairseq polynomial_decay": "1", "pytorch_optimizer LinearScheduler": "1"},
)

LAMBDA_DECISIONS = (
    "Rejected at construction, naming the argument: a negative step count, `num_training_steps` < 1, "
    "and a param-group lr that is negative or missing (transformers builds the schedule and runs on them).",
)

LAMBDA_INDEXING = (
    "t = scheduler.last_epoch: 0 right after construction; the n-th optimizer update uses λ(n−1); "
    "lr_g = base_lr_g · λ(t)"
)


def ramp(t: int, warmup: int, nx: NumericContext) -> Any:
    """The linear warmup ramp ``t / max(1, W)``.

    Integers enter the context through ``nx.scalar`` before any division, so the oracle divides
    exactly; in float64 this is Python's ``float(t) / float(max(1, W))``.
    """
    return nx.scalar(t) / nx.scalar(max(1, warmup))
