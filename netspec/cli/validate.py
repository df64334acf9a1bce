"""Check specs: syntax, ops, attributes, wiring and shapes, reporting every problem."""
from __future__ import annotations

import sys

from ..errors import NetspecError
from .common import add_spec_options, console, load_graph


def add_arguments(parser):
    add_spec_options(parser, many=True)


def run(args) -> int:
    failed = 0
    for spec in args.spec:
        try:
            graph = load_graph(args, spec)
        except NetspecError as exc:
            failed += 1
            for line in str(exc).splitlines():
                print(f"error: {line}", file=sys.stderr)
            continue
        console.print(f"ok  {spec}: {graph.name}, {len(graph) - len(graph.inputs)} layers, "
                      f"{graph.param_count:,} parameters")
    return 2 if failed else 0
