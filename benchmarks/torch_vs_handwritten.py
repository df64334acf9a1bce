"""Emitted torch models against the same networks written directly in torch.

The torch backend claims that a spec costs nothing at run time: ``netspec.build`` writes a
``torch.fx.GraphModule`` whose generated ``forward`` should be as fast and as lean as the
``nn.Module`` a person would write. This benchmark checks that claim on three zoo models,
each against a hand-written twin defined below (plain ``nn.Module`` classes in the usual
torchvision style: ``ReLU(inplace=True)``, ``out += identity``; no torchvision):

* resnet50 (batch 8, 3x224x224) against a torchvision-style ResNet-50 (v1.5 bottlenecks);
* unet (batch 4, 1x128x128, the zoo default) against a hand-written U-Net;
* lstm, the zoo's peephole LSTM (batch 32, 50 steps of 40 features) against a hand-written
  peephole LSTM (torch has no peephole kernel, so both loop over time in Python), and the
  same classifier without peepholes (benchmarks/specs/lstm_plain.yaml) against ``nn.LSTM``.

**Identical weights, proved.** The emitted model's weights are copied into its twin *by
structure*, not by name: both models are reduced to their stateful leaf modules in data-flow
order (a depth-first post-order walk of the fx graph from the output, inputs in argument
order, so the order does not depend on how either forward happens to schedule independent
branches); the leaves are paired in that order and every tensor's shape must agree. The two
models' eval outputs on the same input are then compared (reported as the max absolute
difference; the same kernels run in the same order, so it is normally 0).

**Time.** Eval-mode forward under ``no_grad`` and a train-mode forward + backward (loss
``mean(out**2)``, gradients reset to None before each step, outside the timed region),
interleaved call by call after a warm-up, cheap steps repeated until they fill a few
seconds (benchmarks/timing.py). The ratio is taken on the median CPU time of the process,
with the wall-time ratio beside it: the machine this was written on has two cores shared
with other jobs, and there wall time swings by tens of percent from one call to the next.
For the same reason torch runs one intra-op thread by default (``--threads 0`` keeps
torch's own default): with two threads on two busy cores, a step waits for whichever
thread the scheduler parked. Target: emitted / handwritten <= 1.03.

**Peak memory.** ``tracemalloc`` does not see torch's allocations and torch keeps no CPU
allocator statistics, so each (model, variant, mode) runs in its own fresh subprocess and is
measured two ways after a warm-up step. *Tensors*: one step under ``torch.profiler`` with
``profile_memory=True``; the running sum of the allocator's allocation and free events, in
time order, peaks at the most tensor memory the step held at once (exact, and blind to
malloc). *Resident set*: the subprocess records ``VmRSS``, resets the kernel's high-water
mark (writing ``5`` to ``/proc/self/clear_refs``), runs two steps and reads ``VmHWM``; it
runs with ``MALLOC_MMAP_THRESHOLD_=65536`` so glibc serves every tensor of 64 KiB or more
with its own ``mmap`` and returns it on free (otherwise malloc's caching would hide
allocations made after the warm-up). The resident set also counts oneDNN workspaces and
malloc's small-block heap, so it wobbles by a few hundred KiB: for the LSTMs, whose steps
need a few MiB, only the tensor figure can resolve 5 %. Both exclude the model's own
weights. Target: emitted / handwritten peak step memory <= 1.05.

**Build time.** ``netspec.build("resnet50", backend="torch", seed=0)`` (spec compile,
weight initialisation from the seed, emit, load) in a fresh process after imports (the
first call pays one-time costs), then the median of three more calls. Target: under 2 s.

    .venv/bin/python benchmarks/torch_vs_handwritten.py [--repeat 7] [--threads 1] [--only resnet50,unet,lstm]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

import netspec
from timing import interleaved

HERE = os.path.dirname(os.path.abspath(__file__))
LSTM_PLAIN = os.path.join(HERE, "specs", "lstm_plain.yaml")


# ---------------------------------------------------------------- hand-written models
class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: stride on the 3x3 conv, no conv biases."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: bool = False):
        super().__init__()
        width, out = planes, planes * 4
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                        nn.BatchNorm2d(out)) if downsample else None

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet50(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes, stages = 64, []
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            layers = [Bottleneck(inplanes, planes, stride, downsample=True)]
            inplanes = planes * 4
            layers += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Four 2x max-pool steps down, four 2x2 up-convolutions up, skips concatenated first."""

    def __init__(self, channels: int = 1, classes: int = 2, filters: int = 16):
        super().__init__()
        widths = [filters * 2 ** i for i in range(5)]
        self.inc = double_conv(channels, widths[0])
        self.down = nn.ModuleList(double_conv(widths[i], widths[i + 1]) for i in range(4))
        self.upconv = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                    for i in reversed(range(4)))
        self.up = nn.ModuleList(double_conv(2 * widths[i], widths[i]) for i in reversed(range(4)))
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        x = skips.pop()
        for upconv, block in zip(self.upconv, self.up):
            x = block(torch.cat([skips.pop(), upconv(x)], 1))
        return self.head(x)


