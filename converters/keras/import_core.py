"""Importers of Keras's core layers: activations, Dense, Embedding, merges, Dropout,
Rescaling and Normalization.

Element-wise layers compute in whatever view their input is in (a ReLU after a Flatten of
a map stays in Keras's element order), so they never cost a transpose.
"""
from __future__ import annotations

import keras
import numpy as np

from netspec.ops.types import CHANNELS_FIRST

from .context import ImportContext, as_array
from .registry import TABLE, class_key
from .values import Value, identity

# ---------------------------------------------------------------- activations
ACTIVATIONS: dict = {}


def activation(*names):
    """Register ``impl(ctx, value, suffix) -> Value`` for Keras activation names."""
    def wrap(fn):
        for name in names:
            if name in ACTIVATIONS:
                raise RuntimeError(f"keras importer: activation '{name}' is registered twice")
            ACTIVATIONS[name] = fn
        return fn
    return wrap


def elementwise(ctx: ImportContext, value: Value, op: str, attrs: dict | None = None,
                suffix: str | None = None) -> Value:
    """One element-wise graph op on ``value``, in its own view."""
    (node,), lead = ctx.operands([value])
    return ctx.like(ctx.emit(op, attrs or {}, [node], suffix=suffix), lead)


def scalar(ctx: ImportContext, like: str, number: float) -> str:
    """A constant of one element, broadcast against ``like`` by ``binary`` ops."""
    t = ctx.type_of(like)
    return ctx.emit("constant", {"shape": (1,) * t.rank, "layout": t.layout}, [],
                    {"value": np.full((1,) * t.rank, number, np.float32)}, suffix="const")


def binary(ctx: ImportContext, fn: str, x: str, y: str, suffix: str | None = None) -> str:
    return ctx.emit("binary", {"fn": fn}, [x, y], suffix=suffix)


for _name, _op, _attrs in (("relu", "relu", {}), ("sigmoid", "sigmoid", {}), ("tanh", "tanh", {}),
                           ("elu", "elu", {"alpha": 1.0}),
                           ("leaky_relu", "leaky_relu", {"alpha": 0.2}),  # keras.activations' default slope
                           ("gelu", "gelu", {"approximate": "none"}),     # keras.activations.gelu is exact
                           ("relu6", "clip", {"min": 0.0, "max": 6.0})):
    activation(_name)(lambda ctx, v, suffix, op=_op, attrs=_attrs: elementwise(ctx, v, op, attrs, suffix))


@activation("softmax")
def act_softmax(ctx, value, suffix, axis=-1):
    if value.is_flat:  # softmax over all features does not care about their order
        return ctx.like(ctx.emit("softmax", {"axis": 1}, [value.node], suffix=suffix), value)
    (node,), lead = ctx.operands([value])
    return ctx.like(ctx.emit("softmax", {"axis": ctx.graph_axis(lead, axis)}, [node], suffix=suffix), lead)


@activation("silu", "swish")
def act_silu(ctx, value, suffix):
    (node,), lead = ctx.operands([value])
    gate = ctx.emit("sigmoid", {}, [node], suffix=f"{suffix or 'silu'}_gate")
    return ctx.like(ctx.emit("multiply", {}, [node, gate], suffix=suffix), lead)


@activation("hard_sigmoid")
def act_hard_sigmoid(ctx, value, suffix):
    """Keras: relu6(x + 3) / 6, i.e. clip(x / 6 + 1/2, 0, 1)."""
    (node,), lead = ctx.operands([value])
    return ctx.like(_hard_sigmoid(ctx, node, suffix or "hard_sigmoid"), lead)


def _hard_sigmoid(ctx, node, suffix):
    scaled = binary(ctx, "mul", node, scalar(ctx, node, 1.0 / 6.0), suffix=f"{suffix}_scale")
    shifted = binary(ctx, "add", scaled, scalar(ctx, node, 0.5), suffix=f"{suffix}_shift")
    return ctx.emit("clip", {"min": 0.0, "max": 1.0}, [shifted], suffix=suffix)


@activation("hard_silu", "hard_swish")
def act_hard_silu(ctx, value, suffix):
    (node,), lead = ctx.operands([value])
    gate = _hard_sigmoid(ctx, node, f"{suffix or 'hard_silu'}_gate")
    return ctx.like(ctx.emit("multiply", {}, [node, gate], suffix=suffix), lead)


