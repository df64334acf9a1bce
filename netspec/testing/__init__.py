"""Testing helpers for netspec users and netspec's own suite.

``assert_equivalent`` proves a spec or graph computes the same thing in every backend (use
it from any pytest suite); ``check`` returns the full :class:`Report` instead of raising.
``single_op_graph`` builds a one-node graph (the unit every backend test runs);
``random_inputs`` makes seeded, realistic inputs for a graph.
"""
from .cases import random_inputs, single_op_graph
from .equivalence import EquivalenceError, Report, assert_equivalent, check
from .tolerance import DEFAULT_TOLERANCES, Tolerance, compare

__all__ = ["assert_equivalent", "check", "Report", "EquivalenceError", "Tolerance", "DEFAULT_TOLERANCES",
           "compare", "random_inputs", "single_op_graph"]
