"""Torch emitters for the low-level ops (:mod:`netspec.ops.lowlevel`): plain torch calls
recorded in the fx graph, and one small module for ``constant`` (:class:`.modules.Constant`:
its value is a buffer, in the state dict under the node's name like every other weight, and
the standalone ``.py`` export copies it with the other custom layers)."""
from __future__ import annotations

import torch

from .build import DTYPES
from . import modules as custom
from .emit import TABLE, ModSpec

OPEN_END = 2 ** 31 - 1  # slice ends at or above this run to the end of the axis


@TABLE.register("constant")
def emit_constant(ctx, node):
    return ctx.module(node, ModSpec(custom.Constant, dict(shape=tuple(node.attrs["shape"]))))


BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
          "max": torch.maximum, "min": torch.minimum}
UNARY = {"sqrt": torch.sqrt, "exp": torch.exp, "log": torch.log, "abs": torch.abs, "neg": torch.neg,
         "reciprocal": torch.reciprocal, "erf": torch.erf, "floor": torch.floor, "ceil": torch.ceil}
REDUCE = {"mean": torch.mean, "sum": torch.sum, "max": torch.amax, "min": torch.amin}


def _divide(x, y, ints: bool):
    """ONNX (and the IR) divide integers with truncation toward zero, as C does."""
    return torch.div(x, y, rounding_mode="trunc") if ints else torch.div(x, y)


@TABLE.register("binary")
def emit_binary(ctx, node, x, y):
    fn, dtype = node.attrs["fn"], node.type.dtype
    if fn == "div":
        out = _divide(x, y, not dtype.startswith("float"))
    else:
        out = BINARY[fn](x, y)
    # torch promotes mixed operands (an int base to a float exponent gives a float); the IR
    # types the result as ONNX does (Pow has the base's type), so cast where they differ
    if {ctx.in_type(node, 0).dtype, ctx.in_type(node, 1).dtype} != {dtype}:
        out = out.to(DTYPES[dtype])
    return out


@TABLE.register("unary")
def emit_unary(ctx, node, x):
    return UNARY[node.attrs["fn"]](x)


@TABLE.register("clip")
def emit_clip(ctx, node, x):
    low, high = node.attrs["min"], node.attrs["max"]
    if low is None and high is None:  # open at both ends: the identity (torch.clamp refuses it)
        return x
    return torch.clamp(x, low, high)


@TABLE.register("where")
def emit_where(ctx, node, cond, x, y):
    return torch.where(cond, x, y)


@TABLE.register("cast")
def emit_cast(ctx, node, x):
    return x.to(DTYPES[node.attrs["dtype"]])


@TABLE.register("matmul")
def emit_matmul(ctx, node, a, b):
    return torch.matmul(a, b)


@TABLE.register("slice")
def emit_slice(ctx, node, x):
    a = node.attrs
    index = [slice(None)] * ctx.in_type(node).rank
    for start, end, axis, step in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
        index[axis] = slice(start, None if end >= OPEN_END else end, step)
    return x[tuple(index)]


@TABLE.register("gather")
def emit_gather(ctx, node, x):
    a = node.attrs
    # a list index keeps the axis, an int drops it (as numpy and the IR do)
    index = (slice(None),) * a["axis"] + (list(a["indices"]) if isinstance(a["indices"], tuple) else a["indices"],)
    return x[index]


@TABLE.register("reduce")
def emit_reduce(ctx, node, x):
    a = node.attrs
    return REDUCE[a["fn"]](x, dim=list(a["axes"]), keepdim=a["keepdims"])
