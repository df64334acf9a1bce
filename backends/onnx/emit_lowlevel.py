"""ONNX emitters for the low-level ops (:mod:`netspec.ops.lowlevel`): each is one ONNX
node of the same meaning; shapes, axes and bounds become ``Constant`` nodes, and a
``constant``'s value is its initializer ``<node>.value`` (a weight like any other)."""
from __future__ import annotations

import numpy as np

from .context import ONNX_DTYPES, TO_END
from .table import TABLE

BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "max": "Max", "min": "Min"}
UNARY = {"sqrt": "Sqrt", "exp": "Exp", "log": "Log", "abs": "Abs", "neg": "Neg", "reciprocal": "Reciprocal",
         "erf": "Erf", "floor": "Floor", "ceil": "Ceil"}
REDUCE = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin"}
OPEN_END = 2 ** 31 - 1


@TABLE.register("constant")
def emit_constant(ctx, node, xs):
    ctx.add("Identity", [ctx.weight("value")], node.name)


@TABLE.register("binary")
def emit_binary(ctx, node, xs):
    ctx.add(BINARY[node.attrs["fn"]], xs, node.name)


@TABLE.register("unary")
def emit_unary(ctx, node, xs):
    ctx.add(UNARY[node.attrs["fn"]], xs, node.name)


@TABLE.register("clip")
def emit_clip(ctx, node, xs):
    bounds = [ctx.const(np.float32(v), name) if v is not None else ""
              for name, v in (("min", node.attrs["min"]), ("max", node.attrs["max"]))]
    while bounds and bounds[-1] == "":
        bounds.pop()
    ctx.add("Clip", [xs[0], *bounds], node.name)


TABLE.register("where")(lambda ctx, node, xs: ctx.add("Where", xs, node.name))
TABLE.register("matmul")(lambda ctx, node, xs: ctx.add("MatMul", xs, node.name))


@TABLE.register("cast")
def emit_cast(ctx, node, xs):
    ctx.add("Cast", xs, node.name, to=ONNX_DTYPES[node.attrs["dtype"]])


@TABLE.register("slice")
def emit_slice(ctx, node, xs):
    a = node.attrs
    ends = [TO_END if e >= OPEN_END else e for e in a["ends"]]
    ctx.add("Slice", [xs[0], ctx.const(list(a["starts"]), "starts"), ctx.const(ends, "ends"),
                      ctx.const(list(a["axes"]), "axes"), ctx.const(list(a["steps"]), "steps")], node.name)


@TABLE.register("gather")
def emit_gather(ctx, node, xs):
    indices = node.attrs["indices"]
    value = list(indices) if isinstance(indices, tuple) else np.int64(indices)
    ctx.add("Gather", [xs[0], ctx.const(value, "indices", dtype=np.int64)], node.name, axis=node.attrs["axis"])


@TABLE.register("reduce")
def emit_reduce(ctx, node, xs):
    """Axes are an input from opset 18 on (ReduceSum: from 13), an attribute before."""
    a = node.attrs
    op = REDUCE[a["fn"]]
    since = 13 if op == "ReduceSum" else 18
    if ctx.opset >= since:
        ctx.add(op, [xs[0], ctx.const(list(a["axes"]), "axes")], node.name, keepdims=int(a["keepdims"]))
    else:
        ctx.add(op, xs, node.name, axes=list(a["axes"]), keepdims=int(a["keepdims"]))
