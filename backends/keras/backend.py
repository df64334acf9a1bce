"""The Keras backend object: build a functional model from a graph, run it, read its weights
back, save it. See :mod:`netspec.backends` for the interface every backend shares."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import keras
import numpy as np

from netspec.errors import NetspecError
from netspec.graph.ir import INPUT

from .emitters import TABLE, WEIGHTS, layer_name
from .layout import FLAT, Held, plan

INPUT_LAYOUTS = ("nhwc", "nchw")
SAVE_FORMATS = (".keras", ".weights.h5")
BUILD_OPTIONS = ("input_layout",)


@dataclass(frozen=True)
class IO:
    """What :meth:`KerasBackend.run` needs to feed and read a model in canonical layout:
    per input and output, the axis permutation between canonical and the model's tensor."""

    inputs: tuple[str, ...]
    in_perms: tuple[tuple[int, ...], ...]
    outputs: tuple[str, ...]
    out_perms: tuple[tuple[int, ...], ...]
    input_layout: str


def _identity(rank):
    return tuple(range(rank))


class Context:
    """State of one emission: the held tensor of every node, the layout plan, and the
    transposes added (there should be none inside a model fed channels-last)."""

    def __init__(self, graph, layout: dict[str, Held]):
        self.graph = graph
        self.layout = layout
        self.tensors: dict = {}
        self._canonical: dict = {}
        self.transposes = 0

    def held(self, name) -> Held:
        return self.layout[name]

    def input(self, node, i: int = 0):
        """Input ``i`` held channels-last; a flat tensor stays flat only for consumers the
        plan lets keep its order (dense, element-wise ops)."""
        name = node.inputs[i]
        if self.layout[name].kind == FLAT and node.op != "dense" and self.layout[node.name].kind != FLAT:
            return self.materialise(name)
        return self.tensors[name]

    def inputs(self, node):
        return [self.input(node, i) for i in range(len(node.inputs))]

    def permute(self, x, perm, name):
        """A transpose of the non-batch axes (``perm`` includes the batch axis 0)."""
        if tuple(perm) == _identity(len(perm)):
            return x
        self.transposes += 1
        return keras.layers.Permute(tuple(perm[1:]), name=name)(x)

    def materialise(self, name):
        """A flat tensor in canonical (channels-first flatten) order."""
        if name not in self._canonical:
            held = self.layout[name]
            x = keras.layers.Reshape(held.source, name=layer_name(name, "unflatten"))(self.tensors[name])
            rank = len(held.source) + 1
            x = self.permute(x, (0, rank - 1, *range(1, rank - 1)), layer_name(name, "nchw"))
            self._canonical[name] = keras.layers.Flatten(name=layer_name(name, "canonical"))(x)
        return self._canonical[name]

    def canonical(self, name, permute_name):
        """The tensor ``name`` in canonical axis order (for reshapes and flattens of maps)."""
        held = self.layout[name]
        if held.kind == FLAT:
            return self.materialise(name)
        return self.permute(self.tensors[name], held.to_canonical, permute_name)


def _check_options(options):
    unknown = sorted(set(options) - set(BUILD_OPTIONS))
    if unknown:
        raise NetspecError(f"the keras backend has no option {', '.join(map(repr, unknown))}",
                           hint=f"keras options: {', '.join(BUILD_OPTIONS)}")
    layout = options.get("input_layout") or "nhwc"
    if layout not in INPUT_LAYOUTS:
        raise NetspecError(f"input_layout must be one of {', '.join(INPUT_LAYOUTS)}, received {layout!r}")
    return layout


def io_of(graph, layout: dict[str, Held], input_layout: str) -> IO:
    """Boundary permutations: with 'nchw' the model takes and returns channels-first maps
    (it transposes inside); with 'nhwc' the caller's arrays are transposed instead."""
    def perm(name):
        held = layout[name]
        rank = held.rank
        if held.kind == FLAT or input_layout == "nchw":
            return _identity(rank)
        return held.to_held
    return IO(tuple(graph.inputs), tuple(perm(n) for n in graph.inputs),
              tuple(graph.outputs), tuple(tuple(int(i) for i in np.argsort(perm(n))) for n in graph.outputs),
              input_layout)


