"""Importers onto the low-level ops (:mod:`netspec.ops.lowlevel`): element-wise arithmetic
with broadcasting and constants, clip, where, cast, matmul of computed tensors, slices and
gathers of tensors, reductions and Split.

A constant operand becomes a ``constant`` node of the other operand's rank: numpy aligns
shapes on the right, so the constant is unsqueezed in front to that rank, and its first
(batch) axis must then be 1. It takes the other operand's layout, so both are held alike
in every backend.
"""
from __future__ import annotations

import numpy as np

from .context import DTYPES, sanitise
from .registry import TABLE
from .values import Dim, Fill, SymShape, View, to_sym

OPEN_END = 2 ** 31 - 1


# ---------------------------------------------------------------- operands
def constant_node(ctx, array: np.ndarray, rank: int, layout: str, base: str) -> str:
    array = np.asarray(array)
    if array.ndim > rank:
        raise ctx.error(f"combines a tensor of rank {rank} with a constant of higher rank {array.ndim}")
    full = array.reshape((1,) * (rank - array.ndim) + array.shape)
    if full.shape[0] != 1:
        raise ctx.error(f"uses a constant of shape {list(array.shape)} that spans the batch axis",
                        "netspec constants broadcast over the batch (their first size is 1)")
    if full.dtype.kind != "f":
        raise ctx.error(f"uses a constant of type {full.dtype}; netspec's constants are float tensors")
    name = ctx._add(ctx.unique(base), "constant", {"shape": list(full.shape), "layout": layout}, [],
                    {"value": np.array(full, dtype=np.float32)}, False)
    return name


def operands(ctx, node, indices) -> list[str]:
    """Graph nodes for the given inputs: tensors as they are, constants as ``constant``
    nodes shaped like the first tensor operand."""
    values = [ctx.value(i) for i in indices]
    views = [v for v in values if isinstance(v, View)]
    if not views:
        raise ctx.error("has no input computed at run time")
    ref = ctx.materialise(views[0])
    rank, layout = ctx.ir_type(ref).rank, ctx.ir_type(ref).layout
    out = []
    for i, value in zip(indices, values):
        if isinstance(value, View):
            name = ctx.materialise(value)
            if ctx.ir_type(name).rank != rank:
                raise ctx.error(f"broadcasts tensors of ranks {ctx.ir_type(name).rank} and {rank}; "
                                "netspec broadcasts tensors of one rank (with the batch axis first)")
            if rank > 2 and ctx.ir_type(name).layout != layout:
                name = ctx.materialise(View.of(name, rank), layout)
            out.append(name)
        elif isinstance(value, np.ndarray):
            # one node per ONNX constant (and rank/layout): a weight shared by every unrolled
            # step of an exported recurrence stays one array
            key = ("constant", node.input[i], rank, layout)
            if key not in ctx.shared:
                ctx.shared[key] = constant_node(ctx, value, rank, layout, sanitise(node.input[i]))
            out.append(ctx.shared[key])
        else:
            raise ctx.error(f"input {i} is a shape or filled constant; netspec needs a tensor or a constant here")
    return out


# ---------------------------------------------------------------- element-wise
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max", "Min": "min"}


def _dims_of(ctx, value):
    if isinstance(value, View):
        return ctx.dims(value)
    if isinstance(value, Fill):
        return list(value.shape.entries)
    return list(np.shape(value))


def _broadcast_dims(a, b):
    a, b = list(a), list(b)
    rank = max(len(a), len(b))
    a, b = [1] * (rank - len(a)) + a, [1] * (rank - len(b)) + b
    return [y if x == 1 else x for x, y in zip(a, b)]


def zero_algebra(ctx, node, fn) -> bool:
    """Exported recurrences start from zero states (``ConstantOfShape`` of a dynamic
    shape, a :class:`Fill`): ``0 * x`` is zeros and ``x + 0`` is ``x``, so the first step
    imports without a tensor of zeros. Returns True when it decided the output."""
    a, b = ctx.value(0), ctx.value(1)
    zero = [isinstance(v, Fill) and v.value == 0.0 for v in (a, b)]
    if not any(zero):
        return False
    shape = _broadcast_dims(_dims_of(ctx, a), _dims_of(ctx, b))
    if fn == "mul":
        ctx.set_output(0, Fill(0.0, SymShape(tuple(shape))))
        return True
    other = b if zero[0] else a
    if fn in ("add", "sub") and not (fn == "sub" and zero[0]) and isinstance(other, View) \
            and _dims_of(ctx, other) == shape:
        ctx.set_output(0, other)
        return True
    raise ctx.error(f"{fn} with a tensor of zeros computed from a dynamic shape; netspec folds only "
                    "x + 0, x - 0 and x * 0")


SHAPE_MATH = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
              # ONNX integer Div truncates; sizes are non-negative, where that is floor division
              "div": lambda a, b: a // b, "max": max, "min": min}


