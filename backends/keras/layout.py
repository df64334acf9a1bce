"""How each IR tensor is held inside the Keras model, decided from the graph alone.

The graph is channels-first; TensorFlow convolves channels-last. Every tensor therefore has
a *held* form and a permutation ``to_held`` of its canonical axes (``held =
canonical.transpose(to_held)``):

* ``channels_last`` — a channels-first tensor ``N, C, *S`` held as ``N, *S, C``;
* ``plain``         — same axes in every framework;
* ``flat``          — the flatten of a channels-first map, held in channels-last element
  order (``N, H*W*C``): ``held[:, j] == canonical[:, order[j]]``. The dense layer that
  follows gets its weight columns permuted by ``order`` at emit time, so no activation is
  ever transposed. Element-wise ops keep the order; any other consumer materialises it.

Because this plan is a pure function of the graph, weights can be read back from a model
loaded from disk (the dense after a flatten needs ``order`` in both directions).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from netspec.ops.types import CHANNELS_FIRST

CHANNELS_LAST = "channels_last"
PLAIN = "plain"
FLAT = "flat"

# Ops that act on each element alone: a flat tensor passes through them in its held order.
ORDER_KEEPING = frozenset({"relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "dropout"})


@dataclass(frozen=True)
class Held:
    kind: str
    rank: int
    order: np.ndarray | None = None  # flat only
    source: tuple | None = None      # flat only: the held (channels-last) shape it came from

    @property
    def to_held(self) -> tuple[int, ...]:
        """Axis permutation canonical -> held (identity for plain and flat tensors)."""
        if self.kind == CHANNELS_LAST:
            return (0, *range(2, self.rank), 1)
        return tuple(range(self.rank))

    @property
    def to_canonical(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.argsort(self.to_held))

    def held_axis(self, axis: int) -> int:
        """Where canonical ``axis`` sits in the held tensor."""
        return self.to_held.index(axis)

    def canonical_array(self, array: np.ndarray) -> np.ndarray:
        """A held numpy array back in canonical layout."""
        if self.kind == FLAT:
            out = np.empty_like(array)
            out[:, self.order] = array
            return out
        return np.transpose(array, self.to_canonical)

    def held_array(self, array: np.ndarray) -> np.ndarray:
        if self.kind == FLAT:
            return array[:, self.order]
        return np.transpose(array, self.to_held)


def held_for_type(t) -> Held:
    if t.layout == CHANNELS_FIRST and t.rank > 2:
        return Held(CHANNELS_LAST, t.rank)
    return Held(PLAIN, t.rank)


def flat_order(canonical_shape) -> np.ndarray:
    """``order`` of the channels-last flatten of a ``C, *S`` map: held[j] = canonical[order[j]]."""
    c, *spatial = canonical_shape
    grid = np.arange(math.prod(canonical_shape)).reshape(c, *spatial)
    return np.moveaxis(grid, 0, -1).reshape(-1)


def plan(graph) -> dict[str, Held]:
    """The held form of every node's output."""
    out: dict[str, Held] = {}
    for node in graph.nodes():
        t = node.type
        if node.op == "flatten":
            x = graph.node(node.inputs[0]).type
            src = out[node.inputs[0]]
            if src.kind == CHANNELS_LAST and all(d is not None for d in x.shape[1:]):
                out[node.name] = Held(FLAT, 2, flat_order(x.shape[1:]),
                                      tuple(x.shape[i] for i in src.to_held[1:]))
                continue
        elif node.op in ORDER_KEEPING and out[node.inputs[0]].kind == FLAT:
            out[node.name] = out[node.inputs[0]]
            continue
        out[node.name] = held_for_type(t)
    return out
