"""Model files and framework objects as conversion sources: a graph, plus the source model
itself run in its own framework, which every conversion is verified against.

A :class:`Source` runs the *original* model (onnxruntime on the ONNX file, Keras on the
``.keras`` model, torch on the module or exported program), fed and read in the graph's
canonical layout and names, so the harness can compare it with any backend's build of the
imported graph. Readers are a table keyed by file extension.
"""
from __future__ import annotations

import io
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from netspec.errors import NetspecError, SourceLoc
from netspec.ops.types import CHANNELS_FIRST


@dataclass
class Source:
    """``run(inputs) -> outputs``: canonical layout, keyed by the graph's names."""

    graph: object
    framework: str  # "onnxruntime", "keras", "torch" or "spec"
    run: Callable[[dict], dict] | None


def boundary_perms(graph) -> tuple[list, list]:
    """Per graph input and output, the perm from the graph's canonical layout to the
    source model's (None: the same). The ONNX importer records one where it folded a
    channels-last boundary transpose (a tf2onnx export) into the graph; the source model
    (the file, or the framework model it was exported from) still reads and writes that
    layout."""
    meta = graph.meta.get("onnx") or {}
    ins, outs = meta.get("input_perms") or {}, meta.get("output_perms") or {}
    return [ins.get(n) for n in graph.inputs], [outs.get(n) for n in graph.outputs]


def _by_position(graph, outputs_of):
    """A runner for a model whose inputs/outputs correspond to the graph's in order, in
    the source's layout (:func:`boundary_perms`): canonical arrays are permuted on the way
    in and back on the way out."""
    in_perms, out_perms = boundary_perms(graph)

    def run(inputs):
        feeds = [np.ascontiguousarray(np.transpose(np.asarray(inputs[n]), p)) if p else inputs[n]
                 for n, p in zip(graph.inputs, in_perms)]
        values = outputs_of(feeds)
        return {n: np.transpose(np.asarray(v), np.argsort(p)) if p else v
                for n, v, p in zip(graph.outputs, values, out_perms)}
    return run


# ---------------------------------------------------------------- onnx
def onnx_source(model_or_path, graph=None) -> Source:
    """The session is made on the first run (verification), by onnxruntime reading the file
    itself: parsing the protobuf a second time in Python and handing onnxruntime a
    serialised copy of the weights cost about as much as the import, and a conversion with
    ``check=False`` never runs the source at all."""
    import onnx

    from netspec.converters.onnx import import_onnx

    graph = graph or import_onnx(model_or_path)
    made = []

    def session():
        if not made:
            made.append(_onnx_session(model_or_path, graph))
        return made[0]

    def outputs_of(arrays):
        ort_session, names, outputs = session()
        return ort_session.run(outputs, {n: np.asarray(a) for n, a in zip(names, arrays)})
    if isinstance(model_or_path, onnx.ModelProto):
        session()  # a caller may change the proto afterwards: take it as it is now
    return Source(graph, "onnxruntime", _by_position(graph, outputs_of))


def _onnx_session(model_or_path, graph):
    """``(session, input names, output names)``; onnxruntime reads a path directly."""
    import onnx
    import onnxruntime as ort

    from netspec.backends.onnx.backend import default_providers

    options = ort.SessionOptions()
    options.log_severity_level = 3  # as make_session: unused-initializer warnings are noise
    model = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) else os.fspath(model_or_path)
    session = ort.InferenceSession(model, options, providers=list(default_providers(None)))
    # old files list weights as inputs too; onnxruntime calls them overridable initializers
    initializers = {i.name for i in session.get_overridable_initializers()}
    names = [i.name for i in session.get_inputs() if i.name not in initializers]
    if len(names) != len(graph.inputs):
        raise NetspecError(f"the ONNX model has {len(names)} inputs, its graph {len(graph.inputs)}")
    return session, names, [o.name for o in session.get_outputs()]


