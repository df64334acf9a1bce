"""Channels-last boundaries folded into the graph's canonical layout.

ONNX files exported from Keras/TensorFlow (tf2onnx) keep TensorFlow's channels-last
layout at the model's boundary: an image input ``(N, H, W, C)`` is moved to ONNX's
``(N, C, H, W)`` by a Transpose right after the input (a Reshape when ``C == 1``, where
moving the size-1 axis keeps the element order), and a feature-map output by a Transpose
back right before it. tf2onnx's optimiser has already removed every transpose inside.

Imported as they are, these would make a graph whose input is ``(N, H, W, C)`` labelled
channels-first, with a transpose node behind it, and whose output is a transposed map: the
graph would not be canonical, and every backend would carry the transposes. Instead the
importer folds them into the boundary: the graph input is the canonical ``(N, C, H, W)``
tensor and the graph output the canonical map, and the permutation is recorded in
``graph.meta["onnx"]["input_perms"]`` / ``["output_perms"]`` (graph name -> perm, from the
graph's canonical layout to the file's: ``np.transpose(canonical, perm)`` is what the
ONNX file reads or writes), so a runner of the original file (``onnx_source``) can feed it
and read it.

Only this one permutation is folded, and only where the canonical tensor is a map
(channels-first): any other transpose at the boundary changes what the model computes
(a time-major sequence, a transposed matrix) and stays a node.
"""
from __future__ import annotations

import numpy as np
import onnx

from netspec.graph.ir import INPUT
from netspec.ops.types import CHANNELS_FIRST

from .values import View


def to_channels_last(rank: int) -> tuple[int, ...]:
    """The perm that makes ``(N, C, *spatial)`` into ``(N, *spatial, C)``."""
    return (0, *range(2, rank), 1)


def to_channels_first(rank: int) -> tuple[int, ...]:
    """The perm that makes ``(N, *spatial, C)`` into ``(N, C, *spatial)``."""
    return (0, rank - 1, *range(1, rank - 1))


def moves_size1_axes(src: list, dst, perm: tuple[int, ...]) -> bool:
    """Whether reshaping ``src`` to the constant target ``dst`` equals transposing it by
    ``perm``: true when the permuted shape is the target (the batch axis free: -1, 0 or its
    size) and every axis that moves is size 1, so the element order does not change."""
    dst = [int(d) for d in np.asarray(dst).reshape(-1)]
    permuted = [src[p] for p in perm]
    if len(dst) != len(src) or not (dst[0] in (-1, 0) or dst[0] == src[0]):
        return False
    if dst[1:] != permuted[1:]:
        return False
    real = [p for p in perm if src[p] != 1]
    return real == sorted(real)


def input_mover(ctx, value: onnx.ValueInfoProto, dims: list) -> onnx.NodeProto | None:
    """The one node that moves a channels-last graph input to channels-first (a Transpose,
    or a Reshape that only moves a size-1 channel axis), else None."""
    rank = len(dims)
    consumers = ctx.consumers.get(value.name, [])
    if rank < 3 or len(consumers) != 1 or value.name in ctx.graph_outputs:
        return None
    node = consumers[0]
    if node.domain not in ("", "ai.onnx") or not node.output or node.input[0] != value.name:
        return None
    perm = to_channels_first(rank)
    if node.op_type == "Transpose":
        return node if tuple(ctx.attrs(node).get("perm") or ()) == perm else None
    if node.op_type == "Reshape" and len(node.input) > 1:
        target = ctx.values.get(node.input[1])
        if isinstance(target, np.ndarray) and not ctx.attrs(node).get("allowzero", 0):
            return node if moves_size1_axes(dims, target, perm) else None
    return None


def output_source(ctx, value) -> str | None:
    """The canonical map a graph output is the channels-last form of, else None: a view
    of a channels-first node by :func:`to_channels_last` (a Transpose), or a reshape node
    that only moves the size-1 channel axis there."""
    if not isinstance(value, View):
        return None
    pending = ctx.pending[value.node]
    rank = pending.type.rank
    if rank < 3 or pending.op == INPUT:  # a model that only transposes its input computes that
        return None
    if tuple(value.axes) == to_channels_last(rank) and pending.type.layout == CHANNELS_FIRST:
        return value.node
    if value.is_identity(rank) and pending.op == "reshape" and len(pending.inputs) == 1:
        src = ctx.pending[pending.inputs[0]].type
        if src.rank == rank and src.layout == CHANNELS_FIRST and src.shape[1] == 1 and \
                list(pending.type.shape[1:]) == [src.shape[p] for p in to_channels_last(rank)][1:]:
            return pending.inputs[0]
    return None
