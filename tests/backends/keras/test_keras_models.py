"""Whole zoo models in Keras, at small sizes: they build, run, match an independent
node-by-node torch.nn.functional evaluation of the same graph, hold exactly the graph's
parameters, contain no transposes when fed channels-last, and survive a .keras round trip."""
import numpy as np
import pytest
import torch

import netspec
from netspec.backends import get_backend
from netspec.backends.keras.emitters import merged_bias_count
from netspec.spec import zoo_names
from netspec.testing import random_inputs

from keras_reference import REF, _t

# Keras' TensorFlow and torch wrappers trip numpy 2's __array__(copy=) deprecation.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

B = get_backend("keras")

# Small but real: every layer of the spec is present, only input sizes and widths shrink.
SMALL = {
    "alexnet": {"size": 64, "classes": 10}, "deepface": {"features": 32, "classes": 10},
    "densenet121": {"size": 32, "classes": 10}, "encoder_decoder": {"size": 32},
    "fcn": {"height": 32, "width": 32, "fc": 64}, "googlenet": {"size": 64, "classes": 10},
    "gru": {"vocab": 50, "dim": 8, "units": 8}, "lstm": {"features": 6, "units": 8},
    "mlp": {"units": 32}, "resnet18": {"size": 32, "classes": 10}, "resnet34": {"size": 32, "classes": 10},
    "resnet50": {"size": 32, "classes": 10}, "unet": {"size": 32},
    "vgg16": {"size": 32, "classes": 10},
}
HEAVY = {"vgg16", "alexnet", "densenet121", "resnet34", "resnet50", "googlenet", "deepface"}
ZOO = zoo_names()


def zoo_param(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


def load(name, **extra):
    return netspec.load(name, overrides={**SMALL.get(name, {}), **extra})


def interpret(graph, inputs):
    """The graph evaluated node by node with the independent references."""
    values = {k: _t(v) for k, v in inputs.items()}
    with torch.no_grad():
        for node in graph.layers():
            values[node.name] = REF[node.op](node, [values[i] for i in node.inputs])
    return {name: values[name].numpy() for name in graph.outputs}


def rel_error(a, b):
    return float(np.abs(a - b).max() / (np.abs(b).max() + 1e-6))


@pytest.mark.parametrize("name", zoo_param(ZOO))
def test_zoo_model_matches_reference(name):
    """Max error relative to the output's magnitude <= 1e-5 (float32 through tens of layers)."""
    graph = load(name)
    model = B.build(graph)
    inputs = random_inputs(graph, batch=2, seed=3)
    out, ref = B.run(model, inputs), interpret(graph, inputs)
    for key in graph.outputs:
        assert out[key].shape == ref[key].shape
        assert rel_error(out[key], ref[key]) < 1e-5, key
    assert B.count_transposes(model) == 0
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == graph.param_count - sum(merged_bias_count(n) for n in graph.layers()
                                                if n.op in ("lstm", "gru", "rnn"))
    state = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert state == graph.state_count


@pytest.mark.parametrize("name", ["resnet18", "unet", "lenet5", "tcn", "fcn"])
def test_channels_first_io_adds_only_boundary_transposes(name):
    graph = load(name)
    model = B.build(graph, input_layout="nchw")
    maps = [n for n in (*graph.inputs, *graph.outputs) if graph.node(n).type.layout == "channels_first"
            and graph.node(n).type.rank > 2]
    assert B.count_transposes(model) == len(maps)
    inputs = random_inputs(graph, batch=1, seed=4)
    ref = interpret(graph, inputs)
    for key, value in B.run(model, inputs).items():
        assert rel_error(value, ref[key]) < 1e-5


@pytest.mark.parametrize("name", zoo_param(ZOO))
def test_keras_file_round_trip(name, tmp_path):
    graph = load(name)
    model = B.build(graph)
    inputs = random_inputs(graph, batch=2, seed=5)
    path = tmp_path / "model.keras"
    B.save(model, graph, path)
    loaded = B.load(path, graph)
    before, after = B.run(model, inputs), B.run(loaded, inputs)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    for key, value in B.run(loaded, inputs, compiled=True).items():
        np.testing.assert_allclose(value, before[key], rtol=1e-5, atol=1e-5 * np.abs(value).max())


@pytest.mark.parametrize("name", ["lenet5", "lstm", "gru", "tcn", "unet"])
def test_weights_read_back_rebuild_the_same_model(name):
    """read_weights -> graph.set_weights -> build again: identical outputs (the trip a model
    trained in Keras takes to be emitted elsewhere)."""
    graph = load(name)
    model = B.build(graph)
    inputs = random_inputs(graph, batch=2, seed=6)
    other = load(name)
    other.set_weights(B.read_weights(model, graph))
    again = B.build(other)
    for key, value in B.run(model, inputs).items():
        np.testing.assert_allclose(B.run(again, inputs)[key], value, rtol=1e-6, atol=1e-6)
