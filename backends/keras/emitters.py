"""The Keras emitter table: one function per op, plus one weight map per op with parameters.

An emitter has the signature ``emit(node, ctx) -> KerasTensor``: it reads its inputs in
their held (channels-last) form from ``ctx``, creates Keras layers named after the node
(the layer holding the weights is named ``layer_name(node.name)``; auxiliary layers
``layer_name(node.name, role)``; when the node's output does not come from the first, it
comes from ``layer_name(node.name, "out")``) and returns the output tensor.

A weight map converts the node's canonical (PyTorch/ONNX layout) parameters into the list
:meth:`keras.layers.Layer.set_weights` takes for the node's layer, and back. Both
directions read the same decisions (which Keras layer an op became) from
:func:`conv_layer_kind` and friends, so a loaded model's weights read back correctly.
"""
from __future__ import annotations

import math

import keras
import numpy as np

from netspec.emitters import EmitterTable
from netspec.errors import NetspecError

from . import layers as L
from .layout import FLAT

TABLE = EmitterTable("keras")


def layer_name(node: str, role: str | None = None) -> str:
    """The Keras layer name of a node: '.' becomes '-', and auxiliary layers append
    '>role' (``layer1.0.conv1`` -> ``layer1-0-conv1``, its padding ``layer1-0-conv1>pad``).

    TensorFlow Keras accepts dots but Keras on PyTorch does not (layers are torch
    submodules), and one .keras file should load under every Keras backend; TensorFlow name
    scopes allow only ``[A-Za-z0-9_.\\/>-]``. Node names never contain '-' or '>', so the
    mapping is reversible (:func:`node_name`) and roles cannot collide with nodes."""
    name = node.replace(".", "-")
    return f"{name}>{role}" if role else name


def node_name(layer: str) -> str:
    return layer.partition(">")[0].replace("-", ".")
WEIGHTS: dict[str, "WeightMap"] = {}

LOWEST = float(np.finfo(np.float32).min)  # max pooling pads with this: padding never wins


class WeightMap:
    """``to_keras(node, ins) -> list of arrays`` and ``from_keras(node, ins, arrays) ->
    {param: array}``; ``ins`` are the :class:`~.layout.Held` forms of the node's inputs."""

    def to_keras(self, node, ins):
        raise NotImplementedError

    def from_keras(self, node, ins, arrays):
        raise NotImplementedError


def weights(*ops):
    """Class decorator registering one weight map for ``ops``; duplicates are an error."""
    def wrap(cls):
        for op in ops:
            if op in WEIGHTS:
                raise RuntimeError(f"keras: weight map for '{op}' registered twice")
            WEIGHTS[op] = cls()
        return cls
    return wrap


def _nd(node):
    return len(node.attrs["kernel"])


def _k_first(nd):
    """Canonical ``[A, B, *k]`` -> Keras ``(*k, B, A)`` (conv kernels, both directions)."""
    return (*range(2, 2 + nd), 1, 0)


def _k_back(nd):
    """Keras ``(*k, B, A)`` -> canonical ``[A, B, *k]``."""
    return (nd + 1, nd, *range(nd))


def _bias_list(node, kernel):
    return [kernel, node.params["bias"]] if node.attrs["bias"] else [kernel]


def _unpack(node, arrays, kernel_name="weight"):
    out = {kernel_name: arrays[0]}
    if node.attrs.get("bias"):
        out["bias"] = arrays[1]
    return out


