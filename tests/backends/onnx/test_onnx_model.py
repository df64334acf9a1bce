"""Whole models in the ONNX backend: every zoo spec passes the full checker, ONNX's shape
inference agrees with netspec's for every node, names and initializers are the graph's,
dynamic dims stay dynamic, opsets are chosen and refused clearly, files are written, and the
framework exports (--via torch, --via keras) agree with the direct build."""
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import netspec
from netspec.backends.onnx import BACKEND, newest_opset
from netspec.backends.onnx.verify import check, shape_mismatches
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.spec import zoo_names
from netspec.testing import check as check_equivalence
from netspec.testing.zoo import SMALL_ZOO

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def small(name):
    return netspec.load(name, overrides=SMALL_ZOO[name])


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_is_valid_onnx_with_netspec_shapes_names_and_weights(name):
    graph = small(name)
    proto = BACKEND.build(graph).proto
    check(proto)
    assert shape_mismatches(proto, graph) == []
    values = {o for n in proto.graph.node for o in n.output}
    assert {n.name for n in graph.layers()} <= values
    assert [i.name for i in proto.graph.input] == graph.inputs
    assert [o.name for o in proto.graph.output] == graph.outputs
    initializers = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    for key, value in graph.weights().items():
        assert np.array_equal(initializers[key], value), key


def test_dynamic_dims_stay_dynamic():
    graph = netspec.load("fcn", overrides={"fc": 64})  # height and width are free
    proto = BACKEND.build(graph).proto
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "image_dim2", "image_dim3"]
    model = BACKEND.build(graph)
    for size in (32, 64):
        x = np.random.default_rng(0).standard_normal((1, 3, size, size + 32)).astype(np.float32)
        assert BACKEND.run(model, {"image": x})["upscore8"].shape == (1, 21, size, size + 32)


@pytest.mark.parametrize("opset", sorted({13, 17, newest_opset()}))
def test_opset_is_recorded_and_the_model_runs(opset):
    graph = small("resnet18")
    model = BACKEND.build(graph, opset=opset)
    assert [o.version for o in model.proto.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    report = check_equivalence(graph, backends=("torch", "onnx"), options={"onnx": {"opset": opset}})
    assert report.ok, report.summary()


@pytest.mark.parametrize("opset", [12, newest_opset() + 1, "17"])
def test_unknown_opsets_are_refused(opset):
    with pytest.raises(NetspecError, match=r"onnx opset must be an int from 13 to \d+"):
        BACKEND.build(small("lenet5"), opset=opset)


def test_build_command_writes_onnx_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "lenet5.onnx"
    assert main(["build", "lenet5", "--backend", "onnx", "-o", str(out)]) == 0
    loaded = onnx.load(str(out))
    check(loaded)
    assert main(["build", "lenet5", "--backend", "onnx", "-o", str(out)]) == 2
    assert "output exists" in capsys.readouterr().err
    assert main(["build", "lenet5", "--backend", "onnx", "--opset", "9", "-o", str(tmp_path / "x.onnx")]) == 2
    assert not (tmp_path / "x.onnx").exists() and len(list(tmp_path.iterdir())) == 1  # nothing half-written


@pytest.mark.parametrize("via, name", [("torch", "resnet18"), ("torch", "lstm"), ("keras", "lenet5"),
                                       pytest.param("keras", "gru", marks=pytest.mark.slow)])
def test_framework_export_agrees_with_the_direct_build(via, name):
    graph = small(name)
    report = check_equivalence(graph, backends=("torch", "onnx"), options={"onnx": {"via": via}})
    assert report.ok, report.summary()
    exported = BACKEND.build(graph, via=via)
    assert [o.name for o in exported.proto.graph.output] == graph.outputs
    assert exported.via == via


def test_intermediates_need_the_direct_build():
    graph = small("lenet5")
    exported = BACKEND.build(graph, via="torch")
    with pytest.raises(NetspecError, match="intermediate values need a direct onnx build"):
        BACKEND.run_intermediates(exported, graph, {}, ["c1"])
