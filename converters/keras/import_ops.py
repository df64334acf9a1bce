"""Importers of ``keras.ops`` arithmetic used inside functional models (``x + 3.0``,
``x * (1 / 6)`` in MobileNetV3's hard sigmoid, ``ops.sigmoid(x)``).

Keras records such calls as operations in the functional graph with their Python
arguments; numbers and arrays become constants, tensors the values computed so far.
Keyed ``"ops.<Class>"`` in the table (layer names like ``Add`` belong to the layers).
"""
from __future__ import annotations

import keras
import numpy as np

from .import_core import binary, elementwise
from .registry import TABLE
from .values import Value, identity


def arguments(ctx) -> list[Value]:
    """The call's positional arguments as values, constants included."""
    out = []
    for arg in ctx.node.arguments.args:
        if isinstance(arg, keras.KerasTensor):
            out.append(ctx.scope[id(arg)])
        elif isinstance(arg, (int, float, np.ndarray, np.number)):
            array = np.asarray(arg, np.float32)
            out.append(Value(None, identity(max(array.ndim, 1)), const=array))
        else:
            raise ctx.error(f"takes an argument of type {type(arg).__name__}, which netspec cannot import")
    return out


def _binary(fn: str, native: str | None = None):
    def importer(ctx, op):
        values = arguments(ctx)
        if len(values) != 2:
            raise ctx.error(f"takes {len(values)} arguments, netspec imports two")
        names, lead = ctx.operands(values)
        shapes = [ctx.type_of(n).shape for n in names]
        if native is not None and shapes[0] == shapes[1] and not any(v.is_const for v in values):
            return ctx.like(ctx.emit(native, {}, names), lead)
        return ctx.like(binary(ctx, fn, *names), lead)
    return importer


for _cls, _fn, _native in (("Add", "add", "add"), ("Subtract", "sub", None), ("Multiply", "mul", "multiply"),
                           ("TrueDivide", "div", None), ("Divide", "div", None), ("Power", "pow", None),
                           ("Maximum", "max", None), ("Minimum", "min", None)):
    TABLE.register(f"ops.{_cls}")(_binary(_fn, _native))

for _cls, _op, _attrs in (("Negative", "unary", {"fn": "neg"}), ("Exp", "unary", {"fn": "exp"}),
                          ("Sqrt", "unary", {"fn": "sqrt"}), ("Absolute", "unary", {"fn": "abs"}),
                          ("Sigmoid", "sigmoid", {}), ("Relu", "relu", {}), ("Tanh", "tanh", {})):
    TABLE.register(f"ops.{_cls}")(lambda ctx, op, o=_op, a=_attrs: elementwise(ctx, arguments(ctx)[0], o, a))
