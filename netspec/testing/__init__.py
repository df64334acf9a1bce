"""Testing helpers for netspec users and netspec's own suite.

``single_op_graph`` builds a one-node graph (the unit every backend test runs);
``random_inputs`` makes seeded, realistic inputs for a graph.
"""
from .cases import random_inputs, single_op_graph

__all__ = ["random_inputs", "single_op_graph"]
