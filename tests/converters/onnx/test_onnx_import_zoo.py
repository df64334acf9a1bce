"""Whole models: every zoo spec emitted by netspec's ONNX backend imports back into a graph
that runs in torch exactly as onnxruntime runs the ONNX file, with the same weights and the
same layer names; and the ``torch.onnx.export`` (TorchScript exporter) output of the torch
backend's module for several zoo models imports as well.

Tolerance: |torch - onnxruntime| <= 1e-5 + 1e-5 * max|onnxruntime| over each output.
Both runtimes compute the same float32 operations in different summation orders; the
round-off of a sum grows with its magnitude, so the bound scales with the output's largest
value. Random He-initialised weights without trained normalisation make deep nets' logits
large (resnet50's reach ~1e2), which is why an absolute bound alone would not do; measured
errors are 1e-7 to 1e-6 of the scale, so 1e-5 leaves a margin while still catching any
real mismatch (a wrong gate order or padding is off by the scale itself).
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import netspec
from netspec.testing import random_inputs
from netspec.backends import get_backend
from netspec.converters.onnx import import_onnx
from netspec.errors import NetspecError
from netspec.spec import zoo_names

SMALL = ({"size": 64, "classes": 10}, {"size": 96, "classes": 10}, {"classes": 10}, {})
HEAVY = {"densenet121", "googlenet", "resnet34", "resnet50", "vgg16", "alexnet"}
TORCH = get_backend("torch")


def small_graph(name):
    for overrides in SMALL:
        try:
            return netspec.load(name, seed=0, overrides=overrides)
        except NetspecError as exc:
            error = exc
    raise error


def inputs_for(graph, batch=2):
    """Seeded inputs; open sizes are 64 for maps (five 2x poolings fit), 12 for sequences."""
    return random_inputs(graph, batch=batch, seed=0, dynamic_size=64, sequence_size=12)


def assert_close(got: dict, ref: dict):
    assert set(got) == set(ref)
    for key, value in ref.items():
        scale = float(np.abs(value).max())
        err = float(np.abs(got[key] - value).max())
        assert got[key].shape == value.shape, key
        assert err <= 1e-5 + 1e-5 * scale, f"{key}: max error {err:.3g} at scale {scale:.3g}"


def run_imported(graph, feeds):
    return TORCH.run(TORCH.build(graph), {k: feeds[k] for k in graph.inputs}, graph)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in zoo_names()])
def test_zoo_round_trip(name):
    graph = small_graph(name)
    model = get_backend("onnx").build(graph)
    imported = import_onnx(model.proto)
    feeds = inputs_for(graph)
    ref = dict(zip([o.name for o in model.session.get_outputs()],
                   model.session.run(None, {k: feeds[k] for k in graph.inputs})))
    assert_close(run_imported(imported, feeds), ref)
    # Same layers (dropout, the identity at inference, leaves no node), names and weights.
    kept = [n for n in graph.nodes() if n.op != "dropout"]
    assert [(n.name, n.op) for n in imported.nodes()] == [(n.name, n.op) for n in kept]
    original = graph.weights()
    assert set(imported.weights()) == set(original)
    for key, array in imported.weights().items():
        assert array.dtype == np.float32 and np.array_equal(array, original[key]), key
    assert imported.inputs == graph.inputs and imported.outputs == graph.outputs


# lstm: the peephole LSTM exports as an ONNX LSTM with P, or unrolled into low-level ops
EXPORTS = [("resnet18", 17), ("gru", 17), ("mlp", 17), ("tcn", 17), ("unet", 17), ("encoder_decoder", 17),
           ("lenet5", 17), ("alexnet", 17), ("fcn", 17), ("googlenet", 17), ("densenet121", 17), ("lstm", 17),
           ("resnet18", 11), ("gru", 11), ("tcn", 12)]
HEAVY_EXPORTS = {"alexnet", "fcn", "googlenet", "densenet121", "lstm"}


@pytest.mark.parametrize("name,opset", [pytest.param(n, o, marks=pytest.mark.slow) if n in HEAVY_EXPORTS
                                        else (n, o) for n, o in EXPORTS])
def test_torch_onnx_export_imports(name, opset):
    graph = small_graph(name)
    module = TORCH.build(graph)
    feeds = inputs_for(graph)
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(torch.from_numpy(feeds[n]) for n in graph.inputs), buffer,
                          dynamo=False, input_names=graph.inputs, output_names=graph.outputs,
                          dynamic_axes={n: {0: "batch"} for n in graph.inputs}, opset_version=opset)
    proto = onnx.load_from_string(buffer.getvalue())
    imported = import_onnx(proto)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    ref = dict(zip(graph.outputs, session.run(None, feeds)))
    assert_close(run_imported(imported, feeds), ref)
    if name == "lstm" and "lstm" not in {n.op for n in imported.nodes()}:
        # exported as an unrolled loop (no ONNX symbolic for the peephole cell): low-level ops
        assert {n.op for n in imported.nodes()} >= {"dense", "slice", "sigmoid", "binary", "constant"}
        return
    # the shape bookkeeping and constants the exporter adds leave no node behind
    leftovers = {"reshape", "transpose"} & {n.op for n in imported.nodes()}
    assert not leftovers, leftovers
    assert imported.node(imported.inputs[0]).type.shape[0] is None  # the batch stays dynamic
    assert imported.param_count == graph.param_count or name in {"densenet121", "googlenet", "resnet18",
                                                                  "encoder_decoder"}  # BN folded into conv


def test_torch_export_names_layers_by_module_path():
    """Without constant folding, torch.onnx names initializers by state-dict keys, so the
    imported layers get the module paths (which here are the spec's layer names)."""
    import torch

    graph = small_graph("resnet18")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TORCH.build(graph), (torch.zeros(1, 3, 64, 64),), buffer, dynamo=False,
                          input_names=["image"], do_constant_folding=False, opset_version=17)
    imported = import_onnx(onnx.load_from_string(buffer.getvalue()))
    weighted = [n.name for n in imported.nodes() if n.params]
    assert weighted == [n.name for n in graph.nodes() if n.params]
    assert all(np.array_equal(a, graph.weights()[k]) for k, a in imported.weights().items())
