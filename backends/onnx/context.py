"""The state one build shares between emitters: the ONNX nodes emitted so far, the
initializers (exactly the graph's weights) and the requested opset.

Emitters have one signature, ``emit(ctx, node, xs) -> None``: ``xs`` are the ONNX value
names of the node's inputs, and the emitter must produce a value named ``node.name``.
Helper values and nodes are named ``<node>/<suffix>``, so every ONNX name can be traced back
to the spec layer that made it (spec names never contain ``/``).

Why initializers hold only the canonical weights: the issue asks that they be "the graph's
weights exactly", and ``read_weights`` then is a lookup. Where ONNX wants another layout
(recurrent gate orders, transposed dense weights, locally connected matrices) the emitter
rearranges the initializer *inside* the graph with Gather/Reshape/Transpose on constants;
onnxruntime folds those at session creation, so they cost nothing per inference. Other
constants (shapes, axes, one-hot kernels) are ``Constant`` nodes, never initializers.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from netspec.errors import NetspecError

ONNX_DTYPES = {
    "float32": onnx.TensorProto.FLOAT, "float16": onnx.TensorProto.FLOAT16,
    "float64": onnx.TensorProto.DOUBLE, "int64": onnx.TensorProto.INT64,
    "int32": onnx.TensorProto.INT32, "bool": onnx.TensorProto.BOOL,
}

# A Slice end that means "to the end of the axis" whatever its size.
TO_END = np.iinfo(np.int64).max


class EmitContext:
    def __init__(self, graph, opset: int):
        self.graph = graph
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self.current = None  # the IR node being emitted (for errors and helper names)

    # ------------------------------------------------------------ names
    def fresh(self, suffix: str) -> str:
        """A new value name ``<current node>/<suffix>``, numbered if already taken."""
        base = f"{self.current.name}/{suffix}"
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    # ------------------------------------------------------------ emitting
    def add(self, op_type: str, inputs: list[str], output: str | None = None,
            suffix: str | None = None, **attrs) -> str:
        """Append one ONNX node; returns its (single) output value name.

        ``output`` defaults to a fresh helper name derived from ``suffix`` (or the op type);
        the node itself is named like its output.
        """
        if output is None:
            output = self.fresh(suffix or op_type.lower())
        else:
            self._names.add(output)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    def add_multi(self, op_type: str, inputs: list[str], outputs: list[str], name: str,
                  **attrs) -> None:
        """A node with several (possibly unused, ``""``) outputs, e.g. LSTM's Y, Y_h, Y_c."""
        self._names.update(o for o in outputs if o)
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))

    def const(self, value, suffix: str = "const", dtype=None) -> str:
        """A ``Constant`` node holding ``value`` (int lists become int64)."""
        array = np.asarray(value, dtype=dtype if dtype is not None else (
            np.int64 if np.asarray(value).dtype.kind in "iu" else np.float32))
        name = self.fresh(suffix)
        self.nodes.append(helper.make_node(
            "Constant", [], [name], name=name, value=numpy_helper.from_array(array, name)))
        return name

    def weight(self, param: str) -> str:
        """The initializer holding the current node's parameter ``param``, as it is in the IR."""
        node = self.current
        name = f"{node.name}.{param}"
        if name not in self._names:
            array = np.ascontiguousarray(node.params[param])
            self.initializers.append(numpy_helper.from_array(array, name))
            self._names.add(name)
        return name

    def has_weight(self, param: str) -> bool:
        return param in self.current.params

    # ------------------------------------------------------------ opset rules
    def require(self, minimum: int, what: str, hint: str | None = None) -> None:
        """Refuse to emit something that only exists from opset ``minimum`` on."""
        if self.opset < minimum:
            node = self.current
            raise NetspecError(
                f"op '{node.op}' ({what}) needs ONNX opset >= {minimum}, received opset {self.opset}",
                node.where(), hint or f"build with opset={minimum} or newer (--opset {minimum})")

    # ------------------------------------------------------------ small compositions
    def squeeze(self, x: str, axes, output: str | None = None) -> str:
        return self.add("Squeeze", [x, self.const(list(axes), "axes")], output, "squeeze")

    def unsqueeze(self, x: str, axes, output: str | None = None) -> str:
        return self.add("Unsqueeze", [x, self.const(list(axes), "axes")], output, "unsqueeze")

    def reshape(self, x: str, shape, output: str | None = None) -> str:
        """Reshape; a 0 in ``shape`` copies that axis of ``x`` (how the dynamic batch survives)."""
        return self.add("Reshape", [x, self.const(list(shape), "shape")], output, "reshape")

    def transpose(self, x: str, perm, output: str | None = None) -> str:
        return self.add("Transpose", [x], output, "transpose", perm=list(perm))
