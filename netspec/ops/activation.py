"""Element-wise activations and softmax. None has parameters; all keep the input type."""
from __future__ import annotations

from .schema import AnyOf, Attr, Choice, Float, Int, OpDef, ShapeError, register
from .types import CHANNELS_FIRST, numel


def _elementwise(name, doc, attrs=()):
    register(OpDef(name, doc, "activation", attrs,
                   macs=lambda a, ins, out: numel(out.shape) or 0))


_elementwise("relu", "Rectified linear unit: max(x, 0).")
_elementwise("leaky_relu", "Leaky ReLU: x if x > 0 else alpha * x.",
             (Attr("alpha", Float(0), 0.01, "slope for negative inputs"),))
_elementwise("elu", "Exponential linear unit: x if x > 0 else alpha * (exp(x) - 1).",
             (Attr("alpha", Float(0), 1.0, "scale of the negative part"),))
_elementwise("sigmoid", "Logistic sigmoid: 1 / (1 + exp(-x)).")
_elementwise("tanh", "Hyperbolic tangent.")
_elementwise("gelu", "Gaussian error linear unit, exact (erf) or its tanh approximation.",
             (Attr("approximate", Choice("none", "tanh"), "none", "which formula"),))


def resolve_softmax(attrs, ins):
    x = ins[0]
    axis = attrs["axis"]
    if axis == "channels":
        axis = 1 if x.layout == CHANNELS_FIRST else x.rank - 1
    if not -x.rank <= axis < x.rank or axis % x.rank == 0:
        raise ShapeError(f"softmax.axis must be a non-batch axis of a rank-{x.rank} tensor, received {attrs['axis']}")
    return dict(attrs, axis=axis % x.rank)


register(OpDef(
    "softmax", "Softmax: exp(x) / sum(exp(x)) along one axis (default: the channel axis).", "activation",
    (Attr("axis", AnyOf(Choice("channels"), Int()), "channels",
          "axis with the batch as 0, or 'channels' (1 for channels-first tensors, else the last)"),),
    resolve=resolve_softmax, macs=lambda a, ins, out: 3 * (numel(out.shape) or 0)))
