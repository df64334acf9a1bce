"""Where the time of ``netspec check resnet50`` goes (three backends, 224x224, batch 2).

Runs the command's own code path in a fresh interpreter (so framework imports count, as
they do for a user), split into phases: importing netspec and each backend, compiling the
spec and initialising its weights, building each backend's model, running it, and the
harness's own work (input generation, comparison, reporting). The target: netspec's own
share, everything but importing, building and running the backends, stays under 10% of
the total. Shares are of CPU time (the machine this was measured on is shared, and wall
time there swings with other jobs); wall seconds are shown beside them.

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
phases = {}
def clock():
    return time.perf_counter(), time.process_time()
def record(name, since):
    wall, cpu = clock()
    phases[name] = [wall - since[0], cpu - since[1]]
start = t = clock()
import netspec
from netspec.backends import get_backend
from netspec.cli import common
from netspec.cli.check import print_report
from netspec.testing.equivalence import check
record("import netspec (numpy, onnx, rich)", t)
for name in ("torch", "keras", "onnx"):
    t = clock(); get_backend(name); record(f"import {name}", t)
t = clock(); graph = netspec.load(sys.argv[1], seed=0); record("spec + weights", t)
common.console.file = io.StringIO()  # render the table as the CLI does, but keep it quiet
t = clock(); report = check(graph, batch=2); record("check", t)
t = clock(); print_report(report); record("report", t)
record("total", start)
inside = phases.pop("check")
for key, seconds in report.timings.items():  # the harness times its phases in wall seconds
    phases[key] = [seconds, seconds * inside[1] / inside[0]]  # CPU: the check's CPU/wall ratio
phases["harness (inputs, bookkeeping)"] = [inside[0] - sum(report.timings.values()),
                                           (inside[0] - sum(report.timings.values())) * inside[1] / inside[0]]
assert report.ok, report.summary()
print(json.dumps(phases))
"""

BACKEND_WORK = ("import torch", "import keras", "import onnx", "build ", "run ")


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
    median = {k: [statistics.median(r[k][i] for r in runs) for i in (0, 1)] for k in runs[0]}
    total = median.pop("total")
    print(f"`netspec check {args.model}` (torch, keras, onnx; batch 2), medians of {args.repeat} fresh processes\n")
    print("| phase | wall s | CPU s | CPU share |")
    print("|---|---:|---:|---:|")
    for key, (wall, cpu) in median.items():
        print(f"| {key} | {wall:.2f} | {cpu:.2f} | {cpu / total[1]:.1%} |")
    print(f"| **total** | **{total[0]:.2f}** | **{total[1]:.2f}** | 100% |")
    backend = [sum(v[i] for k, v in median.items() if k.startswith(BACKEND_WORK)) for i in (0, 1)]
    own = [total[i] - backend[i] for i in (0, 1)]  # everything but importing, building, running backends
    print(f"\nbackends (import, build, run): {backend[1]:.2f} s CPU ({backend[1] / total[1]:.1%}); netspec's "
          f"own work (its imports, spec compile + weight init, inputs, comparison, report): {own[1]:.2f} s CPU "
          f"({own[1] / total[1]:.1%}; wall {own[0] / total[0]:.1%}) — target < 10%: "
          f"{'met' if own[1] / total[1] < 0.10 else 'MISSED'}")


if __name__ == "__main__":
    main()
