"""dense (fully connected, on the last axis) and embedding (token ids -> vectors).

dense: ``weight [units, in_features]`` (PyTorch layout), ``bias [units]``.
embedding: ``weight [vocab, dim]``; inputs are integer ids of any shape.
"""
from __future__ import annotations

from ._common import bias_attr, weight_init_attr
from .schema import GLOBAL, Attr, Int, OpDef, ParamSpec, ShapeError, register
from .types import CHANNELS_FIRST, PLAIN, numel


def resolve_dense(attrs, ins):
    x = ins[0]
    if x.rank < 2 or (x.layout == CHANNELS_FIRST and x.rank > 2):
        raise ShapeError(f"dense acts on the last axis of (N, features) or plain (N, ..., features) "
                         f"tensors, received {x.layout} {x}",)
    if x.shape[-1] is None:
        raise ShapeError(f"dense needs a static number of input features, received {x}")
    if x.dtype.startswith("int"):
        raise ShapeError("dense needs a float input, received integer ids (use embedding first)")
    return attrs


def dense_params(attrs, ins):
    f, u = ins[0].shape[-1], attrs["units"]
    specs = [ParamSpec("weight", (u, f), attrs["init"], f, u)]
    if attrs["bias"]:
        specs.append(ParamSpec("bias", (u,), "zeros"))
    return specs


register(OpDef(
    "dense", "Fully connected layer on the last axis: y = x W^T + b.", "linear",
    (Attr("units", Int(1), doc="output features"), bias_attr(), weight_init_attr("glorot_uniform")),
    resolve=resolve_dense,
    infer=lambda a, ins: ins[0].with_shape((*ins[0].shape[:-1], a["units"]), PLAIN),
    params=dense_params,
    macs=lambda a, ins, out: (numel(out.shape) or 0) * ins[0].shape[-1],
    rf=lambda a, ins: GLOBAL))


def resolve_embedding(attrs, ins):
    if not ins[0].dtype.startswith("int"):
        raise ShapeError(f"embedding takes integer token ids, received {ins[0].dtype} {ins[0]} "
                         "(declare the input with dtype: int64)")
    return attrs


register(OpDef(
    "embedding", "Look up a learnt vector for each integer id: (N, ...) -> (N, ..., dim).", "linear",
    (Attr("vocab", Int(1), doc="number of distinct ids"), Attr("dim", Int(1), doc="vector size")),
    resolve=resolve_embedding,
    infer=lambda a, ins: ins[0].with_shape((*ins[0].shape, a["dim"]), PLAIN, "float32"),
    params=lambda a, ins: [ParamSpec("weight", (a["vocab"], a["dim"]), "normal", a["vocab"], a["dim"])],
    rf=lambda a, ins: GLOBAL))
