"""Convolutions: conv (1d/2d/3d), temporal_conv (causal, dilated), conv_transpose and
locally_connected (unshared weights).

Weight layouts (canonical, as PyTorch/ONNX):
  conv / temporal_conv: ``weight [filters, in_channels / groups, *kernel]``, ``bias [filters]``
  conv_transpose:       ``weight [in_channels, filters / groups, *kernel]``, ``bias [filters]``
  locally_connected:    ``weight [*out_spatial, filters, in_channels, *kernel]``,
                        ``bias [filters, *out_spatial]``
"""
from __future__ import annotations

import math

from ._common import (bias_attr, dilation_attr, kernel_attr, padding_attr, per_axis,
                      resolve_padding, spatial_input, stride_attr, weight_init_attr,
                      window_output, windows)
from .schema import Attr, Int, Ints, OpDef, ParamSpec, ShapeError, Window, register
from .types import CHANNELS_FIRST, TensorType


def _filters_attr():
    return Attr("filters", Int(1), doc="number of output channels")


def _weight_and_bias(attrs, weight_shape, fan_in, fan_out, bias_shape):
    specs = [ParamSpec("weight", tuple(weight_shape), attrs["init"], fan_in, fan_out)]
    if attrs["bias"]:
        specs.append(ParamSpec("bias", tuple(bias_shape), "zeros"))
    return specs


# ---------------------------------------------------------------- conv
def resolve_conv(attrs, ins):
    x = ins[0]
    nd = spatial_input(x, "conv")
    out = dict(attrs)
    for key in ("kernel", "stride", "dilation"):
        out[key] = per_axis(attrs[key], nd, f"conv.{key}")
    if attrs["padding"] == "causal" and nd != 1:
        raise ShapeError("conv: padding 'causal' is only defined for 1d convolutions")
    out["padding"] = resolve_padding(attrs["padding"], nd, out["kernel"], out["stride"],
                                     out["dilation"], x.spatial, "conv")
    groups = attrs["groups"]
    if x.channels is None:
        raise ShapeError("conv needs a static number of input channels, received a dynamic one")
    if x.channels % groups or attrs["filters"] % groups:
        raise ShapeError(f"conv.groups={groups} must divide both the input channels "
                         f"({x.channels}) and filters ({attrs['filters']})")
    return out


def infer_conv(attrs, ins):
    x = ins[0]
    sizes = [window_output(n, k, s, p, d, "conv", axis + 2)
             for axis, (n, k, s, p, d) in enumerate(zip(x.spatial, attrs["kernel"], attrs["stride"],
                                                         attrs["padding"], attrs["dilation"]))]
    return x.with_shape((x.shape[0], attrs["filters"], *sizes), CHANNELS_FIRST)


