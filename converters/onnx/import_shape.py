"""Importers for data movement and for the shape arithmetic exporters leave behind.

Shape subgraphs (``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``) are evaluated on
:class:`~.values.SymShape` values: static sizes become ints, dynamic ones stay symbols, so
a ``Reshape`` to ``[batch, -1]`` is recognised as ``flatten`` with the batch still dynamic.
Transpose, Squeeze and Unsqueeze of tensors only move a view's axes (see :mod:`.values`).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, numpy_helper

from netspec.ops.types import CHANNELS_FIRST, PLAIN

from .context import DTYPES, numel
from .import_lowlevel import import_cast_tensor, import_slice_tensor
from .import_patterns import match_even_lrn
from .registry import TABLE
from .values import Dim, Fill, SymShape, View

# Slice ends at or beyond this mean "to the end" (exporters write INT64_MAX or INT32_MAX).
TO_END = 2 ** 31 - 1


# ---------------------------------------------------------------- symbolic shapes
@TABLE.register("Shape", 1)
def import_shape(ctx, node):
    value = ctx.value(0)
    dims = list(value.shape.entries) if isinstance(value, Fill) else ctx.dims(ctx.view(0))
    a = ctx.attrs()
    start, end = a.get("start", 0), a.get("end")
    ctx.set_output(0, SymShape(tuple(dims[start:end])))


def gather_shape(ctx, sym):
    indices = ctx.const(1, "indices")
    picked = [sym.entries[int(i)] for i in np.asarray(indices).reshape(-1)]
    ctx.set_output(0, SymShape(tuple(picked), np.asarray(indices).ndim == 0))


def concat_shapes(ctx, node):
    entries = []
    for i in range(len(node.input)):
        sym = ctx.sym(i, f"input {i}")
        entries.extend(sym.entries)
    ctx.set_output(0, SymShape(tuple(entries)))


@TABLE.register("Cast", 1)
def import_cast(ctx, node):
    """Casts between integer types keep a symbolic shape; a tensor cast to its own dtype
    is the identity."""
    value = ctx.value(0)
    to = ctx.attrs()["to"]
    if isinstance(value, SymShape) and to in (TensorProto.INT64, TensorProto.INT32):
        ctx.set_output(0, value)
        return
    if isinstance(value, View) and DTYPES.get(to) == ctx.ir_type(value.node).dtype:
        ctx.set_output(0, value)
        return
    import_cast_tensor(ctx, node)


@TABLE.register("ConstantOfShape", 9)
def import_constant_of_shape(ctx, node):
    """With a dynamic shape the value is a :class:`Fill` (exported zero initial states)."""
    sym = ctx.sym(0, "shape")
    value = ctx.attrs().get("value")  # a one-element TensorProto; zeros when absent
    fill = 0.0 if value is None else float(numpy_helper.to_array(value).reshape(-1)[0])
    ctx.set_output(0, Fill(fill, sym))


# ---------------------------------------------------------------- axis moves
@TABLE.register("Transpose", 1)
def import_transpose(ctx, node):
    view = ctx.view(0)
    perm = ctx.attrs().get("perm") or list(reversed(range(len(view.axes))))
    ctx.set_output(0, View(view.node, tuple(view.axes[p] for p in perm)), adopt=True)


def _squeeze(ctx, node, axes):
    value = ctx.value(0)
    if isinstance(value, SymShape):
        if len(value.entries) != 1:
            raise ctx.error(f"squeezes a shape of {len(value.entries)} entries")
        ctx.set_output(0, SymShape(value.entries, True))
        return
    view = ctx.view(0)
    dims = ctx.dims(view)
    rank = len(dims)
    axes = [i for i, d in enumerate(dims) if d == 1] if axes is None else sorted(a % rank for a in axes)
    for a in axes:
        if dims[a] != 1:
            raise ctx.error(f"squeezes axis {a}, whose size is {dims[a]}, not 1")
    ctx.set_output(0, View(view.node, tuple(v for i, v in enumerate(view.axes) if i not in axes)), adopt=True)


def _unsqueeze(ctx, node, axes):
    value = ctx.value(0)
    if isinstance(value, SymShape):
        if not value.scalar or [a % 1 for a in axes] != [0]:
            raise ctx.error("unsqueezes a shape other than a scalar")
        ctx.set_output(0, SymShape(value.entries))
        return
    view = ctx.view(0)
    out_rank = len(view.axes) + len(axes)
    axes = sorted(a % out_rank for a in axes)
    result = list(view.axes)
    for a in axes:
        result.insert(a, None)
    ctx.set_output(0, View(view.node, tuple(result)), adopt=True)


TABLE.register("Squeeze", 1)(lambda ctx, node: _squeeze(ctx, node, ctx.attrs().get("axes")))
TABLE.register("Squeeze", 13)(lambda ctx, node: _squeeze(ctx, node, ctx.ints(1, "axes", required=False)))
TABLE.register("Unsqueeze", 1)(lambda ctx, node: _unsqueeze(ctx, node, ctx.attrs()["axes"]))
TABLE.register("Unsqueeze", 13)(lambda ctx, node: _unsqueeze(ctx, node, ctx.ints(1, "axes")))


# ---------------------------------------------------------------- reshape and flatten
@TABLE.register("Reshape", 5)
def import_reshape(ctx, node):
    """Reshape -> nothing (same shape), flatten (to ``[batch, everything]``) or reshape.
    The first target size must be the batch: 0 (copy), the batch symbol, the same static
    size, or -1 when the other sizes account for all non-batch elements."""
    x = ctx.tensor(0)
    src = ctx.dims(View.of(x, ctx.ir_type(x).rank))
    target = list(ctx.sym(1, "shape").entries)
    if not ctx.attrs().get("allowzero", 0):
        target = [src[i] if isinstance(t, int) and t == 0 and i < len(src) else t for i, t in enumerate(target)]
    rest = target[1:]
    per_item = numel(src[1:])
    if not target:
        raise ctx.error("reshapes to a scalar, which has no batch axis")
    first = target[0]
    batch_kept = first == src[0] or (first == -1 and per_item is not None and
                                      all(isinstance(d, int) and d > 0 for d in rest) and
                                      int(np.prod(rest)) == per_item)
    if not batch_kept:
        raise ctx.error(f"reshapes {src} to {target}, which moves the batch axis",
                        "netspec keeps the batch axis first; reshape the other axes only")
    shape = []
    for d in rest:
        if isinstance(d, Dim):
            same = [i for i, s in enumerate(src) if s == d]
            d = -1 if not same else d
        shape.append(d)
    shape = [-1 if isinstance(d, Dim) else d for d in shape]
    if shape.count(-1) > 1:
        raise ctx.error(f"reshapes to {target}: more than one size is unknown at import time")
    if shape == [s if isinstance(s, int) else -1 for s in src[1:]] and -1 not in shape:
        ctx.set_output(0, View.of(x, len(src)), adopt=True)
        return
    if len(shape) == 1 and (shape[0] == -1 or shape[0] == per_item):
        if len(src) == 2:
            ctx.set_output(0, View.of(x, 2), adopt=True)
        else:
            ctx.produce("flatten", {}, [x])
        return
    # as netspec's reshape defaults to: rank >= 4 is a map, anything else plain
    ctx.produce("reshape", {"shape": shape, "layout": CHANNELS_FIRST if len(shape) >= 3 else PLAIN}, [x])


@TABLE.register("Flatten", 1)
def import_flatten(ctx, node):
    x = ctx.tensor(0)
    t = ctx.ir_type(x)
    axis = ctx.attrs()["axis"] % t.rank if t.rank else 0
    if axis == 0:
        raise ctx.error("flattens the batch axis into the features (axis 0)")
    if axis == 1:
        if t.rank == 2:
            ctx.set_output(0, View.of(x, 2), adopt=True)
        else:
            ctx.produce("flatten", {}, [x])
        return
    raise ctx.error(f"flattens to 2-d at axis {axis}, which merges the batch axis with axes "
                    f"1..{axis - 1}", "netspec keeps the batch axis first; use Flatten with axis=1")


# ---------------------------------------------------------------- slicing
def _slice_params(ctx, node, rank):
    """Slice starts/ends/axes/steps (inputs from opset 10 on)."""
    starts = ctx.ints(1, "starts")
    ends = ctx.ints(2, "ends")
    axes = ctx.ints(3, "axes", required=False) or list(range(len(starts)))
    steps = ctx.ints(4, "steps", required=False) or [1] * len(starts)
    return starts, ends, [a % rank for a in axes], steps


@TABLE.register("Slice", 10)
def import_slice(ctx, node):
    """Slicing a shape is evaluated; slicing only the spatial axes of a feature map by
    step 1 is ``crop``; other slices are the low-level ``slice`` op."""
    value = ctx.value(0)
    if isinstance(value, SymShape):
        starts, ends, axes, steps = _slice_params(ctx, node, 1)
        picked = list(value.entries)[slice(starts[0], ends[0], steps[0])]
        ctx.set_output(0, SymShape(tuple(picked)))
        return
    view = ctx.view(0)
    dims = ctx.dims(view)
    starts, ends, axes, steps = _slice_params(ctx, node, len(dims))
    crop = _as_crop(ctx, view, dims, starts, ends, axes, steps)
    if crop is not None:
        ctx.produce("crop", {"crop": crop}, [ctx.materialise(view)])
        return
    import_slice_tensor(ctx, node, view, dims, starts, ends, axes, steps)


def _as_crop(ctx, view, dims, starts, ends, axes, steps):
    t = ctx.ir_type(view.node)
    if t.layout != CHANNELS_FIRST or not view.is_identity(t.rank) or any(s != 1 for s in steps):
        return None
    pairs = [(0, 0)] * (len(dims) - 2)
    for start, end, axis in zip(starts, ends, axes):
        size = dims[axis]
        if axis < 2 or start < 0:
            return None
        if end >= TO_END:
            stop = 0
        elif end < 0:
            stop = -end
        elif isinstance(size, int):
            stop = size - min(end, size)
        else:
            return None
        pairs[axis - 2] = (start, stop)
    return tuple(pairs)


# ---------------------------------------------------------------- pad and resize
PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


@TABLE.register("Pad", 11)
def import_pad(ctx, node):
    a = ctx.attrs()
    x = ctx.tensor(0, CHANNELS_FIRST)
    rank = ctx.ir_type(x).rank
    pads = ctx.ints(1, "pads")
    axes = ctx.ints(3, "axes", required=False) if len(node.input) > 3 else None
    full = [0] * (2 * rank)
    axes = [ax % rank for ax in axes] if axes else list(range(rank))
    for i, ax in enumerate(axes):
        full[ax], full[ax + rank] = pads[i], pads[i + len(axes)]
    if any(full[i] or full[i + rank] for i in (0, 1)):
        if match_even_lrn(ctx, node, full, rank):
            return
        raise ctx.error(f"pads the batch or channel axis ({full}); netspec's pad acts on spatial axes",
                        "netspec imports padding of the spatial axes of feature maps")
    if any(p < 0 for p in full):
        raise ctx.error(f"has negative pads {full} (a crop)", "use Slice to crop")
    mode = a.get("mode", "constant")
    if mode not in PAD_MODES:
        raise ctx.error(f"uses mode '{mode}'; netspec pads with {', '.join(PAD_MODES)}")
    value = ctx.const(2, "constant_value", required=False) if ctx.has_input(2) else None
    value = 0.0 if value is None else float(np.asarray(value).reshape(-1)[0])
    pairs = tuple((full[i], full[i + rank]) for i in range(2, rank))
    ctx.produce("pad", {"pads": pairs, "mode": PAD_MODES[mode], "value": value}, [x])


def _on_axes(ctx, values: list, axes: list[int], full: list, what: str) -> list:
    """Resize's ``axes`` (opset 18): ``values`` are for those axes only; the others keep
    ``full`` (scale 1, or their own size)."""
    if len(values) != len(axes) or len(set(axes)) != len(axes):
        raise ctx.error(f"gives {len(values)} {what} for the axes {axes}")
    full = list(full)
    for ax, value in zip(axes, values):
        full[ax] = value
    return full


@TABLE.register("Resize", 11)
def import_resize(ctx, node):
    """Resize by integer factors of the spatial axes -> upsample. nearest needs the
    'asymmetric' + 'floor' rules (PyTorch's nearest); linear 'half_pixel' (or
    'pytorch_half_pixel', the same for outputs larger than 1) or 'align_corners'."""
    a = ctx.attrs()
    x = ctx.tensor(0, CHANNELS_FIRST)
    t = ctx.ir_type(x)
    scales = ctx.const(2, "scales", required=False) if ctx.has_input(2) else None
    if scales is not None and scales.size == 0:
        scales = None
    axes = [ax % t.rank for ax in a["axes"]] if a.get("axes") else None  # opset 18
    if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ctx.error(f"uses keep_aspect_ratio_policy '{a['keep_aspect_ratio_policy']}'; netspec's "
                        "upsample scales each axis by its own factor", "export with scale factors")
    if scales is not None and axes is not None:
        scales = _on_axes(ctx, scales.reshape(-1).tolist(), axes, [1.0] * t.rank, "scales")
    if scales is None:
        sizes = ctx.sym(3, "sizes").entries
        if axes is not None:
            sizes = _on_axes(ctx, list(sizes), axes, list(t.shape), "sizes")
        if len(sizes) != t.rank:
            raise ctx.error(f"gives {len(sizes)} sizes for a rank-{t.rank} tensor")
        if any(not isinstance(s, int) for s in sizes[2:]) or any(d is None for d in t.shape[2:]):
            raise ctx.error("resizes to sizes that depend on dynamic input sizes",
                            "export with scale factors instead of output sizes")
        factors = [s / d for s, d in zip(sizes[2:], t.shape[2:])]
        lead = [1.0, 1.0]
    else:
        scales = np.asarray(scales, dtype=np.float64).reshape(-1)
        factors = [float(s) for s in scales[2:]]
        lead = [float(s) for s in scales[:2]]
    if lead != [1.0, 1.0] or any(f < 1 or f != int(f) for f in factors):
        raise ctx.error(f"scales by {lead + factors}; netspec's upsample takes integer factors of "
                        "the spatial axes")
    scale = tuple(int(f) for f in factors)
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        # floor(out / s): asymmetric coordinates rounded down, or half-pixel coordinates
        # (out + 0.5) / s - 0.5 rounded to nearest, which never tie for integer s.
        rounding = a.get("nearest_mode", "round_prefer_floor")
        if not ((coord == "asymmetric" and rounding == "floor") or (
                coord in ("half_pixel", "pytorch_half_pixel") and rounding.startswith("round"))):
            raise ctx.error(f"uses nearest with {coord}/{rounding}; netspec's nearest is "
                            "floor(out / scale) (asymmetric + floor)")
        ctx.produce("upsample", {"scale": scale, "mode": "nearest"}, [x])
        return
    if mode == "linear" and len(scale) == 2 and coord in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        ctx.produce("upsample", {"scale": scale, "mode": "bilinear",
                                 "align_corners": coord == "align_corners"}, [x])
        return
    raise ctx.error(f"uses mode '{mode}' with '{coord}'; netspec's upsample is nearest or bilinear (2d)")