class HandPeepholeLSTM(nn.Module):
    """A peephole LSTM layer as one would write it: input projection of all steps in one
    matmul, then a Python loop over time. Gates i, f, g, o; peepholes i, f (on c_{t-1})
    and o (on c_t)."""

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True):
        super().__init__()
        h = hidden_size
        self.hidden_size, self.return_sequences = h, return_sequences
        self.weight_ih = nn.Parameter(torch.empty(4 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * h, h))
        self.bias_ih = nn.Parameter(torch.empty(4 * h))
        self.bias_hh = nn.Parameter(torch.empty(4 * h))
        self.peephole = nn.Parameter(torch.empty(3, h))

    def forward(self, x):
        n, steps = x.shape[0], x.shape[1]
        h = x.new_zeros(n, self.hidden_size)
        c = x.new_zeros(n, self.hidden_size)
        xw = torch.addmm(self.bias_ih + self.bias_hh, x.reshape(n * steps, -1),
                         self.weight_ih.t()).view(n, steps, -1)
        w_hh, (p_i, p_f, p_o) = self.weight_hh.t(), self.peephole.unbind(0)
        outputs = []
        for xt in xw.unbind(1):  # not xw[:, t]: each slice's backward would fill a full-size zero tensor
            i, f, g, o = torch.addmm(xt, h, w_hh).chunk(4, 1)
            i = torch.sigmoid(i + p_i * c)
            f = torch.sigmoid(f + p_f * c)
            c = f * c + i * torch.tanh(g)
            h = torch.sigmoid(o + p_o * c) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, 1) if self.return_sequences else h


class LSTMClassifier(nn.Module):
    """The zoo's lstm classifier: two LSTM layers, dropout, a dense head on the last step."""

    def __init__(self, features: int = 40, units: int = 128, classes: int = 10,
                 peephole: bool = True, dropout: float = 0.2):
        super().__init__()
        self.peephole = peephole
        if peephole:
            self.lstm1 = HandPeepholeLSTM(features, units)
            self.lstm2 = HandPeepholeLSTM(units, units, return_sequences=False)
        else:
            self.lstm1 = nn.LSTM(features, units, batch_first=True)
            self.lstm2 = nn.LSTM(units, units, batch_first=True)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.fc = nn.Linear(units, classes)

    def forward(self, x):
        if self.peephole:
            last = self.lstm2(self.drop1(self.lstm1(x)))
        else:
            last = self.lstm2(self.drop1(self.lstm1(x)[0]))[0][:, -1]
        return self.fc(self.drop2(last))


# name -> (spec, hand-written constructor, input shape)
MODELS = {
    "resnet50": ("resnet50", ResNet50, (8, 3, 224, 224)),
    "unet": ("unet", UNet, (4, 1, 128, 128)),
    "lstm": ("lstm", lambda: LSTMClassifier(peephole=True), (32, 50, 40)),
    "lstm_plain": (LSTM_PLAIN, lambda: LSTMClassifier(peephole=False), (32, 50, 40)),
}
GROUPS = {"resnet50": ["resnet50"], "unet": ["unet"], "lstm": ["lstm", "lstm_plain"]}
LABELS = {"resnet50": "resnet50 (8x3x224x224)", "unet": "unet (4x1x128x128)",
          "lstm": "lstm, peephole (32x50x40)", "lstm_plain": "lstm, plain vs nn.LSTM (32x50x40)"}