# ---------------------------------------------------------------- torch
def torch_source(module, example_inputs, graph=None, opset: int = 17, exported: bool = False,
                 dynamic: list | None = None, names: list | None = None) -> Source:
    """A torch module through ``torch.onnx.export`` (TorchScript exporter); the module itself
    is the reference. The batch axis is dynamic, and so are the axes listed per input in
    ``dynamic`` (``[[2, 3]]``: height and width of the one input). ``exported``: a
    ``torch.export`` program's module, which is already in eval form and refuses ``.eval()``."""
    import onnx
    import torch

    from netspec.converters.onnx import import_onnx

    args = tuple(example_inputs) if isinstance(example_inputs, (list, tuple)) else (example_inputs,)
    if not exported:
        module.eval()
    if graph is None:
        names = names or [f"x{i}" if len(args) > 1 else "x" for i in range(len(args))]  # "input" is a spec keyword
        with torch.no_grad():
            result = module(*args)
        count = len(result) if isinstance(result, (tuple, list)) else 1
        # always named: with dynamic axes and no names the exporter reads ``module.graph``
        # as a TorchScript graph, which an fx GraphModule's is not
        outputs = [f"output_{i}" if count > 1 else "output" for i in range(count)]
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # no constant folding: it would fold eval-mode batchnorms into the convs, and
                # the graph should keep every layer of the source (the importer folds the
                # shape arithmetic this leaves in)
                torch.onnx.export(_Trainless(module) if exported else module, args, buffer, dynamo=False,
                                  opset_version=opset, input_names=names, output_names=outputs,
                                  do_constant_folding=False,
                                  dynamic_axes={n: {0: "batch", **{a: f"{n}_dim{a}" for a in axes}}
                                                for n, axes in zip(names, dynamic or [[]] * len(names))})
            except Exception as exc:  # the exporter's messages are long; the first line says what
                raise NetspecError(f"torch.onnx.export failed: {str(exc).strip().splitlines()[0]}",
                                   hint="netspec imports torch modules through ONNX") from None
        graph = import_onnx(onnx.load_model_from_string(buffer.getvalue()),
                            name=type(module).__name__.lower())
    device = next((p.device for p in module.parameters()), torch.device("cpu"))

    def outputs_of(arrays):
        with torch.no_grad():
            out = module(*[torch.as_tensor(np.asarray(a)).to(device) for a in arrays])
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().cpu().numpy() for o in outs]
    return Source(graph, "torch", _by_position(graph, outputs_of))


class _Trainless:
    """Wraps a ``torch.export`` program's module for the TorchScript exporter, which sets
    the train/eval mode of what it exports; such modules refuse both (they are traced in
    eval mode already), so the wrapper's ``train`` touches only its own flag."""

    def __new__(cls, module):
        import torch.nn as nn

        class Wrapper(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def train(self, mode: bool = True):
                self.training = mode
                return self

            def forward(self, *args):
                return self.inner(*args)
        return Wrapper(module)


def pt2_source(path: str) -> Source:
    """A ``torch.export`` program (``.pt2``): loaded without pickle, run as a module."""
    import torch

    try:
        program = torch.export.load(path)
    except Exception as exc:
        raise NetspecError(f"cannot load a torch.export program: {str(exc).splitlines()[0]}", SourceLoc(path),
                           "a .pt2 file written by torch.export.save") from None
    module = program.module()
    examples = []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in program.graph_signature.user_inputs:
            value = node.meta.get("val")
            shape = [int(d) if isinstance(d, int) else 2 for d in value.shape]
            examples.append(torch.zeros(shape, dtype=value.dtype))
    source = torch_source(module, examples, exported=True)
    source.graph.meta["source"] = path
    return source


def python_file_source(path: str) -> Source:
    """A Python model file, such as netspec's ``.py`` export: importing it runs its code
    (as ``python FILE`` would, so convert only files you trust); its ``load()`` gives the
    module and its ``INPUTS`` the input shapes (None: open sizes, kept dynamic)."""
    import importlib.util
    import uuid

    import torch

    name = f"netspec_source_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise NetspecError(f"importing the file failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                           SourceLoc(path)) from None
    finally:
        sys.modules.pop(name, None)
    missing = [n for n in ("load", "INPUTS") if not hasattr(module, n)]
    if missing:
        raise NetspecError(f"a Python model file needs {' and '.join(missing)} to be converted", SourceLoc(path),
                           "load() returning the nn.Module and INPUTS = {name: (shape, dtype)}, as netspec's "
                           ".py export writes them")
    examples, dynamic = [], []
    for shape, dtype in module.INPUTS.values():
        sizes = [2 if axis == 0 else (16 if d is None else d) for axis, d in enumerate(shape)]
        examples.append(torch.zeros(sizes, dtype=getattr(torch, dtype)))
        dynamic.append([axis for axis, d in enumerate(shape) if axis and d is None])
    source = torch_source(module.load(), examples, dynamic=dynamic, names=list(module.INPUTS))
    source.graph.meta["source"] = path
    return source


