"""What the benchmarks run: the bert-base-like workload and every implementation of every group.

One module, imported by the pytest-benchmark suites (through ``conftest.py``) and by the memory
probe (``memory.py``), so that the timings and the memory figures come from the same optimizers
built the same way. Frameworks are imported only when a factory runs: the probe of a torch group
never loads TensorFlow.

Groups (each label's ratio is taken to the group's ``baseline``, the peer it is compared with):

========================  ============  =========================================================
group                     baseline      labels
========================  ============  =========================================================
``adamw``                 torch.fused   optimspec.{fused,foreach,per_tensor}, torch.{forloop,foreach,fused}
``adafactor-default``     transformers  optimspec.{fused,per_tensor}, transformers, torch (each library's defaults)
``adafactor-trainer``     transformers  the same with lr=1e-3, relative_step=False, scale_parameter=False
``tf-adamw-eager``        keras         optimspec (``AdamWeightDecay``), keras (``keras.optimizers.AdamW``)
``tf-adamw-xla``          keras         the same inside ``tf.function(jit_compile=True)``
``schedule-cosine``       transformers  optimspec, transformers: ``get_cosine_schedule_with_warmup``
``schedule-linear``       transformers  optimspec, transformers: ``get_linear_schedule_with_warmup``
========================  ============  =========================================================

>>> shapes = bert_base_like_shapes(0.05)
>>> len(shapes), sum(math.prod(s) for s in shapes)
(193, 4576220)
>>> OPTIMIZER_GROUPS["adamw"].spec_state_bytes(((3, 2), (4,)))   # two float32 moments per param
80
>>> OPTIMIZER_GROUPS["adafactor-trainer"].spec_state_bytes(((3, 2), (4,)))   # row + column, full 1-D
36
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Shape = tuple[int, ...]

# --------------------------------------------------------------------------------------------------
# The workload
# --------------------------------------------------------------------------------------------------

#: Full-scale dimensions (scale 1.0 = 90,914,304 params in 193 tensors).
HIDDEN = 768
INTERMEDIATE = 3072
VOCAB = 7630
LAYERS = 12

#: Seed of the synthetic params and gradients, so every run times the same numbers.
SEED = 20240521
#: Bytes per element of the benchmarks' float32 params, gradients and state.
FLOAT32_BYTES = 4


def bert_base_like_shapes(scale: float = 1.0, layers: int = LAYERS) -> tuple[Shape, ...]:
    """The 193 tensor shapes of the bert-base-like set, with about ``scale`` times its 90.9M params.

    12 layers of 4×(768,768) + 4×(768,) + (3072,768) + (768,3072) + (3072,) + (768,) + 4×(768,),
    plus one (7630,768) embedding. Each dimension is multiplied by ``sqrt(scale)`` and rounded (at
    least 1), so ``scale=1.0`` returns the full bert-base-like shapes exactly and every scale keeps
    all 193 tensors (the per-tensor overheads stay in the picture). ``layers`` other than 12 give a
    shallower or deeper set (``1``: 17 tensors, for a quick smoke run).

    >>> bert_base_like_shapes(1.0)[:2]
    ((7630, 768), (768, 768))
    >>> len(bert_base_like_shapes(0.001, layers=1))
    17
    """
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    if layers < 0:
        raise ValueError(f"layers must be >= 0, got {layers!r}")
    width = math.sqrt(scale)

    def dim(full: int) -> int:
        return max(1, round(full * width))

    hidden, intermediate = dim(HIDDEN), dim(INTERMEDIATE)
    layer: list[Shape] = [
        *[(hidden, hidden)] * 4,  # query, key, value, attention output weights
        *[(hidden,)] * 4,  # their biases
        (intermediate, hidden),  # feed-forward in
        (hidden, intermediate),  # feed-forward out
        (intermediate,),
        (hidden,),
        *[(hidden,)] * 4,  # two layer norms, weight and bias
    ]
    return ((dim(VOCAB), hidden), *(layer * layers))


def largest_param_bytes(shapes: Sequence[Shape]) -> int:
    """Bytes of the largest float32 tensor of ``shapes`` (the unit of the peak-memory target).

    >>> largest_param_bytes(((3, 2), (4,)))
    24
    """
    return max(math.prod(shape) for shape in shapes) * FLOAT32_BYTES


@dataclass(frozen=True)
class HostTensors:
    """Float32 NumPy params and gradients of a shape set; frameworks copy them, never mutate."""

    params: tuple[np.ndarray, ...]
    grads: tuple[np.ndarray, ...]

    @classmethod
    def draw(cls, shapes: Sequence[Shape]) -> HostTensors:
        """Seeded params ~ N(0, 0.02²) (BERT's init) and gradients ~ N(0, 1e-3²), as float32."""
        rng = np.random.default_rng(SEED)

        def draw(shape: Shape, std: float) -> np.ndarray:
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

        params = tuple(draw(shape, 0.02) for shape in shapes)
        return cls(params, tuple(draw(shape, 1e-3) for shape in shapes))


def set_threads(threads: int | None, framework: Literal["torch", "tf"]) -> None:
    """Cap ``framework``'s intra-op (and TensorFlow's inter-op) threads at ``threads``; ``None``
    leaves the framework's default (all cores). TensorFlow accepts this only before its runtime
    starts; later calls raise its ``RuntimeError``."""
    if threads is None:
        return
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


# --------------------------------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------------------------------

#: AdamW everywhere (torch, optimspec, Keras): lr 1e-3, betas (0.9, 0.999), eps 1e-6, wd 0.01.
ADAMW_HYPERPARAMETERS: dict[str, Any] = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.01}
#: The Trainer's Adafactor setting (an external lr); torch.optim.Adafactor gets the same lr.
ADAFACTOR_TRAINER: dict[str, Any] = {"lr": 1e-3, "relative_step": False, "scale_parameter": False}


