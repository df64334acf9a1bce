"""Pooling: maxpool, avgpool (windowed) and globalavgpool, globalmaxpool (whole map).

Global pools keep the spatial axes with size 1 (``N, C, 1, 1``), as PyTorch's adaptive
pooling and ONNX's GlobalAveragePool do; follow them with ``flatten`` for a vector.
"""
from __future__ import annotations

import math

from ._common import kernel_attr, padding_attr, per_axis, resolve_padding, spatial_input, window_output, windows
from .schema import GLOBAL, Attr, Bool, Ints, OpDef, ShapeError, register
from .types import CHANNELS_FIRST


def resolve_pool(attrs, ins):
    x = ins[0]
    nd = spatial_input(x, attrs["_name"])
    out = {k: v for k, v in attrs.items() if k != "_name"}
    out["kernel"] = per_axis(attrs["kernel"], nd, "kernel")
    out["stride"] = per_axis(attrs["stride"] if attrs["stride"] is not None else attrs["kernel"], nd, "stride")
    out["dilation"] = (1,) * nd
    out["padding"] = resolve_padding(attrs["padding"], nd, out["kernel"], out["stride"],
                                     out["dilation"], x.spatial, attrs["_name"])
    for (b, e), k in zip(out["padding"], out["kernel"]):
        if max(b, e) > k // 2:
            raise ShapeError(f"{attrs['_name']}: padding {max(b, e)} must be at most half the "
                             f"kernel ({k}); PyTorch and ONNX refuse larger pads")
    return out


def infer_pool(attrs, ins):
    x = ins[0]
    sizes = [window_output(n, k, s, p, 1, "pool", axis + 2, attrs["ceil_mode"])
             for axis, (n, k, s, p) in enumerate(zip(x.spatial, attrs["kernel"], attrs["stride"],
                                                     attrs["padding"]))]
    return x.with_shape((x.shape[0], x.channels, *sizes), CHANNELS_FIRST)


def pool_macs(attrs, ins, out):
    return math.prod(d or 0 for d in out.shape[1:]) * math.prod(attrs["kernel"])


def _pool_op(name, doc, extra=()):
    attrs = (kernel_attr(), Attr("stride", Ints(1), None, "step per axis (default: the kernel)"),
             padding_attr("same", "valid"),
             Attr("ceil_mode", Bool(), False, "round the output size up (Caffe/GoogLeNet style)"),
             *extra)
    register(OpDef(name, doc, "pool", attrs,
                   resolve=lambda a, ins: resolve_pool(dict(a, _name=name), ins),
                   infer=infer_pool, macs=pool_macs, rf=lambda a, ins: windows(a)))


_pool_op("maxpool", "Max over sliding windows; padding never wins the max.")
_pool_op("avgpool", "Mean over sliding windows.",
         (Attr("count_include_pad", Bool(), False,
               "divide by the full window including zero padding (PyTorch's default is true; "
               "Keras and ONNX's default exclude it)"),))


def infer_global(attrs, ins):
    x = ins[0]
    nd = spatial_input(x, "global pool")
    return x.with_shape((x.shape[0], x.channels) + (1,) * nd, CHANNELS_FIRST)


def global_macs(attrs, ins, out):
    return math.prod(d or 0 for d in ins[0].shape[1:])


for _name, _doc in (("globalavgpool", "Mean over all spatial positions: N, C, *S -> N, C, 1, ..."),
                    ("globalmaxpool", "Max over all spatial positions: N, C, *S -> N, C, 1, ...")):
    register(OpDef(_name, _doc, "pool", infer=infer_global, macs=global_macs,
                   rf=lambda a, ins: GLOBAL))