def shape_arithmetic(ctx, node, fn) -> bool:
    """Integer arithmetic on shapes (``Shape(x)[1] * heads``): static sizes are computed,
    a dynamic one becomes a new symbol, which a Reshape reads as its one unknown size."""
    values = [ctx.value(0), ctx.value(1)]
    if not any(isinstance(v, SymShape) for v in values) or fn not in SHAPE_MATH:
        return False
    syms = [to_sym(v) for v in values]
    if any(s is None for s in syms):
        raise ctx.error("combines a shape with a tensor; netspec evaluates shape arithmetic on integers only")
    a, b = syms
    if len(a.entries) != len(b.entries) and 1 not in (len(a.entries), len(b.entries)):
        raise ctx.error(f"combines shapes of {len(a.entries)} and {len(b.entries)} entries")
    n = max(len(a.entries), len(b.entries))
    left = a.entries * n if len(a.entries) == 1 else a.entries
    right = b.entries * n if len(b.entries) == 1 else b.entries
    out = tuple(SHAPE_MATH[fn](x, y) if isinstance(x, int) and isinstance(y, int) else Dim(("expr", fn, x, y))
                for x, y in zip(left, right))
    ctx.set_output(0, SymShape(out, a.scalar and b.scalar))
    return True


def import_binary(ctx, node, fn: str | None = None):
    """Two operands -> one ``binary``. Max and Min are variadic in ONNX: one input is the
    identity, and more fold left, ``max(max(a, b), c)``, which is what broadcasting all
    of them together computes (the operation is associative and commutative)."""
    fn = fn or BINARY[node.op_type]
    if len(node.input) == 1:
        ctx.view(0)  # a tensor: a constant's Max is folded before it gets here
        ctx.set_output(0, ctx.value(0))
        return
    if len(node.input) == 2 and (shape_arithmetic(ctx, node, fn) or zero_algebra(ctx, node, fn)):
        return
    names = operands(ctx, node, list(range(len(node.input))))
    result = names[0]
    for step, name in enumerate(names[1:], start=1):
        last = step == len(names) - 1
        result = ctx.emit("binary", {"fn": fn}, [result, name], suffix="" if last else f"_{step}")
    ctx.set_output(0, View.of(result, ctx.ir_type(result).rank))


for _onnx in ("Sub", "Div", "Pow", "Max", "Min"):
    TABLE.register(_onnx, 1)(import_binary)

UNARY = {"Sqrt": "sqrt", "Exp": "exp", "Log": "log", "Abs": "abs", "Neg": "neg", "Reciprocal": "reciprocal",
         "Erf": "erf", "Floor": "floor", "Ceil": "ceil"}


def import_unary(ctx, node):
    """Element-wise, so it acts on the viewed node and keeps the view."""
    view = ctx.view(0)
    name = ctx.emit("unary", {"fn": UNARY[node.op_type]}, [view.node])
    ctx.set_output(0, View(name, view.axes))


for _onnx in UNARY:
    TABLE.register(_onnx, 1)(import_unary)


def _clip(ctx, node, low, high):
    view = ctx.view(0)
    low = None if low is None or low == -np.inf else float(low)
    high = None if high is None or high == np.inf else float(high)
    if low == 0.0 and high is None:  # ReLU written as a clip
        name = ctx.emit("relu", {}, [view.node])
    else:
        attrs = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
        name = ctx.emit("clip", attrs, [view.node])
    ctx.set_output(0, View(name, view.axes))


@TABLE.register("Clip", 6)
def import_clip_v6(ctx, node):
    a = ctx.attrs()
    _clip(ctx, node, a.get("min"), a.get("max"))


@TABLE.register("Clip", 11)
def import_clip(ctx, node):
    low = ctx.const(1, "min", required=False)
    high = ctx.const(2, "max", required=False)
    _clip(ctx, node, None if low is None else float(low), None if high is None else float(high))


@TABLE.register("Where", 9)
def import_where(ctx, node):
    cond = ctx.view(0, "condition")
    names = operands(ctx, node, [1, 2])
    rank = ctx.ir_type(names[0]).rank
    c = ctx.materialise(cond)
    if ctx.ir_type(c).rank != rank:
        raise ctx.error("has a condition of another rank than its values")
    ctx.produce("where", {}, [c, *names])


def import_cast_tensor(ctx, node):
    dtype = DTYPES.get(ctx.attrs()["to"])
    if dtype is None:
        raise ctx.error(f"casts to ONNX type {ctx.attrs()['to']}, which netspec does not support")
    view = ctx.view(0)
    name = ctx.emit("cast", {"dtype": dtype}, [view.node])
    ctx.set_output(0, View(name, view.axes))


# ---------------------------------------------------------------- matmul, slice, gather
def import_matmul_tensors(ctx, node):
    if node.op_type == "Gemm":
        raise ctx.error("multiplies by a computed B; netspec imports Gemm with constant weights",
                        "use MatMul for products of two computed tensors")
    if isinstance(ctx.value(0), np.ndarray):
        raise ctx.error("multiplies a constant by a tensor from the left; netspec's matmul takes the tensor first")
    b = ctx.value(1)
    if isinstance(b, np.ndarray) and b.ndim == 1:
        matmul_vector(ctx, node, b)
        return
    ctx.produce("matmul", {}, operands(ctx, node, [0, 1]))


