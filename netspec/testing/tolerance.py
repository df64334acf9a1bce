"""How close two backends' tensors must be, and the one comparison every check uses.

Two frameworks running the same float32 network never agree bit for bit: they sum in
different orders (im2col vs Winograd vs direct convolution, blocked matrix products,
fused batchnorm), and each reordering of a K-term float32 sum moves the result by up to
about ``K * eps * max|term|`` (eps = 2**-23 ~ 1.2e-7), typically ``sqrt(K) * eps``. A
ResNet-50 output depends on sums of ~4,600 terms (3x3x512 convolutions) chained 50 deep.

So errors are measured **against the tensor's scale**, not element by element: a tensor
passes when ``max|a - b| <= atol + rtol * max|reference|``. Element-wise relative error
is meaningless where an element is near zero (a ReLU output, a logit that happens to be
0.001), and such elements are exactly where an element-wise check would fail first while
proving nothing. The reported ``max_rel`` is ``max|a - b| / max|reference|``.

Defaults, per dtype (the reasoning is the error model above, with a safety factor of
about 10 over what the zoo shows at 224x224, so a real bug — a transposed weight, a wrong
padding, a missing bias, all of which move outputs by 1e-2 or more of their scale — is
always caught):

========  =======  =======  ==============================================================
dtype     atol     rtol     why
========  =======  =======  ==============================================================
float32   1e-5     1e-4     eps 1.2e-7 times sqrt(4,600) terms times ~50 layers ~ 4e-5
float64   1e-12    1e-9     the same chain at eps 2.2e-16
float16   1e-3     1e-2     eps 9.8e-4; one rounding per layer already costs 1e-3
========  =======  =======  ==============================================================

Gradients and weights after a training step get ``GRADIENT_FACTOR`` times the output
tolerance: backward passes sum over the batch and the spatial positions as well (twice
the accumulation depth), and frameworks pick different backward convolution algorithms.
Tolerances are reported with every verdict, and a caller may set them explicitly; they
are never widened silently.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float

    def scaled(self, factor: float) -> "Tolerance":
        return Tolerance(self.atol * factor, self.rtol * factor)

    def __str__(self) -> str:
        return f"{self.atol:.0e} + {self.rtol:.0e}·scale"


DEFAULT_TOLERANCES = {
    "float32": Tolerance(atol=1e-5, rtol=1e-4),
    "float64": Tolerance(atol=1e-12, rtol=1e-9),
    "float16": Tolerance(atol=1e-3, rtol=1e-2),
}
GRADIENT_FACTOR = 10.0


def default_tolerance(dtype: str = "float32", atol: float | None = None, rtol: float | None = None) -> Tolerance:
    """The documented default for ``dtype``, with either bound replaced where given."""
    base = DEFAULT_TOLERANCES.get(str(dtype), DEFAULT_TOLERANCES["float32"])
    return Tolerance(base.atol if atol is None else atol, base.rtol if rtol is None else rtol)


@dataclass(frozen=True)
class Diff:
    """One tensor compared: errors, the scale they are measured against, the verdict."""

    max_abs: float
    max_rel: float
    scale: float
    tolerance: Tolerance
    ok: bool
    note: str = ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["tolerance"] = asdict(self.tolerance)
        return data


def compare(reference, other, tolerance: Tolerance) -> Diff:
    """``other`` against ``reference`` under ``tolerance`` (shapes must agree; NaNs fail)."""
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(other, dtype=np.float64)
    if ref.shape != got.shape:
        return Diff(float("inf"), float("inf"), 0.0, tolerance, False,
                    f"shapes differ: {list(ref.shape)} vs {list(got.shape)}")
    if ref.size == 0:
        return Diff(0.0, 0.0, 0.0, tolerance, True)
    finite = np.isfinite(ref) & np.isfinite(got)
    same_nonfinite = ~finite & ((ref == got) | (np.isnan(ref) & np.isnan(got)))
    if not np.all(finite | same_nonfinite):
        return Diff(float("inf"), float("inf"), 0.0, tolerance, False, "non-finite values differ")
    if not finite.any():
        return Diff(0.0, 0.0, 0.0, tolerance, True)
    error = float(np.max(np.abs(ref[finite] - got[finite])))
    scale = float(np.max(np.abs(ref[finite])))
    rel = error / scale if scale > 0 else (0.0 if error == 0 else float("inf"))
    return Diff(error, rel, scale, tolerance, error <= tolerance.atol + tolerance.rtol * scale)
