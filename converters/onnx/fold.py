"""Constant folding: ONNX nodes whose inputs are all known are evaluated at import time.

Exporters leave arithmetic on weights (gate reorders, transposed dense weights) and on
shapes (pads computed from constants) in the graph. Folding it means the imported graph
holds only what a hand-written spec would: the layers, with their weights as arrays.
``onnx.reference`` evaluates any standard op exactly as the ONNX spec defines it, so no
op needs a folding rule of its own; only ``Constant`` and ``Identity`` take a shortcut
because exporters emit hundreds of them.
"""
from __future__ import annotations

import numpy as np
from onnx import NodeProto, numpy_helper

from netspec.errors import NetspecError

# Ops whose value is not a function of their inputs: never folded.
NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike",
                              "RandomUniformLike", "Multinomial", "Bernoulli"})
# Ops with subgraphs are imported (or refused) as a whole, never evaluated blindly.
CONTROL_FLOW = frozenset({"If", "Loop", "Scan", "SequenceMap"})


def foldable(node: NodeProto) -> bool:
    return node.op_type not in NONDETERMINISTIC and node.op_type not in CONTROL_FLOW and \
        node.domain in ("", "ai.onnx")


def fold(node: NodeProto, inputs: list, opset: int, where) -> list[np.ndarray]:
    """The values of ``node``'s outputs, given its (constant) inputs; None for absent ones."""
    if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
        return [numpy_helper.to_array(node.attribute[0].t)]
    if node.op_type == "Identity":
        return [inputs[0]]
    from onnx.reference import ReferenceEvaluator

    feeds = {name: value for name, value in zip(node.input, inputs) if name}
    try:
        results = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
    except Exception as exc:  # the reference raises many kinds; all mean "cannot fold"
        raise NetspecError(f"{node.op_type} '{node.name}' has only constant inputs but cannot be "
                           f"evaluated: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                           where, "check the model with onnx.checker.check_model") from None
    return [np.asarray(r) for r in results]