@dataclass
class Instance:
    """One optimizer on its own copy of the workload, ready to step.

    ``step`` runs one optimizer step over every param; ``steps_taken`` and ``state_bytes`` read
    the optimizer back (the fewest steps any param has taken; the bytes of its state tensors or
    variables).
    """

    optimizer: Any
    step: Callable[[], object]
    steps_taken: Callable[[], int]
    state_bytes: Callable[[], int]


Factory = Callable[[Sequence[Any]], Any]


@dataclass(frozen=True)
class OptimizerGroup:
    """Optimizers that read and write the same state per param, timed against ``baseline``.

    ``factories`` build each label's optimizer from the framework's params (torch ``Parameter``\\ s
    or Keras ``Variable``\\ s); ``spec_state_bytes`` is what the algorithm's state needs for float32
    tensors of some shapes, the yardstick of the state target.
    """

    name: str
    framework: Literal["torch", "tf"]
    baseline: str
    factories: Mapping[str, Factory]
    spec_state_bytes: Callable[[Sequence[Shape]], int]
    jit_compile: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        """The implementations of the group, in the order they are benchmarked."""
        return tuple(self.factories)

    def build(self, label: str, host: HostTensors, device: str = "cpu") -> Instance:
        """``label``'s optimizer over a fresh copy of ``host``, with the gradients set (torch groups
        on ``device``)."""
        factory = self.factories[label]
        if self.framework == "torch":
            return _torch_instance(factory, host, device)
        return _keras_instance(factory, host, self.jit_compile)


def _two_moments(shapes: Sequence[Shape]) -> int:
    """AdamW: first and second moment, each the size of the param."""
    return 2 * sum(math.prod(shape) for shape in shapes) * FLOAT32_BYTES


def _factored_second_moment(shapes: Sequence[Shape]) -> int:
    """Adafactor without beta1: row and column statistics of the last two dims for tensors of
    ndim >= 2, a full second moment for 1-D tensors."""
    elements = sum(
        math.prod(shape[:-1]) + math.prod(shape[:-2] + shape[-1:]) if len(shape) >= 2 else math.prod(shape)
        for shape in shapes
    )
    return elements * FLOAT32_BYTES


def _torch_instance(factory: Factory, host: HostTensors, device: str = "cpu") -> Instance:
    import torch

    params = []
    for value, grad in zip(host.params, host.grads):
        param = torch.nn.Parameter(torch.from_numpy(value.copy()).to(device))
        param.grad = torch.from_numpy(grad.copy()).to(device)
        params.append(param)
    optimizer = factory(params)

    def steps_taken() -> int:
        return min((int(optimizer.state[p].get("step", 0)) for p in params), default=0)

    def state_bytes() -> int:
        return sum(
            value.nbytes for state in optimizer.state.values() for value in state.values() if torch.is_tensor(value)
        )

    return Instance(optimizer, optimizer.step, steps_taken, state_bytes)


def _keras_instance(factory: Factory, host: HostTensors, jit_compile: bool) -> Instance:
    import keras
    import tensorflow as tf

    pairs = [
        (tf.constant(grad), keras.Variable(value, name=f"param_{i}"))
        for i, (value, grad) in enumerate(zip(host.params, host.grads))
    ]
    optimizer = factory([variable for _, variable in pairs])

    def eager() -> object:
        return optimizer.apply_gradients(pairs)

    if jit_compile:
        optimizer.build([variable for _, variable in pairs])  # variables must exist before tracing
        step: Callable[[], object] = tf.function(eager, jit_compile=True)
    else:
        step = eager

    def state_bytes() -> int:
        return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in optimizer.variables)

    return Instance(optimizer, step, lambda: int(optimizer.iterations.numpy()), state_bytes)


def _optimspec_adamw(impl: str) -> Factory:
    def build(params: Sequence[Any]) -> Any:
        from optimspec.torch import AdamW

        return AdamW(params, **ADAMW_HYPERPARAMETERS, impl=impl)

    return build


def _torch_adamw(**path: bool) -> Factory:
    def build(params: Sequence[Any]) -> Any:
        import torch

        return torch.optim.AdamW(params, **ADAMW_HYPERPARAMETERS, **path)

    return build


