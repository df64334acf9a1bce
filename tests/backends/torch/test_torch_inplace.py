"""In-place relu and add in the emitted forward: used only where nothing else reads the
overwritten value, invisible to intermediates, and the same gradients as the pure forward."""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.fx as fx

from netspec.backends.torch import BACKEND
from netspec.backends.torch.emit import out_of_place
from netspec.graph.init import init_weights
from netspec.graph.ir import Graph
from netspec.graph.passes import infer_shapes
from netspec.ops import OPS
from netspec.ops.types import TensorType


def graph_of(chain, outputs, seed=0):
    graph = Graph("inplace net")
    graph.add_input("image", TensorType((None, 3, 8, 8), layout="channels_first"))
    for name, op, attrs, inputs in chain:
        checked, problems = OPS[op].check_attrs(attrs)
        assert not problems
        graph.add_node(name, op, checked, inputs)
    graph.outputs = outputs
    infer_shapes(graph)
    return init_weights(graph, seed)


def residual():
    """conv -> bn -> relu -> conv -> bn, plus a 1x1 shortcut; add; relu."""
    return graph_of([("conv1", "conv", {"filters": 4, "kernel": 3, "padding": 1}, ["image"]),
                     ("bn1", "batchnorm", {}, ["conv1"]),
                     ("relu1", "relu", {}, ["bn1"]),
                     ("conv2", "conv", {"filters": 4, "kernel": 3, "padding": 1}, ["relu1"]),
                     ("bn2", "batchnorm", {}, ["conv2"]),
                     ("short", "conv", {"filters": 4, "kernel": 1}, ["image"]),
                     ("add", "add", {}, ["bn2", "short"]),
                     ("out", "relu", {}, ["add"])], ["out"])


def test_a_residual_block_updates_in_place_like_torchvision():
    model = BACKEND.build(residual())
    assert "torch.relu_(bn1)" in model.code
    assert "bn2.add_(short)" in model.code
    assert "torch.relu_(add)" in model.code


def test_values_read_elsewhere_or_returned_are_not_overwritten():
    graph = graph_of([("conv", "conv", {"filters": 3, "kernel": 3, "padding": 1}, ["image"]),
                      ("relu", "relu", {}, ["conv"]),            # conv is read by add too
                      ("add", "add", {}, ["relu", "conv"]),       # relu is a graph output
                      ("sig", "sigmoid", {}, ["add"]),
                      ("relu2", "relu", {}, ["sig"]),            # sigmoid's backward reads its output
                      ("add2", "add", {}, ["image", "relu2"])],  # neither input is fresh
                     ["add2", "relu"])
    code = BACKEND.build(graph).code
    assert "relu_" not in code and "add_" not in code


def test_sizes_known_only_at_run_time_still_update_in_place():
    graph = Graph("fully convolutional")
    graph.add_input("image", TensorType((None, 3, None, None), layout="channels_first"))
    for name, op, attrs, inputs in [("conv", "conv", {"filters": 3, "kernel": 3, "padding": 1}, ["image"]),
                                    ("short", "conv", {"filters": 3, "kernel": 1}, ["image"]),
                                    ("add", "add", {}, ["conv", "short"]), ("relu", "relu", {}, ["add"])]:
        graph.add_node(name, op, OPS[op].check_attrs(attrs)[0], inputs)
    graph.outputs = ["relu"]
    infer_shapes(graph)
    model = BACKEND.build(init_weights(graph, 0))
    assert "conv.add_(short)" in model.code and "torch.relu_(add)" in model.code
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype("float32")
    with torch.no_grad():
        t = torch.from_numpy(x)
        expected = torch.relu(model.conv(t) + model.short(t))
    np.testing.assert_array_equal(BACKEND.run(model, {"image": x})["relu"], expected.numpy())


def test_intermediates_see_values_before_the_in_place_relu():
    graph = residual()
    model = BACKEND.build(graph)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype("float32")
    got = BACKEND.run_intermediates(model, graph, {"image": x}, ["bn1", "add", "out"])
    with torch.no_grad():
        t = torch.from_numpy(x)
        bn1 = model.bn1(model.conv1(t))
        add = model.bn2(model.conv2(torch.relu(bn1))) + model.short(t)
    assert (got["bn1"] < 0).any()
    np.testing.assert_array_equal(got["bn1"], bn1.numpy())
    np.testing.assert_array_equal(got["add"], add.numpy())
    np.testing.assert_array_equal(got["out"], BACKEND.run(model, {"image": x})["out"])
    assert "relu_" in model.code  # the model itself keeps its in-place forward


def test_gradients_equal_those_of_the_pure_forward():
    model = BACKEND.build(residual())
    pure_graph = copy.deepcopy(model.graph)
    out_of_place(pure_graph)
    pure = fx.GraphModule(copy.deepcopy(model), pure_graph)
    assert "relu_" not in pure.code and "add_" not in pure.code
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype("float32"))
    grads = []
    for m in (model, pure):
        m.train()
        m(x).square().mean().backward()
        grads.append({k: p.grad.clone() for k, p in m.named_parameters()})
    for key in grads[0]:
        torch.testing.assert_close(grads[0][key], grads[1][key], rtol=0, atol=0)