def same_padding(pads, kernel, stride, dilation, sizes) -> bool:
    """Whether explicit pads equal TensorFlow's 'same' for these input sizes (extra at the end)."""
    for (b, e), k, s, d, n in zip(pads, kernel, stride, dilation, sizes):
        eff = d * (k - 1) + 1
        if n is None:
            if s != 1:
                return False
            total = eff - 1
        else:
            total = max((math.ceil(n / s) - 1) * s + eff - n, 0)
        if (b, e) != (total // 2, total - total // 2):
            return False
    return True


def _spatial(ctx, node, i=0):
    return ctx.graph.node(node.inputs[i]).type.spatial


# ================================================================ activations
def _simple(make):
    def emit(node, ctx):
        return make(node, name=layer_name(node.name))(ctx.input(node))
    return emit


for _op, _make in {
    "relu": lambda n, name: keras.layers.ReLU(name=name),
    "leaky_relu": lambda n, name: keras.layers.LeakyReLU(negative_slope=n.attrs["alpha"], name=name),
    "elu": lambda n, name: keras.layers.ELU(alpha=n.attrs["alpha"], name=name),
    "sigmoid": lambda n, name: keras.layers.Activation("sigmoid", name=name),
    "tanh": lambda n, name: keras.layers.Activation("tanh", name=name),
    "gelu": lambda n, name: L.Gelu(approximate=n.attrs["approximate"] == "tanh", name=name),
    "dropout": lambda n, name: keras.layers.Dropout(n.attrs["rate"], name=name),
    "lrn": lambda n, name: L.LRN(n.attrs["size"], n.attrs["alpha"], n.attrs["beta"], n.attrs["bias"], name=name),
}.items():
    TABLE.register(_op)(_simple(_make))


@TABLE.register("softmax")
def emit_softmax(node, ctx):
    axis = ctx.held(node.inputs[0]).held_axis(node.attrs["axis"])
    return keras.layers.Softmax(axis=axis, name=layer_name(node.name))(ctx.input(node))


# ================================================================ merges
@TABLE.register("add")
def emit_add(node, ctx):
    return keras.layers.Add(name=layer_name(node.name))(ctx.inputs(node))


@TABLE.register("multiply")
def emit_multiply(node, ctx):
    return keras.layers.Multiply(name=layer_name(node.name))(ctx.inputs(node))


@TABLE.register("concat")
def emit_concat(node, ctx):
    axis = ctx.held(node.inputs[0]).held_axis(node.attrs["axis"])
    return keras.layers.Concatenate(axis=axis, name=layer_name(node.name))(ctx.inputs(node))


# ================================================================ convolutions
def conv_layer_kind(node, in_channels) -> str:
    """'depthwise' (groups == in channels, 1d/2d: Keras has DepthwiseConv1D/2D) or 'conv'
    (Keras Conv*D, whose ``groups`` covers every other grouping)."""
    g = node.attrs["groups"]
    if g > 1 and g == in_channels and _nd(node) in (1, 2):
        return "depthwise"
    return "conv"


def conv_plan(node, sizes):
    """``(keras_padding, explicit_pads_or_None, stride_in_layer, subsample_or_None)``.

    Explicit pads become a ZeroPadding layer before a 'valid' convolution whenever Keras'
    'same'/'valid'/'causal' cannot express them. TensorFlow rejects stride > 1 together with
    dilation > 1, so that case convolves at stride 1 and subsamples.
    """
    a = node.attrs
    pads, stride, dilation, kernel = a["padding"], a["stride"], a["dilation"], a["kernel"]
    strided_dilated = any(s > 1 for s in stride) and any(d > 1 for d in dilation)
    if strided_dilated:
        explicit = pads if any(b or e for b, e in pads) else None
        return "valid", explicit, (1,) * len(stride), stride
    if all(b == 0 and e == 0 for b, e in pads):
        return "valid", None, stride, None
    if len(pads) == 1 and pads[0] == (dilation[0] * (kernel[0] - 1), 0):
        return "causal", None, stride, None
    if same_padding(pads, kernel, stride, dilation, sizes):
        return "same", None, stride, None
    return "valid", pads, stride, None


ZERO_PADDING = {1: keras.layers.ZeroPadding1D, 2: keras.layers.ZeroPadding2D, 3: keras.layers.ZeroPadding3D}
CROPPING = {1: keras.layers.Cropping1D, 2: keras.layers.Cropping2D, 3: keras.layers.Cropping3D}


def zero_pad(x, pads, name):
    arg = pads[0] if len(pads) == 1 else tuple(pads)
    return ZERO_PADDING[len(pads)](arg, name=name)(x)


def crop(x, crops, name):
    arg = crops[0] if len(crops) == 1 else tuple(crops)
    return CROPPING[len(crops)](arg, name=name)(x)


@TABLE.register("conv", "temporal_conv")
def emit_conv(node, ctx):
    a, nd = node.attrs, _nd(node)
    x = ctx.input(node)
    padding, explicit, stride, subsample = conv_plan(node, _spatial(ctx, node))
    if explicit is not None:
        x = zero_pad(x, explicit, layer_name(node.name, "pad"))
    common = dict(padding=padding, strides=stride, dilation_rate=a["dilation"], use_bias=a["bias"],
                  name=layer_name(node.name))
    if conv_layer_kind(node, ctx.graph.node(node.inputs[0]).type.channels) == "depthwise":
        cin = ctx.graph.node(node.inputs[0]).type.channels
        cls = {1: keras.layers.DepthwiseConv1D, 2: keras.layers.DepthwiseConv2D}[nd]
        y = cls(a["kernel"], depth_multiplier=a["filters"] // cin, **common)(x)
    else:
        cls = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[nd]
        y = cls(a["filters"], a["kernel"], groups=a["groups"], **common)(x)
    if subsample is not None:
        y = L.Subsample(subsample, name=layer_name(node.name, "out"))(y)
    return y


@weights("conv", "temporal_conv")
class ConvWeights(WeightMap):
    """conv ``[O, I/g, *k]`` -> Keras ``(*k, I/g, O)``; depthwise ``[C*m, 1, *k]`` ->
    ``(*k, C, m)`` (output channel c*m + j reads input channel c in both frameworks)."""

    @staticmethod
    def _depthwise(node):
        spec = next(s for s in node.param_specs if s.name == "weight")
        return conv_layer_kind(node, spec.shape[1] * node.attrs["groups"]) == "depthwise"

    def to_keras(self, node, ins):
        w, nd = node.params["weight"], _nd(node)
        if self._depthwise(node):
            cin = node.attrs["groups"]
            k = w.reshape(cin, w.shape[0] // cin, *w.shape[2:]).transpose(*range(2, 2 + nd), 0, 1)
        else:
            k = w.transpose(_k_first(nd))
        return _bias_list(node, np.ascontiguousarray(k))

    def from_keras(self, node, ins, arrays):
        k, nd = arrays[0], _nd(node)
        out = _unpack(node, arrays)
        if self._depthwise(node):
            cin, mult = k.shape[nd], k.shape[nd + 1]
            w = k.transpose(nd, nd + 1, *range(nd)).reshape(cin * mult, 1, *k.shape[:nd])
        else:
            w = k.transpose(_k_back(nd))
        out["weight"] = np.ascontiguousarray(w)
        return out


def transpose_conv_plan(node):
    """Keras output_padding and the crop that turns a 'valid' transposed convolution into the
    canonical one (PyTorch crops ``padding`` from both ends and adds ``output_padding``)."""
    a = node.attrs
    keras_op, crops = [], []
    for (b, e), op_, s in zip(a["padding"], a["output_padding"], a["stride"]):
        extra = max(op_ - e, 0)
        if extra and extra >= s:
            raise NetspecError(f"conv_transpose '{node.name}': output_padding {op_} beyond the "
                               f"end padding {e} must be smaller than the stride {s} in Keras",
                               node.where())
        keras_op.append(extra)
        crops.append((b, max(e - op_, 0)))
    return tuple(keras_op), tuple(crops)


@TABLE.register("conv_transpose")
def emit_conv_transpose(node, ctx):
    a, nd = node.attrs, _nd(node)
    keras_op, crops = transpose_conv_plan(node)
    x = ctx.input(node)
    if a["groups"] == 1:
        cls = {1: keras.layers.Conv1DTranspose, 2: keras.layers.Conv2DTranspose,
               3: keras.layers.Conv3DTranspose}[nd]
        layer = cls(a["filters"], a["kernel"], strides=a["stride"], padding="valid",
                    output_padding=keras_op, dilation_rate=a["dilation"], use_bias=a["bias"],
                    name=layer_name(node.name))
    else:
        layer = L.GroupedConvTranspose(a["filters"], a["kernel"], a["stride"], a["dilation"], a["groups"],
                                       use_bias=a["bias"], output_padding=keras_op, name=layer_name(node.name))
    y = layer(x)
    if any(b or e for b, e in crops):
        y = crop(y, crops, layer_name(node.name, "out"))
    return y


@weights("conv_transpose")
class ConvTransposeWeights(WeightMap):
    """``[I, O/g, *k]`` -> Keras ``(*k, O/g, I)``: both frameworks compute the exact adjoint
    of a cross-correlation, so no kernel flip is involved."""

    def to_keras(self, node, ins):
        return _bias_list(node, np.ascontiguousarray(node.params["weight"].transpose(_k_first(_nd(node)))))

    def from_keras(self, node, ins, arrays):
        out = _unpack(node, arrays)
        out["weight"] = np.ascontiguousarray(arrays[0].transpose(_k_back(_nd(node))))
        return out


@TABLE.register("locally_connected")
def emit_locally_connected(node, ctx):
    a = node.attrs
    x = ctx.input(node)
    if any(b or e for b, e in a["padding"]):
        x = zero_pad(x, a["padding"], layer_name(node.name, "pad"))
    return L.LocallyConnected(a["filters"], a["kernel"], a["stride"], use_bias=a["bias"], name=layer_name(node.name))(x)


@weights("locally_connected")
class LocallyConnectedWeights(WeightMap):
    """``[*out, F, C, *k]`` -> ``(P, K*C, F)`` with patches flattened as (*k, C);
    bias ``[F, *out]`` -> ``(*out, F)``."""

    def to_keras(self, node, ins):
        w = node.params["weight"]
        nd = _nd(node)
        out_sp, f, c, k = w.shape[:nd], w.shape[nd], w.shape[nd + 1], w.shape[nd + 2:]
        kernel = w.transpose(*range(nd), *range(nd + 2, 2 * nd + 2), nd + 1, nd)
        kernel = kernel.reshape(math.prod(out_sp), math.prod(k) * c, f)
        arrays = [np.ascontiguousarray(kernel)]
        if node.attrs["bias"]:
            arrays.append(np.ascontiguousarray(np.moveaxis(node.params["bias"], 0, -1)))
        return arrays

    def from_keras(self, node, ins, arrays):
        nd = _nd(node)
        out_sp = tuple(node.type.spatial)
        f, k = node.attrs["filters"], tuple(node.attrs["kernel"])
        c = arrays[0].shape[1] // math.prod(k)
        w = arrays[0].reshape(*out_sp, *k, c, f)
        w = w.transpose(*range(nd), 2 * nd + 1, 2 * nd, *range(nd, 2 * nd))
        out = {"weight": np.ascontiguousarray(w)}
        if node.attrs["bias"]:
            out["bias"] = np.ascontiguousarray(np.moveaxis(arrays[1], -1, 0))
        return out


# ================================================================ linear
@TABLE.register("dense")
def emit_dense(node, ctx):
    return keras.layers.Dense(node.attrs["units"], use_bias=node.attrs["bias"], name=layer_name(node.name))(
        ctx.input(node))


@weights("dense")
class DenseWeights(WeightMap):
    """``[out, in]`` -> ``(in, out)``; after a flatten held channels-last, the input rows are
    taken in the held element order (``W[:, order].T``), which keeps the flatten free."""

    def to_keras(self, node, ins):
        w = node.params["weight"]
        if ins[0].kind == FLAT:
            w = w[:, ins[0].order]
        return _bias_list(node, np.ascontiguousarray(w.T))

    def from_keras(self, node, ins, arrays):
        out = _unpack(node, arrays)
        w = arrays[0].T
        if ins[0].kind == FLAT:
            canonical = np.empty_like(w)
            canonical[:, ins[0].order] = w
            w = canonical
        out["weight"] = np.ascontiguousarray(w)
        return out


@TABLE.register("embedding")
def emit_embedding(node, ctx):
    return keras.layers.Embedding(node.attrs["vocab"], node.attrs["dim"], name=layer_name(node.name))(ctx.input(node))


@weights("embedding")
class EmbeddingWeights(WeightMap):
    def to_keras(self, node, ins):
        return [node.params["weight"]]

    def from_keras(self, node, ins, arrays):
        return {"weight": arrays[0]}


# ================================================================ normalisation
@TABLE.register("batchnorm")
def emit_batchnorm(node, ctx):
    axis = ctx.held(node.inputs[0]).held_axis(1)
    # PyTorch's momentum weighs the new batch statistic; Keras' weighs the running value.
    return L.TorchBatchNorm(axis=axis, momentum=1.0 - node.attrs["momentum"], epsilon=node.attrs["eps"],
                            name=layer_name(node.name))(ctx.input(node))


@weights("batchnorm")
class BatchNormWeights(WeightMap):
    NAMES = ("weight", "bias", "running_mean", "running_var")  # Keras: gamma, beta, moving mean/var

    def to_keras(self, node, ins):
        return [node.params[n] for n in self.NAMES]

    def from_keras(self, node, ins, arrays):
        return dict(zip(self.NAMES, arrays))


def layernorm_axes(node, held):
    """Held axes of the normalised canonical axes, sorted (Keras reshapes gamma in sorted
    order), and the permutation that takes the canonical gamma there."""
    axes = node.attrs["axes"]
    pos = sorted(held.held_axis(a) for a in axes)
    perm = [axes.index(held.to_held[p]) for p in pos]
    return pos, perm


@TABLE.register("layernorm")
def emit_layernorm(node, ctx):
    held = ctx.held(node.inputs[0])
    axes, _ = layernorm_axes(node, held)
    if axes != list(range(held.rank - len(axes), held.rank)):
        # Keras on PyTorch mishandles non-trailing axes; same weights, written with keras.ops.
        return L.LayerNorm(axes, node.attrs["eps"], name=layer_name(node.name))(ctx.input(node))
    return keras.layers.LayerNormalization(axis=axes, epsilon=node.attrs["eps"], name=layer_name(node.name))(
        ctx.input(node))


@weights("layernorm")
class LayerNormWeights(WeightMap):
    def to_keras(self, node, ins):
        _, perm = layernorm_axes(node, ins[0])
        return [np.ascontiguousarray(node.params[n].transpose(perm)) for n in ("weight", "bias")]

    def from_keras(self, node, ins, arrays):
        _, perm = layernorm_axes(node, ins[0])
        back = np.argsort(perm)
        return {n: np.ascontiguousarray(a.transpose(back)) for n, a in zip(("weight", "bias"), arrays)}


# ================================================================ pooling
POOL = {"maxpool": {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D, 3: keras.layers.MaxPooling3D},
        "avgpool": {1: keras.layers.AveragePooling1D, 2: keras.layers.AveragePooling2D,
                    3: keras.layers.AveragePooling3D}}


def ceil_extra(node, sizes):
    """Positions to add at the end of each axis so a floor-mode pool yields the ceil-mode size."""
    a, extra = node.attrs, []
    for n, out, k, s, (b, e) in zip(sizes, node.type.spatial, a["kernel"], a["stride"], a["padding"]):
        if not a["ceil_mode"]:
            extra.append(0)
        elif n is None:
            raise NetspecError(f"{node.op} '{node.name}': ceil_mode needs static input sizes in Keras",
                               node.where())
        else:
            extra.append(max((out - 1) * s + k - (n + b + e), 0))
    return tuple(extra)


@TABLE.register("maxpool", "avgpool")
def emit_pool(node, ctx):
    a, nd = node.attrs, _nd(node)
    sizes = _spatial(ctx, node)
    x = ctx.input(node)
    extra = ceil_extra(node, sizes)
    pads = a["padding"]
    unpadded = all(b == 0 and e == 0 for b, e in pads)
    native = POOL[node.op][nd]
    kw = dict(pool_size=a["kernel"], strides=a["stride"], name=layer_name(node.name))
    if not any(extra):
        if unpadded:
            return native(padding="valid", **kw)(x)
        # TF's 'same' never lets padding win a max. (It also leaves padding out of an
        # average's count, but Keras on PyTorch counts it: averages take PaddedAvgPool.)
        if node.op == "maxpool" and same_padding(pads, a["kernel"], a["stride"], (1,) * nd, sizes):
            return native(padding="same", **kw)(x)
    if node.op == "maxpool":
        full = tuple((b, e + c) for (b, e), c in zip(pads, extra))
        x = L.Pad(full, "constant", LOWEST, name=layer_name(node.name, "pad"))(x)
        return native(padding="valid", **kw)(x)
    if a["count_include_pad"] and not any(extra):
        return native(padding="valid", **kw)(zero_pad(x, pads, layer_name(node.name, "pad")))
    return L.PaddedAvgPool(a["kernel"], a["stride"], pads, a["count_include_pad"], extra, name=layer_name(node.name))(x)


GLOBAL_POOL = {"globalavgpool": {1: keras.layers.GlobalAveragePooling1D, 2: keras.layers.GlobalAveragePooling2D,
                                 3: keras.layers.GlobalAveragePooling3D},
               "globalmaxpool": {1: keras.layers.GlobalMaxPooling1D, 2: keras.layers.GlobalMaxPooling2D,
                                 3: keras.layers.GlobalMaxPooling3D}}


@TABLE.register("globalavgpool", "globalmaxpool")
def emit_global_pool(node, ctx):
    nd = node.type.rank - 2
    return GLOBAL_POOL[node.op][nd](keepdims=True, name=layer_name(node.name))(ctx.input(node))


# ================================================================ shape ops
@TABLE.register("flatten")
def emit_flatten(node, ctx):
    if ctx.held(node.name).kind == FLAT:
        return keras.layers.Flatten(name=layer_name(node.name))(ctx.input(node))
    x = ctx.canonical(node.inputs[0], layer_name(node.name, "nchw"))
    return keras.layers.Flatten(name=layer_name(node.name))(x)


@TABLE.register("reshape")
def emit_reshape(node, ctx):
    x = ctx.canonical(node.inputs[0], layer_name(node.name, "nchw"))
    held = ctx.held(node.name)
    shape = tuple(node.attrs["shape"])
    if held.to_held == tuple(range(held.rank)):
        return keras.layers.Reshape(shape, name=layer_name(node.name))(x)
    y = keras.layers.Reshape(shape, name=layer_name(node.name, "reshape"))(x)
    return ctx.permute(y, held.to_held, layer_name(node.name, "out"))


@TABLE.register("transpose")
def emit_transpose(node, ctx):
    src, dst = ctx.held(node.inputs[0]), ctx.held(node.name)
    perm = node.attrs["perm"]
    # held_out = canonical_in.transpose(perm).transpose(dst.to_held)
    #          = held_in.transpose(q), q[k] = position of perm[dst.to_held[k]] in src.to_held.
    q = tuple(src.to_held.index(perm[d]) for d in dst.to_held)
    x = ctx.input(node)
    if q == tuple(range(len(q))):
        return keras.layers.Identity(name=layer_name(node.name))(x)
    return ctx.permute(x, q, layer_name(node.name))


@TABLE.register("pad")
def emit_pad(node, ctx):
    a = node.attrs
    if a["mode"] == "constant" and a["value"] == 0.0:
        return zero_pad(ctx.input(node), a["pads"], layer_name(node.name))
    return L.Pad(a["pads"], a["mode"], a["value"], name=layer_name(node.name))(ctx.input(node))


@TABLE.register("crop")
def emit_crop(node, ctx):
    return crop(ctx.input(node), node.attrs["crop"], layer_name(node.name))


@TABLE.register("upsample")
def emit_upsample(node, ctx):
    a = node.attrs
    scale = a["scale"]
    x = ctx.input(node)
    if a["mode"] == "bilinear":
        if a["align_corners"]:
            return L.AlignedBilinear(scale, name=layer_name(node.name))(x)
        # TF resizes with half-pixel centres, which is PyTorch's align_corners=False.
        return keras.layers.UpSampling2D(scale, interpolation="bilinear", name=layer_name(node.name))(x)
    if len(scale) == 1:
        return keras.layers.UpSampling1D(scale[0], name=layer_name(node.name))(x)
    if len(scale) == 2:
        return keras.layers.UpSampling2D(scale, interpolation="nearest", name=layer_name(node.name))(x)
    return keras.layers.UpSampling3D(scale, name=layer_name(node.name))(x)


@TABLE.register("zero_upsample")
def emit_zero_upsample(node, ctx):
    return L.ZeroUpsample(node.attrs["scale"], name=layer_name(node.name))(ctx.input(node))


# ================================================================ recurrent
@TABLE.register("lstm")
def emit_lstm(node, ctx):
    a = node.attrs
    if a["peephole"]:
        layer = keras.layers.RNN(L.PeepholeLSTMCell(a["units"], name=layer_name(node.name, "cell")),
                                 return_sequences=a["return_sequences"], name=layer_name(node.name))
    else:
        layer = keras.layers.LSTM(a["units"], return_sequences=a["return_sequences"], name=layer_name(node.name))
    return layer(ctx.input(node))


@TABLE.register("gru")
def emit_gru(node, ctx):
    a = node.attrs
    return keras.layers.GRU(a["units"], return_sequences=a["return_sequences"],
                            reset_after=a["linear_before_reset"], name=layer_name(node.name))(ctx.input(node))


@TABLE.register("rnn")
def emit_rnn(node, ctx):
    a = node.attrs
    return keras.layers.SimpleRNN(a["units"], activation=a["activation"],
                                  return_sequences=a["return_sequences"], name=layer_name(node.name))(ctx.input(node))


def _gru_order(h):
    """PyTorch r, z, n -> Keras z, r, h."""
    return np.r_[h:2 * h, 0:h, 2 * h:3 * h]


@weights("lstm", "gru", "rnn")
class RecurrentWeights(WeightMap):
    """Kernels transposed; LSTM gates i, f, g, o are Keras's i, f, c, o; GRU gates r, z, n
    become z, r, h. The two biases are summed wherever Keras keeps one (native LSTM,
    SimpleRNN, GRU without reset_after): those layers have H*gates fewer parameters than
    the graph, and reading back puts the sum in ``bias_ih`` and zeros in ``bias_hh`` (the
    same function). GRU with reset_after and the peephole LSTM cell keep both."""

    def _order(self, node):
        h = node.attrs["units"]
        return _gru_order(h) if node.op == "gru" else np.arange(node.params["weight_ih"].shape[0])

    def to_keras(self, node, ins):
        p = node.params
        order = self._order(node)
        arrays = [p["weight_ih"][order].T, p["weight_hh"][order].T]
        if (node.op == "gru" and node.attrs["linear_before_reset"]) or node.attrs.get("peephole"):
            arrays.append(np.stack([p["bias_ih"][order], p["bias_hh"][order]]))
        else:
            arrays.append((p["bias_ih"] + p["bias_hh"])[order])
        if node.attrs.get("peephole"):
            arrays.append(p["peephole"])
        return [np.ascontiguousarray(a) for a in arrays]

    def from_keras(self, node, ins, arrays):
        h = node.attrs["units"]
        gates = arrays[0].shape[1] // h
        back = np.argsort(_gru_order(h)) if node.op == "gru" else np.arange(gates * h)
        out = {"weight_ih": arrays[0].T[back], "weight_hh": arrays[1].T[back]}
        bias = arrays[2]
        if bias.ndim == 2:
            out["bias_ih"], out["bias_hh"] = bias[0][back], bias[1][back]
        else:
            out["bias_ih"], out["bias_hh"] = bias[back], np.zeros_like(bias)
        if node.attrs.get("peephole"):
            out["peephole"] = arrays[3]
        return {k: np.ascontiguousarray(v) for k, v in out.items()}


def merged_bias_count(node) -> int:
    """Graph parameters a Keras layer folds away: the recurrent bias of layers that keep one
    bias vector (so Keras's trainable count is the graph's minus this)."""
    a = node.attrs
    merged = (node.op == "rnn" or (node.op == "lstm" and not a["peephole"])
              or (node.op == "gru" and not a["linear_before_reset"]))
    return next(math.prod(s.shape) for s in node.param_specs if s.name == "bias_hh") if merged else 0