def _optimspec_adafactor(impl: str, **hyperparameters: Any) -> Factory:
    def build(params: Sequence[Any]) -> Any:
        from optimspec.torch import Adafactor

        return Adafactor(params, **hyperparameters, impl=impl)

    return build


def _transformers_adafactor(**hyperparameters: Any) -> Factory:
    def build(params: Sequence[Any]) -> Any:
        from transformers.optimization import Adafactor

        return Adafactor(params, **hyperparameters)

    return build


def _torch_adafactor(**hyperparameters: Any) -> Factory:
    def build(params: Sequence[Any]) -> Any:
        import torch

        return torch.optim.Adafactor(params, **hyperparameters)

    return build


def _adafactor_group(name: str, hyperparameters: dict[str, Any], torch_hyperparameters: dict[str, Any]) -> OptimizerGroup:
    return OptimizerGroup(
        name,
        "torch",
        baseline="transformers",
        factories={
            "optimspec.fused": _optimspec_adafactor("fused", **hyperparameters),
            "optimspec.per_tensor": _optimspec_adafactor("per_tensor", **hyperparameters),
            "transformers": _transformers_adafactor(**hyperparameters),
            "torch": _torch_adafactor(**torch_hyperparameters),
        },
        spec_state_bytes=_factored_second_moment,
    )


def _optimspec_tf_adamw(variables: Sequence[Any]) -> Any:
    from optimspec.tf import AdamWeightDecay

    h = ADAMW_HYPERPARAMETERS
    return AdamWeightDecay(
        learning_rate=h["lr"], beta_1=h["betas"][0], beta_2=h["betas"][1], epsilon=h["eps"], weight_decay_rate=h["weight_decay"]
    )


def _keras_adamw(variables: Sequence[Any]) -> Any:
    import keras

    h = ADAMW_HYPERPARAMETERS
    return keras.optimizers.AdamW(
        learning_rate=h["lr"], beta_1=h["betas"][0], beta_2=h["betas"][1], epsilon=h["eps"], weight_decay=h["weight_decay"]
    )


def _tf_adamw_group(name: str, jit_compile: bool) -> OptimizerGroup:
    return OptimizerGroup(
        name,
        "tf",
        baseline="keras",
        factories={"optimspec": _optimspec_tf_adamw, "keras": _keras_adamw},
        spec_state_bytes=_two_moments,
        jit_compile=jit_compile,
    )


OPTIMIZER_GROUPS: dict[str, OptimizerGroup] = {
    group.name: group
    for group in (
        OptimizerGroup(
            "adamw",
            "torch",
            baseline="torch.fused",
            factories={
                "optimspec.fused": _optimspec_adamw("fused"),
                "optimspec.foreach": _optimspec_adamw("foreach"),
                "optimspec.per_tensor": _optimspec_adamw("per_tensor"),
                "torch.forloop": _torch_adamw(foreach=False),
                "torch.foreach": _torch_adamw(foreach=True),
                "torch.fused": _torch_adamw(fused=True),
            },
            spec_state_bytes=_two_moments,
        ),
        # Each library's defaults: relative step with parameter scaling for optimspec and
        # transformers; torch.optim.Adafactor's own lr=1e-2 variant.
        _adafactor_group("adafactor-default", {}, {}),
        _adafactor_group("adafactor-trainer", ADAFACTOR_TRAINER, {"lr": ADAFACTOR_TRAINER["lr"]}),
        _tf_adamw_group("tf-adamw-eager", jit_compile=False),
        _tf_adamw_group("tf-adamw-xla", jit_compile=True),
    )
}


# --------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleGroup:
    """One schedule of optimspec.torch and of transformers, called by its factory's name."""

    name: str
    factory_name: str
    baseline: str = "transformers"

    @property
    def labels(self) -> tuple[str, ...]:
        return ("optimspec", "transformers")

    def lr_trace(self, label: str, steps: int) -> int:
        """Build ``label``'s schedule for ``steps`` training steps (1 % warmup) and compute the lr
        of each: ``scheduler.step()`` then ``scheduler.get_last_lr()``, ``steps`` times. Returns
        the scheduler's final ``last_epoch`` (``steps``)."""
        import torch

        if label == "optimspec":
            import optimspec.torch as module
        else:
            import transformers.optimization as module
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        factory = getattr(module, self.factory_name)
        scheduler = factory(optimizer, num_warmup_steps=steps // 100, num_training_steps=steps)
        optimizer.step()  # after the scheduler wraps it, so torch does not warn that the scheduler stepped first
        for _ in range(steps):
            scheduler.step()
            scheduler.get_last_lr()
        return scheduler.last_epoch


SCHEDULE_GROUPS: dict[str, ScheduleGroup] = {
    group.name: group
    for group in (
        ScheduleGroup("schedule-cosine", "get_cosine_schedule_with_warmup"),
        ScheduleGroup("schedule-linear", "get_linear_schedule_with_warmup"),
    )
}