class KerasBackend:
    """Keras 3 functional models, channels-last inside (see :mod:`.layout`)."""

    name = "keras"
    emitters = TABLE
    weight_maps = WEIGHTS

    # ------------------------------------------------------------ build
    def build(self, graph, **options):
        input_layout = _check_options(options)
        TABLE.check_graph(graph)
        layout = plan(graph)
        ctx = Context(graph, layout)
        model_inputs = []
        for name in graph.inputs:
            t = graph.node(name).type
            held = layout[name]
            if input_layout == "nchw" or held.kind != "channels_last":
                x = keras.Input(shape=t.shape[1:], dtype=t.dtype, name=layer_name(name))
                model_inputs.append(x)
                x = ctx.permute(x, held.to_held, layer_name(name, "nhwc"))
            else:
                shape = tuple(t.shape[i] for i in held.to_held)
                x = keras.Input(shape=shape[1:], dtype=t.dtype, name=layer_name(name))
                model_inputs.append(x)
            ctx.tensors[name] = x
        for node in graph.layers():
            try:
                ctx.tensors[node.name] = TABLE[node.op](node, ctx)
            except NetspecError as exc:
                raise exc.located(node.where())
            except (ValueError, TypeError) as exc:
                raise NetspecError(f"keras could not build {node.op} '{node.name}': {exc}",
                                   node.where()) from None
        outputs = []
        for name in graph.outputs:
            held = layout[name]
            if held.kind == FLAT:
                outputs.append(ctx.materialise(name))
            elif input_layout == "nchw":
                outputs.append(ctx.permute(ctx.tensors[name], held.to_canonical, layer_name(name, "nchw_out")))
            else:
                outputs.append(ctx.tensors[name])
        model = keras.Model(model_inputs, outputs, name=re.sub(r"[^A-Za-z0-9_-]", "_", graph.name))
        self.load_weights(model, graph, layout)
        model.netspec_io = io_of(graph, layout, input_layout)
        model.netspec_transposes = ctx.transposes
        return model

    def load_weights(self, model, graph, layout=None):
        """Set every weighted layer from the graph's canonical parameters."""
        layout = layout or plan(graph)
        for node in graph.layers():
            if not node.param_specs:
                continue
            ins = [layout[i] for i in node.inputs]
            arrays = WEIGHTS[node.op].to_keras(node, ins)
            layer = model.get_layer(layer_name(node.name))
            try:
                layer.set_weights(arrays)
            except ValueError as exc:
                raise NetspecError(f"cannot load weights of {node.op} '{node.name}' into Keras: {exc}",
                                   node.where()) from None

    def load(self, path, graph, input_layout: str = "nhwc"):
        """A saved ``.keras`` model, ready for :meth:`run` (the layout metadata is not part
        of Keras' file, so it is recomputed from the graph)."""
        model = keras.models.load_model(path)
        model.netspec_io = io_of(graph, plan(graph), input_layout)
        return model

    # ------------------------------------------------------------ run
    def _io(self, model, graph=None) -> IO:
        io = getattr(model, "netspec_io", None)
        if io is None:
            if graph is None:
                raise NetspecError("this Keras model carries no netspec layout information",
                                   hint="build it with netspec, or load it with BACKEND.load(path, graph)")
            io = io_of(graph, plan(graph), "nchw" if any(
                layer.name.endswith(">nhwc") for layer in model.layers) else "nhwc")
        return io

    def run(self, model, inputs, graph=None, compiled=False):
        """Eval-mode forward in canonical layout; ``compiled`` runs Keras' traced
        ``predict_on_batch`` (graph mode: faster when called repeatedly) instead of eager."""
        io = self._io(model, graph)
        missing = [n for n in io.inputs if n not in inputs]
        if missing:
            raise NetspecError(f"missing model inputs: {', '.join(missing)}",
                               hint=f"the model takes {', '.join(io.inputs)}")
        feeds = [np.ascontiguousarray(np.transpose(inputs[n], p)) for n, p in zip(io.inputs, io.in_perms)]
        result = model.predict_on_batch(feeds) if compiled else model(feeds, training=False)
        if not isinstance(result, (list, tuple)):
            result = [result]
        return {n: np.transpose(keras.ops.convert_to_numpy(r), p)
                for n, r, p in zip(io.outputs, result, io.out_perms)}

    def run_intermediates(self, model, graph, inputs, names):
        """Canonical outputs of the named nodes, from a multi-output view of ``model``."""
        io = self._io(model, graph)
        layout = plan(graph)
        wanted = [n for n in names if graph.node(n).op != INPUT]
        tensors = []
        for name in wanted:
            try:
                layer = model.get_layer(layer_name(name, "out"))
            except ValueError:
                layer = model.get_layer(layer_name(name))
            tensors.append(layer.output)
        out = {n: np.array(inputs[n]) for n in names if graph.node(n).op == INPUT}
        if wanted:
            view = keras.Model(model.inputs, tensors)
            feeds = [np.ascontiguousarray(np.transpose(inputs[n], p)) for n, p in zip(io.inputs, io.in_perms)]
            result = view(feeds, training=False)
            if not isinstance(result, (list, tuple)):
                result = [result]
            for name, r in zip(wanted, result):
                out[name] = layout[name].canonical_array(keras.ops.convert_to_numpy(r))
        return out

    # ------------------------------------------------------------ weights and files
    def read_weights(self, model, graph):
        layout = plan(graph)
        out = {}
        for node in graph.layers():
            if not node.param_specs:
                continue
            arrays = [np.asarray(a) for a in model.get_layer(layer_name(node.name)).get_weights()]
            params = WEIGHTS[node.op].from_keras(node, [layout[i] for i in node.inputs], arrays)
            out.update({f"{node.name}.{k}": v for k, v in params.items()})
        return out

    def save(self, model, graph, path, final_path=None, **options):
        """``.keras`` (architecture and weights) or ``.weights.h5`` (weights only), chosen by
        the extension of ``final_path`` (the file the user named) or ``path``."""
        target = str(final_path or path)
        fmt = next((ext for ext in SAVE_FORMATS if target.endswith(ext)), None)
        if fmt is None:
            ext = os.path.splitext(target)[1] or "(none)"
            raise NetspecError(f"the keras backend cannot write '{ext}' files",
                               hint=f"use one of: {', '.join(SAVE_FORMATS)}")
        if fmt == ".keras":
            model.save(str(path))
        else:
            model.save_weights(str(path))

    @staticmethod
    def count_transposes(model) -> int:
        """Permute layers in the model: 0 for channels-last I/O unless the graph itself
        reshapes or transposes feature maps."""
        return sum(isinstance(layer, keras.layers.Permute) for layer in model.layers)


BACKEND = KerasBackend()
