"""The op set. Importing this package registers every op in :data:`OPS`."""
from . import activation, conv, linear, lowlevel, merge, norm, pool, recurrent, shape  # noqa: F401  (registration)
from .schema import GLOBAL, IDENTITY, OPS, REQUIRED, Attr, OpDef, ParamSpec, ShapeError, Window, get_op, register
from .types import CHANNELS_FIRST, PLAIN, TensorType

__all__ = ["OPS", "OpDef", "Attr", "ParamSpec", "ShapeError", "Window", "TensorType", "get_op",
           "register", "REQUIRED", "GLOBAL", "IDENTITY", "CHANNELS_FIRST", "PLAIN"]
