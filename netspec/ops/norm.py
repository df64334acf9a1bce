"""Normalisation and regularisation: batchnorm, layernorm, lrn, dropout.

BatchNorm momentum follows PyTorch: ``running = (1 - momentum) * running + momentum * batch``
(Keras's ``momentum`` is ``1 - ours``); running variance is updated with the unbiased batch
variance, as PyTorch does. LRN follows PyTorch/ONNX: ``x / (bias + alpha/size * sum(x^2))^beta``
over ``size`` neighbouring channels.
"""
from __future__ import annotations

import math

from .schema import Attr, Float, Int, IntList, OpDef, ParamSpec, ShapeError, register
from .types import CHANNELS_FIRST, numel


def batchnorm_params(attrs, ins):
    c = ins[0].channels
    if c is None:
        raise ShapeError("batchnorm needs a static number of channels")
    return [ParamSpec("weight", (c,), "ones"), ParamSpec("bias", (c,), "zeros"),
            ParamSpec("running_mean", (c,), "zeros", trainable=False),
            ParamSpec("running_var", (c,), "ones", trainable=False)]


def _check_rank(name, minimum):
    def resolve(attrs, ins):
        if ins[0].rank < minimum:
            raise ShapeError(f"{name} expects a tensor of rank >= {minimum} (N, C, ...), received {ins[0]}")
        return attrs
    return resolve


register(OpDef(
    "batchnorm", "Batch normalisation over the channel axis (axis 1) of N, C, ... tensors.",
    "norm",
    (Attr("eps", Float(0, exclusive_min=True), 1e-5, "added to the variance"),
     Attr("momentum", Float(0, 1), 0.1, "PyTorch convention: weight of the new batch statistic")),
    resolve=_check_rank("batchnorm", 2), params=batchnorm_params,
    macs=lambda a, ins, out: 2 * (numel(out.shape) or 0)))


def resolve_layernorm(attrs, ins):
    rank = ins[0].rank
    axes = attrs["axes"] if attrs["axes"] is not None else (rank - 1,)
    axes = tuple(sorted(a % rank for a in axes))
    if 0 in axes or any(a >= rank for a in axes):
        raise ShapeError(f"layernorm.axes must name non-batch axes of a rank-{rank} tensor, "
                         f"received {list(attrs['axes'])}")
    if axes != tuple(range(axes[0], rank)):
        raise ShapeError(f"layernorm.axes must be the trailing axes, received {list(axes)}")
    if any(ins[0].shape[a] is None for a in axes):
        raise ShapeError("layernorm needs static sizes on the normalised axes")
    return dict(attrs, axes=axes)


register(OpDef(
    "layernorm", "Layer normalisation over trailing axes (default: the last) with a learnt scale and shift.",
    "norm",
    (Attr("axes", IntList(), None, "normalised axes, counted with the batch axis as 0"),
     Attr("eps", Float(0, exclusive_min=True), 1e-5, "added to the variance")),
    resolve=resolve_layernorm,
    params=lambda a, ins: [ParamSpec("weight", tuple(ins[0].shape[i] for i in a["axes"]), "ones"),
                           ParamSpec("bias", tuple(ins[0].shape[i] for i in a["axes"]), "zeros")],
    macs=lambda a, ins, out: 2 * (numel(out.shape) or 0)))


def resolve_lrn(attrs, ins):
    if ins[0].layout != CHANNELS_FIRST or ins[0].rank < 3:
        raise ShapeError(f"lrn expects a channels-first tensor (N, C, *spatial), received {ins[0]}")
    return attrs


register(OpDef(
    "lrn", "Local response normalisation across neighbouring channels (AlexNet).",
    "norm",
    (Attr("size", Int(1), 5, "number of channels summed over"),
     Attr("alpha", Float(0), 1e-4, "scale (divided by size, as in PyTorch and ONNX)"),
     Attr("beta", Float(0), 0.75, "exponent"),
     Attr("bias", Float(0, exclusive_min=True), 1.0, "additive constant k")),
    resolve=resolve_lrn, macs=lambda a, ins, out: a["size"] * (numel(out.shape) or 0)))

register(OpDef(
    "dropout", "Zeroes a random fraction of activations while training (scaled up to keep the mean); identity in eval.",
    "norm",
    (Attr("rate", Float(0, 1), 0.5, "probability of dropping an element"),)))
