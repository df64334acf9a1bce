"""Keras model -> netspec graph, read directly from the Keras functional graph.

Steps: check that the model has a functional graph (functional and Sequential models do;
subclassed ones do not); list every layer the table lacks, across nested models, and stop
with one error naming them all (:func:`unsupported_layers`, the hook an ONNX fallback can
use); declare the inputs; visit each layer call in topological order (the Keras nodes
reached from the outputs through each tensor's ``_keras_history`` and each node's
``input_tensors``), nested models inlined under their own name. Problems are collected:
a layer an importer refuses is reported and the layers that depend on it are skipped. Then
unused nodes are dropped, zero padding is folded into the convolution or pooling it feeds
and cropping into the transposed convolution it follows,
a transpose right after an input becomes the input's own layout, and the graph is linted,
shape-checked and its weights verified against the ops' parameter specs.

The graph's ``meta["keras"]`` records how each input and output relates to the Keras
model's arrays (:func:`.io.to_graph_inputs`, :func:`.io.to_keras_outputs`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import keras
import numpy as np

from netspec.errors import NetspecError, SourceLoc, raise_all
from netspec.graph.ir import Graph
from netspec.graph.lint import lint
from netspec.graph.passes import infer_shapes, receptive_fields
from netspec.ops.types import CHANNELS_FIRST, PLAIN, TensorType

from .context import ImportContext, node_name
from .import_core import activation_problem
from .registry import TABLE, class_key
from .values import Value, channels_last, compose, identity, inverse

FILE_EXTENSIONS = (".keras", ".h5", ".hdf5")
DTYPES = {"float32": "float32", "float16": "float32", "bfloat16": "float32", "float64": "float64",
          "int32": "int64", "int64": "int64", "int16": "int64", "int8": "int64", "uint8": "int64",
          "bool": "bool"}


@dataclass(frozen=True)
class Unsupported:
    """A layer netspec cannot import: its name, table key (class) and why."""

    name: str
    cls: str
    reason: str


# ---------------------------------------------------------------- the functional graph
def _node_of(tensor):
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def _is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def functional_outputs(model, where: SourceLoc | None = None) -> list:
    """The model's output tensors, or an error saying why it has no functional graph."""
    if not isinstance(model, keras.Model):
        raise NetspecError(f"from_keras takes a keras.Model, received {type(model).__name__}", where)
    try:
        outputs = list(model.outputs)
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        outputs, inputs = [], []
    if not outputs or not inputs or any(getattr(t, "_keras_history", None) is None for t in outputs):
        kind = "Sequential model that was never built" if isinstance(model, keras.Sequential) else (
            f"subclassed model ({type(model).__name__})")
        raise NetspecError(f"model '{model.name}' is a {kind}: it has no functional graph to import", where,
                           "give it an Input (keras.Input(shape=...)) or wrap its layers in a functional model")
    return outputs


def call_order(model) -> list:
    """The Keras call nodes that compute ``model``'s outputs, in topological order, each
    once (an iterative depth-first walk: deep models exceed Python's recursion limit)."""
    order, state = [], {}
    stack = [_node_of(t) for t in reversed(functional_outputs(model))]
    while stack:
        node = stack[-1]
        key = id(node)
        if state.get(key) == 1:
            stack.pop()
            continue
        if state.get(key) == 0:
            state[key] = 1
            order.append(node)
            stack.pop()
            continue
        state[key] = 0
        for tensor in reversed(node.input_tensors):
            parent = _node_of(tensor)
            if id(parent) not in state:
                stack.append(parent)
    return order


def unsupported_layers(model) -> list[Unsupported]:
    """Every layer of ``model`` (nested models included) that netspec cannot import: its
    class is not in the table, or its entry's check refuses its configuration. Empty when
    the whole model imports; the hook for routing the rest through ONNX."""
    out, seen = [], set()
    for node in call_order(model):
        layer = node.operation
        if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):
            continue
        seen.add(id(layer))
        if _is_model(layer):
            out.extend(unsupported_layers(layer))
            continue
        entry = TABLE.lookup(layer)
        if entry is None:
            out.append(Unsupported(layer.name, class_key(layer), "no importer for this layer class"))
            continue
        problem = entry.check(layer) if entry.check is not None else activation_problem(layer)
        if problem:
            out.append(Unsupported(layer.name, class_key(layer), problem))
    return out


