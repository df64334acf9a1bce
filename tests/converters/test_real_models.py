"""Real models, not built from specs: torch modules exported with torch.onnx.export, imported,
and run in Keras (and written as specs), each proved against the torch module itself.

Every zoo model's torch build goes through the exporter too: the exporter, not netspec's
own ONNX emitter, decides the ONNX graph, so this is the importer meeting real exporter
output (Shape/Gather/Concat subgraphs, Gemm, Flatten, Identity, Constant nodes)."""
import numpy as np
import pytest
import torch
import torch.nn as nn

import netspec
from netspec.backends import get_backend
from netspec.converters.convert import convert
from netspec.converters.sources import torch_source
from netspec.spec import zoo_names
from netspec.testing import check
from netspec.testing.zoo import SMALL_ZOO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

HEAVY = {"alexnet", "vgg16", "densenet121", "resnet34", "resnet50", "googlenet", "deepface"}


def example_for(graph, batch=2, size=32):
    """Example inputs for the exporter: ids for token inputs, normal floats otherwise."""
    rng = np.random.default_rng(0)
    out = []
    for name in graph.inputs:
        t = graph.node(name).type
        shape = (batch, *[size if d is None else d for d in t.shape[1:]])
        if t.dtype.startswith("int"):
            out.append(torch.from_numpy(rng.integers(0, 8, shape).astype(t.dtype)))
        else:
            out.append(torch.from_numpy(rng.standard_normal(shape).astype(np.float32)))
    return out


def proved_in_keras(source, dynamic_size=16):
    """The imported graph in Keras agrees with the torch module, and a torch model in Keras
    is channels-last throughout: no transposes unless the graph itself has one."""
    keras_backend = get_backend("keras")
    model = keras_backend.build(source.graph)
    report = check(source.graph, backends=("keras",), models={"keras": model},
                   foreign={"torch module": source.run}, dynamic_size=dynamic_size)
    assert report.ok, report.summary()
    assert keras_backend.count_transposes(model) == sum(n.op == "transpose" for n in source.graph.layers()) == 0
    return report


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in zoo_names()])
def test_zoo_torch_build_through_the_torch_exporter_runs_in_keras(name):
    graph = netspec.load(name, overrides=SMALL_ZOO[name], seed=1)
    module = get_backend("torch").build(graph)
    size = 32 if name in ("fcn",) else 16
    source = torch_source(module, example_for(graph, size=size))
    assert source.graph.param_count == graph.param_count
    proved_in_keras(source, dynamic_size=size)


# ---------------------------------------------------------------- hand-written torch models
class SmallResNet(nn.Module):
    """Two residual stages with a projection shortcut, written with a custom forward."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.proj = nn.Conv2d(8, 16, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.a(x))
        x = torch.relu(self.bn(self.b(x) + self.proj(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class SmallUNet(nn.Module):
    """Encoder, bottleneck, decoder with transposed convolutions and concatenating skips."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
        self.mid = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.dec1 = nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        m = self.mid(e2)
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


class LSTMTagger(nn.Module):
    """Token ids -> embedding -> LSTM -> a tag score for every position."""

    def __init__(self, vocab=20, dim=6, hidden=8, tags=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.tag = nn.Linear(hidden, tags)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.tag(out)


def randomised(module):
    """Seeded weights, and batchnorm statistics that are not the identity."""
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    return module.eval()


MODELS = {
    "resnet": (lambda: SmallResNet(), lambda: torch.randn(2, 3, 16, 16)),
    "unet": (lambda: SmallUNet(), lambda: torch.randn(2, 1, 16, 16)),
    "tagger": (lambda: LSTMTagger(), lambda: torch.randint(0, 20, (2, 7))),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_hand_written_torch_model_converts_to_keras_and_to_a_spec(kind, tmp_path):
    make, example = MODELS[kind]
    torch.manual_seed(0)
    module = randomised(make())
    source = torch_source(module, example())
    assert source.graph.param_count == sum(p.numel() for p in module.parameters())
    proved_in_keras(source)
    for out in ("model.keras", "model.yaml"):
        result = convert(source, str(tmp_path / out))
        assert result.report.ok, result.report.summary()
    rebuilt = netspec.load(str(tmp_path / "model.yaml"))
    assert rebuilt.param_count == source.graph.param_count
    assert [n.op for n in rebuilt.layers()] == [n.op for n in source.graph.layers()]
