"""Keras emitters for the low-level ops (:mod:`netspec.ops.lowlevel`).

These ops index axes and broadcast by the canonical (channels-first) layout, so each one
reads its inputs in canonical order, computes there with ``keras.ops`` inside one
:class:`LowLevel` layer, and hands its result on in the held form the layout plan gives
it (see :mod:`.layout`). That may cost a transpose at each end; exported graphs use these
ops on small tensors (shapes, scales, the last time step), where it does not matter.
A ``constant`` is held as the consumers expect it and lives in a non-trainable weight.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from netspec.errors import NetspecError

from .emitters import TABLE, WeightMap, layer_name, weights
from .layout import held_for_type

register = keras.saving.register_keras_serializable(package="netspec")
OPEN_END = 2 ** 31 - 1


def _slice(x, a):
    index = [slice(None)] * len(x.shape)
    for start, end, axis, step in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
        index[axis] = slice(start, None if end >= OPEN_END else end, step)
    return x[tuple(index)]


def _clip(x, a):
    if a["min"] is not None:
        x = ops.maximum(x, a["min"])
    if a["max"] is not None:
        x = ops.minimum(x, a["max"])
    return x


def _is_int(x) -> bool:
    return keras.backend.standardize_dtype(x.dtype).startswith(("int", "uint"))


def _divide(x, y):
    """ONNX (and the IR) divide integers with truncation toward zero; keras.ops.divide gives
    floats and floor_divide rounds down, so divide the magnitudes and restore the sign."""
    if not (_is_int(x) and _is_int(y)):
        return ops.divide(x, y)
    magnitude = ops.floor_divide(ops.abs(x), ops.abs(y))
    return ops.where(ops.equal(ops.less(x, 0), ops.less(y, 0)), magnitude, ops.negative(magnitude))


def _power(x, y):
    """Pow has the base's type in ONNX and the IR (an int base to a float exponent is an
    int); keras.ops.power promotes, so cast back."""
    out = ops.power(x, y)
    return ops.cast(out, x.dtype) if keras.backend.standardize_dtype(out.dtype) != \
        keras.backend.standardize_dtype(x.dtype) else out


BINARY = {"add": ops.add, "sub": ops.subtract, "mul": ops.multiply, "div": _divide, "pow": _power,
          "max": ops.maximum, "min": ops.minimum}
UNARY = {"sqrt": ops.sqrt, "exp": ops.exp, "log": ops.log, "abs": ops.abs, "neg": ops.negative,
         "reciprocal": lambda x: ops.divide(1.0, x), "erf": ops.erf, "floor": ops.floor, "ceil": ops.ceil}
REDUCE = {"mean": ops.mean, "sum": ops.sum, "max": ops.max, "min": ops.min}

# op -> f(inputs, attrs), all in canonical layout
COMPUTE = {
    "binary": lambda xs, a: BINARY[a["fn"]](xs[0], xs[1]),
    "unary": lambda xs, a: UNARY[a["fn"]](xs[0]),
    "clip": lambda xs, a: _clip(xs[0], a),
    "where": lambda xs, a: ops.where(xs[0], xs[1], xs[2]),
    "cast": lambda xs, a: ops.cast(xs[0], a["dtype"]),
    "matmul": lambda xs, a: ops.matmul(xs[0], xs[1]),
    "slice": lambda xs, a: _slice(xs[0], a),
    "gather": lambda xs, a: ops.take(xs[0], list(a["indices"]) if isinstance(a["indices"], (list, tuple))
                                     else a["indices"], axis=a["axis"]),
    "reduce": lambda xs, a: REDUCE[a["fn"]](xs[0], axis=tuple(a["axes"]), keepdims=a["keepdims"]),
}


def _plain(value):
    """Attributes as JSON values (tuples -> lists) for ``get_config``."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@register
class LowLevel(keras.layers.Layer):
    """One low-level op (``op`` with its resolved ``attrs``) on canonical-layout inputs."""

    def __init__(self, op, attrs, **kwargs):
        # no autocast: a layer casts float inputs to its policy's dtype (float32) by
        # default, and these ops keep their operands' types (float16 Max is float16)
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.op, self.attrs = op, {k: _plain(v) for k, v in attrs.items()}

    def call(self, inputs):
        return COMPUTE[self.op](list(inputs), self.attrs)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "attrs": self.attrs}


@register
class ConstantValue(keras.layers.Layer):
    """A constant tensor held in a non-trainable weight; called on any model input only
    so that the functional graph connects it."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.value_shape = tuple(int(d) for d in shape)
        self.value = self.add_weight(name="value", shape=self.value_shape, initializer="zeros",
                                     trainable=False)

    def call(self, anchor):
        return ops.convert_to_tensor(self.value)

    def compute_output_shape(self, input_shape):
        return self.value_shape

    def get_config(self):
        return {**super().get_config(), "shape": list(self.value_shape)}


def emit_lowlevel(node, ctx):
    xs = [ctx.canonical(name, layer_name(node.name, f"in{i}")) for i, name in enumerate(node.inputs)]
    y = LowLevel(node.op, node.attrs, name=layer_name(node.name))(xs)
    return ctx.permute(y, ctx.held(node.name).to_held, layer_name(node.name, "out"))


TABLE.register(*COMPUTE)(emit_lowlevel)


@TABLE.register("constant")
def emit_constant(node, ctx):
    if not ctx.graph.inputs:
        raise NetspecError("a Keras model needs an input; this graph has only constants", node.where())
    shape = tuple(node.attrs["shape"][i] for i in ctx.held(node.name).to_held)
    return ConstantValue(shape, name=layer_name(node.name))(ctx.tensors[ctx.graph.inputs[0]])


@weights("constant")
class ConstantWeights(WeightMap):
    """The canonical value, transposed to the held layout (channels-last for maps)."""

    def to_keras(self, node, ins):
        return [np.ascontiguousarray(held_for_type(node.type).held_array(node.params["value"]))]

    def from_keras(self, node, ins, arrays):
        return {"value": np.ascontiguousarray(held_for_type(node.type).canonical_array(arrays[0]))}
