"""Tensor types carried by graph edges.

A shape always includes the batch axis first (``None``: any batch). Dynamic sizes are
``None`` too. ``layout`` says how the non-batch axes are to be read:

* ``channels_first`` — ``N, C, *spatial`` (images, feature maps, conv1d sequences); the
  Keras backend holds such tensors channels-last internally.
* ``plain`` — axes mean the same thing in every framework (``N, features``;
  ``N, T, features`` for recurrent sequences; token ids).
"""
from __future__ import annotations

from dataclasses import dataclass

CHANNELS_FIRST = "channels_first"
PLAIN = "plain"
LAYOUTS = (CHANNELS_FIRST, PLAIN)
DTYPES = ("float32", "float16", "float64", "int64", "int32", "bool")


@dataclass(frozen=True, slots=True)
class TensorType:
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    layout: str = PLAIN

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def channels(self) -> int | None:
        return self.shape[1] if self.rank >= 2 else None

    @property
    def spatial(self) -> tuple[int | None, ...]:
        """Spatial sizes of a channels-first tensor; empty for plain tensors."""
        return self.shape[2:] if self.layout == CHANNELS_FIRST else ()

    def with_shape(self, shape, layout: str | None = None, dtype: str | None = None) -> "TensorType":
        return TensorType(tuple(shape), dtype or self.dtype, layout or self.layout)

    def __str__(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape[1:])
        return f"(N, {dims})" if dims else "(N,)"


def numel(shape) -> int | None:
    """Number of elements of a shape without its batch axis; None when any size is dynamic."""
    total = 1
    for d in shape[1:]:
        if d is None:
            return None
        total *= d
    return total
