"""Importers of Keras's convolution, pooling and normalisation layers.

Kernels: Keras ``Conv*D`` holds ``(*k, I/groups, O)``, netspec ``[O, I/groups, *k]``;
``DepthwiseConv*D`` ``(*k, C, m)`` is netspec's grouped conv with ``groups = C`` and
``weight [C*m, 1, *k]`` (output channel ``c*m + j`` reads channel ``c`` in both);
``Conv*DTranspose`` ``(*k, O, I)`` is netspec's ``[I, O, *k]`` (both compute the exact
adjoint of a cross-correlation: no kernel flip). Padding modes stay as Keras names them:
netspec's ``same`` is TensorFlow's rule (extra padding at the end).
"""
from __future__ import annotations

import math

import numpy as np

from netspec.ops.types import CHANNELS_FIRST, PLAIN

from .context import ImportContext, as_array
from .import_core import fused_activation
from .registry import TABLE
from .values import Value, inverse


def data_format(layer) -> str:
    return getattr(layer, "data_format", None) or "channels_last"


def _map_in(ctx: ImportContext, layer) -> tuple[str, int, str]:
    fmt = data_format(layer)
    x = ctx.map(ctx.values[0], fmt)
    return x, ctx.values[0].rank - 2, fmt


def _map_out(ctx: ImportContext, node: str, fmt: str) -> Value:
    rank = ctx.type_of(node).rank
    return Value(node, ctx.map_view(rank, fmt))


def _ints(value) -> tuple[int, ...]:
    return tuple(int(v) for v in (value if isinstance(value, (list, tuple)) else (value,)))


def _bias(layer) -> dict:
    return {"bias": as_array(layer.bias)} if layer.use_bias else {}


def _conv_weight(kernel: np.ndarray, nd: int) -> np.ndarray:
    """Keras ``(*k, I, O)`` -> netspec ``[O, I, *k]`` (also ``(*k, O, I)`` -> ``[I, O, *k]``)."""
    return kernel.transpose(nd + 1, nd, *range(nd))


def _depthwise_weight(kernel: np.ndarray, nd: int) -> np.ndarray:
    """Keras ``(*k, C, m)`` -> netspec ``[C*m, 1, *k]``."""
    c, m = kernel.shape[nd], kernel.shape[nd + 1]
    return kernel.transpose(nd, nd + 1, *range(nd)).reshape(c * m, 1, *kernel.shape[:nd])


def _conv_attrs(layer, filters, nd, groups=1, bias=None) -> dict:
    return {"filters": int(filters), "kernel": _ints(layer.kernel_size), "stride": _ints(layer.strides),
            "padding": layer.padding, "dilation": _ints(layer.dilation_rate), "groups": int(groups),
            "bias": bool(layer.use_bias if bias is None else bias)}


@TABLE.register("Conv1D", "Conv2D", "Conv3D", wants=data_format)
def import_conv(ctx, layer):
    """A causal Conv1D at stride 1 is netspec's temporal_conv (the TCN layer it is)."""
    x, nd, fmt = _map_in(ctx, layer)
    params = {"weight": _conv_weight(as_array(layer.kernel), nd), **_bias(layer)}
    if layer.padding == "causal" and _ints(layer.strides) == (1,) and layer.groups == 1:
        attrs = {"filters": int(layer.filters), "kernel": _ints(layer.kernel_size)[0],
                 "dilation": _ints(layer.dilation_rate)[0], "bias": bool(layer.use_bias)}
        node = ctx.emit("temporal_conv", attrs, [x], params)
    else:
        node = ctx.emit("conv", _conv_attrs(layer, layer.filters, nd, layer.groups), [x], params)
    return fused_activation(ctx, layer, _map_out(ctx, node, fmt))


