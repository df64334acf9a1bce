"""The torch emitter table: one function per op that appends the op to a ``torch.fx`` graph.

An emitter has the signature ``emit(ctx, node, *inputs) -> Proxy``. Inputs are fx proxies,
so parameter-free ops are written as ordinary torch calls (``torch.relu(x)``,
``x.permute(...)``) and recorded as ``call_function``/``call_method`` nodes; ops with weights
(and dropout, which needs ``self.training``) become submodules through ``ctx.module``, named
after the node, so state-dict keys read ``layer1.0.conv1.weight``. Attributes arrive
resolved by the op registry (tuples per axis, ``(begin, end)`` padding pairs).

Native torch layers are used wherever one exists (``nn.Conv*``, ``nn.BatchNorm*``,
``nn.LSTM``/``nn.GRU``/``nn.RNN`` so cuDNN runs on GPU); ``modules.py`` holds the rest.
"""
from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from netspec.emitters import EmitterTable
from netspec.errors import NetspecError

from . import modules as custom

TABLE = EmitterTable("torch")


@dataclass
class ModSpec:
    """How to construct one submodule; also how the ``.py`` export writes its constructor.

    ``names`` maps the graph's parameter names to the module's where they differ
    (``nn.LSTM`` calls ``weight_ih`` ``weight_ih_l0``).
    """

    cls: type
    kwargs: dict
    names: dict = field(default_factory=dict)

    def build(self) -> nn.Module:
        return self.cls(**self.kwargs)

    def source(self) -> str:
        prefix = "nn." if self.cls.__module__.startswith("torch.nn") else ""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{prefix}{self.cls.__name__}({args})"


def _symmetric(pads) -> bool:
    return all(b == e for b, e in pads)


def _torch_pads(pads) -> list[int]:
    """(begin, end) per axis, first axis first -> F.pad's flat list, last axis first."""
    return [p for pair in reversed(pads) for p in pair]


# ------------------------------------------------------------------ convolutions
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


@TABLE.register("conv", "temporal_conv")
def emit_conv(ctx, node, x):
    """Asymmetric padding ('same' with even kernels, causal) becomes an explicit ``F.pad``
    in the forward; the conv itself then pads nothing."""
    a = node.attrs
    nd = len(a["kernel"])
    pads = a["padding"]
    padding = tuple(b for b, _ in pads) if _symmetric(pads) else 0
    if not _symmetric(pads):
        x = F.pad(x, _torch_pads(pads))
    spec = ModSpec(CONV[nd], dict(in_channels=ctx.in_type(node).channels, out_channels=a["filters"],
                                  kernel_size=a["kernel"], stride=a["stride"], padding=padding,
                                  dilation=a["dilation"], groups=a["groups"], bias=a["bias"]))
    return ctx.module(node, spec, x)


@TABLE.register("conv_transpose")
def emit_conv_transpose(ctx, node, x):
    """Asymmetric padding: the native layer crops the smaller side of each pair, a slice the
    rest (a transposed conv's padding removes output, it adds none)."""
    a = node.attrs
    nd = len(a["kernel"])
    pads = a["padding"]
    common = tuple(min(b, e) for b, e in pads)
    spec = ModSpec(CONV_T[nd], dict(in_channels=ctx.in_type(node).channels, out_channels=a["filters"],
                                    kernel_size=a["kernel"], stride=a["stride"], padding=common,
                                    output_padding=a["output_padding"], groups=a["groups"],
                                    bias=a["bias"], dilation=a["dilation"]))
    y = ctx.module(node, spec, x)
    if not _symmetric(pads):
        y = y[(slice(None), slice(None), *[slice(b - m, -(e - m) or None)
                                           for (b, e), m in zip(pads, common)])]
    return y


@TABLE.register("locally_connected")
def emit_locally_connected(ctx, node, x):
    a = node.attrs
    spec = ModSpec(custom.LocallyConnected, dict(
        in_channels=ctx.in_type(node).channels, filters=a["filters"], kernel=a["kernel"],
        stride=a["stride"], padding=a["padding"], out_size=tuple(node.type.spatial), bias=a["bias"]))
    return ctx.module(node, spec, x)


