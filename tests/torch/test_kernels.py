"""The fused CPU kernels: built once and cached, used by default, deterministic, and replaced by the
compiler-free paths (with one warning line) where they cannot be built.

Whether the kernels load is decided once per process, so the fallback cases run in subprocesses
with their own environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import optimspec.torch as ot
from optimspec.torch import _kernels

# A few steps of every path on tensors the kernels take (float32 and float64, vectors, matrices, a
# batch of matrices), printed as the float64 bytes of every param afterwards.
STEPS_SCRIPT = textwrap.dedent(
    """
    import hashlib, warnings
    import torch
    import optimspec.torch as ot

    def run(cls, **options):
        gen = torch.Generator().manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=d))
                  for s, d in [((6, 5), torch.float32), ((7,), torch.float64), ((2, 3, 4), torch.float32)]]
        opt = cls(params, **options)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            opt.step()
        return hashlib.sha256(b"".join(p.detach().double().numpy().tobytes() for p in params)).hexdigest()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        print("adamw", run(ot.AdamW, lr=1e-2, weight_decay=0.1), run(ot.AdamW, lr=1e-2, weight_decay=0.1, impl="foreach"))
        print("adafactor", run(ot.Adafactor, beta1=0.9), run(ot.Adafactor, beta1=0.9, impl="per_tensor"))
    print("kernels", ot._kernels.library() is not None)
    for w in caught:
        print("warning", w.category.__name__, str(w.message).replace("\\n", " "))
    """
)


def _run_steps(tmp_path: Path, **env: str) -> dict[str, list[str]]:
    environment = {**os.environ, "OPTIMSPEC_CACHE_DIR": str(tmp_path / "cache"), **env}
    done = subprocess.run([sys.executable, "-c", STEPS_SCRIPT], capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    lines: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, rest = line.partition(" ")
        lines.setdefault(key, []).append(rest)
    return lines


def test_kernels_are_built_here_and_cached_atomically(tmp_path):
    """CI machines have a C compiler, so the default path is the kernel; the cache holds exactly
    the finished library (no temporary files left beside it)."""
    first = _run_steps(tmp_path)
    assert first["kernels"] == ["True"] and "warning" not in first
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("kernels-") and cached[0].suffix == ".so"
    built_at = cached[0].stat().st_mtime_ns
    second = _run_steps(tmp_path)
    assert second["adamw"] == first["adamw"] and second["adafactor"] == first["adafactor"]
    assert cached[0].stat().st_mtime_ns == built_at  # reused, not rebuilt


def test_without_a_compiler_the_fused_paths_fall_back_with_one_warning(tmp_path):
    fallback = _run_steps(tmp_path, CC=str(tmp_path / "no-such-compiler"))
    assert fallback["kernels"] == ["False"]
    assert len(fallback["warning"]) == 1
    category, _, message = fallback["warning"][0].partition(" ")
    assert category == "RuntimeWarning"
    assert "fused CPU kernels are not available" in message and "no-such-compiler" in message
    assert "OPTIMSPEC_KERNELS=0" in message
    # The fallback of impl="fused" is the foreach (AdamW) / per_tensor (Adafactor) path itself.
    adamw_fused, adamw_foreach = fallback["adamw"][0].split()
    adafactor_fused, adafactor_per_tensor = fallback["adafactor"][0].split()
    assert adamw_fused == adamw_foreach and adafactor_fused == adafactor_per_tensor
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_kernels_can_be_switched_off_without_a_warning(tmp_path):
    off = _run_steps(tmp_path, OPTIMSPEC_KERNELS="0")
    assert off["kernels"] == ["False"] and "warning" not in off
    assert off["adamw"][0].split()[0] == off["adamw"][0].split()[1]


def test_an_unwritable_cache_still_gets_kernels(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")  # a file where the cache directory should be: mkdir fails
    result = _run_steps(tmp_path, OPTIMSPEC_CACHE_DIR=str(blocked / "cache"))
    assert result["kernels"] == ["True"] and "warning" not in result


@pytest.mark.skipif(_kernels.library() is None, reason="no C compiler: the kernels cannot be built here")
def test_eligible_tensors_go_through_the_kernel_not_the_fallback(monkeypatch):
    from optimspec.torch import adafactor, adamw

    def forbidden(*args, **kwargs):
        raise AssertionError("the fused path fell back for a tensor the kernel takes")

    monkeypatch.setattr(adamw, "_foreach_math", forbidden)
    monkeypatch.setattr(adafactor, "_per_tensor_update", forbidden)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5, dtype=torch.float64))]
    for make in (ot.AdamW, ot.Adafactor):
        opt = make(params)
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()


@pytest.mark.skipif(_kernels.library() is None, reason="no C compiler: the kernels cannot be built here")
@pytest.mark.parametrize("make", [ot.AdamW, ot.Adafactor], ids=["AdamW", "Adafactor"])
def test_results_do_not_depend_on_the_thread_count(make):
    """Reductions are summed per fixed block, in block order, whatever the number of threads. The
    1.1M-element matrices are shared among threads (above the kernel's 2^20-element limit, though
    below half a thread's share with two threads); the others are stepped by one thread each."""
    results = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            gen = torch.Generator().manual_seed(1)
            shapes = [(700, 300), (40_000,), (3, 90, 70), (1100, 1000), (1000, 1100), (3000, 700)]
            params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
            opt = make(params)
            for _ in range(3):
                for p in params:
                    p.grad = torch.randn(p.shape, generator=gen)
                opt.step()
            results.append([p.detach().clone() for p in params])
    finally:
        torch.set_num_threads(before)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_tensors_the_kernel_cannot_take_use_the_other_paths():
    """Non-contiguous params and half params give the same results as the other paths."""
    base = torch.randn(6, 8)
    for make, other in ((ot.AdamW, "foreach"), (ot.Adafactor, "per_tensor")):
        runs = []
        for impl in ("fused", other):
            transposed = torch.nn.Parameter(base.clone().t())  # non-contiguous
            half = torch.nn.Parameter(base.clone().to(torch.bfloat16))
            opt = make([transposed, half], impl=impl)
            for step in range(3):
                transposed.grad = torch.full_like(transposed, 0.1 * (step + 1))
                half.grad = torch.full_like(half, -0.05 * (step + 1))
                opt.step()
            runs.append((transposed.detach().clone(), half.detach().clone()))
        assert torch.equal(runs[0][0], runs[1][0])  # the same torch ops: bit for bit
        torch.testing.assert_close(runs[0][1], runs[1][1], rtol=2**-7, atol=0)  # one bf16 rounding apart at most


@pytest.mark.skipif(_kernels.library() is None, reason="no C compiler: the kernels cannot be built here")
@pytest.mark.parametrize(("make", "other"), [(ot.AdamW, "per_tensor"), (ot.Adafactor, "per_tensor")], ids=["AdamW", "Adafactor"])
def test_tensors_of_many_blocks_match_the_per_tensor_path(make, other):
    """Tensors spanning several of the kernels' blocks (16 384 elements; rows of a matrix split across
    blocks, batched matrices) step as the per-tensor path does, within float64 rounding. Golden
    tensors are far smaller, so the block partitioning is checked here."""
    runs = []
    for impl in ("fused", other):
        gen = torch.Generator().manual_seed(2)
        params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64)) for s in [(40_001,), (130, 257), (3, 70, 90)]]
        opt = make(params, impl=impl, weight_decay=0.01)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            opt.step()
        runs.append([p.detach().clone() for p in params])
    for fused, reference in zip(*runs):
        torch.testing.assert_close(fused, reference, rtol=1e-13, atol=1e-15)
