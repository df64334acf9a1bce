"""Emitters for activations, merges, normalisation and data movement.

Each emitter writes a value named ``node.name``; see :mod:`.context` for the conventions.
"""
from __future__ import annotations

import math

from .context import TO_END
from .table import TABLE


# ---------------------------------------------------------------- activations
def _unary(onnx_op, **fixed):
    def emit(ctx, node, xs):
        attrs = {key: float(node.attrs[key]) for key in fixed.get("float_attrs", ())}
        ctx.add(onnx_op, xs, node.name, **attrs)
    return emit


TABLE.register("relu")(_unary("Relu"))
TABLE.register("sigmoid")(_unary("Sigmoid"))
TABLE.register("tanh")(_unary("Tanh"))
TABLE.register("leaky_relu")(_unary("LeakyRelu", float_attrs=("alpha",)))
TABLE.register("elu")(_unary("Elu", float_attrs=("alpha",)))
# Inference graphs only: dropout is the identity (as in every backend's eval mode).
TABLE.register("dropout")(_unary("Identity"))


@TABLE.register("softmax")
def emit_softmax(ctx, node, xs):
    # Opset 13 redefined Softmax to act on one axis (earlier: on a flattened tail), which is
    # why 13 is the oldest opset netspec emits.
    ctx.add("Softmax", xs, node.name, axis=node.attrs["axis"])


@TABLE.register("gelu")
def emit_gelu(ctx, node, xs):
    """Native ``Gelu`` from opset 20; before that the formula itself, with the same
    constants PyTorch uses, so both forms agree to float rounding."""
    x, = xs
    approximate = node.attrs["approximate"]
    if ctx.opset >= 20:
        ctx.add("Gelu", [x], node.name, approximate=approximate)
        return
    if approximate == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = ctx.add("Mul", [ctx.add("Mul", [x, x]), x], suffix="cube")
        inner = ctx.add("Add", [x, ctx.add("Mul", [cube, ctx.const(0.044715, "k")])])
        gate = ctx.add("Tanh", [ctx.add("Mul", [inner, ctx.const(math.sqrt(2 / math.pi), "k")])])
    else:
        # 0.5 x (1 + erf(x / sqrt(2)))
        gate = ctx.add("Erf", [ctx.add("Div", [x, ctx.const(math.sqrt(2.0), "sqrt2")])])
    half_x = ctx.add("Mul", [x, ctx.const(0.5, "half")])
    ctx.add("Mul", [half_x, ctx.add("Add", [gate, ctx.const(1.0, "one")])], node.name)


# ---------------------------------------------------------------- merges
@TABLE.register("add")
def emit_add(ctx, node, xs):
    ctx.add("Add" if len(xs) == 2 else "Sum", xs, node.name)


@TABLE.register("multiply")
def emit_multiply(ctx, node, xs):
    acc = xs[0]
    for i, x in enumerate(xs[1:], start=2):
        acc = ctx.add("Mul", [acc, x], node.name if i == len(xs) else None)


@TABLE.register("concat")
def emit_concat(ctx, node, xs):
    ctx.add("Concat", xs, node.name, axis=node.attrs["axis"])


# ---------------------------------------------------------------- normalisation
@TABLE.register("batchnorm")
def emit_batchnorm(ctx, node, xs):
    params = [ctx.weight(p) for p in ("weight", "bias", "running_mean", "running_var")]
    ctx.add("BatchNormalization", [xs[0], *params], node.name, epsilon=node.attrs["eps"])


@TABLE.register("layernorm")
def emit_layernorm(ctx, node, xs):
    ctx.require(17, "LayerNormalization")
    ctx.add("LayerNormalization", [xs[0], ctx.weight("weight"), ctx.weight("bias")], node.name,
            axis=node.attrs["axes"][0], epsilon=node.attrs["eps"])