def conv_params(attrs, ins):
    cin, k = ins[0].channels // attrs["groups"], math.prod(attrs["kernel"])
    return _weight_and_bias(attrs, (attrs["filters"], cin, *attrs["kernel"]),
                            cin * k, attrs["filters"] // attrs["groups"] * k, (attrs["filters"],))


def conv_macs(attrs, ins, out):
    n = math.prod(d or 0 for d in out.shape[1:])
    return n * (ins[0].channels // attrs["groups"]) * math.prod(attrs["kernel"])


CONV_ATTRS = (
    _filters_attr(), kernel_attr(), stride_attr(),
    padding_attr("same", "valid", "causal"), dilation_attr(),
    Attr("groups", Int(1), 1, "channel groups (groups == channels: depthwise)"),
    bias_attr(), weight_init_attr("he_uniform"),
)

register(OpDef(
    "conv", "Convolution over 1, 2 or 3 spatial axes, with stride, padding, dilation and groups.",
    "conv", CONV_ATTRS, resolve=resolve_conv, infer=infer_conv, params=conv_params,
    macs=conv_macs, rf=lambda attrs, ins: windows(attrs)))


# ---------------------------------------------------------------- temporal_conv
def resolve_temporal(attrs, ins):
    spatial_input(ins[0], "temporal_conv", ranks=(1,))
    full = dict(attrs, stride=1, padding="causal", groups=1)
    return resolve_conv(full, ins)


register(OpDef(
    "temporal_conv",
    "Causal dilated 1d convolution (TCN): output t sees inputs t-dilation*(kernel-1) .. t only.",
    "conv",
    (_filters_attr(), Attr("kernel", Int(1), doc="taps"),
     Attr("dilation", Int(1), 1, "spacing between taps"), bias_attr(),
     weight_init_attr("he_uniform")),
    resolve=resolve_temporal, infer=infer_conv, params=conv_params, macs=conv_macs,
    rf=lambda attrs, ins: windows(attrs),
    notes="Resolved to a conv with padding ((dilation*(kernel-1), 0),): the sequence length is kept."))


# ---------------------------------------------------------------- conv_transpose
def resolve_conv_transpose(attrs, ins):
    x = ins[0]
    nd = spatial_input(x, "conv_transpose")
    out = dict(attrs)
    for key in ("kernel", "stride", "dilation", "output_padding"):
        out[key] = per_axis(attrs[key], nd, f"conv_transpose.{key}")
    out["padding"] = resolve_padding(attrs["padding"], nd, out["kernel"], out["stride"],
                                     out["dilation"], x.spatial, "conv_transpose")
    for op_, s, d in zip(out["output_padding"], out["stride"], out["dilation"]):
        if op_ >= max(s, d):
            raise ShapeError(f"conv_transpose.output_padding must be smaller than stride or "
                             f"dilation, received {op_}")
    groups = attrs["groups"]
    if x.channels is None or x.channels % groups or attrs["filters"] % groups:
        raise ShapeError(f"conv_transpose.groups={groups} must divide both the input channels "
                         f"({x.channels}) and filters ({attrs['filters']})")
    return out


def infer_conv_transpose(attrs, ins):
    x = ins[0]
    sizes = []
    for n, k, s, p, d, op_ in zip(x.spatial, attrs["kernel"], attrs["stride"], attrs["padding"],
                                  attrs["dilation"], attrs["output_padding"]):
        if n is None:
            sizes.append(None)
            continue
        size = (n - 1) * s - p[0] - p[1] + d * (k - 1) + op_ + 1
        if size <= 0:
            raise ShapeError(f"conv_transpose: padding {p} leaves no output for input size {n}")
        sizes.append(size)
    return x.with_shape((x.shape[0], attrs["filters"], *sizes), CHANNELS_FIRST)


def conv_transpose_params(attrs, ins):
    g, k = attrs["groups"], math.prod(attrs["kernel"])
    cin = ins[0].channels
    return _weight_and_bias(attrs, (cin, attrs["filters"] // g, *attrs["kernel"]),
                            attrs["filters"] // g * k, cin // g * k, (attrs["filters"],))


def conv_transpose_macs(attrs, ins, out):
    n = math.prod(d or 0 for d in ins[0].shape[1:])
    return n * (attrs["filters"] // attrs["groups"]) * math.prod(attrs["kernel"])


def conv_transpose_rf(attrs, ins):
    return [Window(d * (k - 1) + 1, s, p[0], transposed=True)
            for k, s, p, d in zip(attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"])]


register(OpDef(
    "conv_transpose",
    "Transposed convolution ('deconvolution'): the gradient of conv, used to up-sample.",
    "conv",
    (_filters_attr(), kernel_attr(), stride_attr(), padding_attr(), dilation_attr(),
     Attr("output_padding", Ints(0), 0, "extra size added at the end of each axis"),
     Attr("groups", Int(1), 1, "channel groups"), bias_attr(), weight_init_attr("he_uniform")),
    resolve=resolve_conv_transpose, infer=infer_conv_transpose, params=conv_transpose_params,
    macs=conv_transpose_macs, rf=conv_transpose_rf))


# ---------------------------------------------------------------- locally_connected
def resolve_local(attrs, ins):
    x = ins[0]
    nd = spatial_input(x, "locally_connected", ranks=(1, 2))
    out = dict(attrs)
    out["kernel"] = per_axis(attrs["kernel"], nd, "locally_connected.kernel")
    out["stride"] = per_axis(attrs["stride"], nd, "locally_connected.stride")
    out["dilation"] = (1,) * nd
    out["padding"] = resolve_padding(attrs["padding"], nd, out["kernel"], out["stride"],
                                     out["dilation"], x.spatial, "locally_connected")
    if any(n is None for n in x.spatial) or x.channels is None:
        raise ShapeError("locally_connected has one weight per output position, so it needs "
                         f"static input sizes, received {x}")
    return out


def infer_local(attrs, ins):
    return infer_conv(attrs, ins)


def local_params(attrs, ins):
    x, f = ins[0], attrs["filters"]
    out_sp = infer_conv(attrs, ins).spatial
    k = math.prod(attrs["kernel"])
    return _weight_and_bias(attrs, (*out_sp, f, x.channels, *attrs["kernel"]),
                            x.channels * k, f * k, (f, *out_sp))


def local_macs(attrs, ins, out):
    return math.prod(out.shape[1:]) * ins[0].channels * math.prod(attrs["kernel"])


register(OpDef(
    "locally_connected",
    "Like conv, but every output position has its own (unshared) weights (1d/2d).",
    "conv",
    (_filters_attr(), kernel_attr(), stride_attr(), padding_attr("valid", "same"),
     bias_attr(), weight_init_attr("he_uniform")),
    resolve=resolve_local, infer=infer_local, params=local_params, macs=local_macs,
    rf=lambda attrs, ins: windows(attrs),
    notes="weight [*out_spatial, filters, in_channels, *kernel]; bias [filters, *out_spatial]."))
