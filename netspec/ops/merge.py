"""Merges of several inputs: add, multiply (same shapes) and concat (along one axis)."""
from __future__ import annotations

from .schema import AnyOf, Attr, Choice, Int, OpDef, ShapeError, register
from .types import CHANNELS_FIRST, PLAIN, numel


def merge_dim(a, b):
    """Two sizes that must agree; a dynamic size agrees with anything."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise ValueError


def _describe(ins):
    return ", ".join(str(t) for t in ins)


def infer_elementwise(name):
    def infer(attrs, ins):
        shape = list(ins[0].shape)
        for t in ins[1:]:
            if t.rank != len(shape):
                raise ShapeError(f"{name} needs inputs of the same shape, received {_describe(ins)}")
            try:
                shape = [merge_dim(a, b) for a, b in zip(shape, t.shape)]
            except ValueError:
                raise ShapeError(f"{name} needs inputs of the same shape, received {_describe(ins)}") from None
        layout = CHANNELS_FIRST if all(t.layout == CHANNELS_FIRST for t in ins) else PLAIN
        if len({t.layout for t in ins}) > 1:
            raise ShapeError(f"{name} mixes channels-first and plain inputs ({_describe(ins)}); "
                             "transpose one of them first")
        return ins[0].with_shape(shape, layout)
    return infer


for _name, _doc in (("add", "Element-wise sum of two or more tensors of the same shape."),
                    ("multiply", "Element-wise product of two or more tensors of the same shape.")):
    register(OpDef(_name, _doc, "merge", arity=(2, None), infer=infer_elementwise(_name),
                   macs=lambda a, ins, out: (len(ins) - 1) * (numel(out.shape) or 0)))


def resolve_concat(attrs, ins):
    x = ins[0]
    axis = attrs["axis"]
    if axis == "channels":
        axis = 1 if x.layout == CHANNELS_FIRST else x.rank - 1
    if not -x.rank <= axis < x.rank or axis % x.rank == 0:
        raise ShapeError(f"concat.axis must be a non-batch axis of a rank-{x.rank} tensor, received {attrs['axis']}")
    return dict(attrs, axis=axis % x.rank)


def infer_concat(attrs, ins):
    axis = attrs["axis"]
    if len({t.layout for t in ins}) > 1 or len({t.rank for t in ins}) > 1:
        raise ShapeError(f"concat needs inputs of one rank and layout, received {_describe(ins)}")
    shape = list(ins[0].shape)
    for t in ins[1:]:
        for i, (a, b) in enumerate(zip(shape, t.shape)):
            if i == axis:
                shape[i] = None if a is None or b is None else a + b
                continue
            try:
                shape[i] = merge_dim(a, b)
            except ValueError:
                raise ShapeError(f"concat along axis {axis} needs equal sizes on the other axes, "
                                 f"received {_describe(ins)}") from None
    return ins[0].with_shape(shape)


register(OpDef(
    "concat", "Joins tensors along one axis (default: channels), as DenseNet and U-Net skips do.",
    "merge",
    (Attr("axis", AnyOf(Choice("channels"), Int()), "channels",
          "axis with the batch as 0, or 'channels'"),),
    arity=(2, None), resolve=resolve_concat, infer=infer_concat))