# ------------------------------------------------------------------ pooling
MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _crop_to(ctx, node, y, pads, ceil_mode):
    """After explicit asymmetric padding, torch may allow one more ceil-mode window than the
    IR (whose last window may not start in the *original* end padding): slice it off."""
    if not ceil_mode:
        return y
    x_type = ctx.in_type(node)
    keep = []
    for axis, (n, k, s, (b, e), want) in enumerate(zip(x_type.spatial, node.attrs["kernel"],
                                                         node.attrs["stride"], pads, node.type.spatial)):
        if n is None or want is None:
            raise NetspecError(f"{node.op} with ceil_mode and uneven padding {list(pads)} needs a "
                               "static input size in the torch backend", node.where())
        got = -(-(n + b + e - k) // s) + 1
        if (got - 1) * s >= n + b + e:
            got -= 1
        keep.append(slice(None, want) if got != want else slice(None))
    return y[(slice(None), slice(None), *keep)] if any(k.stop is not None for k in keep) else y


@TABLE.register("maxpool")
def emit_maxpool(ctx, node, x):
    a = node.attrs
    nd, pads = len(a["kernel"]), a["padding"]
    if _symmetric(pads):
        return MAXPOOL[nd](x, a["kernel"], a["stride"], tuple(b for b, _ in pads), ceil_mode=a["ceil_mode"])
    x = F.pad(x, _torch_pads(pads), value=-math.inf)  # padding never wins the max
    return _crop_to(ctx, node, MAXPOOL[nd](x, a["kernel"], a["stride"], 0, ceil_mode=a["ceil_mode"]),
                    pads, a["ceil_mode"])


@TABLE.register("avgpool")
def emit_avgpool(ctx, node, x):
    """Uneven padding that must not count: mean of the zero-padded input divided by the mean
    of a padded mask of ones (the fraction of each window that is real)."""
    a = node.attrs
    nd, pads = len(a["kernel"]), a["padding"]
    pool = functools.partial(AVGPOOL[nd], kernel_size=a["kernel"], stride=a["stride"], ceil_mode=a["ceil_mode"])
    if _symmetric(pads):
        return pool(x, padding=tuple(b for b, _ in pads), count_include_pad=a["count_include_pad"])
    flat = _torch_pads(pads)
    y = pool(F.pad(x, flat), padding=0, count_include_pad=True)
    if not a["count_include_pad"]:
        ones = torch.ones_like(x[(slice(0, 1), slice(0, 1))])
        y = y / pool(F.pad(ones, flat), padding=0, count_include_pad=True)
    return _crop_to(ctx, node, y, pads, a["ceil_mode"])


def _spatial_axes(ctx, node):
    return tuple(range(2, ctx.in_type(node).rank))


@TABLE.register("globalavgpool")
def emit_globalavgpool(ctx, node, x):
    return torch.mean(x, dim=_spatial_axes(ctx, node), keepdim=True)


@TABLE.register("globalmaxpool")
def emit_globalmaxpool(ctx, node, x):
    return torch.amax(x, dim=_spatial_axes(ctx, node), keepdim=True)


# ------------------------------------------------------------------ linear, norms
@TABLE.register("dense")
def emit_dense(ctx, node, x):
    spec = ModSpec(nn.Linear, dict(in_features=ctx.in_type(node).shape[-1],
                                   out_features=node.attrs["units"], bias=node.attrs["bias"]))
    return ctx.module(node, spec, x)


@TABLE.register("embedding")
def emit_embedding(ctx, node, x):
    return ctx.module(node, ModSpec(nn.Embedding, dict(num_embeddings=node.attrs["vocab"],
                                                       embedding_dim=node.attrs["dim"])), x)


BATCHNORM = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


@TABLE.register("batchnorm")
def emit_batchnorm(ctx, node, x):
    """``nn.BatchNorm*d``: batch statistics in train mode, running ones in eval mode.

    Momentum is PyTorch's (and the IR's): ``running = (1 - m) * running + m * batch``, with the
    *unbiased* batch variance. Keras's ``momentum`` is ``1 - m`` (0.1 here is Keras's 0.9)
    and Keras updates the running variance with the biased one, so running statistics after
    a training step differ between the two by a factor n/(n-1) on the variance's update.
    """
    rank = ctx.in_type(node).rank
    if rank not in BATCHNORM:
        raise NetspecError(f"the torch backend has batchnorm for rank 2 to 5 tensors, received rank {rank}",
                           node.where())
    spec = ModSpec(BATCHNORM[rank], dict(num_features=ctx.in_type(node).channels,
                                         eps=node.attrs["eps"], momentum=node.attrs["momentum"]))
    return ctx.module(node, spec, x)


@TABLE.register("layernorm")
def emit_layernorm(ctx, node, x):
    shape = tuple(ctx.in_type(node).shape[i] for i in node.attrs["axes"])
    return ctx.module(node, ModSpec(nn.LayerNorm, dict(normalized_shape=shape, eps=node.attrs["eps"])), x)


@TABLE.register("lrn")
def emit_lrn(ctx, node, x):
    a = node.attrs
    return F.local_response_norm(x, a["size"], alpha=a["alpha"], beta=a["beta"], k=a["bias"])


@TABLE.register("dropout")
def emit_dropout(ctx, node, x):
    """A module, not ``F.dropout``: only a module sees ``model.train()``/``model.eval()``."""
    return ctx.module(node, ModSpec(nn.Dropout, dict(p=node.attrs["rate"])), x)


# ------------------------------------------------------------------ in-place updates
# Ops whose output no backward formula reads (convolution, batchnorm, linear and layernorm
# save their inputs; add and concat save nothing), so the only consumer of such an output
# may overwrite it: autograd stays correct, and the consumer saves one allocation and one
# pass over memory, as torchvision's ``ReLU(inplace=True)`` and ``out += identity`` do.
FRESH_OUTPUT = frozenset({"conv", "temporal_conv", "conv_transpose", "batchnorm", "layernorm",
                          "dense", "add", "concat"})

# in-place call -> the out-of-place call with the same arguments (``out_of_place`` undoes
# the rewrite where every intermediate value must survive, as in ``intermediates_module``)
OUT_OF_PLACE = {("call_function", torch.relu_): ("call_function", torch.relu),
                ("call_method", "add_"): ("call_function", operator.add)}


def overwritable(ctx, node, index: int) -> bool:
    """May ``node`` overwrite its input ``index``? Only a fresh value of the output's dtype
    that nothing else reads (not a graph input or output, no other consumer). Shapes need
    no check: the ops that overwrite (relu, add) keep their input's shape, and the IR's add
    takes inputs of one shape (it never broadcasts)."""
    graph, name = ctx.graph, node.inputs[index]
    src = graph.node(name)
    return (src.op in FRESH_OUTPUT and name not in graph.outputs and node.inputs.count(name) == 1
            and graph.consumers(name) == [node.name] and src.type.dtype == node.type.dtype)


def out_of_place(graph) -> None:
    """Rewrite an fx graph's in-place calls (see ``OUT_OF_PLACE``) as their pure versions."""
    for n in graph.nodes:
        if (n.op, n.target) in OUT_OF_PLACE:
            n.op, n.target = OUT_OF_PLACE[(n.op, n.target)]


# ------------------------------------------------------------------ activations, merges
def _unary(fn, **fixed):
    def emit(ctx, node, x):
        return fn(x, **{k: node.attrs[v] for k, v in fixed.items()})
    return emit


@TABLE.register("relu")
def emit_relu(ctx, node, x):
    """``torch.relu_`` where the input may be overwritten (see ``overwritable``)."""
    return torch.relu_(x) if overwritable(ctx, node, 0) else torch.relu(x)


TABLE.register("sigmoid")(_unary(torch.sigmoid))
TABLE.register("tanh")(_unary(torch.tanh))
TABLE.register("leaky_relu")(_unary(F.leaky_relu, negative_slope="alpha"))
TABLE.register("elu")(_unary(F.elu, alpha="alpha"))
TABLE.register("gelu")(_unary(F.gelu, approximate="approximate"))
TABLE.register("softmax")(_unary(torch.softmax, dim="axis"))


@TABLE.register("add")
def emit_add(ctx, node, *xs):
    """``x0.add_(x1)`` (or ``x1.add_(x0)``) where one of the first two may be overwritten;
    later inputs are added in order, so the rounding is that of ``x0 + x1 + x2 ...``."""
    first = next((i for i in (0, 1)[:len(xs)] if overwritable(ctx, node, i)), None)
    if first is None or len(xs) < 2:
        return functools.reduce(operator.add, xs)
    total = xs[first].add_(xs[1 - first])
    for x in xs[2:]:
        total = total.add_(x)
    return total


@TABLE.register("multiply")
def emit_multiply(ctx, node, *xs):
    return functools.reduce(operator.mul, xs)


@TABLE.register("concat")
def emit_concat(ctx, node, *xs):
    return torch.cat(list(xs), dim=node.attrs["axis"])


# ------------------------------------------------------------------ shape ops
@TABLE.register("flatten")
def emit_flatten(ctx, node, x):
    return torch.flatten(x, 1)


@TABLE.register("reshape")
def emit_reshape(ctx, node, x):
    return x.reshape(x.size(0), *node.attrs["shape"])


@TABLE.register("transpose")
def emit_transpose(ctx, node, x):
    return x.permute(*node.attrs["perm"])


@TABLE.register("pad")
def emit_pad(ctx, node, x):
    a = node.attrs
    if a["mode"] == "constant":
        return F.pad(x, _torch_pads(a["pads"]), value=a["value"])
    return F.pad(x, _torch_pads(a["pads"]), mode=a["mode"])


@TABLE.register("crop")
def emit_crop(ctx, node, x):
    return x[(slice(None), slice(None), *[slice(b, -e or None) for b, e in node.attrs["crop"]])]


@TABLE.register("upsample")
def emit_upsample(ctx, node, x):
    a = node.attrs
    scale = tuple(float(s) for s in a["scale"])
    if a["mode"] == "nearest":
        return F.interpolate(x, scale_factor=scale, mode="nearest")
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=a["align_corners"])