@TABLE.register("lrn")
def emit_lrn(ctx, node, xs):
    """ONNX ``LRN`` for odd sizes. For even sizes ONNX centres the window one channel later
    than PyTorch (ONNX sums channels c-(n/2-1) .. c+n/2, PyTorch c-n/2 .. c+n/2-1), so the
    PyTorch window is composed: square, zero-pad the channel axis, and add ``size`` shifted
    channel slices (a fixed number of nodes, whatever the rank or the sizes)."""
    a = node.attrs
    size = a["size"]
    if size % 2:
        ctx.add("LRN", xs, node.name, size=size, alpha=a["alpha"], beta=a["beta"], bias=a["bias"])
        return
    x, = xs
    rank = ctx.graph.node(node.inputs[0]).type.rank
    square = ctx.add("Mul", [x, x], suffix="square")
    pads = [0] * (2 * rank)
    pads[1], pads[rank + 1] = size // 2, size // 2 - 1
    padded = ctx.add("Pad", [square, ctx.const(pads, "pads")], suffix="pad")
    axis = ctx.const([1], "axis")
    shifted = [ctx.add("Slice", [padded, ctx.const([k], "start"),
                                 ctx.const([k - size + 1 if k < size - 1 else TO_END], "end"), axis],
                       suffix="shift") for k in range(size)]
    total = ctx.add("Sum", shifted, suffix="window_sum")
    scaled = ctx.add("Mul", [total, ctx.const(a["alpha"] / size, "alpha_over_size")])
    denom = ctx.add("Pow", [ctx.add("Add", [scaled, ctx.const(a["bias"], "bias")]),
                            ctx.const(a["beta"], "beta")], suffix="denominator")
    ctx.add("Div", [x, denom], node.name)


# ---------------------------------------------------------------- data movement
@TABLE.register("flatten")
def emit_flatten(ctx, node, xs):
    ctx.add("Flatten", xs, node.name, axis=1)


@TABLE.register("reshape")
def emit_reshape(ctx, node, xs):
    # The leading 0 copies the batch axis, which keeps it dynamic.
    ctx.reshape(xs[0], [0, *node.attrs["shape"]], node.name)


@TABLE.register("transpose")
def emit_transpose(ctx, node, xs):
    ctx.transpose(xs[0], node.attrs["perm"], node.name)


PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


@TABLE.register("pad")
def emit_pad(ctx, node, xs):
    pairs = node.attrs["pads"]
    pads = ctx.const([0, 0, *(b for b, _ in pairs), 0, 0, *(e for _, e in pairs)], "pads")
    inputs = [xs[0], pads]
    if node.attrs["mode"] == "constant":
        inputs.append(ctx.const(node.attrs["value"], "value"))
    ctx.add("Pad", inputs, node.name, mode=PAD_MODES[node.attrs["mode"]])


@TABLE.register("crop")
def emit_crop(ctx, node, xs):
    crops = node.attrs["crop"]
    starts = [b for b, _ in crops]
    ends = [-e if e else TO_END for _, e in crops]
    axes = list(range(2, 2 + len(crops)))
    ctx.add("Slice", [xs[0], ctx.const(starts, "starts"), ctx.const(ends, "ends"),
                      ctx.const(axes, "axes")], node.name)


@TABLE.register("upsample")
def emit_upsample(ctx, node, xs):
    """``Resize`` with the coordinate rules that reproduce PyTorch's ``interpolate``:
    nearest = floor(out / scale) (ONNX 'asymmetric' + 'floor'); bilinear = 'half_pixel'
    ('align_corners' when asked). Integer scales make the size and scale conventions agree."""
    a = node.attrs
    scales = ctx.const([1.0, 1.0, *map(float, a["scale"])], "scales")
    roi = ctx.const([], "roi", dtype="float32")
    if a["mode"] == "nearest":
        ctx.add("Resize", [xs[0], roi, scales], node.name, mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        ctx.add("Resize", [xs[0], roi, scales], node.name, mode="linear",
                coordinate_transformation_mode="align_corners" if a["align_corners"] else "half_pixel")


@TABLE.register("embedding")
def emit_embedding(ctx, node, xs):
    ctx.add("Gather", [ctx.weight("weight"), xs[0]], node.name, axis=0)


@TABLE.register("dense")
def emit_dense(ctx, node, xs):
    """``Gemm`` (transB, so the canonical [units, in] weight is used as is) on 2-d inputs;
    ``MatMul`` with the transposed weight on (N, ..., features) inputs."""
    x, = xs
    rank = ctx.graph.node(node.inputs[0]).type.rank
    bias = [ctx.weight("bias")] if ctx.has_weight("bias") else []
    if rank == 2:
        ctx.add("Gemm", [x, ctx.weight("weight"), *bias], node.name, transB=1)
        return
    w_t = ctx.transpose(ctx.weight("weight"), [1, 0])
    if not bias:
        ctx.add("MatMul", [x, w_t], node.name)
        return
    ctx.add("Add", [ctx.add("MatMul", [x, w_t]), bias[0]], node.name)
