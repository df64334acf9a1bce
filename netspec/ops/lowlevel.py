"""Low-level ops: the tensor arithmetic exported graphs use where no layer op fits.

Hand-written specs rarely need these; the ONNX importer maps onto them what it cannot
express as a layer (an input normalisation ``(x - mean) / std``, a ``matmul`` of two
activations in attention, ``x[:, -1]``, a ``clip`` for ReLU6, ...). Every one keeps the
batch axis first and never moves it; axes are counted with the batch axis as 0.

Broadcasting: ``binary`` and ``where`` follow numpy's rules on inputs of one rank (the
importer unsqueezes a lower-rank operand first), so a size-1 axis, the batch axis of a
``constant`` included, stretches to the other operand's size. A ``constant`` holds its value
as the (non-trainable) parameter ``value`` with a leading size-1 batch axis.
"""
from __future__ import annotations

from .schema import (AnyOf, Attr, AttrType, Bool, Choice, Float, Int, IntList, OpDef, ParamSpec,
                     ShapeError, register)
from .types import DTYPES, LAYOUTS, PLAIN, TensorType, numel


class SignedInts(AttrType):
    """A list of ints of any sign (slice bounds count from the end when negative)."""

    expected = "a list of ints"

    def check(self, value):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
            raise ValueError(self.expected)
        return tuple(value)

    def json_schema(self):
        return {"type": "array", "items": {"type": "integer"}}


def _broadcast(name, types):
    rank = types[0].rank
    if any(t.rank != rank for t in types):
        raise ShapeError(f"{name} needs inputs of one rank, received "
                         f"{', '.join(f'rank {t.rank} {t}' for t in types)} (unsqueeze the smaller first)")
    shape = []
    for axis in range(rank):
        sizes = [t.shape[axis] for t in types]
        static = {s for s in sizes if s is not None and s != 1}
        if len(static) > 1:
            raise ShapeError(f"{name} cannot broadcast sizes {sizes} along axis {axis}")
        if static:
            shape.append(static.pop())
        elif any(s is None for s in sizes):
            shape.append(None)
        else:
            shape.append(1)
    return tuple(shape)


def _layout_of(types):
    """The layout of a broadcast result: that of the first input that spans the batch."""
    for t in types:
        if t.shape[0] != 1:
            return t.layout
    return types[0].layout


def _axis(name, axis, rank):
    if not -rank < axis < rank or axis % rank == 0:
        raise ShapeError(f"{name}: axis {axis} is not a non-batch axis of a rank-{rank} tensor")
    return axis % rank


def _elementwise_macs(a, ins, out):
    return numel(out.shape) or 0


# ---------------------------------------------------------------- constant
def resolve_constant(attrs, ins):
    shape = attrs["shape"]
    if not shape or shape[0] != 1:
        raise ShapeError(f"constant.shape must start with the batch axis of size 1, received {list(shape)}")
    return attrs


register(OpDef(
    "constant", "A constant float tensor (batch axis of size 1, broadcast by its consumers).", "lowlevel",
    (Attr("shape", IntList(), doc="full shape, starting with the size-1 batch axis"),
     Attr("layout", Choice(*LAYOUTS), PLAIN, "how its axes are to be read")),
    arity=(0, 0), resolve=resolve_constant,
    infer=lambda a, ins: TensorType(tuple(a["shape"]), "float32", a["layout"]),
    params=lambda a, ins: [ParamSpec("value", tuple(a["shape"]), "zeros", trainable=False)],
    notes="Imported models' constants (normalisation means, attention scales) live here; "
          "the array is the parameter 'value'."))


# ---------------------------------------------------------------- element-wise
BINARY = ("add", "sub", "mul", "div", "pow", "max", "min")
UNARY = ("sqrt", "exp", "log", "abs", "neg", "reciprocal", "erf", "floor", "ceil")


FLOAT_WIDTH = {"float16": 16, "float32": 32, "float64": 64}
INT_WIDTH = {"bool": 1, "int32": 32, "int64": 64}


def binary_dtype(fn: str, dtypes: list[str]) -> str:
    """The result's element type. ``pow`` has the base's type (ONNX: an int base to a float
    exponent is an int). Operands of one type keep it (float16 Max is float16); mixed ones
    promote as torch and numpy do: to the widest float among them, else the widest int.
    (Imported constants are float32, so a float16 tensor with a constant computes in float32.)"""
    if fn == "pow" or len(set(dtypes)) == 1:
        return dtypes[0]
    floats = [d for d in dtypes if d in FLOAT_WIDTH]
    if floats:
        return max(floats, key=FLOAT_WIDTH.get)
    return max(dtypes, key=lambda d: INT_WIDTH.get(d, 0))