# ---------------------------------------------------------------- weights by structure
class _LeafTracer(fx.Tracer):
    """Stops at every module that owns tensors itself (a conv, an LSTM with a time loop)."""

    def is_leaf_module(self, m, qualname):
        return bool(m._parameters or m._buffers) or super().is_leaf_module(m, qualname)


def stateful_leaves(model: nn.Module) -> list[nn.Module]:
    """The modules that own weights or buffers, in data-flow order: a depth-first post-order
    walk from the graph's output over each node's inputs in argument order."""
    graph = model.graph if isinstance(model, fx.GraphModule) else _LeafTracer().trace(model)
    output = next(n for n in reversed(graph.nodes) if n.op == "output")
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((i, False) for i in reversed(node.all_input_nodes))
    leaves = []
    for node in order:
        if node.op == "call_module":
            module = model.get_submodule(node.target)
            if (module._parameters or module._buffers) and module not in leaves:
                leaves.append(module)
    return leaves


def _tensors(module: nn.Module) -> list[torch.Tensor]:
    """A module's own parameters then buffers, in registration order (absent biases skipped)."""
    return [t for t in (*module._parameters.values(), *module._buffers.values()) if t is not None]


def copy_weights(src: nn.Module, dst: nn.Module) -> int:
    """Copy every parameter and buffer of ``src`` into ``dst`` by structure; returns the
    number of tensors copied. Raises if the structures differ in count or shape."""
    a, b = stateful_leaves(src), stateful_leaves(dst)
    assert len(a) == len(b), f"{len(a)} stateful layers emitted, {len(b)} hand-written"
    copied = 0
    with torch.no_grad():
        for m, n in zip(a, b):
            ta, tb = _tensors(m), _tensors(n)
            shapes = [tuple(t.shape) for t in ta], [tuple(t.shape) for t in tb]
            assert shapes[0] == shapes[1], f"{type(m).__name__} {shapes[0]} vs {type(n).__name__} {shapes[1]}"
            for x, y in zip(ta, tb):
                y.copy_(x)
                copied += 1
    assert copied == len(src.state_dict()) == len(dst.state_dict()), "some tensors were not mapped"
    return copied


def build_pair(name: str):
    """(emitted, handwritten, input, tensors copied, max abs output difference)."""
    spec, hand_cls, shape = MODELS[name]
    emitted = netspec.build(spec, backend="torch", seed=0)
    hand = hand_cls()
    copied = copy_weights(emitted, hand)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    emitted.eval()
    hand.eval()
    with torch.no_grad():
        ours, theirs = emitted(x), hand(x)
    assert theirs.abs().max() > 0, "an all-zero output would prove nothing"
    return emitted, hand, x, copied, float((ours - theirs).abs().max())


# ---------------------------------------------------------------- one step of each kind
def forward_step(model, x):
    model.eval()
    with torch.no_grad():
        model(x)


def train_step(model, x):
    model.train()
    model(x).square().mean().backward()


def reset_grads(model):
    model.zero_grad(set_to_none=True)


def time_pair(models: dict, step, x, repeat: int) -> dict:
    """Interleaved CPU and wall medians of ``step`` on each model (see benchmarks/timing.py)."""
    return interleaved({k: (lambda m=m: step(m, x)) for k, m in models.items()}, repeat,
                       before=lambda k: reset_grads(models[k]))


# ---------------------------------------------------------------- memory, in a subprocess
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child_memory(name: str, variant: str, mode: str) -> dict:
    emitted, hand, x, _, _ = build_pair(name)
    model = emitted if variant == "emitted" else hand
    del emitted, hand
    step = forward_step if mode == "forward" else train_step
    reset_grads(model)
    step(model, x)  # warm-up: one-time allocations (oneDNN primitives, thread pools)
    reset_grads(model)
    gc.collect()
    base = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM to the current RSS
    for _ in range(2):
        reset_grads(model)
        step(model, x)
    rss = {"base_mib": base / 1024, "peak_mib": _status_kib("VmHWM") / 1024,
           "step_mib": (_status_kib("VmHWM") - base) / 1024}
    reset_grads(model)
    return {**rss, "tensor_mib": tensor_peak(lambda: step(model, x)) / 2 ** 20}


