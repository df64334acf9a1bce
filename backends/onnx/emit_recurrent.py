"""Emitters for lstm, gru and rnn: ONNX ``LSTM``/``GRU``/``RNN`` with the canonical weights
rearranged in the graph (see :mod:`.context` for why initializers stay canonical).

Gate orders: netspec/PyTorch lstm i, f, g, o -> ONNX i, o, f, c; peephole i, f, o -> ONNX
``P`` i, o, f; gru r, z, n -> ONNX z, r, h, with ``linear_before_reset`` passed through.

Sequence layout: netspec sequences are batch-first (N, T, F). The ONNX ops are emitted with
the default ``layout=0`` (T, N, F) and explicit ``Transpose`` nodes around them rather than
``layout=1``: ``layout`` only exists from opset 14 and not every runtime implements it, while
the transposes work at every opset netspec emits and cost one copy of the sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

from .table import TABLE


@dataclass(frozen=True)
class Recurrent:
    onnx_op: str
    gate_order: tuple[int, ...]  # the canonical gate index of each ONNX gate, in ONNX order

    def attrs(self, node) -> dict:
        a = node.attrs
        out = {"hidden_size": a["units"]}
        if self.onnx_op == "GRU":
            out["linear_before_reset"] = int(a["linear_before_reset"])
        if self.onnx_op == "RNN":
            out["activations"] = [{"tanh": "Tanh", "relu": "Relu"}[a["activation"]]]
        return out


RECURRENT = {
    "lstm": Recurrent("LSTM", (0, 3, 1, 2)),
    "gru": Recurrent("GRU", (1, 0, 2)),
    "rnn": Recurrent("RNN", (0,)),
}
PEEPHOLE_ORDER = (0, 2, 1)  # netspec i, f, o -> ONNX i, o, f


def reorder_blocks(ctx, param, order, units, trailing):
    """Canonical ``[G*H, *trailing]`` -> ONNX gate order, with ONNX's leading direction axis:
    ``[1, G*H, *trailing]``."""
    gates = len(order)
    blocks = ctx.reshape(ctx.weight(param), [gates, units, *trailing])
    if order != tuple(range(gates)):
        blocks = ctx.add("Gather", [blocks, ctx.const(list(order), "gate_order")],
                         suffix=f"{param}_onnx_order", axis=0)
    return ctx.reshape(blocks, [1, gates * units, *trailing])


@TABLE.register(*RECURRENT)
def emit_recurrent(ctx, node, xs):
    spec = RECURRENT[node.op]
    h = node.attrs["units"]
    features = ctx.graph.node(node.inputs[0]).type.shape[2]
    w = reorder_blocks(ctx, "weight_ih", spec.gate_order, h, [features])
    r = reorder_blocks(ctx, "weight_hh", spec.gate_order, h, [h])
    b = ctx.add("Concat", [reorder_blocks(ctx, "bias_ih", spec.gate_order, h, []),
                           reorder_blocks(ctx, "bias_hh", spec.gate_order, h, [])],
                suffix="bias", axis=1)
    inputs = [ctx.transpose(xs[0], [1, 0, 2]), w, r, b]
    if node.attrs.get("peephole"):
        inputs += ["", "", "", reorder_blocks(ctx, "peephole", PEEPHOLE_ORDER, h, [])]
    y, y_h = ctx.fresh("Y"), ctx.fresh("Y_h")
    ctx.add_multi(spec.onnx_op, inputs, [y, y_h], name=ctx.fresh(spec.onnx_op.lower()),
                  **spec.attrs(node))
    if node.attrs["return_sequences"]:
        # Y: (T, 1, N, H) -> (N, T, 1, H) -> (N, T, H)
        ctx.squeeze(ctx.transpose(y, [2, 0, 1, 3]), [2], node.name)
    else:
        ctx.squeeze(y_h, [0], node.name)  # Y_h: (1, N, H) -> (N, H)
