"""The torch backend on a CUDA device against the same model on the CPU.

Builds resnet18 (batch 4, 224x224) and the peephole LSTM zoo model (batch 8, 50 steps)
from the same seeded graph on ``cpu`` and ``cuda``, runs forward (eval) and forward +
backward of ``mean(out**2)`` on both, and reports the largest output and gradient
differences relative to each tensor's scale, plus the median GPU step time. cuDNN picks
other convolution algorithms (and TF32 is switched off here so float32 stays float32), so
agreement is expected at the harness's float32 tolerance, not bit for bit.

    .venv/bin/python benchmarks/gpu_check.py        # prints a Markdown table; exit 1 on a mismatch

Without a CUDA device it says so and exits 0 (nothing to check).
"""
from __future__ import annotations

import statistics
import sys
import time

import torch

import netspec
from netspec.backends import get_backend
from netspec.testing import random_inputs
from netspec.testing.tolerance import GRADIENT_FACTOR, compare, default_tolerance

MODELS = {"resnet18": ({}, 4), "lstm": ({}, 8)}


def step(model, x):
    model.zero_grad(set_to_none=True)
    out = model(x)
    out.square().mean().backward()
    return out.detach().cpu().numpy(), {k: p.grad.detach().cpu().numpy() for k, p in model.named_parameters()}


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    backend = get_backend("torch")
    tol = default_tolerance("float32")
    ok = True
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}\n")
    print("| model | forward max rel | worst gradient max rel | GPU fwd+bwd ms | verdict |")
    print("|---|---:|---:|---:|---|")
    for name, (overrides, batch) in MODELS.items():
        graph = netspec.load(name, overrides=overrides, seed=0)
        x = torch.from_numpy(random_inputs(graph, batch=batch, seed=0, dynamic_size=50)[graph.inputs[0]])
        cpu = backend.build(graph, device="cpu")
        gpu = backend.build(graph, device="cuda")
        with torch.no_grad():
            forward = compare(cpu(x).numpy(), gpu(x.cuda()).cpu().numpy(), tol)
        cpu.train(), gpu.train()
        out_cpu, grads_cpu = step(cpu, x)
        out_gpu, grads_gpu = step(gpu, x.cuda())
        grads = [compare(grads_cpu[k], grads_gpu[k], tol.scaled(GRADIENT_FACTOR)) for k in grads_cpu]
        times = []
        for _ in range(10):
            torch.cuda.synchronize()
            start = time.perf_counter()
            step(gpu, x.cuda())
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        passed = forward.ok and all(g.ok for g in grads)
        ok &= passed
        print(f"| {name} | {forward.max_rel:.1e} | {max(g.max_rel for g in grads):.1e} | "
              f"{statistics.median(times) * 1000:.1f} | {'pass' if passed else 'FAIL'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
