"""Importers for ONNX LSTM, GRU and RNN -> netspec lstm, gru, rnn.

Gate orders (see :mod:`netspec.ops.recurrent`): ONNX LSTM gates are i, o, f, c and its
peepholes ``P`` i, o, f; netspec's (PyTorch's) gates are i, f, g, o and peepholes i, f, o.
ONNX GRU gates are z, r, h, netspec's r, z, n. Blocks are picked with exact indexing, so
weights round-trip bit for bit.

Sequences: ONNX's default ``layout=0`` is time-major (T, N, F), netspec's batch-first
(N, T, F). The input must be a time-major view of a batch-first node (the exporter's
``Transpose``), and the outputs are returned as views: ``Y`` (T, 1, N, H) and ``Y_h``
(1, N, H), whose exporter-written ``Transpose``/``Squeeze`` then cancel out.
netspec's layers are forward-only with zero initial state and no cell clipping; a model
that asks for more is refused with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netspec.ops.types import PLAIN

from .registry import TABLE
from .values import Fill, View


@dataclass(frozen=True)
class Recurrent:
    op: str
    gates: int
    take: tuple  # for each netspec gate, the index of its ONNX block
    activations: tuple  # ONNX defaults
    cell_output: bool = False


RECURRENT = {
    "LSTM": Recurrent("lstm", 4, (0, 2, 3, 1), ("Sigmoid", "Tanh", "Tanh"), True),
    "GRU": Recurrent("gru", 3, (1, 0, 2), ("Sigmoid", "Tanh")),
    "RNN": Recurrent("rnn", 1, (0,), ("Tanh",)),
}
PEEPHOLE_TAKE = (0, 2, 1)  # netspec i, f, o <- ONNX i, o, f


def reorder(array, take, units):
    """``[G*H, ...]`` in ONNX gate order -> netspec gate order."""
    blocks = array.reshape(len(take), units, *array.shape[1:])
    return np.ascontiguousarray(blocks[list(take)].reshape(array.shape))


def _zero_state(ctx, index, what):
    value = ctx.value(index)
    if value is None:
        return
    if isinstance(value, Fill) and value.value == 0.0:
        return
    if isinstance(value, np.ndarray) and not value.any():
        return
    raise ctx.error(f"has a non-zero or computed {what}; netspec's recurrent layers start from zeros")


@TABLE.register("LSTM", 1, "GRU", "RNN")
def import_recurrent(ctx, node):
    spec = RECURRENT[node.op_type]
    a = ctx.attrs()
    units = a["hidden_size"]
    if a.get("direction", "forward") != "forward":
        raise ctx.error(f"runs {a['direction']}; netspec's {spec.op} is forward-only",
                        "split a bidirectional layer into two specs layers")
    if a.get("clip") is not None:
        raise ctx.error("clips the cell input; netspec's recurrent layers do not")
    if a.get("input_forget", 0):
        raise ctx.error("couples the input and forget gates (input_forget=1)")
    if ctx.has_input(4):
        raise ctx.error("takes sequence_lens; netspec runs every sequence to its full length")
    _zero_state(ctx, 5, "initial_h")
    if spec.cell_output:
        _zero_state(ctx, 6, "initial_c")
    # a forward layer uses the first of the list (the schema's default lists both directions')
    activations = tuple(a.get("activations") or spec.activations)[:len(spec.activations)]
    attrs = {"units": units}
    if spec.op == "rnn":
        if len(activations) != 1 or activations[0] not in ("Tanh", "Relu"):
            raise ctx.error(f"uses activations {list(activations)}; netspec's rnn uses Tanh or Relu")
        attrs["activation"] = activations[0].lower()
    elif [s.lower() for s in activations] != [s.lower() for s in spec.activations]:
        raise ctx.error(f"uses activations {list(activations)}; netspec's {spec.op} uses "
                        f"{list(spec.activations)}")
    if spec.op == "gru":
        attrs["linear_before_reset"] = bool(a.get("linear_before_reset", 0))

    w, r = ctx.weight(1, "W"), ctx.weight(2, "R")
    b = ctx.weight(3, "B", required=False)
    gh = spec.gates * units
    if w.shape[0] != 1 or w.shape[1] != gh or r.shape != (1, gh, units):
        raise ctx.error(f"has W {list(w.shape)} and R {list(r.shape)}, expected [1, {gh}, F] and "
                        f"[1, {gh}, {units}]")
    b = np.zeros((1, 2 * gh), np.float32) if b is None else b
    params = {"weight_ih": reorder(w[0], spec.take, units), "weight_hh": reorder(r[0], spec.take, units),
              "bias_ih": reorder(b[0, :gh], spec.take, units), "bias_hh": reorder(b[0, gh:], spec.take, units)}
    if spec.op == "lstm":
        p = ctx.weight(7, "P", required=False)
        attrs["peephole"] = p is not None
        if p is not None:
            params["peephole"] = reorder(p[0], PEEPHOLE_TAKE, units).reshape(3, units)

    layout = a.get("layout", 0)
    view = ctx.view(0, "X")
    if layout == 0:  # (T, N, F): the batch-first tensor is this view with axes 0 and 1 swapped
        view = View(view.node, (view.axes[1], view.axes[0], *view.axes[2:]))
    x = ctx.materialise(view, PLAIN)

    y, y_h = (list(node.output) + ["", "", ""])[:3][:2]
    if spec.cell_output and len(node.output) > 2 and ctx.is_used(node.output[2]):
        raise ctx.error("its cell state Y_c is used; netspec's lstm outputs the hidden state only")
    if ctx.is_used(y):
        seq = ctx.emit(spec.op, dict(attrs, return_sequences=True), [x], params, output=0)
        ctx.set_output(0, View(seq, (1, None, 0, 2) if layout == 0 else (0, 1, None, 2)))
    if ctx.is_used(y_h):
        last = ctx.emit(spec.op, dict(attrs, return_sequences=False), [x], params, output=1,
                        suffix="" if not ctx.is_used(y) else "_last")
        ctx.set_output(1, View(last, (None, 0, 1) if layout == 0 else (0, None, 1)))