def infer_binary(name):
    def infer(attrs, ins):
        if len({t.layout for t in ins if t.rank > 2}) > 1:
            raise ShapeError(f"{name} mixes channels-first and plain inputs of rank > 2")
        return ins[0].with_shape(_broadcast(name, ins), _layout_of(ins),
                                 binary_dtype(attrs["fn"], [t.dtype for t in ins]))
    return infer


register(OpDef(
    "binary", "Element-wise arithmetic of two tensors with numpy broadcasting (add, sub, mul, div, pow, max, min).",
    "lowlevel", (Attr("fn", Choice(*BINARY), doc="the operation: x fn y"),), arity=(2, 2),
    infer=infer_binary("binary"), macs=_elementwise_macs))

register(OpDef(
    "unary", "Element-wise math function (sqrt, exp, log, abs, neg, reciprocal, erf, floor, ceil).",
    "lowlevel", (Attr("fn", Choice(*UNARY), doc="the function"),), macs=_elementwise_macs))


def resolve_clip(attrs, ins):
    low, high = attrs["min"], attrs["max"]
    if low is not None and high is not None and low > high:
        raise ShapeError(f"clip.min ({low}) is larger than clip.max ({high})")
    return attrs


register(OpDef(
    "clip", "Clamp every element to [min, max] (ReLU6 is clip 0..6); a missing bound is open.", "lowlevel",
    (Attr("min", Float(), None, "lower bound (null: none)"), Attr("max", Float(), None, "upper bound (null: none)")),
    resolve=resolve_clip, macs=_elementwise_macs))


def infer_where(attrs, ins):
    if ins[0].dtype != "bool":
        raise ShapeError(f"where takes a bool condition first, received {ins[0].dtype}")
    out = ins[1].with_shape(_broadcast("where", ins), _layout_of(ins[1:]))
    return out


register(OpDef(
    "where", "Element-wise choice: x where the (bool) condition holds, else y; inputs broadcast.",
    "lowlevel", arity=(3, 3), infer=infer_where, macs=_elementwise_macs))

register(OpDef(
    "cast", "Convert the element type (float32, int64, bool, ...).", "lowlevel",
    (Attr("dtype", Choice(*DTYPES), doc="the new element type"),),
    infer=lambda a, ins: ins[0].with_shape(ins[0].shape, dtype=a["dtype"])))


# ---------------------------------------------------------------- matmul
def infer_matmul(attrs, ins):
    a, b = ins
    if a.rank < 3 or b.rank != a.rank:
        raise ShapeError(f"matmul multiplies the last two axes of two tensors of one rank >= 3 "
                         f"(batch first), received {a} and {b}")
    lead = _broadcast("matmul", [a.with_shape(a.shape[:-2]), b.with_shape(b.shape[:-2])])
    k1, k2 = a.shape[-1], b.shape[-2]
    if k1 is not None and k2 is not None and k1 != k2:
        raise ShapeError(f"matmul: {a} @ {b} — inner sizes {k1} and {k2} differ")
    return a.with_shape((*lead, a.shape[-2], b.shape[-1]), PLAIN)


register(OpDef(
    "matmul", "Matrix product of two computed tensors over their last two axes (leading axes broadcast).",
    "lowlevel", arity=(2, 2), infer=infer_matmul,
    macs=lambda a, ins, out: (numel(out.shape) or 0) * (ins[0].shape[-1] or 0)))


# ---------------------------------------------------------------- slice, gather, reduce
def resolve_slice(attrs, ins):
    x = ins[0]
    n = len(attrs["axes"])
    if not (len(attrs["starts"]) == len(attrs["ends"]) == n) or len(attrs["steps"] or (1,) * n) != n:
        raise ShapeError("slice.starts, ends, axes and steps must have one entry per axis")
    axes = tuple(_axis("slice", a, x.rank) for a in attrs["axes"])
    steps = tuple(attrs["steps"] or (1,) * n)
    if any(s <= 0 for s in steps):
        raise ShapeError(f"slice.steps must be positive, received {list(steps)} (PyTorch cannot "
                         "slice backwards; reversals are not supported)")
    return dict(attrs, axes=axes, steps=steps)