def _unsupported_error(found: list[Unsupported], file) -> NetspecError:
    names = ", ".join(f"'{u.name}' ({u.cls}{'' if u.reason.startswith('no importer') else ': ' + u.reason})"
                      for u in found)
    classes = sorted({u.cls for u in found})
    return NetspecError(f"{len(found)} layer(s) cannot be imported: {names}", SourceLoc(file=file) if file else None,
                        f"unsupported classes: {', '.join(classes)}; netspec imports "
                        f"{len(TABLE.names())} Keras layer classes (netspec.converters.keras.supported_layers()); "
                        "the rest can go through ONNX")


# ---------------------------------------------------------------- importing
def from_keras(model, name: str | None = None, file: str | None = None) -> Graph:
    """A linted, shape-checked graph computing what ``model`` computes in inference mode,
    channels-first, with its weights in canonical layout. Raises one NetspecError listing
    every unsupported layer (before building anything) or every layer refused."""
    where = SourceLoc(file=file) if file else None
    functional_outputs(model, where)
    found = unsupported_layers(model)
    if found:
        raise _unsupported_error(found, file)
    ctx = ImportContext(file)
    ctx.consumers = consumer_map(model)
    scope: dict[int, Value] = {}
    failed: set[int] = set()
    for tensor in model.inputs:
        scope[id(tensor)] = declare_input(ctx, model, tensor)
    import_model(ctx, model, scope, failed, prefix="")
    ctx.layer = None
    outputs = []
    for tensor in model.outputs:
        if id(tensor) in failed:
            continue
        value = scope[id(tensor)]
        if value.is_const:
            ctx.errors.append(NetspecError(f"output '{tensor.name}' is a constant, not computed from the inputs",
                                           where, "netspec graphs compute every output from the inputs"))
            continue
        seen = next((v for v in outputs if v.node == value.node), None)
        if seen is not None and not seen.same_view(value):
            # one node, two views (an output and its Permute): the second gets its own node
            value = Value.of(ctx.plain(value), value.rank)
        outputs.append(value)
    raise_all(ctx.errors)
    return finish(ctx, outputs, name or node_name(model.name))


def consumer_map(model) -> dict[int, list]:
    """Tensor id -> the layers reading it (``None`` for reads by the model's caller)."""
    consumers: dict[int, list] = {}
    for node in call_order(model):
        for tensor in node.input_tensors:
            consumers.setdefault(id(tensor), []).append(node.operation)
    for tensor in model.outputs:
        consumers.setdefault(id(tensor), []).append(None)
    return consumers


def import_model(ctx: ImportContext, model, scope: dict, failed: set, prefix: str) -> None:
    """Import every call of ``model`` into ``ctx``; ``scope`` maps tensor ids to values."""
    consumers = ctx.consumers = consumer_map(model)
    for node in call_order(model):
        layer = node.operation
        if isinstance(layer, keras.layers.InputLayer):
            if id(node.output_tensors[0]) not in scope:  # an input of an inner model used directly
                scope[id(node.output_tensors[0])] = declare_input(ctx, model, node.output_tensors[0])
            continue
        ins = list(node.input_tensors)
        outs = list(node.output_tensors)
        if any(id(t) in failed for t in ins):
            failed.update(id(t) for t in outs)
            continue
        if _is_model(layer):
            inner: dict[int, Value] = {}
            for inner_in, outer in zip(layer.inputs, ins):
                inner[id(inner_in)] = scope[id(outer)]
            inner_failed: set[int] = set()
            import_model(ctx, layer, inner, inner_failed, prefix=f"{prefix}{node_name(layer.name)}.")
            ctx.consumers = consumers
            for outer, inner_out in zip(outs, layer.outputs):
                if id(inner_out) in inner_failed:
                    failed.add(id(outer))
                else:
                    scope[id(outer)] = inner[id(inner_out)]
            continue
        ctx.layer = layer
        ctx.node = node
        ctx.scope = scope
        ctx.tensors = ins
        ctx.outputs = outs
        ctx.values = [scope[id(t)] for t in ins]
        ctx.in_shapes = [tuple(t.shape) for t in ins]
        ctx.out_shapes = [tuple(t.shape) for t in outs]
        ctx.base = prefix + node_name(layer.name)
        try:
            result = TABLE.lookup(layer).importer(ctx, layer)
            result = list(result) if isinstance(result, (list, tuple)) else [result]
            if len(result) != len(outs):
                raise ctx.error(f"imports {len(result)} output(s), Keras has {len(outs)}",
                                "this is a netspec bug; please report it")
            ctx.check_outputs(result)
        except NetspecError as exc:
            ctx.errors.append(exc.located(ctx.where()))
            failed.update(id(t) for t in outs)
            continue
        except (AttributeError, ValueError, TypeError, KeyError, IndexError) as exc:  # a config misread
            ctx.errors.append(ctx.error(f"cannot be imported: {type(exc).__name__}: {exc}",
                                        "this is a netspec bug; please report it with the layer's config"))
            failed.update(id(t) for t in outs)
            continue
        for tensor, value in zip(outs, result):
            scope[id(tensor)] = value


