"""Importers for activations, softmax, merges, normalisation and the identities.

Element-wise activations commute with axis moves, so they act on the viewed node directly
and keep the view (a time-major tensor can be ``Tanh``-ed without transposing it first).
"""
from __future__ import annotations

import numpy as np

from netspec.ops.types import CHANNELS_FIRST

from .context import short_float
from .import_lowlevel import import_binary
from .import_patterns import match_gelu
from .import_shape import concat_shapes
from .registry import TABLE
from .values import View


# ---------------------------------------------------------------- activations
def _unary(op, **attr_map):
    """An importer for an element-wise ONNX op that is netspec op ``op``; ``attr_map``
    names the netspec attribute each ONNX attribute becomes."""
    def importer(ctx, node):
        view = ctx.view(0)
        a = ctx.attrs()
        attrs = {ours: float(a[theirs]) for ours, theirs in attr_map.items()}
        name = ctx.emit(op, attrs, [view.node])
        ctx.set_output(0, View(name, view.axes))
    importer.__doc__ = f"ONNX element-wise op -> netspec {op}."
    return importer


TABLE.register("Relu", 1)(_unary("relu"))
TABLE.register("Sigmoid", 1)(_unary("sigmoid"))
TABLE.register("Tanh", 1)(_unary("tanh"))
TABLE.register("LeakyRelu", 1)(_unary("leaky_relu", alpha="alpha"))
TABLE.register("Elu", 1)(_unary("elu", alpha="alpha"))


@TABLE.register("Gelu", 20)
def import_gelu(ctx, node):
    view = ctx.view(0)
    name = ctx.emit("gelu", {"approximate": ctx.attrs()["approximate"]}, [view.node])
    ctx.set_output(0, View(name, view.axes))


@TABLE.register("Identity", 1)
def import_identity(ctx, node):
    """A runtime Identity passes its input on (the consumers read the same node)."""
    ctx.set_output(0, ctx.values[node.input[0]])


@TABLE.register("Dropout", 1)
def import_dropout(ctx, node):
    """Imported graphs are for inference, where dropout is the identity: the node leaves no
    trace. A model that asks for training-mode dropout, or uses the mask, is refused."""
    if ctx.has_input(2):
        mode = ctx.const(2, "training_mode")
        if bool(np.asarray(mode).reshape(-1)[0]):
            raise ctx.error("is in training mode; netspec imports inference graphs",
                            "export the model in eval mode")
    if len(node.output) > 1 and ctx.is_used(node.output[1]):
        raise ctx.error("its mask output is used; netspec's dropout has no mask output")
    ctx.set_output(0, ctx.values[node.input[0]])


# ---------------------------------------------------------------- softmax
@TABLE.register("Softmax", 1)
def import_softmax_v1(ctx, node):
    """Before opset 13 Softmax normalised over all axes from ``axis`` on (flattened), which
    is a one-axis softmax only when ``axis`` is the last axis (or every later size is 1)."""
    view = ctx.view(0)
    dims = ctx.dims(view)
    axis = ctx.attrs()["axis"] % len(dims)
    if any(d != 1 for d in dims[axis + 1:]):
        raise ctx.error(f"normalises over the flattened axes {axis}.. of a rank-{len(dims)} tensor "
                        "(opset < 13 semantics), which netspec's one-axis softmax cannot express",
                        "re-export with opset 13 or newer")
    _softmax(ctx, view, axis)


@TABLE.register("Softmax", 13)
def import_softmax(ctx, node):
    view = ctx.view(0)
    _softmax(ctx, view, ctx.attrs()["axis"] % len(view.axes))


def _softmax(ctx, view, axis):
    if axis == 0:
        raise ctx.error("normalises over the batch axis, which netspec's softmax cannot")
    ctx.produce("softmax", {"axis": axis}, [ctx.materialise(view)])


# ---------------------------------------------------------------- merges
def _same_layout(ctx, names):
    """Merges need one layout; later inputs are relabelled to the first one's."""
    layout = ctx.ir_type(names[0]).layout
    return [names[0]] + [ctx.materialise(View.of(n, ctx.ir_type(n).rank), layout) for n in names[1:]]


def _fuse_bias(ctx, node):
    """``Add(x, b)`` with constant ``b`` right after a bias-free dense (MatMul) or conv is
    that layer's bias: exporters split ``x W + b`` this way. Returns True when fused."""
    values = [ctx.value(0), ctx.value(1)]
    consts = [i for i, v in enumerate(values) if isinstance(v, np.ndarray)]
    views = [i for i, v in enumerate(values) if isinstance(v, View)]
    if len(consts) != 1 or len(views) != 1:
        return False
    view, bias = values[views[0]], values[consts[0]]
    pending = ctx.pending.get(view.node)
    if (pending is None or pending.op not in ("dense", "conv") or pending.attrs.get("bias")
            or not view.is_identity(pending.type.rank) or not ctx.single_consumer(node.input[views[0]])
            or bias.dtype.kind != "f"):
        return False
    rank = pending.type.rank
    if bias.ndim > rank:
        return False
    aligned = (1,) * (rank - bias.ndim) + tuple(bias.shape)  # numpy broadcasting aligns right
    axis = 1 if pending.op == "conv" else rank - 1
    units = pending.type.shape[axis]
    ok = aligned[axis] == units and all(d == 1 for i, d in enumerate(aligned) if i != axis)
    if not ok:
        return False
    pending.attrs["bias"] = True
    pending.params["bias"] = np.array(bias.reshape(-1), dtype=np.float32)  # own, writable copy
    ctx.set_output(0, view, adopt=True)
    return True