def matmul_vector(ctx, node, b: np.ndarray):
    """``A @ b`` with a 1-d constant b: ONNX (as numpy) reads b as a column (K, 1) and
    drops the appended axis, so this is a matmul by the column and a view without its
    last (size-1) axis."""
    a = ctx.view(0)
    rank = len(a.axes)
    if rank < 2:
        raise ctx.error("multiplies two vectors (a dot product over the batch axis); netspec keeps the batch axis")
    x = ctx.materialise(a)
    column = constant_node(ctx, b.reshape(-1, 1), rank, ctx.ir_type(x).layout, sanitise(node.input[1]))
    name = ctx.emit("matmul", {}, [x, column])
    ctx.set_output(0, View(name, tuple(range(rank - 1))))


def import_slice_tensor(ctx, node, view, dims, starts, ends, axes, steps):
    if 0 in axes:
        raise ctx.error("slices the batch axis, which netspec keeps whole")
    x = ctx.materialise(view)
    ends = [OPEN_END if e >= OPEN_END else e for e in ends]
    ctx.produce("slice", {"starts": starts, "ends": ends, "axes": axes, "steps": steps}, [x])


def import_gather_tensor(ctx, node):
    indices = ctx.const(1, "indices")
    rank = len(ctx.view(0).axes)
    axis = ctx.attrs().get("axis", 0) % rank
    if axis == 0:
        raise ctx.error("gathers along the batch axis, which netspec keeps whole")
    if indices.ndim > 1:
        raise ctx.error(f"gathers with {indices.ndim}-d indices; netspec's gather takes an index or a list")
    picked = int(indices) if indices.ndim == 0 else [int(i) for i in indices]
    x = ctx.tensor(0)
    if isinstance(picked, int) and picked < 0 and ctx.ir_type(x).shape[axis] is None:
        # x[:, -k] of a dynamic length: the last k positions, then the first of them
        name = ctx.emit("slice", {"starts": [picked], "ends": [OPEN_END], "axes": [axis]}, [x], suffix="_tail")
        if picked != -1:
            name = ctx.emit("slice", {"starts": [0], "ends": [1], "axes": [axis]}, [name], suffix="_pick")
        rank = ctx.ir_type(name).rank
        ctx.set_output(0, View(name, tuple(a for a in range(rank) if a != axis)))
        return
    ctx.produce("gather", {"axis": axis, "indices": picked}, [x])


def _split(ctx, node, sizes):
    """Split -> one slice per output (how exported LSTM cells cut their gates)."""
    view = ctx.view(0)
    dims = ctx.dims(view)
    axis = ctx.attrs().get("axis", 0) % len(dims)
    size = dims[axis]
    if sizes is None:
        parts = ctx.attrs().get("num_outputs") or len(node.output)
        if not isinstance(size, int):
            raise ctx.error("splits a dynamic axis into equal parts")
        step = -(-size // parts)
        sizes = [min(step, size - k * step) for k in range(parts)]
    if axis == 0:
        raise ctx.error("splits the batch axis, which netspec keeps whole")
    x = ctx.materialise(view)
    start = 0
    for index, length in enumerate(sizes):
        if ctx.is_used(node.output[index]):
            name = ctx.emit("slice", {"starts": [start], "ends": [start + length], "axes": [axis]}, [x],
                            output=index)
            ctx.set_output(index, View.of(name, len(dims)))
        start += length


# the sizes: an attribute before opset 13, an optional input from 13 on (18 adds num_outputs)
TABLE.register("Split", 1)(lambda ctx, node: _split(ctx, node, ctx.attrs().get("split") or None))
TABLE.register("Split", 13)(lambda ctx, node: _split(ctx, node, ctx.ints(1, "split", required=False)
                                                      if ctx.has_input(1) else None))


# ---------------------------------------------------------------- reductions
def reduce_axes(ctx, node, since18: bool):
    """Reduction axes: an attribute up to opset 17, an optional input from 18 on."""
    a = ctx.attrs()
    if since18:
        axes = ctx.ints(1, "axes", required=False)
    else:
        axes = a.get("axes")
    return axes, bool(a.get("keepdims", 1)), bool(a.get("noop_with_empty_axes", 0))


REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}


def import_reduce(ctx, node, axes, keepdims):
    if 0 in axes:
        raise ctx.error("reduces over the batch axis, which netspec keeps")
    ctx.produce("reduce", {"fn": REDUCE[node.op_type], "axes": axes, "keepdims": keepdims}, [ctx.tensor(0)])


def _reduce(since18):
    def importer(ctx, node):
        view = ctx.view(0)
        axes, keepdims, noop = reduce_axes(ctx, node, since18)
        rank = len(view.axes)
        if not axes:
            if noop:
                ctx.set_output(0, view)
                return
            axes = list(range(rank))
        import_reduce(ctx, node, sorted(a % rank for a in axes), keepdims)
    return importer


TABLE.register("ReduceSum", 1)(_reduce(False))
TABLE.register("ReduceSum", 13)(_reduce(True))
TABLE.register("ReduceMin", 1)(_reduce(False))
TABLE.register("ReduceMin", 18)(_reduce(True))