def tensor_peak(fn) -> int:
    """Peak bytes of tensor memory that ``fn`` holds at once, above what was live before it:
    the running sum of the allocation (+) and free (-) events that torch's CPU allocator
    reports to the profiler, in time order. Exact and blind to malloc's caching, unlike RSS."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def run_child(*args) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536",
               NETSPEC_BENCH_THREADS=str(torch.get_num_threads()))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *args],
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_build() -> dict:
    start = time.perf_counter()
    netspec.build("resnet50", backend="torch", seed=0)
    first = time.perf_counter() - start
    times = []
    for _ in range(3):
        start = time.perf_counter()
        netspec.build("resnet50", backend="torch", seed=0)
        times.append(time.perf_counter() - start)
    return {"first_s": first, "warm_s": statistics.median(times)}


# ---------------------------------------------------------------- main
def bench(name: str, repeat: int) -> dict:
    emitted, hand, x, copied, diff = build_pair(name)
    models = {"emitted": emitted, "handwritten": hand}
    fwd = time_pair(models, forward_step, x, repeat)
    train = time_pair(models, train_step, x, repeat)
    del models, emitted, hand
    gc.collect()
    memory = {mode: {v: run_child("memory", name, v, mode) for v in ("emitted", "handwritten")}
              for mode in ("forward", "train")}
    return {"name": name, "copied": copied, "diff": diff, "forward": fwd, "train": train, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="at least this many timed calls each")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--only", default=",".join(GROUPS))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = int(os.environ.get("NETSPEC_BENCH_THREADS", args.threads)) if args.child else args.threads
    if threads:
        torch.set_num_threads(threads)
    if args.child:
        kind, *rest = args.child
        print(json.dumps(child_memory(*rest) if kind == "memory" else child_build()))
        return
    build = run_child("build")
    print(f"# resnet50 build: first {build['first_s']:.2f} s, warm {build['warm_s']:.2f} s",
          file=sys.stderr, flush=True)
    rows = []
    for group in args.only.split(","):
        for name in GROUPS[group]:
            rows.append(bench(name, args.repeat))
            print(f"# {name}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    print(f"torch {torch.__version__}, CPU only, {os.cpu_count()} cores, {torch.get_num_threads()} intra-op "
          f"thread(s). Times: medians of at least {args.repeat} interleaved calls after a warm-up (n = calls "
          "each), CPU time of the process, with the wall-time ratio beside it.\n")
    print("| model | tensors copied | max abs output diff | forward CPU ms emitted / hand (n) | ratio "
          "| wall ratio | fwd+bwd CPU ms emitted / hand (n) | ratio | wall ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [LABELS[r["name"]], str(r["copied"]), f"{r['diff']:.1e}"]
        for d in (r["forward"], r["train"]):
            e, h = d["emitted"], d["handwritten"]
            cells += [f"{e['cpu'] * 1e3:.1f} / {h['cpu'] * 1e3:.1f} ({e['n']})", f"{e['cpu'] / h['cpu']:.3f}",
                      f"{e['wall'] / h['wall']:.3f}"]
        print("| " + " | ".join(cells) + " |")
    print("\nPeak memory of one step above the resident model, MiB: tensors (profiler allocation events) "
          "and resident set (VmHWM - VmRSS).\n")
    print("| model | tensors fwd emitted / hand | ratio | tensors fwd+bwd emitted / hand | ratio "
          "| RSS fwd emitted / hand | ratio | RSS fwd+bwd emitted / hand | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [LABELS[r["name"]]]
        for key in ("tensor_mib", "step_mib"):
            for mode in ("forward", "train"):
                e, h = (r["memory"][mode][v][key] for v in ("emitted", "handwritten"))
                cells += [f"{e:.1f} / {h:.1f}", f"{e / h:.3f}"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nresnet50 build (netspec.build: spec, seeded weights, emit, load): first call in a fresh "
          f"process (torch and netspec imported) {build['first_s']:.2f} s, then {build['warm_s']:.2f} s (median of 3).")


if __name__ == "__main__":
    main()
