"""ONNX through a framework's own exporter: ``via='torch'`` and ``via='keras'``.

These exist to cross-check the direct emitter (two independent routes to ONNX from the same
weights must agree), not to replace it. Their value names follow the exporter, so only graph
inputs and outputs keep the graph's names; weights are read back through the source model.

* torch: ``torch.onnx.export`` of the torch backend's module with the TorchScript exporter
  (``dynamo=False``): the dynamo exporter needs ``onnxscript``, which netspec does not
  depend on. That exporter knows opsets up to 20. It traces, so a Python loop inside a
  module (the peephole LSTM has no torch kernel) is unrolled at the example length: such an
  export is valid for that sequence length only; :attr:`OnnxModel.notes` records the tracer's
  warnings when this happens.
* keras: Keras 3's ``model.export(format="onnx")`` converts through ``tf2onnx`` on the
  TensorFlow backend (tf2onnx 1.17 works with Keras 3 and numpy 2; netspec's ``dev`` extra
  installs it). Without it this route says so instead of failing deep inside Keras. The
  export's output and batch names are tf2onnx's; :func:`name_boundary` sets the graph's.
"""
from __future__ import annotations

import importlib.util
import io
import os
import tempfile
import warnings

import onnx

from netspec.errors import NetspecError

from .build import BATCH_DIM, dim_names


def _dynamic_axes(graph) -> dict:
    axes = {}
    for name in graph.inputs:
        dims = dim_names(name, graph.node(name).type.shape)
        axes[name] = {i: d for i, d in enumerate(dims) if isinstance(d, str)}
    for name in graph.outputs:
        shape = graph.node(name).type.shape
        axes[name] = {i: (BATCH_DIM if i == 0 else f"{name}_dim{i}") for i, d in enumerate(shape) if d is None}
    return axes


EXAMPLE_SIZES = (16, 32, 64, 128)  # tried in order for dynamic axes; fcn needs multiples of 32


def _inputs_at(graph, size: int, seed: int = 0) -> dict:
    from netspec.testing.cases import random_inputs
    return random_inputs(graph, batch=2, seed=seed, dynamic_size=size)


def _has_free_dims(graph) -> bool:
    return any(d is None for n in graph.inputs for d in graph.node(n).type.shape[1:])


def _working_sizes(backend, module, graph, count: int) -> list[int]:
    """The first ``count`` sizes for the dynamic axes at which the torch module runs."""
    sizes = []
    for size in EXAMPLE_SIZES if _has_free_dims(graph) else EXAMPLE_SIZES[:1]:
        try:
            backend.run(module, _inputs_at(graph, size), graph)
        except Exception:  # noqa: BLE001 - a size the model cannot take is simply skipped
            continue
        sizes.append(size)
        if len(sizes) == count:
            break
    if not sizes:
        raise NetspecError(f"found no size ({', '.join(map(str, EXAMPLE_SIZES))}) for the dynamic "
                           "axes at which the torch model runs, so there is nothing to export from")
    return sizes


def _generalises(proto, backend, module, graph, size: int) -> bool:
    import numpy as np

    from .backend import make_session

    inputs = _inputs_at(graph, size, seed=1)
    try:
        got = make_session(proto, ["CPUExecutionProvider"], quiet=True).run(list(graph.outputs), inputs)
    except Exception:  # noqa: BLE001 - a runtime refusal is exactly what is being probed
        return False
    want = backend.run(module, inputs, graph)
    return all(np.allclose(g, want[n], atol=1e-4, rtol=1e-3) for n, g in zip(graph.outputs, got))


def _pin_free_dims(proto, graph, size: int) -> None:
    for value in proto.graph.input:
        if value.name in graph.inputs:
            for axis, dim in enumerate(value.type.tensor_type.shape.dim):
                if axis > 0 and dim.dim_param:
                    dim.dim_value = size


def export_torch(graph, opset: int):
    import torch
    from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET as TORCH_MAX

    from netspec.backends import get_backend
    from netspec.backends.torch.build import to_tensors

    if opset > TORCH_MAX:
        raise NetspecError(f"torch.onnx.export (TorchScript exporter) writes opsets up to {TORCH_MAX}, "
                           f"received opset {opset}", hint=f"use --opset {TORCH_MAX} or lower with --via torch")
    backend = get_backend("torch")
    module = backend.build(graph, device="cpu")
    module.eval()
    sizes = _working_sizes(backend, module, graph, 2)
    args = tuple(to_tensors(module, graph, _inputs_at(graph, sizes[0])))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings are checked below by running the export
        try:
            torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset,
                              input_names=list(graph.inputs), output_names=list(graph.outputs),
                              dynamic_axes=_dynamic_axes(graph))
        except Exception as exc:  # exporter errors are long; the first line says what failed
            raise NetspecError(f"torch.onnx.export failed: {str(exc).strip().splitlines()[0]}") from None
    proto = onnx.load_model_from_string(buffer.getvalue())
    notes = []
    if len(sizes) > 1 and not _generalises(proto, backend, module, graph, sizes[1]):
        _pin_free_dims(proto, graph, sizes[0])
        notes.append(f"the torch export traced a size-dependent loop: its dynamic axes other than "
                     f"the batch are fixed to {sizes[0]} (the direct onnx build keeps them dynamic)")
    return proto, module, notes


def export_keras(graph, opset: int):
    if importlib.util.find_spec("tf2onnx") is None:
        raise NetspecError(
            "--via keras needs tf2onnx: Keras 3's ONNX export (model.export(format='onnx')) "
            "converts through tf2onnx on the TensorFlow backend, and it is not installed",
            hint="compare with --via torch or the direct build, or install tf2onnx yourself")
    from netspec.backends import get_backend
    from netspec.testing import random_inputs

    backend = get_backend("keras")
    model = backend.build(graph, input_layout="nchw")
    backend.run(model, random_inputs(graph, batch=2, seed=0))  # Keras exports only called models
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            model.export(path, format="onnx", verbose=False, opset_version=opset)
        except Exception as exc:
            raise NetspecError(f"keras ONNX export failed: {str(exc).strip().splitlines()[0]}") from None
        proto = onnx.load_model(path)
    name_boundary(proto, graph)
    return proto, model, []


def name_boundary(proto, graph) -> None:
    """Give an exported model the graph's input and output names and a ``batch`` symbol.

    tf2onnx names outputs after TensorFlow tensors (``Identity:0``) and the batch axis
    ``unk__51``; renaming them here lets every runner feed and read the model by the
    graph's names, as it does a direct build."""
    values = list(proto.graph.input) + list(proto.graph.output)
    renames = {v.name: n for v, n in zip(proto.graph.output, graph.outputs) if v.name != n}
    for node in proto.graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    for value in proto.graph.output:
        value.name = renames.get(value.name, value.name)
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = BATCH_DIM


EXPORTERS = {"torch": export_torch, "keras": export_keras}


def export_via(via: str, graph, opset: int):
    """``(proto, source model, notes)`` from the named framework's exporter."""
    try:
        exporter = EXPORTERS[via]
    except KeyError:
        raise NetspecError(f"onnx via must be one of {', '.join(EXPORTERS)}, received {via!r}") from None
    return exporter(graph, opset)
