"""Emitter tables: how a backend (or importer) maps ops to code, one registered entry per op.

A table refuses a second registration for the same op, records ops it deliberately does not
support with the reason, and reports every op of a graph it cannot handle *before* anything
is built, all at once.
"""
from __future__ import annotations

from typing import Callable

from .errors import NetspecError, raise_all


class EmitterTable:
    def __init__(self, owner: str):
        self.owner = owner
        self.entries: dict[str, Callable] = {}
        self.unsupported: dict[str, str] = {}

    def register(self, *ops: str):
        """Decorator: ``@table.register("conv", "temporal_conv")``."""
        def wrap(fn):
            for op in ops:
                if op in self.entries or op in self.unsupported:
                    raise RuntimeError(f"{self.owner}: op '{op}' is registered twice")
                self.entries[op] = fn
            return fn
        return wrap

    def mark_unsupported(self, op: str, reason: str) -> None:
        if op in self.entries or op in self.unsupported:
            raise RuntimeError(f"{self.owner}: op '{op}' is registered twice")
        self.unsupported[op] = reason

    def __contains__(self, op: str) -> bool:
        return op in self.entries

    def __getitem__(self, op: str) -> Callable:
        return self.entries[op]

    def check_graph(self, graph) -> None:
        """Raise one error per node whose op this table cannot emit."""
        errors = []
        for node in graph.layers():
            if node.op not in self.entries:
                reason = self.unsupported.get(node.op, "no emitter")
                errors.append(NetspecError(f"the {self.owner} backend cannot emit op '{node.op}': {reason}",
                                           node.where()))
        raise_all(errors)
