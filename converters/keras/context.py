"""The state of one Keras import, and the helpers every layer importer uses.

A layer importer has the signature ``importer(ctx, layer) -> Value | list[Value]``. While it
runs, ``ctx.values`` holds the :class:`~.values.Value` of each input tensor of the call
being imported, ``ctx.in_shapes``/``ctx.out_shapes`` the Keras shapes (batch axis first,
``None`` for dynamic sizes). It asks for its inputs in the view it computes in
(:meth:`ImportContext.map` for channels-first maps, :meth:`ImportContext.plain` for
sequences and vectors), adds nodes with :meth:`ImportContext.emit` -- each node's type is
inferred at once, so the next layer sees it -- and returns the view of its output.

Every node is checked by its op's own schema and shape inference as it is added, and every
layer's output shape is compared with the shape Keras computed for it, so a mapping mistake
is reported at the layer that made it, not as a wrong number at the end.
"""
from __future__ import annotations

import re

import keras
import numpy as np

from netspec.errors import NetspecError, SourceLoc
from netspec.graph.ir import Graph
from netspec.ops import OPS, ShapeError
from netspec.ops.types import CHANNELS_FIRST, PLAIN, TensorType

from .registry import class_key
from .values import Value, channels_last, compose, identity, inverse, is_identity


def node_name(layer_name: str) -> str:
    """A graph node name for a Keras layer name. netspec's Keras backend writes node
    ``layer1.0.conv1`` as layer ``layer1-0-conv1``, so '-' becomes '.' and names round-trip;
    its helper layers (``conv1>pad``) become ``conv1_pad``, since a dotted name is a child
    scope of its prefix; anything else a node name cannot hold becomes '_'."""
    text = re.sub(r"[-/]", ".", layer_name)
    text = re.sub(r"[^A-Za-z0-9_.]+", "_", text)
    text = re.sub(r"\.{2,}", ".", text).strip(".")
    if not text or not (text[0].isalpha() or text[0] == "_"):
        text = "_" + text
    return text


DEFAULT_HINT = ("netspec imports this layer class, but not with this configuration; "
                "the ONNX route (tf2onnx) may cover it")


def as_array(variable) -> np.ndarray:
    """A Keras weight as an own float32 numpy array (mixed-precision float16 weights too)."""
    return np.array(keras.ops.convert_to_numpy(variable), dtype=np.float32)


