"""A hand-written PyTorch model of the kinds real exports come from (MobileNetV2 blocks
with ReLU6 and depthwise convolutions, an input normalisation, one attention layer with
LayerNorm, a mean over positions and a clamp), exported with ``torch.onnx.export``
(TorchScript exporter), imports and runs in torch as onnxruntime runs the export.

Tolerance: 1e-5 absolute + 1e-4 relative (float32 sums of at most a few hundred terms).
"""
from __future__ import annotations

import io
import warnings
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

from netspec.backends import get_backend
from netspec.converters.onnx import import_onnx


class InvertedResidual(nn.Module):
    def __init__(self, c, e=4):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(c, c * e, 1, bias=False), nn.BatchNorm2d(c * e), nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(c * e, c * e, 3, padding=1, groups=c * e, bias=False),
                                nn.BatchNorm2d(c * e), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(c * e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.project(self.dw(self.expand(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(8), InvertedResidual(8))
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(8, 5))

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = self.blocks(self.stem(x))
        t = x.flatten(2).transpose(1, 2)  # (N, HW, C)
        attention = torch.softmax(self.q(t) @ self.k(t).transpose(1, 2) / 8 ** 0.5, dim=-1)
        t = self.norm(t + attention @ self.v(t))
        return self.head(torch.clamp(t.mean(1), -3.0, 3.0))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = Net().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_mobilenet_style_attention_model(net, fold):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 3, 16, 16),), buffer, dynamo=False, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}}, opset_version=17,
                          do_constant_folding=fold)
    graph = import_onnx(onnx.load_from_string(buffer.getvalue()))
    ops = Counter(n.op for n in graph.layers())
    assert ops["conv"] == 7 and ops["clip"] == 6 and ops["dense"] == 4 and ops["matmul"] == 2
    assert ops["batchnorm"] == (0 if fold else 7)  # the exporter folds eval batchnorms into convs
    assert {"softmax", "layernorm", "reduce", "binary", "constant"} <= set(ops)
    names = [n.name for n in graph.layers()]
    assert "blocks.0.dw.0" in names and "blocks.1.expand.2" in names  # module paths
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    ref = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    torch_backend = get_backend("torch")
    got = torch_backend.run(torch_backend.build(graph), {"image": x}, graph)["logits"]
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", ["onnx", pytest.param("keras", marks=pytest.mark.slow)])
def test_imported_model_runs_in_the_other_backends(net, backend):
    """The imported graph, low-level ops included, is emitted by every backend."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 3, 16, 16),), buffer, dynamo=False, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}}, opset_version=17)
    graph = import_onnx(onnx.load_from_string(buffer.getvalue()))
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    ref = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    b = get_backend(backend)
    model = b.build(graph)
    got = (b.run(model, {"image": x}, graph) if backend == "keras" else b.run(model, {"image": x}))["logits"]
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-4)


class MultiHeadAttention(nn.Module):
    """Self-attention written the usual way: ``x.shape`` read at run time, ``chunk``,
    ``view`` to heads and back; the exporter turns the sizes into shape arithmetic."""

    def __init__(self, d=8, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for z in self.qkv(x).chunk(3, dim=-1))
        a = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        return self.out((a @ v).transpose(1, 2).reshape(b, t, d))


def test_attention_with_a_dynamic_sequence_length():
    torch.manual_seed(0)
    module = MultiHeadAttention().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(2, 5, 8),), buffer, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch", 1: "time"}}, opset_version=17)
    graph = import_onnx(onnx.load_from_string(buffer.getvalue()))
    assert graph.node("x").type.shape == (None, None, 8)
    assert Counter(n.op for n in graph.layers())["matmul"] == 2
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    torch_backend = get_backend("torch")
    model = torch_backend.build(graph)
    for steps in (5, 9):
        x = np.random.default_rng(steps).standard_normal((3, steps, 8)).astype(np.float32)
        np.testing.assert_allclose(torch_backend.run(model, {"x": x}, graph)["y"], session.run(None, {"x": x})[0],
                                   atol=1e-5, rtol=1e-4)


def test_layers_netspec_composes_from_lowlevel_ops():
    """InstanceNorm2d, PReLU, Hardswish, Hardsigmoid and Softplus have no netspec layer:
    they import as their definitions in low-level ops."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.InstanceNorm2d(4, affine=True), nn.PReLU(4),
                           nn.Hardswish(), nn.Conv2d(4, 4, 1), nn.Hardsigmoid(), nn.Softplus()).eval()
    with torch.no_grad():
        module[1].weight.uniform_(0.5, 1.5)
        module[1].bias.uniform_(-0.5, 0.5)
        module[2].weight.uniform_(0.1, 0.3)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(2, 3, 6, 6),), buffer, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}}, opset_version=17)
    proto = onnx.load_from_string(buffer.getvalue())
    assert {"InstanceNormalization", "PRelu", "HardSwish", "HardSigmoid", "Softplus"} <= {n.op_type for n in proto.graph.node}
    graph = import_onnx(proto)
    x = np.random.default_rng(0).standard_normal((3, 3, 6, 6)).astype(np.float32)
    ref = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    torch_backend = get_backend("torch")
    np.testing.assert_allclose(torch_backend.run(torch_backend.build(graph), {"x": x}, graph)["y"], ref,
                               atol=1e-5, rtol=1e-4)