def activation_name(layer, key: str = "activation") -> str:
    """The name of a layer's activation (``"linear"`` when it has none)."""
    name = layer.get_config().get(key)
    if name is None:
        return "linear"
    if not isinstance(name, str):
        name = keras.activations.serialize(getattr(layer, key))
    return name if isinstance(name, str) else str(name)


def apply_activation(ctx: ImportContext, value: Value, name: str, suffix: str | None = None) -> Value:
    if name == "linear":
        return value
    impl = ACTIVATIONS.get(name)
    if impl is None:
        raise ctx.refuse("activation", repr(name), f"netspec imports the activations {', '.join(sorted(ACTIVATIONS))}")
    return impl(ctx, value, suffix)


def fused_activation(ctx: ImportContext, layer, value: Value) -> Value:
    """A layer's ``activation=`` argument as its own node, named ``layer.<activation>``."""
    name = activation_name(layer)
    return apply_activation(ctx, value, name, suffix=name)


def activation_problem(layer):
    """Why a layer's ``activation=`` cannot be imported, or None (checked before building)."""
    if not isinstance(layer, keras.layers.Layer) or "activation" not in layer.get_config():
        return None
    name = activation_name(layer)
    return None if name == "linear" or name in ACTIVATIONS else f"activation {name!r} has no netspec equivalent"


@TABLE.register("Activation", check=activation_problem)
def import_activation(ctx, layer):
    return apply_activation(ctx, ctx.values[0], activation_name(layer))


@TABLE.register("ReLU")
def import_relu(ctx, layer):
    v = ctx.values[0]
    max_value = None if layer.max_value is None else float(layer.max_value)
    slope, threshold = float(layer.negative_slope), float(layer.threshold)
    if threshold != 0.0:
        raise ctx.refuse("ReLU with a threshold", f"threshold={threshold}")
    if slope == 0.0:
        return elementwise(ctx, v, "relu") if max_value is None else elementwise(
            ctx, v, "clip", {"min": 0.0, "max": max_value})
    if max_value is None:
        return elementwise(ctx, v, "leaky_relu", {"alpha": slope})
    raise ctx.refuse("ReLU with both a negative slope and a max value",
                     f"negative_slope={slope}, max_value={max_value}")


@TABLE.register("LeakyReLU")
def import_leaky_relu(ctx, layer):
    return elementwise(ctx, ctx.values[0], "leaky_relu", {"alpha": float(layer.negative_slope)})


@TABLE.register("ELU")
def import_elu(ctx, layer):
    return elementwise(ctx, ctx.values[0], "elu", {"alpha": float(layer.alpha)})


@TABLE.register("Softmax")
def import_softmax(ctx, layer):
    axis = layer.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ctx.refuse("Softmax over several axes", f"axis={list(axis)}")
        axis = axis[0]
    return act_softmax(ctx, ctx.values[0], None, axis=axis)


# ---------------------------------------------------------------- dense and embedding
@TABLE.register("Dense")
def import_dense(ctx, layer):
    """Dense on the last axis. After a Flatten of a channels-last map the weight columns are
    taken in the map's Keras element order (no transpose); on a channels-last map itself
    (Dense acts on channels) it is the 1x1 convolution it computes."""
    v = ctx.values[0]
    kernel = as_array(layer.kernel)  # (in, units)
    units = int(layer.units)
    params = {"bias": as_array(layer.bias)} if layer.use_bias else {}
    attrs = {"units": units, "bias": bool(layer.use_bias)}
    if v.is_flat:
        weight = np.empty((units, kernel.shape[0]), np.float32)
        weight[:, v.order] = kernel.T
        node = ctx.emit("dense", attrs, [v.node], {"weight": weight, **params})
        out = Value.of(node, 2)
    elif (v.rank > 2 and not v.is_const and v.perm[-1] == 1
          and ctx.type_of(v.node).layout == CHANNELS_FIRST):
        nd = v.rank - 2
        weight = kernel.T.reshape(units, kernel.shape[0], *(1,) * nd)
        node = ctx.emit("conv", {"filters": units, "kernel": 1, "bias": bool(layer.use_bias)}, [v.node],
                        {"weight": weight, **params})
        out = Value(node, v.perm)
    else:
        node = ctx.emit("dense", attrs, [ctx.plain(v)], {"weight": kernel.T, **params})
        out = Value.of(node, v.rank)
    out = fused_activation(ctx, layer, out)
    if out.rank == 2 and not out.is_flat and ctx.type_of(node).rank == 2 and ctx.graph.node(node).op == "dense":
        out = Value(out.node, out.perm, dense=node)
    return out


