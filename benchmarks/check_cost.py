"""Where the time of ``netspec check resnet50`` goes (three backends, 224x224, batch 2).

Runs the command's own code path in a fresh interpreter (so framework imports count, as
they do for a user), split into phases: importing each backend, compiling the spec and
initialising its weights, building each backend's model, running it, and the harness's
own work (input generation, comparison, reporting). The target: the harness's own share,
everything but importing, building and running the backends, stays under 10% of the total.

    .venv/bin/python benchmarks/check_cost.py [--model resnet50] [--repeat 3]

Prints a Markdown table for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import io, json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
start = time.perf_counter()
phases = {}
from netspec.backends import get_backend
for name in ("torch", "keras", "onnx"):
    t = time.perf_counter(); get_backend(name); phases[f"import {name}"] = time.perf_counter() - t
from netspec.spec import load_spec
t = time.perf_counter(); graph = load_spec(sys.argv[1], seed=0); phases["spec + weights"] = time.perf_counter() - t
from netspec.testing.equivalence import check
from netspec.cli.check import print_report
from netspec.cli import common
common.console.file = io.StringIO()  # render the table as the CLI does, but keep it quiet
t = time.perf_counter(); report = check(graph, batch=2); inside = time.perf_counter() - t
t = time.perf_counter(); print_report(report); phases["report"] = time.perf_counter() - t
phases.update(report.timings)
phases["harness (inputs, bookkeeping)"] = inside - sum(report.timings.values())
phases["total"] = time.perf_counter() - start
assert report.ok, report.summary()
print(json.dumps(phases))
"""

BACKEND_WORK = ("import ", "build ", "run ")


def one_run(model: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, model], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.model) for _ in range(args.repeat)]
    keys = list(runs[0])
    median = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in keys}
    total = median.pop("total")
    backend = sum(v for k, v in median.items() if k.startswith(BACKEND_WORK))
    spec = median.get("spec + weights", 0.0)
    own = total - backend  # everything but importing, building and running the backends
    print(f"\nbackends (import, build, run): {backend:.2f} s ({backend / total:.1%}); netspec's own work "
          f"(spec compile + weight init {spec:.2f} s, inputs, comparison, report, start-up): {own:.2f} s "
          f"({own / total:.1%}) — target < 10%: {'met' if own / total < 0.10 else 'MISSED'}")

if __name__ == "__main__":
    main()
