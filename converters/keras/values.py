"""What a Keras tensor is in the graph: a :class:`Value`.

Keras models hold feature maps channels-last; the graph holds them channels-first. Rather
than transposing at every layer, each Keras tensor is described as a *view* of one graph
node: ``keras_tensor == graph_tensor.transpose(perm)``. A Conv2D output is the view
``perm = (0, 2, 3, 1)`` of a channels-first conv node; a ``Permute`` layer only changes the
view, and costs nothing in the graph. A layer that needs its input in another view (an LSTM
reading a Conv1D output) asks the context for it, and only then is a transpose added.

Two views cannot be written as a permutation of axes:

* ``order`` -- a Flatten of a channels-last map. Keras flattens in (H, W, C) order, the
  graph's ``flatten`` in (C, H, W) order: ``keras[:, j] == graph[:, order[j]]``. A Dense
  layer reading it takes its weight columns in that order, so the flatten stays free.
* ``const`` -- a tensor known at import time (kept in Keras layout); it becomes a
  ``constant`` node in whatever view its consumer wants.

Permutations compose as numpy's do: ``x.transpose(a).transpose(b) == x.transpose(compose(a, b))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def compose(a, b) -> tuple[int, ...]:
    """The one permutation equal to transposing by ``a``, then by ``b``."""
    return tuple(int(a[i]) for i in b)


def inverse(p) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(p))


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_last(rank: int) -> tuple[int, ...]:
    """The view of a channels-first tensor ``N, C, *S`` as ``N, *S, C``."""
    return (0, *range(2, rank), 1) if rank > 2 else identity(rank)


def is_identity(p) -> bool:
    return tuple(p) == identity(len(p))


def flatten_order(graph_shape, perm) -> np.ndarray:
    """``order`` of the Keras flatten of the view ``perm`` of a graph tensor of shape
    ``graph_shape`` (batch axis excluded from the shape, included in ``perm``):
    element ``j`` of the Keras flatten is element ``order[j]`` of the graph's flatten."""
    grid = np.arange(math.prod(graph_shape)).reshape(graph_shape)
    return grid.transpose([p - 1 for p in perm[1:]]).reshape(-1)


@dataclass(frozen=True, eq=False)
class Value:
    """A Keras tensor seen from the graph (see the module docstring).

    ``node``: the graph node (None for a constant); ``perm``: Keras axes as a transpose of
    the node's axes; ``order``: for flattened maps, the element order (perm is then the
    identity of rank 2); ``const``: the array of a constant, in Keras layout with a leading
    batch axis of size 1; ``source``: for a flattened map, the view it was flattened from
    (a Reshape back to the map's shape returns it); ``dense``: the graph dense node whose
    output this is, when nothing else reads it (a Reshape may reorder its units).
    """

    node: str | None
    perm: tuple[int, ...]
    order: np.ndarray | None = None
    const: np.ndarray | None = None
    source: "Value | None" = None
    source_shape: tuple | None = None
    dense: str | None = None

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def is_flat(self) -> bool:
        return self.order is not None

    def same_view(self, other: "Value") -> bool:
        """Whether two values index their nodes alike (so element-wise ops may combine them)."""
        if self.perm != other.perm or self.is_flat != other.is_flat:
            return False
        return not self.is_flat or np.array_equal(self.order, other.order)

    @staticmethod
    def of(node: str, rank: int, perm=None) -> "Value":
        return Value(node, tuple(perm) if perm is not None else identity(rank))