@TABLE.register("Embedding", wants="plain")
def import_embedding(ctx, layer):
    if getattr(layer, "mask_zero", False):
        raise ctx.refuse("mask_zero (masking the layers after it)", "mask_zero=True",
                         "netspec layers do not take masks; build the model without mask_zero")
    x = ctx.plain(ctx.values[0])
    if not ctx.type_of(x).dtype.startswith("int"):
        x = ctx.emit("cast", {"dtype": "int64"}, [x], suffix="ids")
    weight = as_array(layer.embeddings)
    node = ctx.emit("embedding", {"vocab": weight.shape[0], "dim": weight.shape[1]}, [x], {"weight": weight})
    return Value.of(node, ctx.type_of(node).rank)


# ---------------------------------------------------------------- merges
def _same_shapes(ctx, names) -> bool:
    """Whether ``add``/``multiply`` (no broadcasting) fit: equal ranks and sizes."""
    shapes = [ctx.type_of(n).shape for n in names]
    return all(len(s) == len(shapes[0]) and tuple(s[1:]) == tuple(shapes[0][1:]) for s in shapes)


def merge(ctx, native: str | None, fn: str) -> Value:
    """``add``/``multiply`` for inputs of one shape; ``binary`` ops (numpy broadcasting, as
    Keras's merge layers broadcast size-1 axes) otherwise, folded left to right."""
    names, lead = ctx.operands(ctx.values)
    if native is not None and _same_shapes(ctx, names):
        return ctx.like(ctx.emit(native, {}, names), lead)
    acc = names[0]
    for i, other in enumerate(names[1:], start=1):
        acc = binary(ctx, fn, acc, other, suffix=None if i == len(names) - 1 else f"step{i}")
    return ctx.like(acc, lead)


TABLE.register("Add")(lambda ctx, layer: merge(ctx, "add", "add"))
TABLE.register("Multiply")(lambda ctx, layer: merge(ctx, "multiply", "mul"))
TABLE.register("Subtract")(lambda ctx, layer: merge(ctx, None, "sub"))
TABLE.register("Maximum")(lambda ctx, layer: merge(ctx, None, "max"))
TABLE.register("Minimum")(lambda ctx, layer: merge(ctx, None, "min"))


@TABLE.register("Average")
def import_average(ctx, layer):
    names, lead = ctx.operands(ctx.values)
    total = ctx.emit("add", {}, names, suffix="sum") if _same_shapes(ctx, names) else merge(ctx, None, "add").node
    return ctx.like(binary(ctx, "mul", total, scalar(ctx, total, 1.0 / len(names))), lead)


@TABLE.register("Concatenate")
def import_concatenate(ctx, layer):
    values = ctx.values
    if values[0].rank == 2 and any(v.is_flat for v in values):
        # flattened maps joined: the graph joins their canonical flattens, the element
        # order of the result is the orders of the parts side by side
        names, orders, offset = [], [], 0
        for v in values:
            node = v.node if v.is_flat else ctx.plain(v)
            size = ctx.type_of(node).shape[1]
            if size is None:
                names = None
                break
            names.append(node)
            orders.append((v.order if v.is_flat else np.arange(size)) + offset)
            offset += size
        if names is not None:
            node = ctx.emit("concat", {"axis": 1}, names)
            order = np.concatenate(orders)
            return Value.of(node, 2) if np.array_equal(order, np.arange(order.size)) else Value(node, (0, 1), order)
    names, lead = ctx.operands(values)
    if lead.is_flat:
        names, lead = [ctx.plain(v) for v in values], Value.of(ctx.plain(values[0]), 2)
    node = ctx.emit("concat", {"axis": ctx.graph_axis(lead, layer.axis)}, names)
    return Value(node, lead.perm)


