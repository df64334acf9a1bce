"""Channels-last boundaries (tf2onnx exports of Keras models) fold into the graph: the
graph input is canonical (N, C, H, W), no transpose node is left, and the permutation to
the file's layout is in ``graph.meta["onnx"]``; ``onnx_source`` feeds the file with it."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import netspec
from netspec.backends import get_backend
from netspec.converters.onnx import import_onnx
from netspec.converters.sources import onnx_source

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")
RNG = np.random.default_rng(0)
MODELS = {"resnet18": {"size": 32, "classes": 10}, "unet": {"size": 32, "classes": 10}, "lenet5": {}}


def keras_export(name: str, path) -> str:
    """A netspec-built Keras model exported by Keras (tf2onnx) to ``path``."""
    model = netspec.build(name, backend="keras", overrides=MODELS[name])
    model(np.zeros([1 if d is None else d for d in model.inputs[0].shape], "float32"), training=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(path), format="onnx", verbose=False)
    return str(path)


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory):
    return request.param, keras_export(request.param, tmp_path_factory.mktemp("tf") / f"{request.param}.onnx")


def test_tf2onnx_exports_import_canonical_with_no_transposes(exported):
    name, path = exported
    graph = import_onnx(path)
    image = graph.node(graph.inputs[0]).type
    channels = 3 if name == "resnet18" else 1
    assert image.shape == (None, channels, 32, 32) and image.layout == "channels_first"
    assert not [n.name for n in graph.layers() if n.op in ("transpose", "reshape")]
    assert graph.meta["onnx"]["input_perms"] == {graph.inputs[0]: [0, 2, 3, 1]}
    if name == "unet":  # a map output: its transpose back to channels-last is folded too
        assert graph.meta["onnx"]["output_perms"] == {graph.outputs[0]: [0, 2, 3, 1]}
        assert graph.node(graph.outputs[0]).type.shape == (None, 10, 32, 32)
    keras = get_backend("keras")
    assert keras.count_transposes(keras.build(graph)) == 0


def test_onnx_source_feeds_the_file_in_its_layout(exported):
    name, path = exported
    source = onnx_source(path)
    graph = source.graph
    x = RNG.standard_normal((2, *graph.node(graph.inputs[0]).type.shape[1:])).astype(np.float32)
    got = source.run({graph.inputs[0]: x})[graph.outputs[0]]
    want = get_backend("torch").run(get_backend("torch").build(graph), {graph.inputs[0]: x})[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_hand_written_channels_last_boundary_folds_both_ends():
    w = numpy_helper.from_array(RNG.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    model = _model([helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
                    helper.make_node("Conv", ["xt", "w"], ["c"], pads=[1, 1, 1, 1]),
                    helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 6, 3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 6, 4])], [w])
    graph = import_onnx(model)
    assert graph.node("x").type.shape == (None, 3, 8, 6)
    assert [n.op for n in graph.layers()] == ["conv"]
    assert graph.meta["onnx"]["input_perms"] == {"x": [0, 2, 3, 1]}
    assert graph.meta["onnx"]["output_perms"] == {graph.outputs[0]: [0, 2, 3, 1]}
    source = onnx_source(model, graph)
    x = RNG.standard_normal((2, 3, 8, 6)).astype(np.float32)
    torch = get_backend("torch")
    np.testing.assert_allclose(source.run({"x": x})[graph.outputs[0]],
                               torch.run(torch.build(graph), {"x": x})[graph.outputs[0]], rtol=1e-4, atol=1e-5)


def test_other_boundary_transposes_stay_nodes():
    """A sequence transposed to (N, F, T) is what the model computes, not a layout: kept."""
    model = _model([helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
                    helper.make_node("Relu", ["xt"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 7])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 7, 5])])
    graph = import_onnx(model)
    assert graph.node("x").type.shape == (None, 5, 7)
    assert graph.meta["onnx"]["input_perms"] == {} and graph.meta["onnx"]["output_perms"] == {}
    assert "transpose" in [n.op for n in graph.layers()]
