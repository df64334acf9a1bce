"""Importers of Keras's recurrent layers: LSTM, GRU, SimpleRNN, and ``RNN`` around their
cells or netspec's PeepholeLSTMCell.

netspec keeps PyTorch's layout (:mod:`netspec.ops.recurrent`): ``weight_ih [G*H, F]``,
``weight_hh [G*H, H]`` and two biases. Keras's kernels are the transposes; its LSTM gate
order i, f, c, o is netspec's i, f, g, o; its GRU order z, r, h becomes r, z, n, and
``reset_after`` is ``linear_before_reset``. Where Keras keeps one bias, it becomes
``bias_ih`` and ``bias_hh`` is zero (the same function).
"""
from __future__ import annotations

import numpy as np

from .context import ImportContext, as_array
from .registry import TABLE, class_key
from .values import Value


def gru_order(h: int) -> np.ndarray:
    """Keras z, r, h rows -> netspec r, z, n."""
    return np.r_[h:2 * h, 0:h, 2 * h:3 * h]


def _options(ctx: ImportContext, layer, cell) -> None:
    for flag in ("go_backwards", "stateful", "return_state"):
        if getattr(layer, flag, False):
            raise ctx.refuse(flag, f"{flag}=True", "netspec's recurrent ops run forwards from zero states "
                                                   "and return their outputs only")
    expected = {"activation": ("tanh", "relu") if class_key(cell) == "SimpleRNNCell" else ("tanh",),
                "recurrent_activation": ("sigmoid",)}
    for key, allowed in expected.items():
        if not hasattr(cell, key):
            continue
        name = cell.get_config().get(key)
        if name not in allowed:
            raise ctx.refuse(key, repr(name), f"netspec's {key.replace('_', ' ')} is {' or '.join(allowed)}")


def _bias(cell, size) -> np.ndarray:
    return as_array(cell.bias) if getattr(cell, "use_bias", True) else np.zeros(size, np.float32)


def _lstm(ctx, layer, cell):
    h = int(cell.units)
    bias = _bias(cell, 4 * h)
    return "lstm", {"units": h}, {"weight_ih": as_array(cell.kernel).T, "weight_hh": as_array(cell.recurrent_kernel).T,
                                  "bias_ih": bias, "bias_hh": np.zeros(4 * h, np.float32)}


def _gru(ctx, layer, cell):
    h = int(cell.units)
    order = gru_order(h)
    bias = _bias(cell, (2, 3 * h) if cell.reset_after else 3 * h)
    ih, hh = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros(3 * h, np.float32))
    return "gru", {"units": h, "linear_before_reset": bool(cell.reset_after)}, {
        "weight_ih": as_array(cell.kernel)[:, order].T, "weight_hh": as_array(cell.recurrent_kernel)[:, order].T,
        "bias_ih": ih[order], "bias_hh": hh[order]}


def _simple(ctx, layer, cell):
    h = int(cell.units)
    return "rnn", {"units": h, "activation": cell.get_config()["activation"]}, {
        "weight_ih": as_array(cell.kernel).T, "weight_hh": as_array(cell.recurrent_kernel).T,
        "bias_ih": _bias(cell, h), "bias_hh": np.zeros(h, np.float32)}


def _peephole(ctx, layer, cell):
    h = int(cell.units)
    bias = as_array(cell.bias)
    return "lstm", {"units": h, "peephole": True}, {
        "weight_ih": as_array(cell.kernel).T, "weight_hh": as_array(cell.recurrent_kernel).T,
        "bias_ih": bias[0], "bias_hh": bias[1], "peephole": as_array(cell.peephole)}


CELLS = {"LSTMCell": _lstm, "GRUCell": _gru, "SimpleRNNCell": _simple, "netspec>PeepholeLSTMCell": _peephole}


def _cell_check(layer):
    cell = getattr(layer, "cell", None)
    key = class_key(cell) if cell is not None else None
    return None if key in CELLS else f"cell class {key} has no netspec equivalent"


@TABLE.register("LSTM", "GRU", "SimpleRNN", "RNN", wants="plain", check=_cell_check)
def import_recurrent(ctx, layer):
    cell = layer.cell
    _options(ctx, layer, cell)
    op, attrs, params = CELLS[class_key(cell)](ctx, layer, cell)
    attrs["return_sequences"] = bool(layer.return_sequences)
    node = ctx.emit(op, attrs, [ctx.plain(ctx.values[0])], params)
    return Value.of(node, ctx.type_of(node).rank)
