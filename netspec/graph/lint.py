"""Structural checks run after lowering, every pass and every import."""
from __future__ import annotations

import re

import networkx as nx

from ..errors import NetspecError, did_you_mean, raise_all
from ..ops import OPS
from .ir import INPUT, Graph

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def lint(graph: Graph) -> Graph:
    """Raise every structural problem at once: unknown ops, bad names, dangling inputs,
    wrong input counts, cycles, outputs that name nothing. Returns the graph unchanged."""
    errors: list[NetspecError] = []
    names = set(graph.nx.nodes)
    for name in graph.nx.nodes:
        node = graph.node(name)
        if not NAME.match(name):
            errors.append(NetspecError(f"node name '{name}' must start with a letter or '_' and "
                                       "contain only letters, digits, '_' and '.'", node.where()))
        for src in node.inputs:
            if src not in names:
                errors.append(NetspecError(f"'{name}' takes input from '{src}', which does not exist",
                                           node.where(), did_you_mean(src, names)))
        if node.op == INPUT:
            continue
        op = OPS.get(node.op)
        if op is None:
            errors.append(NetspecError(f"unknown op '{node.op}'", node.where(), did_you_mean(node.op, OPS)))
            continue
        low, high = op.arity
        if len(node.inputs) < low or (high is not None and len(node.inputs) > high):
            want = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            errors.append(NetspecError(f"{node.op} '{name}' takes {want} input(s), received "
                                       f"{len(node.inputs)}", node.where()))
    for out in graph.outputs:
        if out not in names:
            errors.append(NetspecError(f"output '{out}' names no node", hint=did_you_mean(out, names)))
    if not errors and not nx.is_directed_acyclic_graph(graph.nx):
        cycle = nx.find_cycle(graph.nx)
        path = " -> ".join(edge[0] for edge in cycle) + f" -> {cycle[0][0]}"
        errors.append(NetspecError(f"the graph has a cycle: {path}", graph.node(cycle[0][0]).where()))
    raise_all(errors)
    return graph