def readers_want(ctx: ImportContext, tensor) -> str | None:
    """The view the first reader of ``tensor`` that cares asks for."""
    for layer in ctx.consumers.get(id(tensor), ()):
        if layer is None or _is_model(layer):
            continue
        entry = TABLE.lookup(layer)
        want = entry.wants(layer) if entry is not None else None
        if want:
            return want
    return None


def declare_input(ctx: ImportContext, model, tensor) -> Value:
    """A graph input for a Keras input tensor. Images (rank >= 4) are channels-last maps in
    Keras and become channels-first graph inputs; a rank-3 input is a 1d map when a
    convolution-like layer reads it, else a sequence (N, T, F); vectors and ids are plain."""
    shape = tuple(tensor.shape)
    rank = len(shape)
    dtype = DTYPES.get(str(tensor.dtype))
    name = tensor._keras_history[0].name
    if dtype is None:
        raise NetspecError(f"input '{name}' has dtype {tensor.dtype}, which netspec does not support",
                           SourceLoc(file=ctx.file, node=name), f"netspec inputs are {', '.join(sorted(set(DTYPES.values())))}")
    if rank < 2:
        raise NetspecError(f"input '{name}' has no axis besides the batch", SourceLoc(file=ctx.file, node=name))
    readers = [layer for layer in ctx.consumers.get(id(tensor), ()) if layer is not None]
    if readers and all(class_key(layer) == "Embedding" for layer in readers):
        dtype = "int64"  # Keras casts float ids to int; the graph declares them as ids
    want = readers_want(ctx, tensor) if rank >= 3 and dtype.startswith("float") else "plain"
    if want is None:
        want = "channels_last" if rank >= 4 else "plain"
    perm = channels_last(rank) if want == "channels_last" else identity(rank)
    layout = PLAIN if want == "plain" else CHANNELS_FIRST
    graph_shape = tuple(shape[i] for i in inverse(perm))
    node = ctx.add_input(name, TensorType((None, *graph_shape[1:]), dtype, layout), perm)
    return Value.of(node, rank, perm)


# ---------------------------------------------------------------- finishing
def finish(ctx: ImportContext, outputs: list[Value], name: str) -> Graph:
    graph = ctx.graph
    graph.name = name
    graph.outputs = [v.node for v in outputs]
    views = {}
    for v in outputs:
        views[v.node] = {"order": [int(i) for i in v.order]} if v.is_flat else {"perm": list(v.perm)}
    drop_unused(graph)
    fold_padding(graph)
    fold_cropping(graph, views)
    absorb_input_transposes(ctx, views)
    if ctx.file:
        graph.meta["source"] = ctx.file
    graph.meta["keras"] = {"version": keras.__version__,
                           "inputs": {n: {"perm": list(ctx.input_views[n])} for n in graph.inputs},
                           "outputs": {n: views[n] for n in graph.outputs}}
    lint(graph)
    infer_shapes(graph)
    receptive_fields(graph)
    graph.set_weights(graph.weights())  # checks every parameter against its op's spec
    return graph


def drop_unused(graph: Graph) -> None:
    """Remove nodes no output depends on (views asked for but never read, skipped branches)."""
    live, stack = set(graph.inputs), list(graph.outputs)
    while stack:
        name = stack.pop()
        if name not in live:
            live.add(name)
            stack.extend(graph.node(name).inputs)
    for name in [n for n in graph.order() if n not in live]:
        graph.remove_node(name)


LOWEST = float(np.finfo(np.float32).min)


def _sole_reader(graph: Graph, name: str):
    readers = graph.consumers(name)
    if len(readers) != 1 or name in graph.outputs:
        return None
    reader = graph.node(readers[0])
    return reader if reader.inputs.count(name) == 1 and reader.inputs[0] == name else None


