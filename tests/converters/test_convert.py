"""``netspec convert``: every target written, loaded back and verified against the source
run in its own framework; failed verification and bad input leave nothing behind."""
import os
import stat

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper

import netspec
from netspec.cli import main
from netspec.converters.convert import ConversionFailed, convert
from netspec.converters.sources import Source, onnx_source, read_source, torch_source
from netspec.errors import NetspecError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

SMALL = ["--set", "size=32", "--set", "classes=10"]


@pytest.fixture(scope="module")
def resnet_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "r18.onnx"
    assert main(["build", "resnet18", *SMALL, "--backend", "onnx", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("out", ["m.keras", "m.weights.h5", "m.pt2", "m.py", "m.safetensors", "m.yaml", "m.onnx"])
def test_onnx_converts_to_every_target_verified_on_disk(resnet_onnx, tmp_path, out, capsys):
    assert main(["convert", str(resnet_onnx), "-o", str(tmp_path / out)]) == 0
    printed = capsys.readouterr().out
    assert "source (onnxruntime) vs " in printed and "equivalent" in printed
    assert (tmp_path / out).exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".netspec")]  # no staging left
    mode = stat.S_IMODE(os.stat(tmp_path / out).st_mode)
    assert mode & stat.S_IRGRP, "outputs get the usual permissions, not mkstemp's 0600"
    if out in ("m.py", "m.yaml"):
        assert (tmp_path / "m.safetensors").exists()  # the sidecar is written beside it


def test_decompiled_spec_rebuilds_the_model(resnet_onnx, tmp_path):
    out = tmp_path / "r18.yaml"
    assert main(["convert", str(resnet_onnx), "-o", str(out)]) == 0
    text = out.read_text()
    assert "blocks:" in text and "weights: r18.safetensors" in text
    graph = netspec.load(str(out))
    source = onnx_source(str(resnet_onnx))
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    want = source.run({graph.inputs[0]: x})
    got = netspec.backends.get_backend("torch").run(netspec.build(graph), {graph.inputs[0]: x})
    for name in graph.outputs:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5 * np.abs(want[name]).max())


def test_spec_converts_with_another_backend_as_reference(tmp_path, capsys):
    """A spec has no framework of its own: the written file is compared with the torch
    build of the spec (with the onnx build when the target is torch itself)."""
    assert main(["convert", "lenet5", "-o", str(tmp_path / "lenet5.onnx")]) == 0
    assert "lenet5.onnx (onnx) vs torch" in " ".join(capsys.readouterr().out.split())
    assert main(["convert", "lenet5", "-o", str(tmp_path / "lenet5.pt2")]) == 0
    assert "lenet5.pt2 (torch) vs onnx" in " ".join(capsys.readouterr().out.split())


def test_existing_outputs_and_inputs_are_protected(resnet_onnx, tmp_path, capsys):
    out = tmp_path / "m.py"
    (tmp_path / "m.safetensors").write_text("mine")
    assert main(["convert", str(resnet_onnx), "-o", str(out)]) == 2
    assert "m.safetensors: output exists" in capsys.readouterr().err
    assert (tmp_path / "m.safetensors").read_text() == "mine" and not out.exists()
    assert main(["convert", str(resnet_onnx), "-o", str(out), "--force"]) == 0
    assert main(["convert", str(resnet_onnx), "-o", str(resnet_onnx), "--force"]) == 2
    assert "refusing to overwrite an input file" in capsys.readouterr().err


def test_failed_verification_writes_nothing_and_exits_1(resnet_onnx, tmp_path):
    honest = onnx_source(str(resnet_onnx))
    liar = Source(honest.graph, "onnxruntime", lambda inputs: {k: v * 1.01 for k, v in honest.run(inputs).items()})
    with pytest.raises(ConversionFailed) as info:
        convert(liar, str(tmp_path / "m.keras"))
    assert info.value.exit_status == 1 and not info.value.report.ok
    assert os.listdir(tmp_path) == []
    written = convert(liar, str(tmp_path / "m.keras"), check=False)
    assert written.report is None and (tmp_path / "m.keras").exists()


