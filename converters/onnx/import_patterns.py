"""Compositions exporters write for one layer, recognised as that layer: GELU before
opset 20, and netspec's even-size LRN.

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
from onnx import numpy_helper

from .context import short_float
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


def _later_constant(ctx, value):
    """A constant's value, also when its ``Constant`` node comes later in the file."""
    array = ctx.values.get(value)
    if isinstance(array, np.ndarray):
        return array
    node = ctx.producer.get(value)
    if node is not None and node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
        return numpy_helper.to_array(node.attribute[0].t)
    return None


def _only(ctx, value, op_type):
    users = ctx.consumers.get(value, [])
    if len(users) != 1 or users[0].op_type != op_type or value in ctx.graph_outputs:
        return None
    return users[0]


def match_even_lrn(ctx, node, pads, rank) -> bool:
    """LRN of an even size as netspec's backend writes it (ONNX centres even windows one
    channel later than PyTorch): ``x / (bias + alpha/size * window_sum(x^2))^beta`` with the
    window sum made of ``size`` shifted slices of the channel-padded square. The match
    starts at the ``Pad`` and claims the nodes up to the final ``Div``."""
    square = _producer(ctx, node.input[0], "Mul")
    if square is None or square.input[0] != square.input[1] or not isinstance(ctx.values.get(square.input[0]), View):
        return False
    begin, end = pads[1], pads[rank + 1]
    size = 2 * begin
    if begin < 1 or end != begin - 1 or any(p for i, p in enumerate(pads) if i not in (1, rank + 1)):
        return False
    slices = ctx.consumers.get(node.output[0], [])
    if len(slices) != size or any(s.op_type != "Slice" for s in slices):
        return False
    total = _only(ctx, slices[0].output[0], "Sum")
    if total is None or sorted(total.input) != sorted(s.output[0] for s in slices):
        return False
    chain, value, found = [], total.output[0], {}
    for op_type in ("Mul", "Add", "Pow", "Div"):
        step = _only(ctx, value, op_type)
        if step is None:
            return False
        chain.append(step)
        other = step.input[1] if step.input[0] == value else step.input[0]
        if op_type == "Div":
            if list(step.input) != [square.input[0], value]:
                return False
        else:
            constant = _later_constant(ctx, other)
            if constant is None or constant.size != 1:
                return False
            found[op_type] = float(constant.reshape(-1)[0])
        value = step.output[0]
    x = ctx.values[square.input[0]]
    final = chain[-1]
    ctx.node = final
    name = ctx.emit("lrn", {"size": size, "alpha": short_float(found["Mul"] * size), "beta": found["Pow"],
                            "bias": found["Add"]}, [ctx.materialise(x)])
    ctx.node = node
    for claimed in (*slices, total, *chain):
        ctx.claim(claimed)
    ctx.set_value(final.output[0], View.of(name, rank))
    return True
