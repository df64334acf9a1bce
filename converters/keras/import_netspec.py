"""Importers of the custom layers netspec's own Keras backend writes
(:mod:`netspec.backends.keras.layers`), so every model netspec emits imports back.

Each is the inverse of its emitter and weight map in :mod:`netspec.backends.keras.emitters`.
"""
from __future__ import annotations

import math

import numpy as np

from .context import as_array
from .import_conv import _conv_weight, _map_in, _map_out, layernorm
from .registry import TABLE
from .values import Value, identity

OPEN_END = 2 ** 31 - 1


@TABLE.register("netspec>Pad", wants="channels_last")
def import_pad(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    node = ctx.emit("pad", {"pads": tuple(tuple(p) for p in layer.pads), "mode": layer.mode,
                            "value": float(layer.value)}, [x])
    return _map_out(ctx, node, fmt)


@TABLE.register("netspec>PaddedAvgPool", wants="channels_last")
def import_padded_avgpool(ctx, layer):
    """The emitter adds ``ceil_extra`` positions only to reach ceil_mode's output size."""
    x, nd, fmt = _map_in(ctx, layer)
    node = ctx.emit("avgpool", {"kernel": tuple(layer.kernel), "stride": tuple(layer.stride),
                                "padding": tuple(tuple(p) for p in layer.pads),
                                "count_include_pad": bool(layer.count_include_pad),
                                "ceil_mode": any(layer.ceil_extra)}, [x])
    return _map_out(ctx, node, fmt)


@TABLE.register("netspec>Subsample", wants="channels_last")
def import_subsample(ctx, layer):
    """TensorFlow refuses strided dilated convolutions, so netspec writes them at stride 1
    followed by Subsample: folded back into the convolution's stride when it reads nothing else."""
    v = ctx.values[0]
    stride = tuple(layer.stride)
    producer = ctx.graph.node(v.node) if not v.is_const and not v.is_flat else None
    if (producer is not None and producer.op == "conv" and all(s == 1 for s in producer.attrs["stride"])
            and not ctx.graph.consumers(v.node) and len(ctx.consumers.get(id(ctx.tensors[0]), ())) == 1
            and v.perm == ctx.map_view(v.rank)):
        ctx.update(v.node, stride=stride)
        return v
    x, nd, fmt = _map_in(ctx, layer)
    node = ctx.emit("slice", {"starts": (0,) * nd, "ends": (OPEN_END,) * nd, "axes": tuple(range(2, 2 + nd)),
                              "steps": stride}, [x])
    return _map_out(ctx, node, fmt)


@TABLE.register("netspec>GroupedConvTranspose", wants="channels_last")
def import_grouped_conv_transpose(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    attrs = {"filters": layer.filters, "kernel": tuple(layer.kernel_size), "stride": tuple(layer.strides),
             "dilation": tuple(layer.dilation_rate), "groups": layer.groups, "bias": layer.use_bias,
             "output_padding": tuple(layer.output_padding), "padding": 0}
    params = {"weight": _conv_weight(as_array(layer.kernel), nd)}
    if layer.use_bias:
        params["bias"] = as_array(layer.bias)
    return _map_out(ctx, ctx.emit("conv_transpose", attrs, [x], params), fmt)


@TABLE.register("netspec>LocallyConnected", wants="channels_last")
def import_locally_connected(ctx, layer):
    """Keras ``kernel (P, K*C, F)`` (patches flattened as (*k, C)), ``bias (*out, F)`` ->
    netspec ``weight [*out, F, C, *k]``, ``bias [F, *out]``."""
    x, nd, fmt = _map_in(ctx, layer)
    out_sp = tuple(ctx.out_shapes[0][1:-1])
    kernel = as_array(layer.kernel)
    k, f = tuple(layer.kernel_size), int(layer.filters)
    c = kernel.shape[1] // math.prod(k)
    weight = kernel.reshape(*out_sp, *k, c, f).transpose(*range(nd), 2 * nd + 1, 2 * nd, *range(nd, 2 * nd))
    params = {"weight": weight}
    if layer.use_bias:
        params["bias"] = np.moveaxis(as_array(layer.bias), -1, 0)
    attrs = {"filters": f, "kernel": k, "stride": tuple(layer.strides), "bias": bool(layer.use_bias)}
    return _map_out(ctx, ctx.emit("locally_connected", attrs, [x], params), fmt)


@TABLE.register("netspec>LRN", wants="channels_last")
def import_lrn(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    node = ctx.emit("lrn", {"size": layer.size, "alpha": layer.alpha, "beta": layer.beta, "bias": layer.bias}, [x])
    return _map_out(ctx, node, fmt)


@TABLE.register("netspec>ZeroUpsample", wants="channels_last")
def import_zero_upsample(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    return _map_out(ctx, ctx.emit("zero_upsample", {"scale": tuple(layer.scale)}, [x]), fmt)


@TABLE.register("netspec>AlignedBilinear", wants="channels_last")
def import_aligned_bilinear(ctx, layer):
    x, nd, fmt = _map_in(ctx, layer)
    node = ctx.emit("upsample", {"scale": tuple(layer.scale), "mode": "bilinear", "align_corners": True}, [x])
    return _map_out(ctx, node, fmt)


@TABLE.register("netspec>Gelu")
def import_gelu(ctx, layer):
    from .import_core import elementwise

    return elementwise(ctx, ctx.values[0], "gelu", {"approximate": "tanh" if layer.approximate else "none"})


@TABLE.register("netspec>LayerNorm")
def import_netspec_layernorm(ctx, layer):
    return layernorm(ctx, ctx.values[0], layer.axes, layer.epsilon, as_array(layer.gamma), as_array(layer.beta))


@TABLE.register("netspec>LowLevel")
def import_lowlevel(ctx, layer):
    """A low-level op computed on canonical-layout inputs: the Keras tensors it reads are
    the graph tensors themselves (netspec permutes them there first)."""
    computed = next((v for v in ctx.values if not v.is_const), None)
    layout = ctx.type_of(computed.node).layout if computed is not None else None
    names = [ctx.constant(v.const, identity(v.rank), layout if v.rank > 2 else None) if v.is_const
             else ctx.view(v, identity(v.rank)) for v in ctx.values]
    node = ctx.emit(layer.op, dict(layer.attrs), names)
    return Value.of(node, ctx.type_of(node).rank)


@TABLE.register("netspec>ConstantValue")
def import_constant_value(ctx, layer):
    array = as_array(layer.value)
    return Value(None, identity(array.ndim), const=array)
