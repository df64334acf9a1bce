"""Every zoo model builds in torch at a small size, trains one step, and counts its parameters
as the graph does; resnet18 goes through torch.export and torch.compile."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import netspec
from netspec.testing import random_inputs
from netspec.backends.torch import BACKEND
from netspec.errors import NetspecError
from netspec.spec import zoo_names

# Smaller than the papers' sizes, to keep CPU time low; the first that a spec accepts wins.
SMALL = ({"size": 64, "classes": 10}, {"size": 96, "classes": 10}, {"classes": 10}, {})
HEAVY = {"densenet121", "googlenet", "resnet34", "vgg16"}


def small_graph(name):
    for overrides in SMALL:
        try:
            return netspec.load(name, overrides=overrides)
        except NetspecError as exc:
            error = exc
    raise error


def small_inputs(graph, batch=2):
    """Seeded inputs; open sizes are 64 for feature maps (five 2x poolings fit), 12 for sequences."""
    arrays = random_inputs(graph, batch=batch, seed=0, dynamic_size=64, sequence_size=12)
    return [torch.from_numpy(arrays[name]) for name in graph.inputs]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in zoo_names()])
def test_zoo_model_trains_one_step(name):
    graph = small_graph(name)
    model = BACKEND.build(graph).train()
    assert sum(p.numel() for p in model.parameters()) == graph.param_count
    out = model(*small_inputs(graph))
    outs = out if isinstance(out, tuple) else (out,)
    for o, output in zip(outs, graph.outputs):
        expected = graph.node(output).type.shape[1:]
        assert all(e is None or e == g for e, g in zip(expected, o.shape[1:])), (output, o.shape)
    sum(o.float().square().mean() for o in outs).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.fixture(scope="module")
def resnet18():
    graph = netspec.load("resnet18", overrides={"size": 64, "classes": 10})
    return graph, BACKEND.build(graph)


def test_resnet18_torch_export(resnet18, tmp_path):
    graph, model = resnet18
    path = str(tmp_path / "resnet18.pt2")
    BACKEND.save(model, graph, path)
    x = torch.randn(3, 3, 64, 64)
    torch.testing.assert_close(torch.export.load(path).module()(x), model(x))


@pytest.mark.slow
def test_resnet18_torch_compile(resnet18):
    graph, model = resnet18
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model)(x), model(x), atol=1e-4, rtol=1e-4)