def _pool_pads_fit(pads, kernel) -> bool:
    return all(max(b, e) <= k // 2 for (b, e), k in zip(pads, kernel))


def fold_padding(graph: Graph) -> None:
    """A pad read only by a conv or locally connected layer (zeros) or a pool (lowest float for max, zeros counted by an
    average) becomes that op's padding: Keras has no explicit padding in its layers, so
    Keras models (and netspec's Keras backend) write ``ZeroPadding2D`` + ``Conv2D('valid')``."""
    for name in list(graph.order()):
        if name not in graph:
            continue
        pad = graph.node(name)
        if pad.op != "pad" or pad.attrs["mode"] != "constant":
            continue
        reader = _sole_reader(graph, name)
        if reader is None:
            continue
        a, value = reader.attrs, pad.attrs["value"]
        summed = tuple((b + pb, e + pe) for (b, e), (pb, pe) in zip(a.get("padding", ()), pad.attrs["pads"]))
        if reader.op in ("conv", "locally_connected") and value == 0.0:
            pass
        elif reader.op == "maxpool" and value <= LOWEST and not a["ceil_mode"] and _pool_pads_fit(summed, a["kernel"]):
            pass
        elif (reader.op == "avgpool" and value == 0.0 and not a["ceil_mode"] and _pool_pads_fit(summed, a["kernel"])
              and (a["count_include_pad"] or all(b == 0 and e == 0 for b, e in a["padding"]))):
            a["count_include_pad"] = True
        else:
            continue
        a["padding"] = summed
        graph.rewire(reader.name, [pad.inputs[0], *reader.inputs[1:]])
        graph.remove_node(name)


def fold_cropping(graph: Graph, views: dict) -> None:
    """A crop read only after a transposed convolution becomes its padding (netspec's
    Keras backend writes padded transposed convolutions as 'valid' ones plus Cropping):
    netspec's conv_transpose crops ``padding`` and then adds ``output_padding`` at the end."""
    for name in list(graph.order()):
        if name not in graph or graph.node(name).op != "crop":
            continue
        crop = graph.node(name)
        source = graph.node(crop.inputs[0])
        if source.op != "conv_transpose" or _sole_reader(graph, source.name) is not crop:
            continue
        a = source.attrs
        pads, extra = [], []
        for (b, e), op_, (cb, ce) in zip(a["padding"], a["output_padding"], crop.attrs["crop"]):
            end = e - op_ + ce  # net positions removed at the end
            pads.append((b + cb, max(end, 0)))
            extra.append(max(-end, 0))
        a["padding"], a["output_padding"] = tuple(pads), tuple(extra)
        for reader in graph.consumers(name):
            graph.rewire(reader, [source.name if i == name else i for i in graph.node(reader).inputs])
        if name in graph.outputs:
            graph.outputs = [source.name if o == name else o for o in graph.outputs]
            views[source.name] = views.pop(name)
        graph.remove_node(name)


def absorb_input_transposes(ctx: ImportContext, views: dict) -> None:
    """An input read only by a transpose is declared in the transposed layout instead (the
    Keras input's view changes with it), so no transpose is left at the boundary."""
    graph = ctx.graph
    for name in list(graph.inputs):
        readers = graph.consumers(name)
        if len(readers) != 1 or name in graph.outputs:
            continue
        t = graph.node(readers[0])
        if t.op != "transpose":
            continue
        node = graph.node(name)
        node.type = t.type
        node.attrs.update(shape=t.type.shape, layout=t.type.layout)
        ctx.input_views[name] = compose(inverse(t.attrs["perm"]), ctx.input_views[name])
        for reader in graph.consumers(t.name):
            r = graph.node(reader)
            graph.rewire(reader, [name if i == t.name else i for i in r.inputs])
        if t.name in graph.outputs:
            graph.outputs = [name if o == t.name else o for o in graph.outputs]
            views[name] = views.pop(t.name)
        graph.remove_node(t.name)


def import_keras_file(path, name: str | None = None) -> Graph:
    """A graph from a ``.keras`` file (or a legacy ``.h5``), loaded with ``safe_mode=True``:
    a file whose Lambda layers hold Python code is refused, never executed."""
    path = os.fspath(path)
    where = SourceLoc(file=path)
    if not os.path.isfile(path):
        raise NetspecError(f"no such file: {path}", where)
    if not path.endswith(FILE_EXTENSIONS):
        raise NetspecError(f"cannot read a Keras model from '{os.path.basename(path)}'", where,
                           f"Keras model files end in {', '.join(FILE_EXTENSIONS)}")
    from netspec.backends import get_backend

    get_backend("keras")  # registers netspec's own Keras layers, so its files load
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # zipfile, h5py, deserialisation and safe-mode errors differ by cause
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NetspecError(f"cannot load the Keras model: {first[:300]}", where,
                           "is it a model saved by model.save()? Custom layers must be registered "
                           "(keras.saving.register_keras_serializable) before import") from None
    return from_keras(model, name=name, file=path)
