"""A per-layer summary of a checked graph (what ``netspec info`` prints)."""
from __future__ import annotations

from ..ops import GLOBAL
from .ir import Graph


def _num(x):
    return int(x) if float(x).is_integer() else round(float(x), 2)


def format_rf(rf) -> str:
    if rf is None:
        return "-"
    if rf == GLOBAL:
        return "global"
    if not rf:
        return "-"
    sizes = "x".join(str(_num(size)) for size, _, _ in rf)
    jumps = "x".join(str(_num(jump)) for _, jump, _ in rf)
    return f"{sizes} (jump {jumps})"


def summarize(graph: Graph) -> dict:
    layers = []
    for node in graph.nodes():
        layers.append({
            "name": node.name, "op": node.op,
            "inputs": node.inputs,
            "shape": list(node.type.shape) if node.type else None,
            "params": node.param_count, "state": node.state_count, "macs": node.macs,
            "receptive_field": (None if node.rf is None else "global" if node.rf == GLOBAL else
                                [{"size": _num(s), "jump": _num(j), "start": _num(st)} for s, j, st in node.rf]),
        })
    return {
        "name": graph.name, "doc": graph.doc,
        "inputs": {n: list(graph.node(n).type.shape) for n in graph.inputs},
        "outputs": {n: list(graph.node(n).type.shape) for n in graph.outputs},
        "layers": layers,
        "totals": {"params": graph.param_count, "state": graph.state_count, "macs": graph.macs,
                   "layers": len(graph) - len(graph.inputs)},
    }
