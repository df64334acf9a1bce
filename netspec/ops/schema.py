"""The op registry: one definition per op, from which everything else is derived.

An :class:`OpDef` holds an op's attribute schema (types, defaults, allowed values), how its
attributes are resolved against input shapes into one canonical form, shape inference,
parameter shapes with their initialisers, multiply-accumulate counts, its receptive-field
window and a doc line. Spec validation, the JSON Schema, ``netspec ops`` and the docs all
read this registry; backends only ever see resolved attributes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import NetspecError, did_you_mean
from .types import TensorType

REQUIRED = object()


class AttrType:
    """A value checker that also knows how to describe itself (for errors and JSON Schema)."""

    expected: str = "a value"

    def check(self, value: Any) -> Any:  # returns the normalised value or raises ValueError
        raise NotImplementedError

    def json_schema(self) -> dict:
        return {}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Int(AttrType):
    def __init__(self, minimum: int | None = None, maximum: int | None = None):
        self.minimum, self.maximum = minimum, maximum
        if minimum == 1:
            self.expected = "a positive int"
        elif minimum == 0:
            self.expected = "a non-negative int"
        else:
            self.expected = "an int"

    def ok(self, v) -> bool:
        return _is_int(v) and (self.minimum is None or v >= self.minimum) and (
            self.maximum is None or v <= self.maximum)

    def check(self, value):
        if not self.ok(value):
            raise ValueError(self.expected)
        return value

    def json_schema(self):
        s: dict = {"type": "integer"}
        if self.minimum is not None:
            s["minimum"] = self.minimum
        return s


class Ints(Int):
    """An int, or a list of ints (one per spatial axis); resolved to a tuple later."""

    def __init__(self, minimum: int | None = None, length: int | None = None):
        super().__init__(minimum)
        self.length = length
        self.expected = f"{self.expected} or list of {self.expected.split(' ', 1)[1]}s"

    def check(self, value):
        if isinstance(value, (list, tuple)):
            if not value or not all(self.ok(v) for v in value) or (
                    self.length is not None and len(value) != self.length):
                raise ValueError(self.expected)
            return tuple(value)
        return super().check(value)

    def json_schema(self):
        item = super().json_schema()
        return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1}]}


class Float(AttrType):
    def __init__(self, minimum: float | None = None, maximum: float | None = None,
                 exclusive_min: bool = False):
        self.minimum, self.maximum, self.exclusive_min = minimum, maximum, exclusive_min
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if exclusive_min else '>='} {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        self.expected = "a number" + (f" {' and '.join(bounds)}" if bounds else "")

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(self.expected)
        if self.minimum is not None and (value <= self.minimum if self.exclusive_min else value < self.minimum):
            raise ValueError(self.expected)
        if self.maximum is not None and value > self.maximum:
            raise ValueError(self.expected)
        return float(value)

    def json_schema(self):
        s: dict = {"type": "number"}
        if self.minimum is not None:
            s["exclusiveMinimum" if self.exclusive_min else "minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        return s


class Bool(AttrType):
    expected = "true or false"

    def check(self, value):
        if not isinstance(value, bool):
            raise ValueError(self.expected)
        return value

    def json_schema(self):
        return {"type": "boolean"}


class Choice(AttrType):
    def __init__(self, *choices: str):
        self.choices = choices
        self.expected = "one of " + ", ".join(repr(c) for c in choices)

    def check(self, value):
        if value not in self.choices:
            raise ValueError(self.expected)
        return value

    def json_schema(self):
        return {"enum": list(self.choices)}


class AnyOf(AttrType):
    """The first of several types that accepts the value."""

    def __init__(self, *types: AttrType):
        self.types = types
        self.expected = " or ".join(t.expected for t in types)

    def check(self, value):
        for t in self.types:
            try:
                return t.check(value)
            except ValueError:
                continue
        raise ValueError(self.expected)

    def json_schema(self):
        return {"oneOf": [t.json_schema() for t in self.types]}


class Padding(AttrType):
    """An int, per-axis ints, per-axis [begin, end] pairs, or a named mode."""

    def __init__(self, *modes: str):
        self.modes = modes
        self.expected = ("a non-negative int, a list of them per axis, a list of [begin, end] "
                         "pairs" + (", or " + " or ".join(repr(m) for m in modes) if modes else ""))

    def check(self, value):
        if value in self.modes:
            return value
        if _is_int(value) and value >= 0:
            return value
        if isinstance(value, (list, tuple)) and value:
            items = []
            for v in value:
                if _is_int(v) and v >= 0:
                    items.append(v)
                elif (isinstance(v, (list, tuple)) and len(v) == 2
                      and all(_is_int(x) and x >= 0 for x in v)):
                    items.append(tuple(v))
                else:
                    raise ValueError(self.expected)
            return tuple(items)
        raise ValueError(self.expected)

    def json_schema(self):
        nn = {"type": "integer", "minimum": 0}
        pair = {"type": "array", "items": nn, "minItems": 2, "maxItems": 2}
        return {"oneOf": [nn, {"enum": list(self.modes)},
                          {"type": "array", "items": {"oneOf": [nn, pair]}, "minItems": 1}]}


class IntList(AttrType):
    """A list of ints (shapes, permutations); ``-1`` allowed where ``allow_neg1``."""

    def __init__(self, allow_neg1: bool = False):
        self.allow_neg1 = allow_neg1
        self.expected = "a list of ints" + (" (-1 allowed once)" if allow_neg1 else "")

    def check(self, value):
        if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
            raise ValueError(self.expected)
        if any(v < (-1 if self.allow_neg1 else 0) for v in value):
            raise ValueError(self.expected)
        if list(value).count(-1) > 1:
            raise ValueError(self.expected)
        return tuple(value)

    def json_schema(self):
        return {"type": "array", "items": {"type": "integer"}}


@dataclass(frozen=True)
class Attr:
    name: str
    type: AttrType
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class ParamSpec:
    """One parameter tensor of a node, in canonical (PyTorch/ONNX) layout."""

    name: str
    shape: tuple[int, ...]
    init: str  # key into netspec.graph.init.INITIALIZERS
    fan_in: int = 1
    fan_out: int = 1
    trainable: bool = True
    init_args: tuple = ()  # e.g. (("bound", 0.1),)


class ShapeError(ValueError):
    """Raised by an op's resolve/infer hook; the shape pass adds the node's location."""


# Receptive-field hooks return one of these, or a list of Window (one per spatial axis).
IDENTITY = "identity"  # each output position sees exactly the matching input position
GLOBAL = "global"  # every output sees the whole input (dense, global pooling, flatten)


@dataclass(frozen=True)
class Window:
    """How one spatial axis maps input positions to outputs: an (effective) kernel sliding
    with a stride after padding; ``transposed`` for up-sampling ops (stride divides)."""

    kernel: int
    stride: int = 1
    pad_begin: int = 0
    transposed: bool = False


def _no_params(attrs, ins):
    return []


def _no_macs(attrs, ins, out):
    return 0


def _identity_rf(attrs, ins):
    return IDENTITY


def _same_type(attrs, ins):
    return ins[0]


@dataclass
class OpDef:
    """Everything netspec knows about one op; see the module docstring."""

    name: str
    doc: str
    family: str
    attrs: Sequence[Attr] = ()
    arity: tuple[int, int | None] = (1, 1)  # (min, max) number of inputs; None: unbounded
    infer: Callable[[dict, list[TensorType]], TensorType] = _same_type
    resolve: Callable[[dict, list[TensorType]], dict] | None = None
    params: Callable[[dict, list[TensorType]], list[ParamSpec]] = _no_params
    macs: Callable[[dict, list[TensorType], TensorType], int] = _no_macs
    rf: Callable[[dict, list[TensorType]], Any] = _identity_rf
    notes: str = ""  # longer documentation (gate orders, conventions)
    attr_map: dict[str, Attr] = field(init=False, repr=False)

    def __post_init__(self):
        self.attr_map = {a.name: a for a in self.attrs}

    def derive(self, attrs: dict, ins: list[TensorType]) -> tuple[dict, TensorType, list[ParamSpec]]:
        """What a node of this op becomes on inputs of types ``ins``: its resolved
        attributes, output type and parameter specs, in that order (each step reads the
        previous). Raises :class:`ShapeError`. Shape inference and every importer use it."""
        resolved = self.resolve(attrs, ins) if self.resolve is not None else attrs
        return resolved, self.infer(resolved, ins), self.params(resolved, ins)

    def check_attrs(self, given: dict) -> tuple[dict, list[tuple[str | None, str, str | None]]]:
        """Apply defaults and type checks once, centrally.

        Returns the full attribute dict and a list of problems ``(attr, message, hint)`` so
        the caller can attach source positions and report them all together.
        """
        problems = []
        out = {}
        for key, value in given.items():
            spec = self.attr_map.get(key)
            if spec is None:
                hint = did_you_mean(key, self.attr_map) or (
                    f"{self.name} takes: {', '.join(self.attr_map) or 'no attributes'}")
                problems.append((key, f"unknown attribute '{key}' for op '{self.name}'", hint))
                continue
            try:
                out[key] = spec.type.check(value)
            except ValueError as exc:
                problems.append((key, f"{self.name}.{key} must be {exc}, received {value!r}", None))
        for spec in self.attrs:
            if spec.name not in given:
                if spec.required:
                    problems.append((None, f"{self.name} needs attribute '{spec.name}' "
                                           f"({spec.type.expected})", None))
                else:
                    out[spec.name] = spec.default
        return out, problems


OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add an op to the registry; defining the same op twice is a programming error."""
    if op.name in OPS:
        raise RuntimeError(f"op '{op.name}' is already registered")
    OPS[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise NetspecError(f"unknown op '{name}'",
                           hint=did_you_mean(name, OPS) or "run 'netspec ops' for the list") from None