def infer_slice(attrs, ins):
    shape = list(ins[0].shape)
    for start, end, axis, step in zip(attrs["starts"], attrs["ends"], attrs["axes"], attrs["steps"]):
        size = shape[axis]
        if size is None:
            if 0 > start and end >= 2 ** 31 - 1 and step == 1:
                shape[axis] = -start  # the last -start positions (the axis is assumed that long)
            continue  # otherwise stays dynamic
        shape[axis] = len(range(*slice(start, end, step).indices(size)))
    return ins[0].with_shape(shape)


register(OpDef(
    "slice", "Python-style slicing of non-batch axes by start, end and step (an end past the size means to the end).",
    "lowlevel",
    (Attr("starts", SignedInts(), doc="first index per axis (negative: counted from the end)"),
     Attr("ends", SignedInts(), doc="end index per axis (exclusive; negative: from the end)"),
     Attr("axes", SignedInts(), doc="the sliced axes (batch axis = 0, which cannot be sliced)"),
     Attr("steps", SignedInts(), None, "step per axis (default 1)")),
    resolve=resolve_slice, infer=infer_slice))


def resolve_gather(attrs, ins):
    x = ins[0]
    axis = _axis("gather", attrs["axis"], x.rank)
    size = x.shape[axis]
    indices = attrs["indices"]
    items = indices if isinstance(indices, tuple) else (indices,)
    if size is not None:
        if any(not -size <= i < size for i in items):
            raise ShapeError(f"gather.indices {list(items)} out of range for axis {axis} of size {size}")
        items = tuple(i % size for i in items)
    elif any(i < 0 for i in items):
        raise ShapeError("gather with negative indices needs a static size along the axis")
    return dict(attrs, axis=axis, indices=items if isinstance(indices, tuple) else items[0])


def infer_gather(attrs, ins):
    shape = list(ins[0].shape)
    indices = attrs["indices"]
    if isinstance(indices, tuple):
        shape[attrs["axis"]] = len(indices)
    else:
        del shape[attrs["axis"]]
    layout = ins[0].layout if len(shape) == ins[0].rank else PLAIN
    return ins[0].with_shape(shape, layout)


register(OpDef(
    "gather", "Pick positions along one non-batch axis: one index drops the axis (the last step: -1), a list keeps it.",
    "lowlevel",
    (Attr("axis", Int(), doc="the axis (batch axis = 0)"),
     Attr("indices", AnyOf(Int(), SignedInts()), doc="an index, or a list of indices (negative: from the end)")),
    resolve=resolve_gather, infer=infer_gather))

REDUCTIONS = ("mean", "sum", "max", "min")


def resolve_reduce(attrs, ins):
    rank = ins[0].rank
    axes = tuple(sorted({_axis("reduce", a, rank) for a in attrs["axes"]}))
    if not axes:
        raise ShapeError("reduce needs at least one axis")
    empty = [a for a in axes if ins[0].shape[a] == 0]
    if empty and attrs["fn"] in ("max", "min", "mean"):
        # a sum over nothing is 0, but a max/min over nothing is the identity element
        # (-inf, +inf, or False/True for bools) and a mean is 0/0: backends raise or differ
        raise ShapeError(f"reduce {attrs['fn']} over axis {empty[0]} of {ins[0]}, which is empty (size 0)")
    return dict(attrs, axes=axes)


def infer_reduce(attrs, ins):
    x = ins[0]
    if attrs["keepdims"]:
        shape = [1 if i in attrs["axes"] else d for i, d in enumerate(x.shape)]
        return x.with_shape(shape)
    shape = [d for i, d in enumerate(x.shape) if i not in attrs["axes"]]
    return x.with_shape(shape, x.layout if len(shape) > 2 and 1 not in attrs["axes"] else PLAIN)


register(OpDef(
    "reduce", "Mean, sum, max or min over non-batch axes, keeping them as size 1 or dropping them.", "lowlevel",
    (Attr("fn", Choice(*REDUCTIONS), doc="the reduction"),
     Attr("axes", SignedInts(), doc="reduced axes (batch axis = 0, which cannot be reduced)"),
     Attr("keepdims", Bool(), True, "keep the reduced axes with size 1")),
    resolve=resolve_reduce, infer=infer_reduce,
    macs=lambda a, ins, out: numel(ins[0].shape) or 0))
