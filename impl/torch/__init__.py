"""optimspec.torch: production PyTorch implementations of the transformers optimization API.

Drop-in replacements with transformers' names, signatures and defaults (v5.24, plus the legacy
``AdamW`` that transformers removed in v4.50), exactly specified by the reference (``optimspec.reference``; one page per algorithm in
``docs/spec/``):

* optimizers: :class:`AdamW` (legacy transformers algorithm), :class:`Adafactor`;
* schedules (torch ``LambdaLR``s whose learning rates are bit-identical to transformers'):
  every ``get_*_schedule*`` factory, :func:`get_scheduler` with :class:`SchedulerType`,
  :class:`AdafactorSchedule` / :func:`get_adafactor_schedule`, and the metric-driven
  :class:`GreedyLR` / :func:`get_greedy_schedule`.

Differences from transformers are deliberate and few. Out-of-domain arguments raise ``ValueError``
at construction, naming the argument; transformers would crash later, return NaN or silently
ignore them. Half-precision params keep float32 state that survives ``state_dict`` round trips.
``AdamW`` has a ``foreach`` fast path.

Step counters are Python ints, as in transformers, so the step-size arithmetic is the spec's exact
float64. Under ``torch.compile`` dynamo specializes on the first two values, then treats them as
dynamic. Compile ``opt.step`` itself, or a function that gets the optimizer as an argument or from a
closure. A compiled function that reads the optimizer from a module-level global recompiles at every
step.

>>> import torch
>>> from optimspec.torch import AdamW, get_scheduler
>>> model = torch.nn.Linear(4, 2)
>>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
>>> sched = get_scheduler("cosine", opt, num_warmup_steps=10, num_training_steps=100)
>>> sched.get_last_lr()     # warmup starts at 0
[0.0]
"""

from .adafactor import Adafactor, AdafactorSchedule, get_adafactor_schedule
from .adamw import AdamW
from .greedy import GreedyLR, StreamingAverage
from .schedules import (
    TYPE_TO_SCHEDULER_FUNCTION,
    SchedulerType,
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_hard_restarts_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    get_greedy_schedule,
    get_inverse_sqrt_schedule,
    get_linear_schedule_with_warmup,
    get_polynomial_decay_schedule_with_warmup,
    get_reduce_on_plateau_schedule,
    get_scheduler,
    get_wsd_schedule,
)

__all__ = [
    "TYPE_TO_SCHEDULER_FUNCTION",
    "Adafactor",
    "AdafactorSchedule",
    "AdamW",
    "GreedyLR",
    "SchedulerType",
    "StreamingAverage",
    "get_adafactor_schedule",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_greedy_schedule",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_reduce_on_plateau_schedule",
    "get_scheduler",
    "get_wsd_schedule",
]
