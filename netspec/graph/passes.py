"""Analysis passes: shape inference (with parameter specs and MAC counts) and receptive fields.

Passes are plain functions ``Graph -> Graph`` that annotate nodes in place or raise
:class:`~netspec.errors.NetspecErrors` listing every problem they found.
"""
from __future__ import annotations

from ..errors import NetspecError, raise_all
from ..ops import GLOBAL, IDENTITY, OPS, ShapeError
from ..ops.types import CHANNELS_FIRST
from .ir import INPUT, Graph


def infer_shapes(graph: Graph) -> Graph:
    """Resolve every node's attributes against its input types, infer its output type, its
    parameter shapes and its multiply-accumulate count. Nodes fed by a failed node are
    skipped so one mistake is reported once."""
    errors: list[NetspecError] = []
    nodes = graph.nx.nodes
    for name in graph.order():
        node = nodes[name]["node"]
        if node.op == INPUT:
            continue
        ins = [nodes[i]["node"].type for i in node.inputs]
        if any(t is None for t in ins):
            node.type = None
            continue
        op = OPS[node.op]
        try:
            node.attrs, node.type, node.param_specs = op.derive(node.attrs, ins)
            node.macs = op.macs(node.attrs, ins, node.type)
        except ShapeError as exc:
            node.type = None
            errors.append(NetspecError(f"{node.op} '{name}': {exc}", node.where()))
        else:
            if any(d is not None and d <= 0 for d in node.type.shape):
                errors.append(NetspecError(f"{node.op} '{name}' produces an empty tensor "
                                           f"{node.type}", node.where()))
                node.type = None
    raise_all(errors)
    return graph


def _merge(fields):
    """Receptive field of a merge (add/concat): the span covering every input's field."""
    axes = []
    for per_axis in zip(*fields):
        lo = min(start - (size - 1) * 0.5 for size, jump, start in per_axis)
        hi = max(start + (size - 1) * 0.5 for size, jump, start in per_axis)
        axes.append((hi - lo + 1, max(jump for _, jump, _ in per_axis), (lo + hi) * 0.5))
    return tuple(axes)


def receptive_fields(graph: Graph) -> Graph:
    """Per node and spatial axis: (size, jump, start) in input pixels.

    ``size`` is how many input positions one output sees, ``jump`` the distance in input
    pixels between neighbouring outputs, ``start`` the centre of the first output's field.
    A window of kernel k, stride s, begin padding p (dilation folded into k) maps
    (size, jump, start) to (size + (k-1)*jump, jump*s, start + ((k-1)/2 - p)*jump); a
    transposed window divides the jump and sees ceil(k/s) inputs. Merges take the union.
    Tensors that are no longer spatial get 'global' (seen everything) or None.
    """
    nodes = graph.nx.nodes
    for name in graph.order():
        node = nodes[name]["node"]
        if node.type is None:
            continue
        if node.op == INPUT:
            node.rf = (tuple((1, 1, 0.0) for _ in node.type.spatial)
                       if node.type.layout == CHANNELS_FIRST else None)
            continue
        fields = [nodes[i]["node"].rf for i in node.inputs]
        if any(f == GLOBAL for f in fields) or any(f is None for f in fields):
            node.rf = GLOBAL if GLOBAL in fields else None
            continue
        window = OPS[node.op].rf(node.attrs, [nodes[i]["node"].type for i in node.inputs])
        base = fields[0] if len(fields) == 1 else _merge(fields)
        if window == GLOBAL:
            node.rf = GLOBAL
        elif window == IDENTITY:
            node.rf = base
        else:
            node.rf = tuple(_apply(w, f) for w, f in zip(window, base))
    return graph


def _apply(w, field):
    size, jump, start = field
    if w.transposed:
        out_jump = jump / w.stride
        seen = -(-w.kernel // w.stride)
        return (size + (seen - 1) * jump, out_jump, start + (w.pad_begin - (w.kernel - 1) * 0.5) * out_jump)
    return (size + (w.kernel - 1) * jump, jump * w.stride, start + ((w.kernel - 1) * 0.5 - w.pad_begin) * jump)
