"""Importers for Gemm and MatMul with a constant weight (-> dense) and Gather (-> embedding
when it looks ids up in a constant table; evaluated when it picks sizes from a shape).

netspec's dense weight is ``[units, in]`` (PyTorch layout): ``Gemm`` with ``transB=1``
carries it unchanged; ``MatMul`` carries its transpose, which is transposed back exactly.
A ``MatMul`` followed by ``Add`` of a constant is fused into one dense (see
:func:`.import_basic._fuse_bias`).
"""
from __future__ import annotations

import numpy as np

from netspec.ops.types import PLAIN

from .import_local import match_locally_connected
from .import_lowlevel import import_gather_tensor, import_matmul_tensors
from .import_shape import gather_shape
from .registry import TABLE
from .values import Fill, SymShape, View


def is_zero_fill(value) -> bool:
    return isinstance(value, Fill) and value.value == 0.0


@TABLE.register("Gemm", 1)
def import_gemm(ctx, node):
    """``alpha * A B' + beta * C`` with constant B, C -> dense. ``alpha``/``beta`` other than
    1 are folded into the weights (the only case where weights are not copied as is)."""
    a = ctx.attrs()
    if a.get("transA", 0):
        raise ctx.error("has transA=1; netspec's dense reads (N, features) inputs")
    if not isinstance(ctx.value(1), np.ndarray):
        import_matmul_tensors(ctx, node)
        return
    w = ctx.weight(1, "B")
    weight = w if a.get("transB", 0) else np.ascontiguousarray(w.T)
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    if is_zero_fill(ctx.value(0)):  # 0 @ W + C = C (an exported recurrence's first step)
        c = ctx.value(2)
        if isinstance(c, View) and beta == 1.0:
            ctx.set_output(0, c)
            return
        raise ctx.error("multiplies zeros by its weight but adds no tensor computed at run time")
    if ctx.has_input(2) and isinstance(ctx.value(2), View):
        # A W' + C with a computed C (exported LSTM cells add the input projection this way)
        if beta != 1.0:
            raise ctx.error(f"scales a computed C by beta={beta}")
        if alpha != 1.0:
            weight = (weight * np.float32(alpha)).astype(np.float32)
        x = ctx.tensor(0, PLAIN)
        product = ctx.emit("dense", {"units": weight.shape[0], "bias": False}, [x], {"weight": weight},
                           suffix="_matmul")
        c = ctx.tensor(2)
        same = ctx.ir_type(c).shape == ctx.ir_type(product).shape
        ctx.produce("add" if same else "binary", {} if same else {"fn": "add"}, [product, c])
        return
    if alpha != 1.0:
        weight = (weight * np.float32(alpha)).astype(np.float32)
    c = ctx.weight(2, "C", required=False)
    units = weight.shape[0]
    bias = None
    if c is not None:
        if c.size not in (1, units) or (c.ndim == 2 and c.shape[0] != 1):
            raise ctx.error(f"adds C of shape {list(c.shape)}; netspec's dense adds one bias per unit")
        bias = np.ascontiguousarray(np.broadcast_to(c.reshape(-1), (units,)) * np.float32(beta), dtype=np.float32)
        if beta == 1.0 and c.size == units:
            bias = np.ascontiguousarray(c.reshape(-1), dtype=np.float32)
    x = ctx.tensor(0, PLAIN)
    ctx.produce("dense", {"units": units, "bias": bias is not None}, [x], {"weight": weight, "bias": bias})


@TABLE.register("MatMul", 1)
def import_matmul(ctx, node):
    """``x @ W`` with a constant 2-d W -> dense (no bias; a following Add supplies it)."""
    w = ctx.value(1)
    if isinstance(w, np.ndarray) and w.ndim == 3 and match_locally_connected(ctx, node):
        return
    if not (isinstance(w, np.ndarray) and w.ndim == 2):
        import_matmul_tensors(ctx, node)
        return
    w = ctx.weight(1, "B")
    x = ctx.tensor(0, PLAIN)
    ctx.produce("dense", {"units": w.shape[1], "bias": False}, [x], {"weight": np.ascontiguousarray(w.T)})


@TABLE.register("Gather", 1)
def import_gather(ctx, node):
    data, indices = ctx.value(0), ctx.value(1)
    if isinstance(data, SymShape):
        gather_shape(ctx, data)
        return
    axis = ctx.attrs().get("axis", 0)
    if isinstance(data, np.ndarray) and isinstance(indices, View):
        if data.ndim != 2 or axis != 0 or data.dtype.kind != "f":
            raise ctx.error(f"looks up rows of a constant of shape {list(data.shape)} along axis {axis}; "
                            "netspec's embedding takes a 2-d float table on axis 0")
        ids = ctx.materialise(indices)
        vocab, dim = data.shape
        ctx.produce("embedding", {"vocab": vocab, "dim": dim}, [ids], {"weight": ctx.weight(0, "data")})
        return
    if isinstance(data, View) and _last_step(ctx, node, data, axis):
        return
    import_gather_tensor(ctx, node)


def _last_step(ctx, node, data: View, axis: int) -> bool:
    """``seq[:, -1]`` of a recurrent layer's full output is the layer with
    ``return_sequences: false`` (how PyTorch code, and netspec's torch backend, take the
    last hidden state); the full-sequence node is dropped if nothing else reads it."""
    pending = ctx.pending.get(data.node)
    if (pending is None or pending.op not in ("lstm", "gru", "rnn") or not pending.attrs["return_sequences"]
            or not data.is_identity(3) or axis % 3 != 1):
        return False
    index = ctx.value(1)
    steps = pending.type.shape[1]
    if not (isinstance(index, np.ndarray) and index.ndim == 0 and (int(index) == -1 or (
            steps is not None and int(index) == steps - 1))):
        return False
    name = ctx.emit(pending.op, dict(pending.attrs, return_sequences=False), list(pending.inputs),
                    dict(pending.params), name=f"{pending.name}_last")
    ctx.set_output(0, View.of(name, 2))
    return True