def test_unsupported_ops_are_all_listed_before_anything_is_written(tmp_path, capsys):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    nodes = [helper.make_node("Hardmax", ["x"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="fine"),
             helper.make_node("Erf", ["b"], ["c"], name="second"),
             helper.make_node("Relu", ["c"], ["y"], name="also_fine")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    assert main(["convert", str(path), "-o", str(tmp_path / "out.keras")]) == 2
    err = capsys.readouterr().err
    assert "Hardmax" in err and "first" in err
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx"]


@pytest.mark.parametrize("args, message", [
    (["convert", "lenet5", "-o", "out.h5"], "cannot tell what to write from the name 'out.h5'"),
    (["convert", "lenet5", "-o", "out", "--to", "tflite"], "--to must be one of"),
    (["convert", "model.tflite", "-o", "out.onnx"], "cannot convert from '.tflite' files"),
    (["convert", "missing.onnx", "-o", "out.keras"], "missing.onnx: no such file"),
    (["convert", "lenet5", "-o", "no/such/dir/out.onnx"], "does not exist"),
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_to_forces_the_kind(tmp_path):
    assert main(["convert", "lenet5", "-o", str(tmp_path / "model"), "--to", "onnx"]) == 0
    assert (tmp_path / "model.onnx").exists()


# ---------------------------------------------------------------- torch front doors
class TinyResNet(nn.Module):
    """Not built by netspec: a residual block with a custom forward."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.stem(x)))
        y = torch.relu(y + self.conv(y))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def test_from_torch_imports_a_module_and_converts_it(tmp_path):
    torch.manual_seed(0)
    module = TinyResNet().eval()
    with torch.no_grad():  # non-trivial running statistics
        module.bn.running_mean.uniform_(-0.5, 0.5)
        module.bn.running_var.uniform_(0.5, 2.0)
    example = torch.randn(2, 3, 16, 16)
    graph = netspec.from_torch(module, example)
    assert graph.param_count == sum(p.numel() for p in module.parameters())
    source = torch_source(module, example, graph=graph)
    result = convert(source, str(tmp_path / "tiny.keras"))
    assert result.report.ok and len(result.report.rows) == 1


def test_pt2_file_converts(tmp_path):
    assert main(["build", "lenet5", "--backend", "torch", "-o", str(tmp_path / "l.pt2")]) == 0
    source = read_source(str(tmp_path / "l.pt2"))
    assert source.framework == "torch"
    assert convert(source, str(tmp_path / "l.onnx")).report.ok


def test_set_is_refused_for_model_files(resnet_onnx):
    with pytest.raises(NetspecError, match="--set applies to specs only"):
        read_source(str(resnet_onnx), {"classes": 3})


# ---------------------------------------------------------------- keras front doors
def test_keras_file_converts_directly(tmp_path, capsys):
    import keras
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                           classifier_activation=None, classes=7)
    model.save(tmp_path / "mnv2.keras")
    assert main(["convert", str(tmp_path / "mnv2.keras"), "-o", str(tmp_path / "mnv2.onnx")]) == 0
    assert "source (keras) vs mnv2.onnx (onnx)" in " ".join(capsys.readouterr().out.split())
    graph = netspec.from_onnx(str(tmp_path / "mnv2.onnx"))
    assert graph.param_count + graph.state_count == model.count_params()  # Keras counts moving stats too
    assert not [n for n in graph.layers() if n.op == "transpose"]


def test_keras_layers_the_table_lacks_go_through_onnx(tmp_path):
    import keras

    from netspec.converters.keras import unsupported_layers
    from netspec.converters.sources import keras_source
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.UnitNormalization(axis=-1)(keras.layers.Conv2D(4, 3, padding="same")(inp))
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))
    assert [u.cls for u in unsupported_layers(model)] == ["UnitNormalization"]
    result = convert(keras_source(model), str(tmp_path / "m.pt2"))
    assert result.report.ok
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Activation("selu", name="act")(inp))  # neither route has it
    with pytest.raises(NetspecError, match=r"cannot be imported: 'act' \(Activation: activation 'selu'"):
        keras_source(model)


def test_python_model_file_converts_with_its_open_sizes(tmp_path):
    """netspec's .py export names its inputs and open sizes (INPUTS), so it converts back
    with the sequence length still dynamic."""
    assert main(["build", "tcn", "--backend", "torch", "-o", str(tmp_path / "tcn.py")]) == 0
    assert main(["convert", str(tmp_path / "tcn.py"), "-o", str(tmp_path / "tcn.onnx")]) == 0
    dims = onnx.load(str(tmp_path / "tcn.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, "sequence_dim2"]
    (tmp_path / "other.py").write_text("import torch\nMODEL = torch.nn.Linear(2, 2)\n")
    with pytest.raises(NetspecError, match="a Python model file needs load and INPUTS"):
        read_source(str(tmp_path / "other.py"))
    (tmp_path / "broken.py").write_text("raise RuntimeError('nope')\n")
    with pytest.raises(NetspecError, match="broken.py: importing the file failed: RuntimeError: nope"):
        read_source(str(tmp_path / "broken.py"))


# ---------------------------------------------------------------- tf2onnx exports
TF_MODELS = {"resnet18": {"size": 32, "classes": 10}, "unet": {"size": 32, "classes": 10}, "lenet5": {}}


@pytest.fixture(scope="module", params=list(TF_MODELS))
def tf_onnx(request, tmp_path_factory):
    """A netspec-built Keras model exported by Keras itself (tf2onnx): NHWC at the boundary."""
    import warnings
    model = netspec.build(request.param, backend="keras", overrides=TF_MODELS[request.param])
    model(np.zeros([1 if d is None else d for d in model.inputs[0].shape], "float32"), training=False)
    path = tmp_path_factory.mktemp("tf") / f"{request.param}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(path), format="onnx", verbose=False)
    return path


@pytest.mark.parametrize("out", ["x.pt2", "x.keras"])
def test_tf_exported_onnx_converts_verified(tf_onnx, tmp_path, out, capsys):
    """The importer folds the NHWC boundary into a canonical graph; onnx_source feeds the
    file in its own layout from the recorded perms, so the conversion verifies."""
    assert main(["convert", str(tf_onnx), "-o", str(tmp_path / out)]) == 0
    assert "equivalent" in capsys.readouterr().out
    graph = onnx_source(str(tf_onnx)).graph
    assert not [n for n in graph.layers() if n.op == "transpose"]
    keras = netspec.backends.get_backend("keras")
    assert keras.count_transposes(keras.build(graph)) == 0
