"""The state of one import, and the helpers every importer uses.

An importer has the signature ``importer(ctx, node) -> None``: it reads the ONNX node's
inputs through ``ctx`` (constants, symbolic shapes or tensor views, see :mod:`.values`),
emits graph nodes with :meth:`ImportContext.emit` and sets each ONNX output it produces
with :meth:`ImportContext.set_output`. Attributes arrive with ONNX's defaults filled in
from the op's schema (:meth:`ImportContext.attrs`), once, centrally.

Graph nodes are collected as :class:`Pending` records and the :class:`~netspec.graph.ir.Graph`
is built at the end, so names can still change (a helper value's node is named after the
value its consumers see) and nodes nobody uses can be dropped.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx.defs
from onnx import helper

from netspec.errors import NetspecError, SourceLoc
from netspec.graph.ir import INPUT
from netspec.graph.lint import NAME
from netspec.ops import OPS, ShapeError
from netspec.ops.types import CHANNELS_FIRST, PLAIN, TensorType

from .values import BATCH, Dim, Fill, SymShape, View, settle, to_sym

DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16",
          onnx.TensorProto.DOUBLE: "float64", onnx.TensorProto.INT64: "int64",
          onnx.TensorProto.INT32: "int32", onnx.TensorProto.BOOL: "bool"}


def sanitise(raw: str) -> str:
    """An IR node name close to an ONNX name: ``/layer1/layer1.0/conv1/Conv`` ->
    ``layer1_layer1.0_conv1_Conv``, ``onnx::Add_12`` -> ``onnx_Add_12``."""
    text = re.sub(r"[^A-Za-z0-9_.]+", "_", raw.strip("/"))
    text = re.sub(r"\.{2,}", ".", text).strip(".")
    text = re.sub(r"_*\._*", ".", text) if "." in text else text
    if not text or not (text[0].isalpha() or text[0] == "_"):
        text = "_" + text
    return text


def scope_path(raw: str) -> str | None:
    """The module path in a TorchScript-exporter node name: ``/blocks/blocks.0/expand/
    expand.2/Clip`` -> ``blocks.0.expand.2``. Each scope level names a module relative to
    the level before, sometimes repeating it (``blocks`` then ``blocks.0``); the last part
    is the op type. None for names without a scope (``/Relu``)."""
    if not raw.startswith("/"):
        return None
    parts = raw.strip("/").split("/")[:-1]
    path: list[str] = []
    for token in parts:
        if path and token.startswith(path[-1] + "."):
            path[-1] = token
        else:
            path.append(token)
    text = ".".join(path)
    return text if path and NAME.match(text) else None


@dataclass
class Pending:
    """A graph node in the making. ``clean``: its name is the ONNX value name unchanged;
    ``aliases``: ONNX value names that are this node's output seen through view-only ops
    (Transpose, Squeeze, ...), the last of which names the node when ``clean`` is false."""

    name: str
    op: str
    attrs: dict
    inputs: list[str]
    params: dict[str, np.ndarray]
    loc: SourceLoc | None
    type: TensorType
    clean: bool = True
    aliases: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # names of the initializers its weights came from


class ImportContext:
    def __init__(self, model: onnx.ModelProto, file: str | None, opset: int):
        self.model = model
        self.file = file
        self.opset = opset
        self.values: dict[str, Any] = {}
        self.pending: dict[str, Pending] = {}
        self.inputs: list[str] = []
        self.errors: list[NetspecError] = []
        self.failed: set[str] = set()
        self.claimed: set[int] = set()  # ids of ONNX nodes a pattern importer consumed
        self.node: onnx.NodeProto | None = None  # the ONNX node being imported
        self.weight_sources: list[str] = []  # ONNX names of the weights the current node read
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in model.graph.node:
            for name in n.input:
                if name:
                    self.consumers.setdefault(name, []).append(n)
        self.graph_outputs = [o.name for o in model.graph.output]
        self.producer = {out: n for n in model.graph.node for out in n.output if out}
        self._attrs: dict[int, dict] = {}
        self.shared: dict[tuple, str] = {}  # graph nodes importers reuse (constants)
        # graph inputs/outputs whose channels-last boundary transpose was folded (.boundary):
        # node name -> the perm from the canonical layout to the file's
        self.input_perms: dict[str, tuple[int, ...]] = {}
        self.output_perms: dict[str, tuple[int, ...]] = {}

    # ------------------------------------------------------------ places and errors
    def where(self, node: onnx.NodeProto | None = None) -> SourceLoc:
        node = node or self.node
        return SourceLoc(file=self.file, node=node_label(node) if node is not None else None)

    def error(self, message: str, hint: str | None = None) -> NetspecError:
        """An error about the current node, prefixed with its op type and name."""
        node = self.node
        label = f"{node.op_type} '{node_label(node)}'" if node is not None else "model"
        return NetspecError(f"{label}: {message}", self.where(), hint)

    # ------------------------------------------------------------ attributes
    def attrs(self, node: onnx.NodeProto | None = None) -> dict:
        """The node's attributes with the schema's defaults for this opset filled in."""
        node = node or self.node
        cached = self._attrs.get(id(node))
        if cached is not None:
            return cached
        out: dict[str, Any] = {}
        try:
            schema = onnx.defs.get_schema(node.op_type, self.opset, node.domain)
        except onnx.defs.SchemaError:
            schema = None
        if schema is not None:
            for name, spec in schema.attributes.items():
                if spec.default_value.name:
                    out[name] = _plain(helper.get_attribute_value(spec.default_value))
        for attr in node.attribute:
            out[attr.name] = _plain(helper.get_attribute_value(attr))
        self._attrs[id(node)] = out
        return out

    # ------------------------------------------------------------ reading inputs
    def has_input(self, index: int, node=None) -> bool:
        node = node or self.node
        return index < len(node.input) and bool(node.input[index])

    def value(self, index: int, node=None):
        node = node or self.node
        if not self.has_input(index, node):
            return None
        return self.values[node.input[index]]

    def const(self, index: int, what: str, required: bool = True):
        """Input ``index`` as a numpy array; it must be known at import time."""
        value = self.value(index)
        if value is None and not required:
            return None
        if isinstance(value, np.ndarray):
            return value
        sym = value if isinstance(value, SymShape) else None
        if sym is not None and not sym.symbolic:
            return settle(sym)
        if value is None:
            raise self.error(f"needs input {index} ({what})")
        kind = "depends on a dynamic size" if sym is not None else "is computed at run time"
        raise self.error(f"input {index} ({what}) must be a constant, but it {kind}",
                         "netspec imports weights, shapes and axes that are known when the model is read")

    def ints(self, index: int, what: str, required: bool = True) -> list[int] | None:
        array = self.const(index, what, required)
        return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]

    def weight(self, index: int, what: str, required: bool = True) -> np.ndarray | None:
        """A constant float input as a float32 array (initializers of float32 models as is)."""
        array = self.const(index, what, required)
        if array is None:
            return None
        self.weight_sources.append(self.node.input[index])
        if array.dtype.kind != "f":
            raise self.error(f"input {index} ({what}) must be a float tensor, received {array.dtype}")
        return np.ascontiguousarray(array, dtype=np.float32)

    def sym(self, index: int, what: str) -> SymShape:
        value = self.value(index)
        sym = to_sym(value)
        if sym is None:
            raise self.error(f"input {index} ({what}) must be an integer shape known at import "
                             "time (constant, or computed from Shape)")
        return sym

    def view(self, index: int, what: str = "data") -> View:
        value = self.value(index)
        if isinstance(value, View):
            return value
        kind = ("a constant" if isinstance(value, np.ndarray) else
                "a shape" if isinstance(value, SymShape) else "a filled constant" if isinstance(value, Fill)
                else "missing")
        raise self.error(f"input {index} ({what}) is {kind}; this importer needs a tensor computed "
                         "at run time here", "netspec's low-level ops may cover this form in a later version")

    def tensor(self, index: int, layout: str | None = None, what: str = "data") -> str:
        """Input ``index`` as a graph node name, with ``layout`` if given."""
        return self.materialise(self.view(index, what), layout)

    def is_used(self, value_name: str) -> bool:
        return bool(value_name) and (value_name in self.consumers or value_name in self.graph_outputs)

    def single_consumer(self, value_name: str) -> bool:
        return len(self.consumers.get(value_name, ())) == 1 and value_name not in self.graph_outputs

    # ------------------------------------------------------------ views
    def ir_type(self, name: str) -> TensorType:
        return self.pending[name].type

    def dims(self, view: View) -> list:
        """The ONNX-level shape of a view: ints, or :class:`Dim` symbols for dynamic sizes."""
        t = self.ir_type(view.node)
        out = []
        for axis in view.axes:
            if axis is None:
                out.append(1)
            elif t.shape[axis] is None:
                out.append(BATCH if axis == 0 else Dim((view.node, axis)))
            else:
                out.append(t.shape[axis])
        return out

    def materialise(self, view: View, layout: str | None = None) -> str:
        """A graph node holding exactly the view's tensor: a transpose and/or reshape of the
        viewed node when its axes moved, and a relabelling when ``layout`` differs. Made
        once per view and layout, however many consumers read it."""
        key = ("view", view, layout)
        if key not in self.shared:
            self.shared[key] = self._materialise(view, layout)
        return self.shared[key]

    def _materialise(self, view: View, layout: str | None) -> str:
        t = self.ir_type(view.node)
        name = view.node
        if not view.is_identity(t.rank):
            real = [a for a in view.axes if a is not None]
            if view.axes and view.axes[0] is None:
                raise self.error(
                    f"this tensor has a new axis in front of the batch axis (its axes are "
                    f"{['new' if a is None else a for a in view.axes]} of '{view.node}' {t}, as "
                    "Unsqueeze at axis 0 makes), which moves the batch axis; netspec keeps the batch axis first",
                    "unsqueeze after the batch axis (axis >= 1), or squeeze the new axis again before it is used")
            if not real or real[0] != 0:
                raise self.error(
                    f"this tensor does not have the batch axis first (its axes are the axes "
                    f"{list(view.axes)} of '{view.node}' {t}); netspec keeps the batch axis first",
                    "only recurrent layers and transposes back to batch-first may use time-major tensors")
            missing = [a for a in range(t.rank) if a not in real]
            # size-1 axes do not change the element order: only moved real axes need a transpose
            perm = real + missing if real != sorted(real) else list(range(t.rank))
            if perm != list(range(t.rank)):
                name = self.emit_helper("transpose", {"perm": perm, "layout": default_layout(t.rank, t.layout)},
                                        [name], f"{view.node}_transposed")
            if missing or None in view.axes:
                shape = [t.shape[a] if a is not None else 1 for a in view.axes][1:]
                name = self.reshape_to(name, shape, f"{view.node}_reshaped")
        if layout is not None and self.ir_type(name).layout != layout:
            rank = self.ir_type(name).rank
            name = self.emit_helper("transpose", {"perm": list(range(rank)), "layout": layout}, [name],
                                    f"{name}_as_{'cf' if layout == CHANNELS_FIRST else 'plain'}")
        return name

    def reshape_to(self, src: str, shape: list, base: str) -> str:
        """Reshape ``src`` to ``shape`` (non-batch sizes; None for at most one dynamic size)."""
        if sum(d is None for d in shape) > 1:
            raise self.error(f"cannot reshape '{src}' to {shape}: more than one size is dynamic")
        target = [-1 if d is None else d for d in shape]
        src_type = self.ir_type(src)
        return self.emit_helper("reshape", {"shape": target, "layout": default_layout(len(shape) + 1, src_type.layout)},
                                [src], base)

    # ------------------------------------------------------------ emitting
    def emit(self, op: str, attrs: dict, inputs: list[str], params: dict | None = None,
             output: int = 0, name: str | None = None, suffix: str = "") -> str:
        """Add a graph node for output ``output`` of the current ONNX node (named after it)
        and return its name; its type is inferred at once, so the next importer sees it."""
        node = self.node
        if name is None:
            value = node.output[output] if output < len(node.output) else ""
            if value and NAME.match(value) and not suffix:
                name, clean = value, True
            else:
                raw = (node.name or value or node.op_type) + (f"_{output}" if output and not value else "")
                name, clean = (scope_path(node.name) or sanitise(raw)) + suffix, False
        else:
            clean = False
        return self._add(name, op, attrs, inputs, params or {}, clean)

    def emit_helper(self, op: str, attrs: dict, inputs: list[str], base: str) -> str:
        return self._add(sanitise(base), op, attrs, inputs, {}, False)

    def unique(self, name: str) -> str:
        if name not in self.pending:
            return name
        i = 2
        while f"{name}_{i}" in self.pending:
            i += 1
        return f"{name}_{i}"

    def _add(self, name, op, attrs, inputs, params, clean) -> str:
        name = self.unique(name)
        opdef = OPS[op]
        checked, problems = opdef.check_attrs(dict(attrs))
        if problems:
            raise self.error(f"cannot be expressed as netspec {op}: " + "; ".join(p[1] for p in problems))
        ins = [self.ir_type(i) for i in inputs]
        try:
            resolved, out_type, specs = opdef.derive(checked, ins)
        except ShapeError as exc:
            raise self.error(f"imports as netspec {op}, which refuses it: {exc}") from None
        # own, writable copies: initializer arrays are read-only views of the protobuf
        params = {k: np.array(v, dtype=np.float32) for k, v in params.items() if v is not None}
        wanted = {s.name: tuple(s.shape) for s in specs}
        for key in set(wanted) | set(params):
            if key not in params or key not in wanted or tuple(params[key].shape) != wanted[key]:
                got = None if key not in params else list(params[key].shape)
                raise self.error(f"weight '{key}' of the imported {op} has shape {got}, netspec's {op} "
                                 f"expects {list(wanted[key]) if key in wanted else None}")
        loc = self.where() if self.node is not None else SourceLoc(file=self.file, node=name)
        self.pending[name] = Pending(name, op, checked, list(inputs), params, loc, out_type, clean,
                                     sources=list(self.weight_sources) if params else [])
        return name

    def add_input(self, name: str, t: TensorType) -> str:
        node_name = self.unique(sanitise(name) if not NAME.match(name) else name)
        self.pending[node_name] = Pending(node_name, INPUT, {}, [], {}, SourceLoc(file=self.file, node=name),
                                          t, NAME.match(name) is not None)
        self.inputs.append(node_name)
        self.values[name] = View.of(node_name, t.rank)
        return node_name

    def set_output(self, index: int, value, adopt: bool = False) -> None:
        """Set output ``index`` of the current node. ``adopt``: the value is a graph node's
        output moved by view-only ops, so that node may take the value's (clean) name."""
        self.set_value(self.node.output[index] if index < len(self.node.output) else "", value, adopt)

    def set_value(self, name: str, value, adopt: bool = False) -> None:
        """Set the ONNX value ``name`` (pattern importers set values of claimed nodes)."""
        if not name:
            return
        if isinstance(value, SymShape):
            value = settle(value)
        self.values[name] = value
        if adopt and isinstance(value, View) and NAME.match(name):
            pending = self.pending[value.node]
            if value.is_identity(pending.type.rank):
                pending.aliases.append(name)

    def produce(self, op: str, attrs: dict, inputs: list[str], params: dict | None = None) -> str:
        """Emit one graph node for output 0 and set it; the common case."""
        name = self.emit(op, attrs, inputs, params)
        self.set_output(0, View.of(name, self.ir_type(name).rank))
        return name

    def claim(self, node: onnx.NodeProto) -> None:
        """Mark a later ONNX node as imported by the current (pattern) importer."""
        self.claimed.add(id(node))


def node_label(node: onnx.NodeProto) -> str:
    """How errors name an ONNX node: its name, else its first output that is set (a
    recurrent node often leaves Y unset and names only Y_h), else its op type."""
    return node.name or next((out for out in node.output if out), node.op_type)


def short_float(value: float) -> float:
    """The shortest decimal with the same float32 value: ONNX stores float attributes as
    float32, and ``eps: 0.001`` reads better than ``eps: 0.0010000000474974513``."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))


def _plain(value):
    """Attribute values as Python values: bytes -> str, float32 -> its short decimal."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, float):
        return short_float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def default_layout(rank: int, source: str) -> str:
    """Layout of a reshaped/transposed tensor: rank >= 4 is a map, rank 3 keeps the
    source's reading (a map (N, C, L) or a sequence (N, T, F)), rank <= 2 is plain."""
    if rank >= 4:
        return CHANNELS_FIRST
    if rank == 3:
        return source
    return PLAIN


def numel(dims) -> int | None:
    if any(not isinstance(d, int) for d in dims):
        return None
    return math.prod(dims)
