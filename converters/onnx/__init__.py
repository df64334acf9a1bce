"""The ONNX importer: ``import_onnx(path_or_model) -> Graph``.

Importers are a table keyed by (ONNX op type, since-version) (:mod:`.registry`); one
module per op family registers into it. Constant subgraphs are folded (:mod:`.fold`),
shape subgraphs evaluated symbolically and axis moves kept as views (:mod:`.values`), so
an exported model imports as clean as a hand-written spec: layers are recognised as
layers (Conv -> conv, MatMul + Add -> dense, the GELU formula -> gelu, netspec's locally
connected composition -> locally_connected, ...), and only what has no layer maps onto
the low-level ops of :mod:`netspec.ops.lowlevel` (:mod:`.import_lowlevel`).

Layout of this package: :mod:`.importer` (the steps), :mod:`.context` (what importers
use), ``import_*.py`` (the table's entries by op family), :mod:`.import_patterns` and
:mod:`.import_local` (multi-node compositions).
"""
from .importer import MIN_OPSET, import_onnx
from .registry import TABLE, ImporterTable

from . import import_basic, import_composite, import_conv, import_linear, import_lowlevel, import_recurrent, import_shape  # noqa: E402,F401  (registration)


def supported_ops() -> dict[str, list[int]]:
    """ONNX op type -> the since-versions netspec has importers for."""
    return {op: TABLE.versions(op) for op in TABLE.op_types()}


__all__ = ["import_onnx", "TABLE", "ImporterTable", "MIN_OPSET", "supported_ops"]
