"""What an ONNX value is while it is being imported.

ONNX values come in three kinds the importer treats differently:

* a **constant** (``np.ndarray``): initializers, ``Constant`` nodes and everything computed
  from them only. Constants never become graph nodes of their own; they end up as weights
  of the op that uses them, or as attributes (shapes, axes, pads).
* a **symbolic shape** (:class:`SymShape`): the result of ``Shape`` on a tensor with dynamic
  sizes, and of the integer arithmetic exporters do on it (``Gather``, ``Concat``, ...).
  Its entries are ints or :class:`Dim` symbols, so ``Reshape(x, Concat(Shape(x)[0], -1))``
  folds into a plain ``flatten`` that keeps the batch dynamic. A symbolic shape without
  symbols is a constant and is stored as one.
* a **tensor view** (:class:`View`): a graph node's output seen through pending axis moves.
  The graph keeps the batch axis first, but ONNX tensors may be time-major (``LSTM`` takes
  ``(T, N, F)``) or carry size-1 axes (``Y`` of ``LSTM`` is ``(T, 1, N, H)``). Transpose,
  Squeeze and Unsqueeze only rearrange a view's ``axes``; a node is emitted only when a
  consumer needs the tensor itself, so ``Transpose -> LSTM -> Transpose -> Squeeze``
  imports as one ``lstm`` node.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dim:
    """A dynamic size: the batch (``("batch",)``) or axis ``axis`` of graph node ``node``."""

    key: tuple

    def __repr__(self) -> str:
        return "batch" if self.key == ("batch",) else f"{self.key[0]}[{self.key[1]}]"


BATCH = Dim(("batch",))


@dataclass(frozen=True)
class SymShape:
    """A 1-d (or, with ``scalar``, 0-d) int64 tensor whose entries may be :class:`Dim`."""

    entries: tuple
    scalar: bool = False

    @property
    def symbolic(self) -> bool:
        return any(isinstance(e, Dim) for e in self.entries)


@dataclass(frozen=True)
class Fill:
    """``ConstantOfShape`` of a symbolic shape: every element is ``value`` (initial states
    of exported recurrent layers are zeros of shape ``(1, batch, H)``)."""

    value: float
    shape: SymShape


@dataclass(frozen=True)
class View:
    """The ONNX tensor ``node`` seen through ``axes``: ONNX axis ``k`` is the node's axis
    ``axes[k]``, or a new size-1 axis where ``axes[k]`` is None. Node axes left out of
    ``axes`` have size 1 (squeezed away)."""

    node: str
    axes: tuple

    @staticmethod
    def of(node: str, rank: int) -> "View":
        return View(node, tuple(range(rank)))

    def is_identity(self, rank: int) -> bool:
        return self.axes == tuple(range(rank))


def to_sym(value) -> SymShape | None:
    """Integer constants and symbolic shapes as one type (None for anything else)."""
    if isinstance(value, SymShape):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim <= 1:
        return SymShape(tuple(int(v) for v in value.reshape(-1)), value.ndim == 0)
    return None


def settle(sym: SymShape):
    """A symbolic shape without symbols is an ordinary int64 constant."""
    if sym.symbolic:
        return sym
    array = np.asarray(sym.entries, dtype=np.int64)
    return array.reshape(()) if sym.scalar else array
