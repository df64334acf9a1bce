"""The importer table: ONNX op type and since-version -> a function that produces graph nodes.

ONNX changes an op's signature by publishing a new version of it (``Squeeze``-13 takes its
axes as an input where ``Squeeze``-1 had an attribute). An importer is registered for the
version that introduced the signature it understands; a model with opset ``k`` uses, for
each op, the newest entry whose since-version is not above ``k`` -- the same rule ONNX
runtimes follow to pick an op's definition. Registering the same (op, version) twice is a
programming error, caught at import time rather than resolved by import order.
"""
from __future__ import annotations

import bisect
from typing import Callable

Importer = Callable  # importer(ctx, node) -> None; see netspec.converters.onnx.context


class ImporterTable:
    def __init__(self, owner: str = "onnx importer"):
        self.owner = owner
        self._versions: dict[str, list[int]] = {}  # op type -> sorted since-versions
        self._entries: dict[tuple[str, int], Importer] = {}

    def register(self, op_type: str, since: int = 1, *more: str):
        """Decorator: ``@TABLE.register("Squeeze", 13)``; further op types share the entry
        (``@TABLE.register("Relu", 1, "Sigmoid", "Tanh")``)."""
        def wrap(fn):
            for op in (op_type, *more):
                key = (op, since)
                if key in self._entries:
                    raise RuntimeError(f"{self.owner}: {op} since opset {since} is registered twice")
                self._entries[key] = fn
                bisect.insort(self._versions.setdefault(op, []), since)
            return fn
        return wrap

    def lookup(self, op_type: str, opset: int) -> Importer | None:
        """The newest importer of ``op_type`` whose since-version is <= ``opset``."""
        versions = self._versions.get(op_type)
        if not versions:
            return None
        at = bisect.bisect_right(versions, opset)
        return self._entries[(op_type, versions[at - 1])] if at else None

    def versions(self, op_type: str) -> list[int]:
        return list(self._versions.get(op_type, ()))

    def op_types(self) -> list[str]:
        return sorted(self._versions)

    def __contains__(self, op_type: str) -> bool:
        return op_type in self._versions


TABLE = ImporterTable()
