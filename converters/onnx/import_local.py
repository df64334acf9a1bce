"""The locally connected composition netspec's ONNX backend writes (``emit_conv.py``),
recognised as one ``locally_connected`` layer:

    patches = Conv(x, one-hot kernel, group=C)        (N, C*K, *out)   K = prod(kernel)
    rows    = Transpose(Reshape(patches, [0, C*K, L]), [2, 0, 1])       (L, N, C*K)
    y       = MatMul(rows, W)                          W: (L, C*K, F)    (L, N, F)
    out     = Reshape(Transpose(y, [1, 2, 0]), [0, F, *out])  [+ bias (F, *out)]

The match starts at the MatMul (the one place where the per-position weights are known),
checks the patch convolution behind it and the two or three nodes after it, and claims
those. The weight is rebuilt by the inverse of the emitter's exact reshapes/transposes.
"""
from __future__ import annotations

import math

import numpy as np
from onnx import numpy_helper

from .values import View


def _patch_conv(ctx, rows: View):
    """The one-hot depthwise conv behind ``rows``, or None."""
    if rows.axes != (2, 0, 1):
        return None
    flat = ctx.pending.get(rows.node)
    if flat is None or len(flat.type.shape) != 3:
        return None
    # 1d: the patches are (N, C*K, L) already and the Reshape imported as nothing
    conv = flat if flat.op == "conv" else ctx.pending.get(flat.inputs[0]) if flat.op == "reshape" else None
    if conv is None or conv.op != "conv" or conv.attrs.get("bias"):
        return None
    x = ctx.ir_type(conv.inputs[0])
    kernel = tuple(conv.attrs["kernel"])
    k = math.prod(kernel)
    weight = conv.params["weight"]
    if conv.attrs["groups"] != x.channels or weight.shape != (x.channels * k, 1, *kernel):
        return None
    expected = np.zeros_like(weight)
    for c in range(x.channels):
        for tap in range(k):
            expected[(c * k + tap, 0, *np.unravel_index(tap, kernel))] = 1.0
    return conv if np.array_equal(weight, expected) else None


def _only_consumer(ctx, value, op_type):
    users = ctx.consumers.get(value, [])
    if len(users) != 1 or users[0].op_type != op_type or value in ctx.graph_outputs:
        return None
    return users[0]


def _constant_ints(ctx, name):
    """The value of a Constant node that comes later in the file (not yet visited)."""
    if name in ctx.values:
        value = ctx.values[name]
        return None if not isinstance(value, np.ndarray) else [int(v) for v in value.reshape(-1)]
    producer = ctx.producer.get(name)
    if producer is None or producer.op_type != "Constant" or producer.attribute[0].name != "value":
        return None
    return [int(v) for v in numpy_helper.to_array(producer.attribute[0].t).reshape(-1)]


def match_locally_connected(ctx, node) -> bool:
    rows, w = ctx.value(0), ctx.value(1)
    if not isinstance(rows, View):
        return False
    conv = _patch_conv(ctx, rows)
    if conv is None:
        return False
    positions, ck, filters = w.shape
    out_sp = ctx.ir_type(conv.name).shape[2:]
    if None in out_sp or math.prod(out_sp) != positions:
        return False
    back = _only_consumer(ctx, node.output[0], "Transpose")
    if back is None or list(ctx.attrs(back).get("perm", [])) != [1, 2, 0]:
        return False
    reshape = _only_consumer(ctx, back.output[0], "Reshape")
    # the batch as ONNX's 0 (netspec's emitter) or -1 (netspec's torch layer under torch.onnx)
    if reshape is None or _constant_ints(ctx, reshape.input[1]) not in ([0, filters, *out_sp], [-1, filters, *out_sp]):
        return False
    final, claimed, bias = reshape, [back, reshape], None
    add = _only_consumer(ctx, reshape.output[0], "Add")
    if add is not None:
        other = add.input[1] if add.input[0] == reshape.output[0] else add.input[0]
        value = ctx.values.get(other)
        if isinstance(value, np.ndarray) and value.shape == (filters, *out_sp):
            final, bias = add, np.asarray(value, np.float32)
            claimed.append(add)
    x = ctx.ir_type(conv.inputs[0])
    kernel = tuple(conv.attrs["kernel"])
    # W (L, C*K, F) = transpose(reshape(weight, [L, F, C*K]), [0, 2, 1]): invert both steps.
    weight = np.ascontiguousarray(np.asarray(w, np.float32).transpose(0, 2, 1)).reshape(
        *out_sp, filters, x.channels, *kernel)
    padding = conv.attrs["padding"]
    attrs = {"filters": filters, "kernel": kernel, "stride": tuple(conv.attrs["stride"]),
             "padding": padding, "bias": bias is not None}
    ctx.node = final
    name = ctx.emit("locally_connected", attrs, [conv.inputs[0]], {"weight": weight, "bias": bias})
    ctx.node = node
    for n in claimed:
        ctx.claim(n)
    ctx.set_value(final.output[0], View.of(name, len(out_sp) + 2))
    return True