# ---------------------------------------------------------------- keras
def _to_channels_last(array, layout_first: bool):
    return np.moveaxis(array, 1, -1) if layout_first else array


def keras_source(model, graph=None) -> Source:
    """A Keras model imported directly from its functional graph; Keras runs it on
    channels-last arrays, so canonical inputs and outputs are moved at the boundary.

    Layers the direct importer lacks send the whole model through ONNX instead (Keras's own
    export, via tf2onnx); if that fails too, the direct importer's error, which lists every
    unsupported layer, is the one reported."""
    from netspec.converters.keras import from_keras, unsupported_layers

    if graph is None and unsupported_layers(model):
        graph = _keras_through_onnx(model)
        if graph is None:
            from_keras(model)  # raises the list of unsupported layers
        # the ONNX route's graph is canonical, its boundary perms (applied by _by_position)
        # lead to Keras's own layout, so the runner feeds Keras as it is fed
        same = [False] * len(graph.inputs)
        return Source(graph, "keras", _by_position(graph, _keras_runner(model, same, [False] * len(graph.outputs))))
    graph = graph or from_keras(model)
    first_in = [graph.node(n).type.layout == CHANNELS_FIRST and graph.node(n).type.rank >= 3 for n in graph.inputs]
    first_out = [graph.node(n).type.layout == CHANNELS_FIRST and graph.node(n).type.rank >= 3 for n in graph.outputs]
    return Source(graph, "keras", _by_position(graph, _keras_runner(model, first_in, first_out)))


def _keras_through_onnx(model):
    import tempfile

    from netspec.converters.onnx import import_onnx

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # Keras exports only models that have been called once
                feeds = [np.zeros([1 if d is None else d for d in t.shape], t.dtype) for t in model.inputs]
                model(feeds if len(feeds) > 1 else feeds[0], training=False)
                model.export(path, format="onnx", verbose=False)
            return import_onnx(path, name=model.name)
        except Exception:  # noqa: BLE001 - any failure here means: report the direct importer's error
            return None


def _keras_runner(model, first_in, first_out):

    def outputs_of(arrays):
        feeds = [np.ascontiguousarray(_to_channels_last(np.asarray(a), f)) for a, f in zip(arrays, first_in)]
        out = model(feeds if len(feeds) > 1 else feeds[0], training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [np.moveaxis(np.asarray(o), -1, 1) if f else np.asarray(o) for o, f in zip(outs, first_out)]
    return outputs_of


def keras_file_source(path: str) -> Source:
    import keras

    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as exc:
        raise NetspecError(f"cannot load a Keras model: {str(exc).strip().splitlines()[0]}", SourceLoc(path),
                           "a .keras file written by model.save") from None
    source = keras_source(model)
    source.graph.meta["source"] = path
    return source


# ---------------------------------------------------------------- specs
def spec_source(path: str, overrides=None, seed: int = 0) -> Source:
    from netspec.spec import load_spec
    return Source(load_spec(path, overrides, seed=seed), "spec", None)


READERS = {
    ".onnx": lambda path, **_: onnx_source(path),
    ".pt2": lambda path, **_: pt2_source(path),
    ".py": lambda path, **_: python_file_source(path),
    ".keras": lambda path, **_: keras_file_source(path),
    ".yaml": lambda path, overrides=None, seed=0: spec_source(path, overrides, seed),
    ".yml": lambda path, overrides=None, seed=0: spec_source(path, overrides, seed),
}


def read_source(path: str, overrides=None, seed: int = 0) -> Source:
    """The source of a conversion by its file extension (a zoo name is a spec)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in READERS:
        if not ext:  # a zoo name
            return spec_source(path, overrides, seed)
        raise NetspecError(f"cannot convert from '{ext}' files", SourceLoc(path),
                           f"inputs: {', '.join(READERS)} (or a zoo name)")
    if not os.path.isfile(path):
        raise NetspecError("no such file", SourceLoc(path))
    if overrides and ext not in (".yaml", ".yml"):
        raise NetspecError("--set applies to specs only", SourceLoc(path))
    return READERS[ext](path, overrides=overrides, seed=seed)