def _same_shape(ctx) -> bool:
    """Both inputs are tensors of one shape (dynamic sizes agree with anything but a
    static 1, which would broadcast): netspec's add/multiply, else the broadcasting binary."""
    a, b = ctx.value(0), ctx.value(1)
    if not (isinstance(a, View) and isinstance(b, View)) or len(a.axes) != len(b.axes):
        return False
    for x, y in zip(ctx.dims(a), ctx.dims(b)):
        if isinstance(x, int) and isinstance(y, int):
            if x != y:
                return False
        elif x == 1 or y == 1:
            return False
    return True


def _merge(fn: str, op: str):
    """Two same-shape tensors become the layer op (``add``, ``multiply``); anything that
    broadcasts becomes the low-level ``binary`` op with ``fn``."""
    def emit(ctx, node):
        if not _same_shape(ctx):
            import_binary(ctx, node, fn)
            return
        names = [ctx.tensor(0, what="A"), ctx.tensor(1, what="B")]
        ctx.produce(op, {}, _same_layout(ctx, names))
    return emit


_add, _mul = _merge("add", "add"), _merge("mul", "multiply")


@TABLE.register("Add", 1)
def import_add(ctx, node):
    if not _fuse_bias(ctx, node):  # conv/matmul + bias first: the layer's own bias
        _add(ctx, node)


@TABLE.register("Sum", 1)
def import_sum(ctx, node):
    names = [ctx.tensor(i) for i in range(len(node.input))]
    if len(names) == 1:
        ctx.set_output(0, ctx.values[node.input[0]])
        return
    ctx.produce("add", {}, _same_layout(ctx, names))


@TABLE.register("Mul", 1)
def import_mul(ctx, node):
    if not match_gelu(ctx, node):  # the GELU formula below opset 20 is one gelu layer
        _mul(ctx, node)


@TABLE.register("Concat", 1)
def import_concat(ctx, node):
    values = [ctx.value(i) for i in range(len(node.input))]
    if not any(isinstance(v, View) for v in values):
        concat_shapes(ctx, node)
        return
    names = [ctx.tensor(i) for i in range(len(node.input))]
    rank = ctx.ir_type(names[0]).rank
    axis = ctx.attrs()["axis"] % rank
    if axis == 0:
        raise ctx.error("concatenates along the batch axis, which netspec's concat cannot")
    if len(names) == 1:
        ctx.set_output(0, View.of(names[0], rank))
        return
    ctx.produce("concat", {"axis": axis}, _same_layout(ctx, names))


# ---------------------------------------------------------------- normalisation
@TABLE.register("BatchNormalization", 1)
def import_batchnorm(ctx, node):
    """Inference batch norm with its four statistics as weights. ONNX's ``momentum`` weighs
    the running value (default 0.9); netspec's, as PyTorch's, the batch one: 1 - it."""
    a = ctx.attrs()
    if a.get("training_mode"):
        raise ctx.error("is in training mode; netspec imports inference graphs")
    if any(ctx.is_used(o) for o in node.output[1:]):
        raise ctx.error("its running-statistics outputs are used (training graph)")
    params = {"weight": ctx.weight(1, "scale"), "bias": ctx.weight(2, "B"),
              "running_mean": ctx.weight(3, "mean"), "running_var": ctx.weight(4, "var")}
    momentum = short_float(min(max(1.0 - float(a.get("momentum", 0.9)), 0.0), 1.0))
    ctx.produce("batchnorm", {"eps": float(a["epsilon"]), "momentum": momentum},
                [ctx.tensor(0)], params)


@TABLE.register("LayerNormalization", 17)
def import_layernorm(ctx, node):
    a = ctx.attrs()
    if any(ctx.is_used(o) for o in node.output[1:]):
        raise ctx.error("its Mean/InvStdDev outputs are used; netspec's layernorm has one output")
    x = ctx.tensor(0)
    t = ctx.ir_type(x)
    axes = list(range(a["axis"] % t.rank, t.rank))
    shape = tuple(t.shape[i] for i in axes)
    scale = ctx.weight(1, "Scale")
    bias = ctx.weight(2, "B", required=False)
    if None in shape or scale.size != int(np.prod(shape)):
        raise ctx.error(f"its scale {list(scale.shape)} does not cover the normalised sizes {list(shape)}")
    bias = np.zeros(shape, np.float32) if bias is None else bias
    if bias.size != scale.size:
        raise ctx.error(f"its bias {list(bias.shape)} does not cover the normalised sizes {list(shape)}")
    ctx.produce("layernorm", {"axes": axes, "eps": float(a["epsilon"])}, [x],
                {"weight": scale.reshape(shape), "bias": bias.reshape(shape)})


@TABLE.register("LRN", 1)
def import_lrn(ctx, node):
    a = ctx.attrs()
    if a["size"] % 2 == 0:
        raise ctx.error(f"has an even size {a['size']}; ONNX centres even windows one channel "
                        "later than netspec's (PyTorch's) lrn")
    ctx.produce("lrn", {"size": a["size"], "alpha": float(a["alpha"]), "beta": float(a["beta"]),
                        "bias": float(a["bias"])}, [ctx.tensor(0, CHANNELS_FIRST)])
