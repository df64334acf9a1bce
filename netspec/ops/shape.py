"""Ops that move data without arithmetic: flatten, reshape, transpose, pad, crop,
upsample (nearest, bilinear) and zero_upsample (zero insertion)."""
from __future__ import annotations

import math

from ._common import per_axis, spatial_input
from .schema import (GLOBAL, Attr, Bool, Choice, Float, Ints, IntList, OpDef, Padding, ShapeError,
                     Window, register)
from .types import CHANNELS_FIRST, LAYOUTS, PLAIN


def infer_flatten(attrs, ins):
    x = ins[0]
    size = None if any(d is None for d in x.shape[1:]) else math.prod(x.shape[1:])
    return x.with_shape((x.shape[0], size), PLAIN)


register(OpDef(
    "flatten", "N, d1, d2, ... -> N, d1*d2*...; element order is the channels-first (C, H, W) one.",
    "shape", infer=infer_flatten, rf=lambda a, ins: GLOBAL))


def infer_reshape(attrs, ins):
    x = ins[0]
    target = list(attrs["shape"])
    known = None if any(d is None for d in x.shape[1:]) else math.prod(x.shape[1:])
    rest = math.prod(d for d in target if d != -1)
    if -1 in target:
        if known is not None:
            if rest == 0 or known % rest:
                raise ShapeError(f"reshape cannot fit {known} elements into {list(attrs['shape'])}")
            target[target.index(-1)] = known // rest
        else:
            target[target.index(-1)] = None
    elif known is not None and known != rest:
        raise ShapeError(f"reshape cannot fit {known} elements of {x} into {list(attrs['shape'])}")
    return x.with_shape((x.shape[0], *target), attrs["layout"])


register(OpDef(
    "reshape", "Reshape the non-batch axes (row-major, as in every framework); -1 is inferred.",
    "shape",
    (Attr("shape", IntList(allow_neg1=True), doc="new shape without the batch axis"),
     Attr("layout", Choice(*LAYOUTS), PLAIN, "how the result's axes are to be read")),
    infer=infer_reshape, rf=lambda a, ins: GLOBAL))


def resolve_transpose(attrs, ins):
    perm = attrs["perm"]
    if sorted(perm) != list(range(ins[0].rank)) or perm[0] != 0:
        raise ShapeError(f"transpose.perm must be a permutation of 0..{ins[0].rank - 1} that keeps "
                         f"the batch axis 0 first, received {list(perm)}")
    return attrs


register(OpDef(
    "transpose", "Permute axes (the batch axis stays first).", "shape",
    (Attr("perm", IntList(), doc="new order of all axes, batch included (perm[0] == 0)"),
     Attr("layout", Choice(*LAYOUTS), PLAIN, "how the result's axes are to be read")),
    resolve=resolve_transpose,
    infer=lambda a, ins: ins[0].with_shape([ins[0].shape[p] for p in a["perm"]], a["layout"]),
    rf=lambda a, ins: GLOBAL))


def _pairs(value, nd, name):
    items = value if isinstance(value, tuple) else (value,)
    if len(items) == 1:
        items = items * nd
    items = per_axis(tuple(items), nd, name)
    return tuple(p if isinstance(p, tuple) else (p, p) for p in items)


def resolve_pad(attrs, ins):
    nd = spatial_input(ins[0], "pad")
    pads = _pairs(attrs["pads"], nd, "pad.pads")
    if attrs["mode"] == "reflect":
        for n, (b, e) in zip(ins[0].spatial, pads):
            if n is not None and max(b, e) >= n:
                raise ShapeError(f"pad: reflect padding {max(b, e)} must be smaller than the input size {n}")
    return dict(attrs, pads=pads)


def infer_pad(attrs, ins):
    x = ins[0]
    sizes = [None if n is None else n + b + e for n, (b, e) in zip(x.spatial, attrs["pads"])]
    return x.with_shape((*x.shape[:2], *sizes))


register(OpDef(
    "pad", "Pad the spatial axes with a constant, by reflection or by replicating the edge.", "shape",
    (Attr("pads", Padding(), doc="per spatial axis: int or [begin, end]"),
     Attr("mode", Choice("constant", "reflect", "replicate"), "constant", "how to fill"),
     Attr("value", Float(), 0.0, "fill value for mode constant")),
    resolve=resolve_pad, infer=infer_pad,
    rf=lambda a, ins: [Window(1, 1, b) for b, _ in a["pads"]]))


def resolve_crop(attrs, ins):
    nd = spatial_input(ins[0], "crop")
    crops = _pairs(attrs["crop"], nd, "crop.crop")
    for n, (b, e) in zip(ins[0].spatial, crops):
        if n is not None and b + e >= n:
            raise ShapeError(f"crop of {b}+{e} leaves nothing of an axis of size {n}")
    return dict(attrs, crop=crops)


register(OpDef(
    "crop", "Remove [begin, end] positions from each spatial axis (U-Net skip alignment).", "shape",
    (Attr("crop", Padding(), doc="per spatial axis: int or [begin, end]"),),
    resolve=resolve_crop,
    infer=lambda a, ins: ins[0].with_shape(
        (*ins[0].shape[:2], *[None if n is None else n - b - e
                              for n, (b, e) in zip(ins[0].spatial, a["crop"])])),
    rf=lambda a, ins: [Window(1, 1, -b) for b, _ in a["crop"]]))


def resolve_scale(name):
    def resolve(attrs, ins):
        nd = spatial_input(ins[0], name)
        out = dict(attrs, scale=per_axis(attrs["scale"], nd, f"{name}.scale"))
        if name == "upsample" and attrs["mode"] == "bilinear" and nd != 2:
            raise ShapeError(f"upsample mode 'bilinear' needs 2 spatial axes, received {nd}")
        return out
    return resolve


def infer_scaled(attrs, ins):
    x = ins[0]
    sizes = [None if n is None else n * s for n, s in zip(x.spatial, attrs["scale"])]
    return x.with_shape((*x.shape[:2], *sizes))


def _upsample_rf(attrs, ins):
    if attrs.get("mode") == "bilinear":
        return [Window(2 * s, s, s // 2, transposed=True) for s in attrs["scale"]]
    return [Window(s, s, 0, transposed=True) for s in attrs["scale"]]


register(OpDef(
    "upsample", "Up-sample the spatial axes by integer factors, nearest or bilinear.", "shape",
    (Attr("scale", Ints(1), 2, "factor per spatial axis"),
     Attr("mode", Choice("nearest", "bilinear"), "nearest", "interpolation"),
     Attr("align_corners", Bool(), False, "bilinear only: align corner pixels (PyTorch meaning)")),
    resolve=resolve_scale("upsample"), infer=infer_scaled, rf=_upsample_rf))

register(OpDef(
    "zero_upsample",
    "Zero-insertion up-sampling: each input lands at the top-left of a scale x scale block, the rest are zeros.",
    "shape",
    (Attr("scale", Ints(1), 2, "factor per spatial axis"),),
    resolve=resolve_scale("zero_upsample"), infer=infer_scaled,
    rf=lambda a, ins: [Window(s, s, 0, transposed=True) for s in a["scale"]],
    notes="out[..., i*s] = x[..., i]; every other position is 0 (the unpooling of "
          "fractionally strided convolution)."))