@TABLE.register("zero_upsample")
def emit_zero_upsample(ctx, node, x):
    return ctx.module(node, ModSpec(custom.ZeroUpsample, dict(scale=tuple(node.attrs["scale"]))), x)


# ------------------------------------------------------------------ recurrent
RNN_NAMES = {"weight_ih": "weight_ih_l0", "weight_hh": "weight_hh_l0",
             "bias_ih": "bias_ih_l0", "bias_hh": "bias_hh_l0"}


def _sequence_result(node, y, native: bool):
    """Native layers return ``(output, state)``; the IR wants all steps or the last one."""
    if not native:
        return y
    y = y[0]
    return y if node.attrs["return_sequences"] else y[:, -1]


@TABLE.register("lstm")
def emit_lstm(ctx, node, x):
    """Without peepholes: ``nn.LSTM`` (cuDNN on GPU). With: :class:`PeepholeLSTM`."""
    a, features = node.attrs, ctx.in_type(node).shape[2]
    if a["peephole"]:
        spec = ModSpec(custom.PeepholeLSTM, dict(input_size=features, hidden_size=a["units"],
                                                 return_sequences=a["return_sequences"]))
        return ctx.module(node, spec, x)
    spec = ModSpec(nn.LSTM, dict(input_size=features, hidden_size=a["units"], batch_first=True), RNN_NAMES)
    return _sequence_result(node, ctx.module(node, spec, x), True)


