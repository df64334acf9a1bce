"""Compositions exporters write for one layer, recognised as that layer.

GELU exists as an ONNX op only from opset 20; before that exporters (netspec's own backend
included) write its formula. The match starts at the last ``Mul`` and walks the ONNX
producers back: the product's factors (through Muls whose value nothing else reads) must
be ``0.5``, ``x`` and ``1 + erf(x / sqrt(2))`` -- or, for the tanh approximation,
``1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))``. Constants are compared to float32 precision.
The nodes already imported for the parts are left unused and dropped with the rest of the
dead code.
"""
from __future__ import annotations

import math

import numpy as np

from .values import View

SQRT2 = math.sqrt(2.0)
TANH_SCALE = math.sqrt(2.0 / math.pi)


def _producer(ctx, value, op_type):
    node = ctx.producer.get(value)
    return node if node is not None and node.op_type == op_type else None


def _scalar(ctx, value):
    array = ctx.values.get(value)
    if isinstance(array, np.ndarray) and array.size == 1 and array.dtype.kind == "f":
        return float(array.reshape(-1)[0])
    return None


def _close(a, b):
    return a is not None and abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _factors(ctx, value, top=False):
    """The factors of a product tree ending in ``value``."""
    node = _producer(ctx, value, "Mul")
    if node is None or (not top and not ctx.single_consumer(value)):
        return [value]
    return _factors(ctx, node.input[0]) + _factors(ctx, node.input[1])


def _other(node, value):
    """The input of a binary node that is not ``value`` (None when neither or both are)."""
    a, b = node.input
    return b if a == value else a if b == value else None


def _one_plus(ctx, value):
    """``g`` when ``value`` is ``g + 1`` (either order), else None."""
    add = _producer(ctx, value, "Add")
    if add is None:
        return None
    a, b = add.input
    if _close(_scalar(ctx, b), 1.0):
        return a
    if _close(_scalar(ctx, a), 1.0):
        return b
    return None


def _erf_of(ctx, gate, x):
    erf = _producer(ctx, gate, "Erf")
    if erf is None:
        return False
    div, mul = _producer(ctx, erf.input[0], "Div"), _producer(ctx, erf.input[0], "Mul")
    if div is not None:
        return div.input[0] == x and _close(_scalar(ctx, div.input[1]), SQRT2)
    return mul is not None and _close(_scalar(ctx, _other(mul, x) or ""), 1 / SQRT2)


def _tanh_of(ctx, gate, x):
    tanh = _producer(ctx, gate, "Tanh")
    scaled = _producer(ctx, tanh.input[0], "Mul") if tanh is not None else None
    if scaled is None:
        return False
    inner = next((v for v in scaled.input if _close(_scalar(ctx, _other(scaled, v) or ""), TANH_SCALE)), None)
    add = _producer(ctx, inner, "Add") if inner else None
    if add is None or x not in add.input:
        return False
    cubic = _factors(ctx, _other(add, x) or "", top=True)
    return len(cubic) == 4 and cubic.count(x) == 3 and any(_close(_scalar(ctx, f), 0.044715) for f in cubic)


def match_gelu(ctx, node) -> bool:
    factors = _factors(ctx, node.output[0], top=True)
    halves = [f for f in factors if _close(_scalar(ctx, f), 0.5)]
    rest = [f for f in factors if f not in halves]
    if len(factors) != 3 or len(halves) != 1 or len(rest) != 2:
        return False
    for x, gate in (rest, rest[::-1]):
        inner = _one_plus(ctx, gate)
        if inner is None or not isinstance(ctx.values.get(x), View):
            continue
        approximate = "none" if _erf_of(ctx, inner, x) else "tanh" if _tanh_of(ctx, inner, x) else None
        if approximate is None:
            continue
        view = ctx.values[x]
        name = ctx.emit("gelu", {"approximate": approximate}, [view.node])
        ctx.set_output(0, View(name, view.axes))
        return True
    return False
