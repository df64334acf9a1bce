"""Show a spec's layers: op, output shape, parameters, MACs and receptive field."""
from __future__ import annotations

from rich.table import Table

from ..graph.summary import format_rf, summarize
from .common import add_spec_options, console, dump_json, load_graph


def add_arguments(parser):
    add_spec_options(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    graph = load_graph(args)
    summary = summarize(graph)
    if args.json:
        dump_json(summary)
        return 0
    table = Table(title=f"{graph.name}" + (f" — {graph.doc}" if graph.doc else ""))
    for column, justify in (("layer", "left"), ("op", "left"), ("output", "left"),
                            ("params", "right"), ("MACs", "right"), ("receptive field", "left")):
        table.add_column(column, justify=justify)
    for node in graph.nodes():
        table.add_row(node.name, node.op, str(node.type), f"{node.param_count:,}" if node.param_count else "",
                      f"{node.macs:,}" if node.macs else "", format_rf(node.rf))
    totals = summary["totals"]
    table.add_section()
    table.add_row("total", f"{totals['layers']} layers", "", f"{totals['params']:,}", f"{totals['macs']:,}", "")
    console.print(table)
    if totals["state"]:
        console.print(f"plus {totals['state']:,} non-trainable values (batchnorm running statistics, constants)")
    return 0