@TABLE.register("gru")
def emit_gru(ctx, node, x):
    """``linear_before_reset`` true is PyTorch's own GRU (reset gate applied to
    ``W_hn h + b_hn``, Keras ``reset_after=True``): ``nn.GRU``, cuDNN on GPU. False (reset
    before the matmul, Keras ``reset_after=False``, ONNX's default) has no torch kernel:
    :class:`ResetBeforeGRU`."""
    a, features = node.attrs, ctx.in_type(node).shape[2]
    if not a["linear_before_reset"]:
        spec = ModSpec(custom.ResetBeforeGRU, dict(input_size=features, hidden_size=a["units"],
                                                   return_sequences=a["return_sequences"]))
        return ctx.module(node, spec, x)
    spec = ModSpec(nn.GRU, dict(input_size=features, hidden_size=a["units"], batch_first=True), RNN_NAMES)
    return _sequence_result(node, ctx.module(node, spec, x), True)


@TABLE.register("rnn")
def emit_rnn(ctx, node, x):
    a = node.attrs
    spec = ModSpec(nn.RNN, dict(input_size=ctx.in_type(node).shape[2], hidden_size=a["units"],
                                nonlinearity=a["activation"], batch_first=True), RNN_NAMES)
    return _sequence_result(node, ctx.module(node, spec, x), True)