# ---------------------------------------------------------------- regularisation and scaling
@TABLE.register("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
def import_dropout(ctx, layer):
    """Identity in inference; kept as netspec's dropout so training it again drops too
    (Spatial* drop whole channels in training, netspec's dropout single elements)."""
    return elementwise(ctx, ctx.values[0], "dropout", {"rate": float(layer.rate)})


def _affine(ctx, value: Value, scale, offset, divide: bool = False) -> Value:
    """``x * scale + offset`` (or ``(x - offset) / scale``) with constants in Keras layout."""
    (node,), lead = ctx.operands([value])
    out = node
    scale = np.asarray(scale, np.float32)
    offset = np.asarray(offset, np.float32)
    if divide:
        if np.any(offset != 0):
            out = binary(ctx, "sub", out, _const_like(ctx, offset, lead), suffix="center")
        if np.any(scale != 1):
            out = binary(ctx, "div", out, _const_like(ctx, scale, lead), suffix="scale")
    else:
        if np.any(scale != 1):
            out = binary(ctx, "mul", out, _const_like(ctx, scale, lead), suffix="scale")
        if np.any(offset != 0):
            out = binary(ctx, "add", out, _const_like(ctx, offset, lead), suffix="offset")
    if out == node:
        out = ctx.emit("dropout", {"rate": 0.0}, [node], suffix="identity")
    return ctx.like(out, lead)


def _const_like(ctx, array, lead: Value) -> str:
    names, _ = ctx.operands([lead, Value(None, identity(lead.rank), const=np.asarray(array, np.float32))])
    return names[1]


@TABLE.register("Rescaling")
def import_rescaling(ctx, layer):
    return _affine(ctx, ctx.values[0], layer.scale, layer.offset)


@TABLE.register("Normalization")
def import_normalization(ctx, layer):
    """Keras: ``(x - mean) / max(sqrt(var), epsilon)``; ``invert``: ``mean + x * that``."""
    rank = ctx.values[0].rank
    shape = (1, *[ctx.in_shapes[0][d] if d in layer._keep_axis else 1 for d in range(1, rank)])
    mean = as_array(layer.mean).reshape(shape)
    std = np.maximum(np.sqrt(as_array(layer.variance).reshape(shape)), keras.backend.epsilon())
    if layer.invert:
        return _affine(ctx, ctx.values[0], std, mean)
    return _affine(ctx, ctx.values[0], std, mean, divide=True)


@TABLE.register("LayerScale")
def import_layer_scale(ctx, layer):
    """keras.applications' ConvNeXt LayerScale, ``x * gamma`` per channel: on a map, the
    depthwise 1x1 convolution it is (gamma stays a trainable parameter); else a product
    with a constant."""
    v = ctx.values[0]
    gamma = as_array(layer.gamma)
    if v.rank > 2 and not v.is_const and not v.is_flat and v.perm[-1] == 1 \
            and ctx.type_of(v.node).layout == CHANNELS_FIRST:
        c = gamma.shape[0]
        node = ctx.emit("conv", {"filters": c, "kernel": 1, "groups": c, "bias": False}, [v.node],
                        {"weight": gamma.reshape(c, 1, *(1,) * (v.rank - 2))})
        return Value(node, v.perm)
    (x, g), lead = ctx.operands([v, Value(None, identity(1), const=gamma)])
    return ctx.like(binary(ctx, "mul", x, g), lead)


# Layers that act on the last axis (or element-wise), so that applying them to every time
# step is applying them to the whole (N, T, ...) tensor.
PER_STEP = ("Dense", "Dropout", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax")


def _time_distributed_check(layer):
    inner = type(layer.layer).__name__
    return None if inner in PER_STEP and class_key(layer.layer) == inner else (
        f"TimeDistributed({inner}) has no netspec equivalent (netspec imports it around "
        f"{', '.join(PER_STEP)})")


@TABLE.register("TimeDistributed", wants="plain", check=_time_distributed_check)
def import_time_distributed(ctx, layer):
    problem = _time_distributed_check(layer)
    if problem:
        raise ctx.error(problem)
    return TABLE.entries[class_key(layer.layer)].importer(ctx, layer.layer)


@TABLE.register("GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization")
def import_inference_identity(ctx, layer):
    """Identities in inference that netspec has no op for (noise and a loss term act only
    while training): the layer disappears, and a graph trained again lacks it."""
    return ctx.values[0]


@TABLE.register("PReLU")
def import_prelu(ctx, layer):
    """``relu(x) - alpha * relu(-x)``, with Keras's learnt ``alpha`` (shaped like the input
    without the batch axis, size 1 along ``shared_axes``) as a constant."""
    (x, alpha), lead = ctx.operands([ctx.values[0], Value(None, identity(ctx.values[0].rank),
                                                          const=as_array(layer.alpha)[None])])
    positive = ctx.emit("relu", {}, [x], suffix="positive")
    negated = ctx.emit("unary", {"fn": "neg"}, [x], suffix="negated")
    negative = binary(ctx, "mul", ctx.emit("relu", {}, [negated], suffix="negative"), alpha, suffix="scaled")
    return ctx.like(binary(ctx, "sub", positive, negative), lead)
