"""ONNX ops netspec has no layer for, imported as short compositions of low-level ops.

Each composition is the op's definition in the ONNX spec, written with ``binary``,
``unary``, ``clip``, ``reduce`` and ``constant`` nodes named ``<node>_<step>``, so every
backend runs it and the imported graph still says what it computes:

* InstanceNormalization: ``(x - mean) / sqrt(var + eps) * scale + B`` over the spatial axes
* HardSigmoid: ``clip(alpha x + beta, 0, 1)``; HardSwish: ``x * HardSigmoid(x)`` (1/6, 1/2)
* PRelu: ``max(x, 0) + slope * min(x, 0)``; Softplus: ``log(1 + exp(x))``
"""
from __future__ import annotations

import numpy as np

from netspec.ops.types import CHANNELS_FIRST

from .context import sanitise
from .import_lowlevel import constant_node
from .registry import TABLE
from .values import View


class Composer:
    """Emits the steps of one composition for the current ONNX node."""

    def __init__(self, ctx, node, x: str):
        self.ctx, self.x = ctx, x
        self.base = sanitise(node.name or node.output[0])
        t = ctx.ir_type(x)
        self.rank, self.layout = t.rank, t.layout

    def const(self, value, step) -> str:
        return constant_node(self.ctx, np.asarray(value, np.float32), self.rank, self.layout, f"{self.base}_{step}")

    def op(self, op, attrs, inputs, step) -> str:
        return self.ctx.emit(op, attrs, inputs, suffix=f"_{step}")

    def binary(self, fn, a, b, step) -> str:
        return self.op("binary", {"fn": fn}, [a, b], step)

    def finish(self, op, attrs, inputs) -> None:
        self.ctx.produce(op, attrs, inputs)


def _per_channel(array, rank):
    """A per-channel vector ``[C]`` as ``(C, 1, ..., 1)`` for a rank-``rank`` tensor."""
    return np.asarray(array, np.float32).reshape(-1, *[1] * (rank - 2))


@TABLE.register("InstanceNormalization", 6)
def import_instance_norm(ctx, node):
    x = ctx.tensor(0, CHANNELS_FIRST)
    c = Composer(ctx, node, x)
    if c.rank < 3:
        raise ctx.error("normalises a tensor without spatial axes")
    axes = list(range(2, c.rank))
    scale, bias = ctx.weight(1, "scale"), ctx.weight(2, "B")
    mean = c.op("reduce", {"fn": "mean", "axes": axes, "keepdims": True}, [x], "mean")
    centred = c.binary("sub", x, mean, "centred")
    var = c.op("reduce", {"fn": "mean", "axes": axes, "keepdims": True},
               [c.binary("mul", centred, centred, "square")], "var")
    std = c.op("unary", {"fn": "sqrt"}, [c.binary("add", var, c.const(ctx.attrs()["epsilon"], "eps"), "var_eps")], "std")
    normed = c.binary("div", centred, std, "normed")
    scaled = c.binary("mul", normed, c.const(_per_channel(scale, c.rank), "scale"), "scaled")
    c.finish("binary", {"fn": "add"}, [scaled, c.const(_per_channel(bias, c.rank), "bias")])


def _hard_sigmoid(c, x, alpha, beta):
    shifted = c.binary("add", c.binary("mul", x, c.const(alpha, "alpha"), "scaled"), c.const(beta, "beta"), "shifted")
    return shifted


@TABLE.register("HardSigmoid", 6)
def import_hard_sigmoid(ctx, node):
    x = ctx.tensor(0)
    c = Composer(ctx, node, x)
    a = ctx.attrs()
    c.finish("clip", {"min": 0.0, "max": 1.0}, [_hard_sigmoid(c, x, a["alpha"], a["beta"])])


@TABLE.register("HardSwish", 14)
def import_hard_swish(ctx, node):
    x = ctx.tensor(0)
    c = Composer(ctx, node, x)
    gate = c.op("clip", {"min": 0.0, "max": 1.0}, [_hard_sigmoid(c, x, 1.0 / 6.0, 0.5)], "gate")
    c.finish("binary", {"fn": "mul"}, [x, gate])


@TABLE.register("PRelu", 9)
def import_prelu(ctx, node):
    x = ctx.tensor(0)
    c = Composer(ctx, node, x)
    slope = ctx.weight(1, "slope")  # broadcast as numpy does (torch exports (C, 1, 1))
    zero = c.const(0.0, "zero")
    positive = c.binary("max", x, zero, "positive")
    negative = c.binary("mul", c.binary("min", x, zero, "negative"), c.const(slope, "slope"), "sloped")
    c.finish("binary", {"fn": "add"}, [positive, negative])


@TABLE.register("Softplus", 1)
def import_softplus(ctx, node):
    view = ctx.view(0)
    x = ctx.materialise(view)
    c = Composer(ctx, node, x)
    grown = c.binary("add", c.op("unary", {"fn": "exp"}, [x], "exp"), c.const(1.0, "one"), "one_plus")
    name = ctx.emit("unary", {"fn": "log"}, [grown])
    ctx.set_output(0, View.of(name, c.rank))
