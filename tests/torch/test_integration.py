"""Where people use it: transformers.Trainer, torch.compile, CUDA."""

from __future__ import annotations

import pytest
import torch
import transformers

import optimspec.torch as ot
from optimspec.conformance import golden, runner
from optimspec.conformance.adapters.optimspec_torch import PATHS, OptimspecTorchAdapter

TRAIN_STEPS = 6


def _tiny_bert() -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    return transformers.BertForSequenceClassification(config)


def _dataset(n: int = 4 * TRAIN_STEPS) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [
        {"input_ids": torch.randint(0, 50, (8,), generator=gen), "labels": torch.randint(0, 2, (), generator=gen)}
        for _ in range(n)
    ]


def _expected_lrs(make_schedule, model: torch.nn.Module) -> list[float]:
    """The lr the n-th update uses, λ(n−1)·base, from an identical schedule stepped on its own."""
    schedule = make_schedule(torch.optim.SGD(model.parameters(), lr=1e-3))
    lrs = []
    for _ in range(TRAIN_STEPS):
        lrs.append(schedule.get_last_lr()[0])
        schedule.optimizer.step()
        schedule.step()
    return lrs


@pytest.mark.parametrize(
    ("make_optimizer", "make_schedule"),
    [
        (
            lambda ps: ot.AdamW(ps, lr=1e-3, weight_decay=0.01),
            lambda opt: ot.get_linear_schedule_with_warmup(opt, 2, 5),
        ),
        (
            lambda ps: ot.Adafactor(ps, lr=1e-3, relative_step=False, scale_parameter=False),
            lambda opt: ot.get_scheduler("cosine_with_min_lr", opt, 2, 5, {"min_lr_rate": 0.1}),
        ),
    ],
    ids=["adamw-linear", "adafactor-cosine-min-lr"],
)
def test_trainer_logs_the_schedule_learning_rates(tmp_path, make_optimizer, make_schedule):
    pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate (transformers[torch] extra)")
    model = _tiny_bert()
    optimizer = make_optimizer(model.parameters())
    schedule = make_schedule(optimizer)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=TRAIN_STEPS,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_dataset(), optimizers=(optimizer, schedule))
    trainer.train()
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    assert logged == _expected_lrs(make_schedule, model)
    assert logged[0] == 0.0 and logged[2] == 1e-3  # warmup ramp, then the peak
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda ps: ot.AdamW(ps, lr=1e-2, weight_decay=0.1), lambda ps: ot.Adafactor(ps, beta1=0.9, weight_decay=0.01)],
    ids=["adamw", "adafactor"],
)
def test_torch_compile_training_step(make_optimizer):
    """A fullgraph-compiled loss (forward and AOT backward) and a fullgraph-compiled optimizer step.

    backend="aot_eager" runs the whole dynamo + AOTAutograd capture without inductor's C++ build,
    which takes ~30 s on this CPU. ``loss.backward()`` itself is a graph break in any compiled
    function, so the forward/backward and the update are compiled separately (as the Trainer does).
    """
    torch._dynamo.reset()

    def build():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        return model, make_optimizer(model.parameters())

    def loss_fn(model, x, y):
        return torch.nn.functional.mse_loss(model(x), y)

    model, optimizer = build()
    eager_model, eager_optimizer = build()
    compiled_loss = torch.compile(loss_fn, backend="aot_eager", fullgraph=True)
    compiled_step = torch.compile(optimizer.step, backend="aot_eager", fullgraph=True)
    counters = torch._dynamo.utils.counters
    counters.clear()
    gen = torch.Generator().manual_seed(2)
    for _ in range(12):  # more steps than dynamo's recompile limit (8)
        x, y = torch.randn(16, 4, generator=gen), torch.randn(16, 1, generator=gen)
        optimizer.zero_grad()
        compiled_loss(model, x, y).backward()
        compiled_step()
        eager_optimizer.zero_grad()
        loss_fn(eager_model, x, y).backward()
        eager_optimizer.step()
    # The step counters are Python ints: dynamo specializes on the first two values and then
    # treats them as dynamic, so the update is not recompiled every step.
    assert counters["stats"]["unique_graphs"] <= 6
    # dynamo decomposes addcmul into an fma, so compiled and eager differ in the last bits.
    for compiled, eager in zip(model.parameters(), eager_model.parameters()):
        torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_matches_cpu(dtype):
    """Every path runs on CUDA (the fused one: torch's fused kernel for AdamW, the per-tensor ops for
    Adafactor) and ends where the same path ends on the CPU."""
    torch.manual_seed(0)
    init = [torch.randn(64, 32).to(dtype), torch.randn(32).to(dtype)]
    grads = [[torch.randn_like(x, dtype=torch.float32).to(dtype) for x in init] for _ in range(5)]
    makers = [
        *(lambda ps, impl=impl: ot.AdamW(ps, lr=1e-2, weight_decay=0.1, impl=impl) for impl in ot.AdamW.IMPLS),
        *(lambda ps, impl=impl: ot.Adafactor(ps, beta1=0.9, impl=impl) for impl in ot.Adafactor.IMPLS),
    ]
    for make in makers:
        results = []
        for device in ("cpu", "cuda"):
            params = [torch.nn.Parameter(x.to(device)) for x in init]
            optimizer = make(params)
            schedule = ot.get_cosine_schedule_with_warmup(optimizer, 1, 5)
            for step_grads in grads:
                for p, g in zip(params, step_grads):
                    p.grad = g.to(device)
                optimizer.step()
                schedule.step()
            assert all(s.device.type == device for state in optimizer.state.values() for s in state.values()
                       if torch.is_tensor(s) and s.dim() > 0)
            results.append([p.detach().cpu() for p in params])
        for cpu, cuda in zip(*results):
            torch.testing.assert_close(cuda, cpu, rtol=1e-5 if dtype == torch.float32 else 1e-2, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("variant", list(PATHS))
def test_every_path_passes_the_goldens_on_cuda(variant):
    """The goldens judge the CUDA paths as they judge the CPU ones: no case fails or errors."""
    results = runner.run(OptimspecTorchAdapter(variant, device="cuda"), golden.load_all(), runner.Options(explain=False))
    failing = {r.id: r.message for r in results if r.outcome in ("fail", "error")}
    assert not failing, f"{len(failing)} golden cases fail on CUDA with {variant!r}: {failing}"
