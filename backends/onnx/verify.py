"""Checks every emitted model must pass: the ONNX checker in full mode, and ONNX's own shape
inference agreeing with the shapes netspec inferred for every node."""
from __future__ import annotations

import onnx
import onnx.checker
import onnx.shape_inference


def check(model: onnx.ModelProto) -> None:
    """``onnx.checker`` with ``full_check`` (which also runs strict shape inference)."""
    onnx.checker.check_model(model, full_check=True)


def _dims(type_proto):
    if not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in type_proto.tensor_type.shape.dim)


def inferred_shapes(model: onnx.ModelProto) -> dict[str, tuple | None]:
    """Every value's shape as ONNX infers it: ints, symbol names (str) or None (unknown)."""
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    g = inferred.graph
    return {v.name: _dims(v.type) for v in [*g.input, *g.value_info, *g.output]}


def shape_mismatches(model: onnx.ModelProto, graph) -> list[str]:
    """Nodes whose ONNX-inferred shape disagrees with netspec's.

    A static netspec size must be inferred as that int; a dynamic one (None) must not be
    inferred as an int (a symbol or unknown is fine). Every node's value must be inferred.
    """
    shapes = inferred_shapes(model)
    problems = []
    for node in graph.nodes():
        want = node.type.shape
        got = shapes.get(node.name)
        if got is None or len(got) != len(want):
            problems.append(f"{node.name} ({node.op}): netspec {want}, onnx {got}")
            continue
        for w, g in zip(want, got):
            if (w is None and isinstance(g, int)) or (w is not None and g != w):
                problems.append(f"{node.name} ({node.op}): netspec {want}, onnx {got}")
                break
    return problems
