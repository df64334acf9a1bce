"""Importers for convolutions and pooling (windowed ops), global pooling and the mean/max
reductions over all spatial axes that exporters write for global pooling.

ONNX ``pads`` lists every begin, then every end; netspec holds one (begin, end) pair per
spatial axis. ``auto_pad`` SAME_UPPER is netspec's (TensorFlow's) ``same``; SAME_LOWER puts
the odd pixel at the start and needs static sizes to be spelt out as explicit pads.
"""
from __future__ import annotations

import math

import numpy as np

from netspec.ops.types import CHANNELS_FIRST

from .import_lowlevel import import_reduce, reduce_axes
from .registry import TABLE


def pad_pairs(pads, nd):
    pads = list(pads or [0] * (2 * nd))
    return tuple((pads[i], pads[i + nd]) for i in range(nd))


def window_padding(ctx, a, x, kernel, strides, dilations):
    """netspec padding from ONNX ``auto_pad``/``pads``."""
    nd = len(kernel)
    mode = a.get("auto_pad", "NOTSET")
    if mode in ("NOTSET", ""):
        return pad_pairs(a.get("pads"), nd)
    if mode == "VALID":
        return ((0, 0),) * nd
    if mode == "SAME_UPPER":
        return "same"
    spatial = ctx.ir_type(x).shape[2:]
    if any(s is None for s in spatial):
        raise ctx.error("has auto_pad SAME_LOWER on a dynamic size",
                        "netspec's 'same' padding puts the odd pixel at the end (SAME_UPPER)")
    pairs = []
    for n, k, s, d in zip(spatial, kernel, strides, dilations):
        total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
        pairs.append((total - total // 2, total // 2))
    return tuple(pairs)


def _ones(values, nd):
    return tuple(values) if values else (1,) * nd


@TABLE.register("Conv", 1)
def import_conv(ctx, node):
    """Conv -> conv. A stride-1 1d conv padded only at the start by exactly its reach is
    causal: it imports as ``temporal_conv``, as a TCN spec would write it."""
    a = ctx.attrs()
    w = ctx.weight(1, "W")
    b = ctx.weight(2, "B", required=False)
    x = ctx.tensor(0, CHANNELS_FIRST)
    nd = w.ndim - 2
    kernel = tuple(a.get("kernel_shape") or w.shape[2:])
    strides, dilations = _ones(a.get("strides"), nd), _ones(a.get("dilations"), nd)
    padding = window_padding(ctx, a, x, kernel, strides, dilations)
    group = a["group"]
    params = {"weight": w, "bias": b}
    reach = dilations[0] * (kernel[0] - 1)
    if (nd == 1 and group == 1 and strides == (1,) and reach > 0
            and padding == ((reach, 0),)):
        ctx.produce("temporal_conv", {"filters": w.shape[0], "kernel": kernel[0], "dilation": dilations[0],
                                      "bias": b is not None}, [x], params)
        return
    ctx.produce("conv", {"filters": w.shape[0], "kernel": kernel, "stride": strides, "padding": padding,
                         "dilation": dilations, "groups": group, "bias": b is not None}, [x], params)


def _zero_insertion(a, w, b, channels):
    """The scale of a depthwise ConvTranspose that only places each input at the top-left
    of its block (stride = kernel, kernel 1 at tap 0, else 0): netspec's zero_upsample."""
    nd = w.ndim - 2
    kernel = tuple(a.get("kernel_shape") or w.shape[2:])
    strides = tuple(a.get("strides") or (1,) * nd)
    if (b is not None or a["group"] != channels or w.shape[:2] != (channels, 1) or strides != kernel
            or any(a.get("pads") or ()) or any(a.get("output_padding") or ())
            or any(d != 1 for d in a.get("dilations") or ()) or a.get("output_shape")):
        return None
    expected = np.zeros_like(w)
    expected[(slice(None), 0, *[0] * nd)] = 1.0
    return kernel if np.array_equal(w, expected) else None


@TABLE.register("ConvTranspose", 1)
def import_conv_transpose(ctx, node):
    a = ctx.attrs()
    w = ctx.weight(1, "W")
    b = ctx.weight(2, "B", required=False)
    x = ctx.tensor(0, CHANNELS_FIRST)
    nd = w.ndim - 2
    scale = _zero_insertion(a, w, b, ctx.ir_type(x).channels)
    if scale is not None:
        ctx.produce("zero_upsample", {"scale": scale}, [x])
        return
    kernel = tuple(a.get("kernel_shape") or w.shape[2:])
    group = a["group"]
    strides, dilations = _ones(a.get("strides"), nd), _ones(a.get("dilations"), nd)
    pads, output_padding = transpose_padding(ctx, a, x, kernel, strides, dilations)
    ctx.produce("conv_transpose", {
        "filters": w.shape[1] * group, "kernel": kernel, "stride": strides,
        "padding": pad_pairs(pads, nd), "dilation": dilations,
        "output_padding": tuple(output_padding), "groups": group,
        "bias": b is not None}, [x], {"weight": w, "bias": b})


def transpose_padding(ctx, a, x, kernel, strides, dilations) -> tuple[list[int], list[int]]:
    """ConvTranspose's pads and output_padding, made explicit where ``output_shape`` or
    ``auto_pad`` SAME_* set them, by ONNX's formula: ``total = stride * (in - 1) +
    output_padding + (kernel - 1) * dilation + 1 - out`` is split over both ends (the odd
    one at the end for SAME_UPPER, at the start otherwise); a negative total is the extra
    size netspec's output_padding adds at the end."""
    nd = len(kernel)
    pads = list(a.get("pads") or [0] * (2 * nd))
    extra = list(a.get("output_padding") or [0] * nd)
    auto = a.get("auto_pad", "NOTSET") or "NOTSET"
    if auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise ctx.error(f"uses auto_pad {auto}", "re-export with explicit pads")
    shape = a.get("output_shape")
    if not shape and auto in ("NOTSET", "VALID"):
        return ([0] * (2 * nd) if auto == "VALID" else pads), extra
    spatial = ctx.ir_type(x).shape[2:]
    if any(n is None for n in spatial):
        raise ctx.error("sets its output size (output_shape or auto_pad SAME) for dynamic input sizes; "
                        "netspec's conv_transpose takes explicit pads", "re-export with explicit pads")
    target = list(shape)[-nd:] if shape else [n * s for n, s in zip(spatial, strides)]
    for i in range(nd):
        total = strides[i] * (spatial[i] - 1) + extra[i] + (kernel[i] - 1) * dilations[i] + 1 - target[i]
        if total < 0:
            extra[i], total = extra[i] - total, 0
        half = total // 2
        pads[i], pads[i + nd] = (half, total - half) if auto == "SAME_UPPER" else (total - half, half)
    return pads, extra


def _pool(op):
    def importer(ctx, node):
        a = ctx.attrs()
        if len(node.output) > 1 and ctx.is_used(node.output[1]):
            raise ctx.error("its Indices output is used; netspec's maxpool returns values only")
        x = ctx.tensor(0, CHANNELS_FIRST)
        kernel = tuple(a["kernel_shape"])
        nd = len(kernel)
        strides = _ones(a.get("strides"), nd)
        if any(d != 1 for d in a.get("dilations") or ()):
            raise ctx.error(f"has dilations {a['dilations']}; netspec's pools are not dilated")
        attrs = {"kernel": kernel, "stride": strides, "ceil_mode": bool(a.get("ceil_mode", 0)),
                 "padding": window_padding(ctx, a, x, kernel, strides, (1,) * nd)}
        if op == "avgpool":
            attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
        ctx.produce(op, attrs, [x])
    importer.__doc__ = f"ONNX pooling -> netspec {op} (ONNX's stride defaults to 1, netspec's to the kernel)."
    return importer


TABLE.register("MaxPool", 1)(_pool("maxpool"))
TABLE.register("AveragePool", 1)(_pool("avgpool"))
TABLE.register("GlobalAveragePool", 1)(lambda ctx, node: ctx.produce("globalavgpool", {}, [ctx.tensor(0, CHANNELS_FIRST)]))
TABLE.register("GlobalMaxPool", 1)(lambda ctx, node: ctx.produce("globalmaxpool", {}, [ctx.tensor(0, CHANNELS_FIRST)]))


def _global_reduce(pool_op, since18):
    def importer(ctx, node):
        """A mean (max) over every spatial axis of a feature map is global pooling, which
        is how torch.onnx writes ``x.mean((2, 3), keepdim=True)`` and adaptive pools."""
        view = ctx.view(0)
        rank = len(view.axes)
        axes, keepdims, noop = reduce_axes(ctx, node, since18)
        if axes is None or not axes:
            if noop:
                ctx.set_output(0, view)
                return
            axes = list(range(rank))
        axes = sorted(a % rank for a in axes)
        if rank < 3 or axes != list(range(2, rank)):
            import_reduce(ctx, node, axes, keepdims)  # any other axes: the low-level reduce
            return
        x = ctx.materialise(view, CHANNELS_FIRST)
        if keepdims:
            ctx.produce(pool_op, {}, [x])
            return
        pooled = ctx.emit(pool_op, {}, [x], suffix="_pool")
        ctx.produce("flatten", {}, [pooled])
    return importer


TABLE.register("ReduceMean", 1)(_global_reduce("globalavgpool", False))
TABLE.register("ReduceMean", 18)(_global_reduce("globalavgpool", True))
TABLE.register("ReduceMax", 1)(_global_reduce("globalmaxpool", False))
TABLE.register("ReduceMax", 18)(_global_reduce("globalmaxpool", True))
