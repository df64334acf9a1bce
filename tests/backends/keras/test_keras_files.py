"""Writing Keras models: formats by extension, the CLI, options and errors, training mode."""
import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import netspec
from netspec.backends import get_backend
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.testing import random_inputs, single_op_graph

# Keras' TensorFlow and torch wrappers trip numpy 2's __array__(copy=) deprecation.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

B = get_backend("keras")


def test_weights_file_loads_into_a_fresh_build(tmp_path):
    graph = netspec.load("lenet5")
    model = B.build(graph)
    path = tmp_path / "m.weights.h5"
    B.save(model, graph, path)
    other = B.build(netspec.load("lenet5", seed=7))
    other.load_weights(str(path))
    inputs = random_inputs(graph, batch=2)
    key = graph.outputs[0]
    np.testing.assert_array_equal(B.run(other, inputs)[key], B.run(model, inputs)[key])


def test_unknown_extension_names_the_allowed_ones(tmp_path):
    graph = single_op_graph("relu")
    with pytest.raises(NetspecError) as err:
        B.save(B.build(graph), graph, tmp_path / "m.onnx")
    assert ".keras" in str(err.value) and ".weights.h5" in str(err.value)


@pytest.mark.parametrize("options, text", [({"input_layout": "nwhc"}, "nhwc"), ({"device": "cuda"}, "input_layout")])
def test_bad_options_are_reported(options, text):
    with pytest.raises(NetspecError, match=text):
        B.build(single_op_graph("relu"), **options)


def test_unexpressible_transposed_conv_names_the_node():
    graph = single_op_graph("conv_transpose", {"filters": 2, "kernel": 3, "stride": 1, "dilation": 3,
                                               "output_padding": 2}, [(2, 5, 5)])
    with pytest.raises(NetspecError) as err:
        B.build(graph)
    assert "out" in str(err.value.loc)


@pytest.mark.parametrize("fmt", ["keras", "weights.h5"])
def test_cli_build_writes_atomically_and_refuses_to_overwrite(tmp_path, fmt):
    out = tmp_path / f"lenet.{fmt}"
    args = ["build", "lenet5", "--backend", "keras", "-o", str(out), "--set", "classes=4",
            "--input-layout", "nchw"]
    assert main(args) == 0 and out.stat().st_size > 0
    assert main(args) == 2  # exists, no --force
    assert main(args + ["--force"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_api_build_takes_the_input_layout():
    model = netspec.build("lenet5", backend="keras", input_layout="nchw")
    assert model.inputs[0].shape[1] == 1  # channels first


def test_batchnorm_training_step_matches_pytorch_statistics():
    """One training-mode forward: the same output, and running stats updated with PyTorch's
    momentum convention and unbiased variance."""
    graph = single_op_graph("batchnorm", {"momentum": 0.3}, [(3, 4, 5)])
    x = random_inputs(graph, batch=4)["x0"]
    model = B.build(graph)
    y = model(np.transpose(x, (0, 2, 3, 1)), training=True)
    p = {k: torch.from_numpy(v.copy()) for k, v in graph.node("out").params.items()}
    want = F.batch_norm(torch.from_numpy(x), p["running_mean"], p["running_var"], p["weight"], p["bias"],
                        True, 0.3, 1e-5)
    np.testing.assert_allclose(np.transpose(keras.ops.convert_to_numpy(y), (0, 3, 1, 2)), want.numpy(), rtol=1e-4, atol=1e-5)
    back = B.read_weights(model, graph)
    np.testing.assert_allclose(back["out.running_mean"], p["running_mean"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back["out.running_var"], p["running_var"].numpy(), rtol=1e-5, atol=1e-6)


def test_train_on_batch_runs_and_changes_weights():
    graph = netspec.load("lenet5")
    model = B.build(graph)
    model.compile(optimizer="sgd", loss="mse")
    x = np.transpose(random_inputs(graph, batch=4)[graph.inputs[0]], (0, 2, 3, 1))
    model.train_on_batch(x, np.zeros((4, model.outputs[0].shape[-1]), "float32"))
    back = B.read_weights(model, graph)
    assert any(not np.array_equal(back[k], v) for k, v in graph.weights().items())
