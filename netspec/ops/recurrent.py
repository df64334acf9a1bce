"""Recurrent layers over batch-first sequences ``N, T, features``: lstm, gru, rnn.

Parameters follow PyTorch's layout and gate order, which every backend maps at emit time:

* lstm: ``weight_ih [4H, F]``, ``weight_hh [4H, H]``, ``bias_ih [4H]``, ``bias_hh [4H]`` with
  gates in the order **i, f, g, o** (input, forget, cell candidate, output); with
  ``peephole: true`` also ``peephole [3, H]`` holding the diagonal peephole weights
  for the **i, f, o** gates (Gers & Schmidhuber 2000): i and f look at c_{t-1}, o at c_t.
  (ONNX orders gates i, o, f, c and peepholes i, o, f; Keras orders gates i, f, c, o.)
* gru: ``weight_ih [3H, F]``, ``weight_hh [3H, H]``, biases ``[3H]``, gate order **r, z, n**
  (reset, update, new). ``linear_before_reset: true`` (PyTorch; Keras ``reset_after=True``;
  ONNX ``linear_before_reset=1``) computes n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
* rnn: ``weight_ih [H, F]``, ``weight_hh [H, H]``, biases ``[H]``; h = act(W x + b + U h + c).

All weights start uniform in +-1/sqrt(H), as PyTorch initialises them. Initial states are zero.
"""
from __future__ import annotations

from .schema import Attr, Bool, Choice, Int, OpDef, ParamSpec, ShapeError, register
from .types import PLAIN


def resolve_sequence(name):
    def resolve(attrs, ins):
        x = ins[0]
        if x.rank != 3 or x.layout != PLAIN or x.shape[2] is None:
            raise ShapeError(f"{name} expects a plain batch-first sequence (N, T, features) with "
                             f"static features, received {x.layout} {x} (declare the input with "
                             f"layout: plain, or transpose a channels-first tensor)")
        if x.dtype.startswith("int"):
            raise ShapeError(f"{name} needs float inputs, received {x.dtype} (embed ids first)")
        return attrs
    return resolve


def infer_sequence(attrs, ins):
    n, t = ins[0].shape[:2]
    shape = (n, t, attrs["units"]) if attrs["return_sequences"] else (n, attrs["units"])
    return ins[0].with_shape(shape, PLAIN)


def recurrent_params(gates, extra=()):
    def params(attrs, ins):
        h, f = attrs["units"], ins[0].shape[2]
        bound = (("bound", h ** -0.5),)
        specs = [ParamSpec("weight_ih", (gates * h, f), "uniform", init_args=bound),
                 ParamSpec("weight_hh", (gates * h, h), "uniform", init_args=bound),
                 ParamSpec("bias_ih", (gates * h,), "uniform", init_args=bound),
                 ParamSpec("bias_hh", (gates * h,), "uniform", init_args=bound)]
        if attrs.get("peephole"):
            specs.append(ParamSpec("peephole", (3, h), "uniform", init_args=bound))
        return specs
    return params


def recurrent_macs(gates):
    def macs(attrs, ins, out):
        t = ins[0].shape[1] or 0
        h, f = attrs["units"], ins[0].shape[2]
        return t * gates * h * (f + h)
    return macs


def _common_attrs():
    return (Attr("units", Int(1), doc="hidden size H"),
            Attr("return_sequences", Bool(), True, "output every step (N, T, H) or the last (N, H)"))


register(OpDef(
    "lstm", "Long short-term memory layer, optionally with peephole connections.", "recurrent",
    (*_common_attrs(), Attr("peephole", Bool(), False, "gates also see the cell state (Gers & Schmidhuber)")),
    resolve=resolve_sequence("lstm"), infer=infer_sequence, params=recurrent_params(4),
    macs=recurrent_macs(4), notes=__doc__))

register(OpDef(
    "gru", "Gated recurrent unit.", "recurrent",
    (*_common_attrs(), Attr("linear_before_reset", Bool(), True,
                            "apply the reset gate after the recurrent matmul (PyTorch, cuDNN)")),
    resolve=resolve_sequence("gru"), infer=infer_sequence, params=recurrent_params(3),
    macs=recurrent_macs(3), notes=__doc__))

register(OpDef(
    "rnn", "Simple (Elman) recurrent layer.", "recurrent",
    (*_common_attrs(), Attr("activation", Choice("tanh", "relu"), "tanh", "non-linearity")),
    resolve=resolve_sequence("rnn"), infer=infer_sequence, params=recurrent_params(1),
    macs=recurrent_macs(1), notes=__doc__))
