"""Time spec -> checked graph (parse, expand, lint, shapes, counts, receptive fields; no weights).

Generated chains of conv/batchnorm/relu triples at 1,000, 10,000 and 100,000 layers, plus
the zoo's resnet50. The per-layer cost must stay flat (linear growth) and 10,000 layers
must compile in under a second. Each is timed as users get it and again with Python's
garbage collector paused (see ``timed``). Prints a Markdown table for benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/compile.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time

from netspec.spec import load_spec, zoo_names

PATTERN = ("  - conv: {filters: 8, kernel: 3, padding: 1}\n", "  - batchnorm\n", "  - relu\n")


def chain_spec(layers: int) -> str:
    body = "".join(PATTERN[i % 3] for i in range(layers))
    return f"netspec: 1\nname: chain{layers}\ninputs: {{image: [8, 32, 32]}}\nlayers:\n{body}"


def timed(path: str, repeat: int, collect: bool = True) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``load_spec``. CPU time is the figure to read on a shared
    machine: compiling is single-threaded, so it is what the work costs however the cores
    are shared. ``collect=False`` pauses Python's cyclic garbage collector during the call:
    its full collections walk every live object, so on a graph of 100,000 layers they add a
    cost that grows with the heap, and timing both separates the compiler's own growth from
    the collector's."""
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        if not collect:
            gc.disable()
        try:
            w, c = time.perf_counter(), time.process_time()
            load_spec(path, seed=None)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        finally:
            gc.enable()
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (1_000, 10_000, 100_000):
            path = os.path.join(tmp, f"chain{layers}.yaml")
            with open(path, "w") as handle:
                handle.write(chain_spec(layers))
            repeat = args.repeat if layers < 100_000 else 1
            rows.append((f"chain of {layers:,} layers", layers, timed(path, repeat),
                         timed(path, repeat, collect=False)))
    if "resnet50" in zoo_names():
        layers = len(load_spec("resnet50", seed=None)) - 1
        rows.append((f"resnet50 ({layers} layers)", layers, timed("resnet50", args.repeat),
                     timed("resnet50", args.repeat, collect=False)))
    print("| spec | wall (median) | CPU | CPU per layer | CPU, collector paused | per layer |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, layers, (wall, cpu), (_, paused) in rows:
        print(f"| {name} | {wall * 1000:.1f} ms | {cpu * 1000:.1f} ms | {cpu / layers * 1e6:.1f} µs "
              f"| {paused * 1000:.1f} ms | {paused / layers * 1e6:.1f} µs |")


if __name__ == "__main__":
    main()
