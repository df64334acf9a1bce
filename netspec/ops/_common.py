"""Shared arithmetic for windowed ops (conv, pool, locally connected): one place for the
output-size formula, padding resolution and the per-axis normalisation of attributes."""
from __future__ import annotations

import math

from .schema import REQUIRED, Attr, Bool, Choice, Int, Ints, Padding, ShapeError, Window
from .types import CHANNELS_FIRST, TensorType

WEIGHT_INITS = ("he_uniform", "he_normal", "glorot_uniform", "glorot_normal",
                "lecun_uniform", "lecun_normal")


def weight_init_attr(default: str) -> Attr:
    return Attr("init", Choice(*WEIGHT_INITS), default, "initialiser of the weight")


def bias_attr() -> Attr:
    return Attr("bias", Bool(), True, "add a learnt bias")


def per_axis(value, nd: int, name: str) -> tuple[int, ...]:
    """An int, or a list of one int per spatial axis, as a tuple of length ``nd``."""
    if isinstance(value, tuple):
        if len(value) != nd:
            raise ShapeError(f"{name} has {len(value)} values but the input has {nd} spatial "
                             f"axes, received {list(value)}")
        return value
    return (value,) * nd


def spatial_input(t: TensorType, op: str, ranks=(1, 2, 3)) -> int:
    """Number of spatial axes of a channels-first input; errors explain what was expected."""
    nd = t.rank - 2
    if t.layout != CHANNELS_FIRST or nd not in ranks:
        want = " or ".join(f"{r}d" for r in ranks)
        raise ShapeError(f"{op} expects a channels-first tensor (N, C, *spatial) with {want} "
                         f"spatial axes, received {t.layout} {t}")
    return nd


def resolve_padding(padding, nd, kernel, stride, dilation, spatial, op) -> tuple[tuple[int, int], ...]:
    """Padding as one (begin, end) pair per spatial axis.

    'same' follows TensorFlow (output = ceil(input/stride), extra padding at the end) so
    the Keras backend can use its native layer; 'causal' pads only at the start (1d).
    """
    if padding == "valid":
        return ((0, 0),) * nd
    if padding in ("same", "causal"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, stride, dilation):
            eff = d * (k - 1) + 1
            if padding == "causal":
                pads.append((eff - 1, 0))
                continue
            if s == 1:
                total = eff - 1
            elif size is None:
                raise ShapeError(f"{op}: padding 'same' with stride {s} needs a static input "
                                 f"size, received a dynamic one")
            else:
                total = max((math.ceil(size / s) - 1) * s + eff - size, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, int):
        return ((padding, padding),) * nd
    items = per_axis(tuple(padding), nd, f"{op}.padding")
    return tuple(p if isinstance(p, tuple) else (p, p) for p in items)


def window_output(size, kernel, stride, pads, dilation, op, axis, ceil_mode=False):
    """Output length of a sliding window; None stays None (dynamic)."""
    if size is None:
        return None
    eff = dilation * (kernel - 1) + 1
    padded = size + pads[0] + pads[1]
    if eff > padded:
        raise ShapeError(f"{op}: kernel {eff} is larger than the padded input {padded} along "
                         f"axis {axis} (input size {size})")
    span = padded - eff
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pads[0]:
        out -= 1  # the last window may not start inside the right padding (PyTorch/ONNX rule)
    return out


def windows(attrs) -> list[Window]:
    """Receptive-field windows of a resolved conv/pool: dilation folded into the kernel."""
    return [Window(d * (k - 1) + 1, s, p[0])
            for k, s, p, d in zip(attrs["kernel"], attrs["stride"], attrs["padding"],
                                  attrs.get("dilation") or (1,) * len(attrs["kernel"]))]


def padding_attr(*modes, default=0):
    return Attr("padding", Padding(*modes), default,
                "int, per-axis ints, per-axis [begin, end] pairs" + (
                    " or " + "/".join(modes) if modes else ""))


def kernel_attr(default=REQUIRED):
    return Attr("kernel", Ints(1), default, "window size per spatial axis")


def stride_attr(default=1):
    return Attr("stride", Ints(1), default, "step per spatial axis")


def dilation_attr():
    return Attr("dilation", Ints(1), 1, "spacing between kernel taps per spatial axis")
