"""Time spec -> checked graph (parse, expand, lint, shapes, counts, receptive fields; no weights).

Generated chains of conv/batchnorm/relu triples at 1,000, 10,000 and 100,000 layers, plus
the zoo's resnet50. The per-layer cost must stay flat (linear growth) and 10,000 layers
must compile in under a second. Prints a Markdown table for benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/compile.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from netspec.spec import load_spec, zoo_names

PATTERN = ("  - conv: {filters: 8, kernel: 3, padding: 1}\n", "  - batchnorm\n", "  - relu\n")


def chain_spec(layers: int) -> str:
    body = "".join(PATTERN[i % 3] for i in range(layers))
    return f"netspec: 1\nname: chain{layers}\ninputs: {{image: [8, 32, 32]}}\nlayers:\n{body}"


def timed(path: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load_spec(path, seed=None)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
            seconds = timed(path, args.repeat if layers < 100_000 else 1)
            rows.append((f"chain of {layers:,} layers", seconds, seconds / layers * 1e6))
    if "resnet50" in zoo_names():
        seconds = timed("resnet50", args.repeat)
        layers = len(load_spec("resnet50", seed=None)) - 1
        rows.append((f"resnet50 ({layers} layers)", seconds, seconds / layers * 1e6))
    print("| spec | compile time (median) | per layer |")
    print("|---|---:|---:|")
    for name, seconds, per_layer in rows:
        print(f"| {name} | {seconds * 1000:.1f} ms | {per_layer:.1f} µs |")


if __name__ == "__main__":
    main()