class ImportContext:
    def __init__(self, file: str | None = None):
        self.graph = Graph()
        self.file = file
        self.errors: list[NetspecError] = []
        self.layer = None
        self.values: list[Value] = []
        self.in_shapes: list[tuple] = []
        self.out_shapes: list[tuple] = []
        self.base = "model"
        self.input_views: dict[str, tuple[int, ...]] = {}  # graph input -> Keras perm
        self.consumers: dict[int, list] = {}  # Keras tensor id -> layers reading it (None: the caller)
        self.scope: dict = {}                 # Keras tensor id -> Value, in the model being imported
        self.node = None                      # the Keras call node being imported
        self.tensors: list = []               # its input and output Keras tensors
        self.outputs: list = []
        self._cache: dict[tuple, str] = {}

    # ------------------------------------------------------------ places and errors
    def where(self) -> SourceLoc:
        return SourceLoc(file=self.file, node=self.layer.name if self.layer is not None else None)

    def error(self, message: str, hint: str | None = None) -> NetspecError:
        """An error about the layer being imported, prefixed with its class and name."""
        hint = hint or DEFAULT_HINT
        if self.layer is None:
            return NetspecError(message, self.where(), hint)
        return NetspecError(f"{class_key(self.layer)} '{self.layer.name}': {message}", self.where(), hint)

    def refuse(self, what: str, received, hint: str | None = None) -> NetspecError:
        """The error for a layer option netspec cannot express ("Received: go_backwards=True")."""
        return self.error(f"{what} has no netspec equivalent. Received: {received}", hint)

    # ------------------------------------------------------------ nodes
    def unique(self, name: str) -> str:
        if name not in self.graph:
            return name
        i = 2
        while f"{name}_{i}" in self.graph:
            i += 1
        return f"{name}_{i}"

    def type_of(self, node: str) -> TensorType:
        return self.graph.node(node).type

    def emit(self, op: str, attrs: dict, inputs: list[str], params: dict | None = None,
             suffix: str | None = None, name: str | None = None) -> str:
        """Add one graph node and return its name: the layer's name for its main node,
        ``layer_suffix`` for further ones (a fused activation: ``conv1_relu``; not
        ``conv1.relu``, which would name a part of ``conv1``)."""
        name = self.unique(name or (self.base if suffix is None else f"{self.base}_{suffix}"))
        opdef = OPS[op]
        checked, problems = opdef.check_attrs(dict(attrs))
        if problems:
            raise self.error(f"cannot be expressed as netspec {op}: " + "; ".join(p[1] for p in problems))
        ins = [self.type_of(i) for i in inputs]
        try:
            resolved, out_type, specs = opdef.derive(checked, ins)
        except ShapeError as exc:
            raise self.error(f"imports as netspec {op}, which refuses it: {exc}",
                             "give the model's Input static sizes (keras.Input(shape=(64, 64, 3)))"
                             if "static" in str(exc) else None) from None
        params = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (params or {}).items()}
        wanted = {s.name: tuple(s.shape) for s in specs}
        for key in set(wanted) | set(params):
            got = tuple(params[key].shape) if key in params else None
            if got != wanted.get(key):
                raise self.error(f"weight '{key}' of the imported {op} has shape {got}, netspec's "
                                 f"{op} expects {wanted.get(key)}", "this is a netspec bug; please report it")
        node = self.graph.add_node(name, op, resolved, inputs, SourceLoc(file=self.file, node=self.layer.name
                                                                        if self.layer is not None else name))
        node.type, node.param_specs, node.params = out_type, specs, params
        return name

    def update(self, name: str, **attrs) -> None:
        """Change attributes of a node nothing reads yet, and infer its type again."""
        node = self.graph.node(name)
        opdef = OPS[node.op]
        ins = [self.type_of(i) for i in node.inputs]
        try:
            node.attrs = opdef.resolve(dict(node.attrs, **attrs), ins) if opdef.resolve else dict(node.attrs, **attrs)
            node.type = opdef.infer(node.attrs, ins)
        except ShapeError as exc:
            raise self.error(f"imports as netspec {node.op}, which refuses it: {exc}") from None

    def add_input(self, name: str, t: TensorType, perm) -> str:
        name = self.unique(node_name(name))
        self.graph.add_input(name, t, SourceLoc(file=self.file, node=name))
        self.input_views[name] = tuple(perm)
        return name

    # ------------------------------------------------------------ views
    def view(self, value: Value, perm, layout: str | None = None) -> str:
        """A node whose view ``perm`` is ``value``'s Keras tensor (``keras == node.transpose(perm)``),
        with graph layout ``layout`` when given. Adds a transpose (or, for a flattened map,
        a gather that reorders its elements) only when the value is not already so."""
        perm = tuple(perm)
        if value.is_const:
            return self.constant(value.const, perm, layout)
        node, current = value.node, value.perm
        if value.is_flat:
            key = ("gather", node, value.order.tobytes())
            if key not in self._cache:
                self._cache[key] = self.emit("gather", {"axis": 1, "indices": tuple(int(i) for i in value.order)},
                                             [node], name=f"{node}_reordered")
            node, current = self._cache[key], identity(2)
        t = self.type_of(node)
        move = compose(current, inverse(perm))
        if is_identity(move) and (layout is None or t.layout == layout or t.rank <= 2):
            return node
        layout = layout or t.layout
        key = ("transpose", node, move, layout)
        if key not in self._cache:
            tag = "t" + "".join(map(str, move)) if not is_identity(move) else (
                "cf" if layout == CHANNELS_FIRST else "plain")
            self._cache[key] = self.emit("transpose", {"perm": move, "layout": layout}, [node],
                                         name=f"{node}_{tag}")
        return self._cache[key]

    def plain(self, value: Value) -> str:
        """The node holding exactly the Keras tensor (same axes), plain for rank > 2."""
        return self.view(value, identity(value.rank), PLAIN if value.rank > 2 else None)

    def map(self, value: Value, data_format: str = "channels_last") -> str:
        """The channels-first node of a feature map a spatial layer reads in ``data_format``."""
        if value.rank < 3:
            raise self.error(f"expects a feature map (N, *spatial, C), received a rank-{value.rank} tensor")
        perm = channels_last(value.rank) if data_format == "channels_last" else identity(value.rank)
        return self.view(value, perm, CHANNELS_FIRST)

    def map_view(self, rank: int, data_format: str = "channels_last") -> tuple[int, ...]:
        return channels_last(rank) if data_format == "channels_last" else identity(rank)

    def graph_axis(self, value: Value, axis: int) -> int:
        """The graph axis that Keras axis ``axis`` (negative counts from the end) is."""
        if not -value.rank <= axis < value.rank or axis % value.rank == 0:
            raise self.error(f"axis {axis} is not a non-batch axis of a rank-{value.rank} tensor")
        return value.perm[axis % value.rank]

    def constant(self, array: np.ndarray, perm, layout: str | None = None) -> str:
        """A ``constant`` node whose view ``perm`` is ``array`` (Keras layout, batch axis 1)."""
        value = np.ascontiguousarray(np.transpose(np.asarray(array, np.float32), inverse(perm)))
        layout = layout or (CHANNELS_FIRST if not is_identity(perm) else PLAIN)
        return self.emit("constant", {"shape": tuple(value.shape), "layout": layout}, [], {"value": value},
                         suffix="const")

    def operands(self, values: list[Value]) -> tuple[list[str], Value]:
        """Nodes for an element-wise op over ``values``, all in the view of the first
        computed one (constants follow it); returns them and that view."""
        lead = next((v for v in values if not v.is_const), None)
        if lead is None:
            raise self.error("all its inputs are constants; netspec graphs compute from their inputs")
        layout = self.type_of(lead.node).layout
        names = []
        for v in values:
            if v.is_const:
                array = _broadcast_rank(v.const, lead.rank)
                if lead.is_flat:
                    if array.shape[1] > 1:  # per-feature values, in Keras's element order
                        reordered = np.empty_like(array)
                        reordered[:, lead.order] = array
                        array = reordered
                    names.append(self.constant(array, identity(2), PLAIN))
                else:
                    names.append(self.constant(array, lead.perm, layout))
            elif v.same_view(lead):
                names.append(v.node)
            elif lead.is_flat:  # two different element orders: compare in Keras's
                return [self.plain(x) for x in values], Value.of(self.plain(lead), 2)
            else:
                names.append(self.view(v, lead.perm, layout))
        return names, lead

    def like(self, node: str, view: Value) -> Value:
        """The value of ``node`` when it indexes like ``view`` (element-wise results; what
        it was flattened from is not kept: a Reshape back must not skip this node)."""
        return Value(node, view.perm, view.order)

    # ------------------------------------------------------------ checks
    def check_outputs(self, outputs: list[Value]) -> None:
        """Each output's graph type, seen through its view, must have Keras's shape."""
        for value, want in zip(outputs, self.out_shapes):
            if value.is_const or want is None:
                continue
            shape = self.type_of(value.node).shape
            got = tuple(shape) if value.is_flat else tuple(shape[p] for p in value.perm)
            if len(got) != len(want) or any(g is not None and w is not None and g != w
                                             for g, w in zip(got[1:], want[1:])):
                raise self.error(f"imports with shape {list(got[1:])}, but Keras computes {list(want[1:])}",
                                 "this is a netspec bug; please report it with the layer's config")


def _broadcast_rank(array: np.ndarray, rank: int) -> np.ndarray:
    """A constant as an array of ``rank`` axes (Keras broadcasting aligns trailing axes)."""
    array = np.asarray(array, np.float32)
    while array.ndim < rank:
        array = array[None]
    return array
