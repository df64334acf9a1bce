"""Emitters for convolutions, pooling and zero-insertion up-sampling (windowed ops).

Resolved padding is one (begin, end) pair per spatial axis; ONNX ``pads`` lists every
begin, then every end.
"""
from __future__ import annotations

import math

import numpy as np

from netspec.errors import NetspecError

from .table import TABLE


def onnx_pads(pairs) -> list[int]:
    return [b for b, _ in pairs] + [e for _, e in pairs]


def _bias(ctx):
    return [ctx.weight("bias")] if ctx.has_weight("bias") else []


@TABLE.register("conv", "temporal_conv")
def emit_conv(ctx, node, xs):
    a = node.attrs
    ctx.add("Conv", [xs[0], ctx.weight("weight"), *_bias(ctx)], node.name,
            kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
            dilations=list(a["dilation"]), pads=onnx_pads(a["padding"]), group=a["groups"])


@TABLE.register("conv_transpose")
def emit_conv_transpose(ctx, node, xs):
    a = node.attrs
    ctx.add("ConvTranspose", [xs[0], ctx.weight("weight"), *_bias(ctx)], node.name,
            kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
            dilations=list(a["dilation"]), pads=onnx_pads(a["padding"]), group=a["groups"],
            output_padding=list(a["output_padding"]))


@TABLE.register("locally_connected")
def emit_locally_connected(ctx, node, xs):
    """Unshared weights without a loop over positions: a fixed depthwise ``Conv`` with
    one-hot kernels extracts every patch (channel ``c * K + k`` holds tap ``k`` of input
    channel ``c``, matching the row-major flattening of the weight's ``in_channels, *kernel``
    axes), then one batched ``MatMul`` applies each position's own matrix.

    Shapes: patches (N, C*K, L) -> (L, N, C*K) @ weight (L, C*K, F) -> (L, N, F)
    -> (N, F, *out_spatial) + bias (F, *out_spatial); L = product of the output sizes.
    The one-hot kernel multiplies by exactly 1 and adds exact zeros, so patches are exact.
    """
    a = node.attrs
    x_type = ctx.graph.node(node.inputs[0]).type
    cin, kernel, filters = x_type.channels, tuple(a["kernel"]), a["filters"]
    out_sp = node.type.spatial
    k, positions = math.prod(kernel), math.prod(out_sp)
    one_hot = np.zeros((cin * k, 1, *kernel), np.float32)
    for c in range(cin):
        for tap in range(k):
            one_hot[(c * k + tap, 0, *np.unravel_index(tap, kernel))] = 1.0
    patches = ctx.add("Conv", [xs[0], ctx.const(one_hot, "patch_kernel")], suffix="patches",
                      kernel_shape=list(kernel), strides=list(a["stride"]),
                      pads=onnx_pads(a["padding"]), group=cin)
    rows = ctx.transpose(ctx.reshape(patches, [0, cin * k, positions]), [2, 0, 1])
    weight = ctx.transpose(ctx.reshape(ctx.weight("weight"), [positions, filters, cin * k]),
                           [0, 2, 1])
    per_position = ctx.add("MatMul", [rows, weight], suffix="matmul")
    out = ctx.transpose(per_position, [1, 2, 0])
    if not ctx.has_weight("bias"):
        ctx.reshape(out, [0, filters, *out_sp], node.name)
        return
    out = ctx.reshape(out, [0, filters, *out_sp])
    ctx.add("Add", [out, ctx.weight("bias")], node.name)


def _pool_attrs(a):
    return dict(kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
                pads=onnx_pads(a["padding"]), ceil_mode=int(a["ceil_mode"]))


@TABLE.register("maxpool")
def emit_maxpool(ctx, node, xs):
    ctx.add("MaxPool", xs, node.name, **_pool_attrs(node.attrs))


@TABLE.register("avgpool")
def emit_avgpool(ctx, node, xs):
    ctx.add("AveragePool", xs, node.name, **_pool_attrs(node.attrs),
            count_include_pad=int(node.attrs["count_include_pad"]))


TABLE.register("globalavgpool")(lambda ctx, node, xs: ctx.add("GlobalAveragePool", xs, node.name))
TABLE.register("globalmaxpool")(lambda ctx, node, xs: ctx.add("GlobalMaxPool", xs, node.name))


@TABLE.register("zero_upsample")
def emit_zero_upsample(ctx, node, xs):
    """A depthwise ``ConvTranspose`` whose kernel is 1 at the top-left tap and 0 elsewhere,
    with stride = kernel = scale: each input lands at the top-left of its block, exactly,
    and every dynamic size stays dynamic (a reshape-based interleave would need them)."""
    scale = tuple(node.attrs["scale"])
    channels = ctx.graph.node(node.inputs[0]).type.channels
    if channels is None:
        raise NetspecError("zero_upsample needs a static number of channels in the onnx backend",
                           node.where(), "declare the input's channel count")
    kernel = np.zeros((channels, 1, *scale), np.float32)
    kernel[(slice(None), 0, *[0] * len(scale))] = 1.0
    ctx.add("ConvTranspose", [xs[0], ctx.const(kernel, "kernel")], node.name,
            kernel_shape=list(scale), strides=list(scale), group=channels)