@TABLE.register("DepthwiseConv1D", "DepthwiseConv2D", wants=data_format)
def import_depthwise(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    c = ctx.type_of(x).channels
    node = ctx.emit("conv", _conv_attrs(layer, c * layer.depth_multiplier, nd, groups=c),
                    [x], {"weight": _depthwise_weight(as_array(layer.kernel), nd), **_bias(layer)})
    return fused_activation(ctx, layer, _map_out(ctx, node, fmt))


@TABLE.register("SeparableConv1D", "SeparableConv2D", wants=data_format)
def import_separable(ctx, layer):
    """A depthwise conv (``layer.depthwise``, no bias) then a 1x1 conv (the layer's name)."""
    x, nd, fmt = _map_in(ctx, layer)
    c = ctx.type_of(x).channels
    dw = ctx.emit("conv", _conv_attrs(layer, c * layer.depth_multiplier, nd, groups=c, bias=False), [x],
                  {"weight": _depthwise_weight(as_array(layer.depthwise_kernel), nd)}, suffix="depthwise")
    pointwise = as_array(layer.pointwise_kernel)
    node = ctx.emit("conv", {"filters": int(layer.filters), "kernel": 1, "bias": bool(layer.use_bias)}, [dw],
                    {"weight": _conv_weight(pointwise, nd), **_bias(layer)})
    return fused_activation(ctx, layer, _map_out(ctx, node, fmt))


def transpose_padding(n, k, s, d, padding, output_padding) -> tuple[tuple[int, int], int]:
    """netspec ``(begin, end)`` padding and ``output_padding`` of one axis of a Keras
    (TensorFlow) transposed convolution of an input of length ``n``.

    Keras computes the output length ``L`` (its ``compute_conv_transpose_output_shape``);
    TensorFlow then takes the gradient of a convolution of a length-``L`` input with
    that padding mode: the full result ``(n-1)*s + d*(k-1) + 1`` loses the forward conv's
    begin padding at the start and whatever exceeds ``L`` at the end -- or, when ``L`` is
    longer, gains that many positions at the end (netspec's ``output_padding``)."""
    eff = d * (k - 1) + 1
    if output_padding is None:
        length = n * s + max(eff - s, 0) if padding == "valid" else n * s
    else:
        pad = eff // 2 if padding == "same" else 0
        length = (n - 1) * s + eff - 2 * pad + output_padding
    begin = 0
    if padding == "same":
        begin = max((math.ceil(length / s) - 1) * s + eff - length, 0) // 2
    rest = (n - 1) * s + eff - begin - length
    return ((begin, rest), 0) if rest >= 0 else ((begin, 0), -rest)


@TABLE.register("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", wants=data_format)
def import_conv_transpose(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    sizes = ctx.type_of(x).spatial
    k, s, d = _ints(layer.kernel_size), _ints(layer.strides), _ints(layer.dilation_rate)
    ops_ = layer.output_padding
    ops_ = (None,) * nd if ops_ is None else _ints(ops_)
    pads, extra = [], []
    for axis in range(nd):
        # the padding does not depend on the input length unless output_padding is set
        n = sizes[axis] if sizes[axis] is not None else 7
        p, e = transpose_padding(n, k[axis], s[axis], d[axis], layer.padding, ops_[axis])
        if sizes[axis] is None and (p, e) != transpose_padding(11, k[axis], s[axis], d[axis], layer.padding, ops_[axis]):
            raise ctx.error("needs a static input size along each spatial axis for this padding")
        pads.append(p)
        extra.append(e)
    attrs = {"filters": int(layer.filters), "kernel": k, "stride": s, "padding": tuple(pads),
             "output_padding": tuple(extra), "dilation": d, "bias": bool(layer.use_bias)}
    node = ctx.emit("conv_transpose", attrs, [x], {"weight": _conv_weight(as_array(layer.kernel), nd),
                                                   **_bias(layer)})
    return fused_activation(ctx, layer, _map_out(ctx, node, fmt))


# ---------------------------------------------------------------- pooling
@TABLE.register("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
                "AveragePooling3D", wants=data_format)
def import_pool(ctx, layer):
    """TensorFlow's 'same' pooling never lets the padding win a max and leaves it out of an
    average's count: netspec's maxpool, and avgpool with count_include_pad false."""
    x, nd, fmt = _map_in(ctx, layer)
    is_max = type(layer).__name__.startswith("Max")
    attrs = {"kernel": _ints(layer.pool_size), "stride": _ints(layer.strides), "padding": layer.padding}
    if not is_max:
        attrs["count_include_pad"] = False
    node = ctx.emit("maxpool" if is_max else "avgpool", attrs, [x])
    return _map_out(ctx, node, fmt)


@TABLE.register("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
                "GlobalAveragePooling2D", "GlobalAveragePooling3D", wants=data_format)
def import_global_pool(ctx, layer):
    """netspec's global pools keep size-1 spatial axes; without ``keepdims`` a flatten
    (free: a map of 1x1 positions has one element order) gives Keras's ``(N, C)``."""
    x, nd, fmt = _map_in(ctx, layer)
    op = "globalmaxpool" if type(layer).__name__.startswith("GlobalMax") else "globalavgpool"
    if layer.keepdims:
        return _map_out(ctx, ctx.emit(op, {}, [x]), fmt)
    pooled = ctx.emit(op, {}, [x], suffix="pool")
    return Value.of(ctx.emit("flatten", {}, [pooled]), 2)


# ---------------------------------------------------------------- normalisation
def _one_axis(ctx, layer) -> int:
    axis = layer.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ctx.refuse("normalisation over several axes", f"axis={list(axis)}")
        axis = axis[0]
    return int(axis)


def channel_first_view(ctx: ImportContext, value: Value, axis: int) -> tuple[str, Value]:
    """A node with Keras axis ``axis`` as its axis 1 (batchnorm normalises axis 1), and the
    value's view of it: free for channels-last maps and vectors."""
    k = axis % value.rank
    if value.is_flat or value.perm[k] == 1:
        node = value.node if not value.is_const else ctx.plain(value)
        return node, value if not value.is_const else Value.of(node, value.rank)
    moved = (0, k, *[a for a in range(1, value.rank) if a != k])
    perm = inverse(moved)
    node = ctx.view(value, perm, CHANNELS_FIRST if value.rank > 2 else PLAIN)
    return node, Value(node, perm)


def _feature_params(value: Value, arrays: dict) -> dict:
    """Per-feature parameters of a flattened map, moved to the graph's element order."""
    if not value.is_flat:
        return arrays
    out = {}
    for key, a in arrays.items():
        moved = np.empty_like(a)
        moved[value.order] = a
        out[key] = moved
    return out


def batchnorm_params(layer, channels: int) -> dict:
    gamma = as_array(layer.gamma) if layer.scale else np.ones(channels, np.float32)
    beta = as_array(layer.beta) if layer.center else np.zeros(channels, np.float32)
    return {"weight": gamma, "bias": beta, "running_mean": as_array(layer.moving_mean),
            "running_var": as_array(layer.moving_variance)}


@TABLE.register("BatchNormalization", "netspec>TorchBatchNorm")
def import_batchnorm(ctx, layer):
    """Inference is identical. Momentum: netspec (PyTorch) weighs the new batch statistic,
    Keras the running value, so ours is ``1 - keras``. Keras's own layer updates the moving
    variance with the *biased* batch variance where netspec's batchnorm uses the unbiased
    one (netspec's TorchBatchNorm does too, so it round-trips exactly); the difference is a
    factor n/(n-1) on one training update, invisible at inference."""
    value = ctx.values[0]
    if getattr(layer, "renorm", False):
        raise ctx.refuse("batch renormalisation", "renorm=True")
    node, view = channel_first_view(ctx, value, _one_axis(ctx, layer))
    channels = ctx.type_of(node).shape[1]
    params = _feature_params(view, batchnorm_params(layer, channels))
    # Keras writes momentum as a decimal (0.99): keep ours one too, not 0.010000000000000009
    momentum = min(max(float(f"{1.0 - float(layer.momentum):.12g}"), 0.0), 1.0)
    out = ctx.emit("batchnorm", {"eps": float(layer.epsilon), "momentum": momentum}, [node], params)
    return ctx.like(out, view)


def layernorm(ctx: ImportContext, value: Value, axes, epsilon, gamma, beta) -> Value:
    """netspec's layernorm normalises trailing graph axes: free on sequences and vectors; a
    channels-last map normalised over its channels reads the Keras view (a transpose)."""
    rank = value.rank
    axes = sorted(a % rank for a in axes)
    graph_axes = [value.perm[a] for a in axes] if not value.is_flat else axes
    view = value
    if value.is_flat or value.is_const or sorted(graph_axes) != list(range(rank - len(axes), rank)):
        view = Value.of(ctx.plain(value), rank)
        graph_axes = axes
    # Keras's gamma has the normalised axes in increasing Keras order; ours in graph order
    move = [graph_axes.index(g) for g in sorted(graph_axes)]
    node = ctx.emit("layernorm", {"axes": tuple(sorted(graph_axes)), "eps": float(epsilon)}, [view.node],
                    {"weight": gamma.transpose(move), "bias": beta.transpose(move)})
    return ctx.like(node, view)


@TABLE.register("LayerNormalization")
def import_layernorm(ctx, layer):
    if getattr(layer, "rms_scaling", False):
        raise ctx.refuse("RMS scaling", "rms_scaling=True")
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    shape = tuple(ctx.in_shapes[0][a % len(ctx.in_shapes[0])] for a in sorted(a % len(ctx.in_shapes[0]) for a in axes))
    gamma = as_array(layer.gamma).reshape(shape) if layer.scale else np.ones(shape, np.float32)
    beta = as_array(layer.beta).reshape(shape) if layer.center else np.zeros(shape, np.float32)
    return layernorm(ctx, ctx.values[0], axes, layer.epsilon, gamma, beta)
