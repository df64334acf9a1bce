"""Importers of Keras's layers that move data: Flatten, Reshape, Permute, padding,
cropping, up-sampling and Identity.

Flatten of a channels-last map is free (its element order travels with the value, see
:mod:`.values`); a Reshape back to that map's shape returns the map itself; a Reshape of a
Dense output into a channels-last map reorders the Dense's units instead of transposing;
Permute only changes the view. Only a Reshape that really mixes a map's axes costs a
transpose, placed where the Keras element order is needed.
"""
from __future__ import annotations

import math

import numpy as np

from netspec.ops.types import CHANNELS_FIRST, PLAIN

from .context import ImportContext
from .import_conv import _ints, _map_in, _map_out, data_format
from .registry import TABLE
from .values import Value, channels_last, compose, flatten_order, identity


@TABLE.register("Identity")
def import_identity(ctx, layer):
    return ctx.values[0]


@TABLE.register("Flatten")
def import_flatten(ctx, layer):
    v = ctx.values[0]
    if v.rank == 2:
        return v
    perm = v.perm
    if data_format(layer) == "channels_first":  # Keras moves channels last before flattening
        perm = compose(perm, (0, *range(2, v.rank), 1))
    if v.is_const:
        array = np.moveaxis(v.const, 1, -1) if data_format(layer) == "channels_first" else v.const
        return Value(None, (0, 1), const=array.reshape(1, -1))
    shape = ctx.type_of(v.node).shape
    if any(d is None for d in shape[1:]):  # no static element order: flatten Keras's axes
        node = ctx.emit("flatten", {}, [ctx.view(v, perm, PLAIN)])
        return Value.of(node, 2)
    node = ctx.emit("flatten", {}, [v.node])
    order = flatten_order(shape[1:], perm)
    if np.array_equal(order, np.arange(order.size)):
        return Value.of(node, 2)
    source = v if perm == v.perm else None
    return Value(node, (0, 1), order, source=source, source_shape=ctx.in_shapes[0])


def _dense_reorderable(ctx: ImportContext, v: Value) -> bool:
    """A Dense output read by nothing but this layer: its units may be permuted."""
    if v.dense is None or len(ctx.consumers.get(id(ctx.tensors[0]), ())) != 1:
        return False
    return not ctx.graph.consumers(v.node)


@TABLE.register("Reshape")
def import_reshape(ctx, layer):
    v = ctx.values[0]
    target = tuple(ctx.out_shapes[0][1:])
    rank = len(target) + 1
    if tuple(ctx.in_shapes[0][1:]) == target:
        return v
    if v.is_flat and v.source is not None and tuple(v.source_shape[1:]) == target:
        return v.source  # Reshape undoing a Flatten
    from .importer import readers_want

    if rank >= 3 and None not in target and readers_want(ctx, ctx.outputs[0]) == "channels_last" and v.rank == 2:
        *spatial, c = target
        if math.prod(spatial) == 1 or c == 1:  # one element order for both layouts
            node = ctx.emit("reshape", {"shape": (c, *spatial), "layout": CHANNELS_FIRST}, [ctx.plain(v)])
            return Value(node, channels_last(rank))
        if _dense_reorderable(ctx, v):
            # make the Dense emit its units in (C, *S) order; the reshape is then channels-first
            order = np.moveaxis(np.arange(math.prod(target)).reshape(target), -1, 0).reshape(-1)
            dense = ctx.graph.node(v.dense)
            dense.params = {k: np.ascontiguousarray(a[order]) for k, a in dense.params.items()}
            node = ctx.emit("reshape", {"shape": (c, *spatial), "layout": CHANNELS_FIRST}, [v.node])
            return Value(node, channels_last(rank))
    if sum(d is None for d in target) > 1:
        raise ctx.error(f"reshapes to {list(target)}, with more than one dynamic size")
    shape = tuple(-1 if d is None else d for d in target)
    node = ctx.emit("reshape", {"shape": shape, "layout": PLAIN}, [ctx.plain(v)])
    return Value.of(node, rank)


@TABLE.register("Permute")
def import_permute(ctx, layer):
    """Only the view changes: ``keras_out = keras_in.transpose(0, *dims)``."""
    v = ctx.values[0]
    move = (0, *(int(d) for d in layer.dims))
    if v.is_const:
        return Value(None, identity(v.rank), const=np.transpose(v.const, move))
    if v.is_flat:
        return v
    return Value(v.node, compose(v.perm, move), dense=None)


def _pairs(value, nd) -> tuple[tuple[int, int], ...]:
    """Keras padding/cropping arguments as one (begin, end) pair per spatial axis."""
    if isinstance(value, int):
        return ((value, value),) * nd
    items = list(value)
    if nd == 1 and len(items) == 2 and all(isinstance(i, int) for i in items):
        return ((int(items[0]), int(items[1])),)
    return tuple((int(p), int(p)) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in items)


@TABLE.register("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", wants=data_format)
def import_zero_padding(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    node = ctx.emit("pad", {"pads": _pairs(layer.padding, nd), "mode": "constant", "value": 0.0}, [x])
    return _map_out(ctx, node, fmt)


@TABLE.register("Cropping1D", "Cropping2D", "Cropping3D", wants=data_format)
def import_cropping(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    return _map_out(ctx, ctx.emit("crop", {"crop": _pairs(layer.cropping, nd)}, [x]), fmt)


@TABLE.register("UpSampling1D", "UpSampling2D", "UpSampling3D", wants=data_format)
def import_upsampling(ctx, layer):
    """Nearest, or bilinear with TensorFlow's half-pixel centres (PyTorch's
    align_corners=False); other interpolations have no netspec equivalent."""
    x, nd, fmt = _map_in(ctx, layer)
    mode = getattr(layer, "interpolation", "nearest")
    if mode not in ("nearest", "bilinear"):
        raise ctx.refuse("interpolation", repr(mode), "netspec up-samples nearest or bilinear")
    node = ctx.emit("upsample", {"scale": _ints(layer.size), "mode": mode}, [x])
    return _map_out(ctx, node, fmt)
