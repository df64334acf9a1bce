"""Interleaved timing shared by the benchmarks that compare an emitted model with a twin.

Benchmarks here run on small shared machines where other processes come and go. Three
habits keep a ratio honest there: the two sides alternate call by call (A B, then B A, so
a load change or a cache warmed by the previous call hits both alike); every call records
the process's CPU time as well as wall time (CPU time hardly moves when the scheduler
lends our cores to someone else; wall time does); and cheap calls are repeated until they
have filled a few seconds, because the median of five 20 ms calls is mostly noise.
"""
from __future__ import annotations

import math
import statistics
import time


def interleaved(fns: dict, repeat: int, min_seconds: float = 4.0, warmup: int = 1,
                before=None) -> dict:
    """``{key: {"cpu": median s, "wall": median s, "n": calls}}`` for each callable.

    Each callable runs ``warmup`` times first (tracing, first-touch allocation), then at
    least ``repeat`` times, more (up to ten times as many) until each has run about
    ``min_seconds`` at the speed of the last warm-up round. ``before(key)``, if given, runs
    untimed before every timed call.
    """
    keys = list(fns)
    for _ in range(max(warmup, 1)):  # the last round's time, free of tracing, sizes the run
        start = time.perf_counter()
        for k in keys:
            if before:
                before(k)
            fns[k]()
        per_call = (time.perf_counter() - start) / len(keys)
    calls = max(repeat, min(10 * repeat, math.ceil(min_seconds / max(per_call, 1e-6))))
    cpu, wall = {k: [] for k in keys}, {k: [] for k in keys}
    for r in range(calls):
        for k in (keys if r % 2 == 0 else keys[::-1]):
            if before:
                before(k)
            c, w = time.process_time(), time.perf_counter()
            fns[k]()
            cpu[k].append(time.process_time() - c)
            wall[k].append(time.perf_counter() - w)
    return {k: {"cpu": statistics.median(cpu[k]), "wall": statistics.median(wall[k]), "n": calls} for k in keys}
