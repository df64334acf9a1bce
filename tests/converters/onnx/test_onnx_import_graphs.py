"""The importer as a whole: the (op, since-version) table, opset upgrades, folding of
constant and shape subgraphs, names, dynamic sizes, and errors that list every problem."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import netspec
from netspec.backends import get_backend
from netspec.backends.onnx import newest_opset
from netspec.converters.onnx import TABLE, ImporterTable, import_onnx
from netspec.errors import NetspecError, NetspecErrors

TORCH = get_backend("torch")
RNG = np.random.default_rng(0)


def W(*shape):
    return (RNG.standard_normal(shape) * 0.3).astype(np.float32)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def const_node(name, array):
    return helper.make_node("Constant", [], [name], name=name, value=numpy_helper.from_array(np.asarray(array), name))


def model_of(nodes, inputs, outputs, inits=(), opset=17, ir_version=None):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version or (8 if opset <= 18 else 10)
    return model


def fin(name, *dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))


def fout(name):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def compare(model, graph, shapes, tol=1e-5):
    """onnxruntime on the model vs torch on the imported graph, for each input shape."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    torch_model = TORCH.build(graph)
    rng = np.random.default_rng(1)
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        ref = session.run(None, {session.get_inputs()[0].name: x})
        got = list(TORCH.run(torch_model, {graph.inputs[0]: x}, graph).values())
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, atol=tol, rtol=1e-4)


# ---------------------------------------------------------------- the table
def test_table_refuses_duplicates_and_picks_the_newest_version_not_above_the_opset():
    table = ImporterTable("test")
    table.register("Op", 1)(lambda ctx, node: "v1")
    table.register("Op", 13)(lambda ctx, node: "v13")
    with pytest.raises(RuntimeError, match="registered twice"):
        table.register("Op", 13)(lambda ctx, node: None)
    assert table.lookup("Op", 12)(None, None) == "v1"
    assert table.lookup("Op", 13)(None, None) == "v13"
    assert table.lookup("Op", 28)(None, None) == "v13"
    assert table.lookup("Other", 17) is None
    table.register("Late", 18)(lambda ctx, node: None)
    assert table.lookup("Late", 17) is None
    assert TABLE.versions("Squeeze") == [1, 13]


# ---------------------------------------------------------------- old opsets
def test_opset9_model_with_weights_as_inputs_is_upgraded_and_imported():
    """Old exporters list every initializer among the graph inputs as well (IR version 3)."""
    inits = [init("W", W(4, 3, 3, 3)), init("B", W(4)), init("scale", W(4) + 1), init("bias", W(4)),
             init("mean", W(4)), init("var", np.abs(W(4)) + 0.5), init("fc_w", W(10, 64)), init("fc_b", W(10))]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["prob"])]
    inputs = [fin("x", "N", 3, 8, 8)] + [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims))
                                         for t in inits]
    model = model_of(nodes, inputs, [fout("prob")], inits, opset=9, ir_version=3)
    graph = import_onnx(model)
    assert graph.inputs == ["x"]
    assert [n.op for n in graph.layers()] == ["conv", "batchnorm", "relu", "maxpool", "flatten", "dense", "softmax"]
    assert graph.meta["onnx"]["opset"] == 13  # upgraded
    assert np.array_equal(graph.node("c").params["weight"], numpy_helper.to_array(inits[0]))
    compare(model, graph, [(2, 3, 8, 8)])


# ---------------------------------------------------------------- folding
def test_shape_subgraph_folds_into_flatten_and_keeps_the_batch_dynamic():
    """``x.view(x.size(0), -1)`` as TorchScript exports it."""
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="/conv/Conv"),
             helper.make_node("Shape", ["c"], ["s"]),
             const_node("zero", np.int64(0)),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             const_node("axes", np.asarray([0], np.int64)),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             const_node("minus1", np.asarray([-1], np.int64)),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["c", "shape"], ["flat"]),
             helper.make_node("Identity", ["fc_w"], ["fc_w2"]),  # exporters share equal weights so
             helper.make_node("Gemm", ["flat", "fc_w2", "fc_b"], ["out"], transB=1)]
    inits = [init("W", W(2, 3, 3, 3)), init("fc_w", W(5, 2 * 4 * 4)), init("fc_b", W(5))]
    model = model_of(nodes, [fin("x", "N", 3, 6, 6)], [fout("out")], inits)
    graph = import_onnx(model)
    assert [(n.name, n.op) for n in graph.layers()] == [("c", "conv"), ("flat", "flatten"), ("out", "dense")]
    assert graph.node("x").type.shape == (None, 3, 6, 6)
    compare(model, graph, [(2, 3, 6, 6), (5, 3, 6, 6)])


def test_weights_computed_from_initializers_are_folded_exactly():
    """A transposed weight behind a MatMul (as netspec's backend writes dense on 3-d inputs)
    and the Add after it become one dense whose weight is the original array."""
    w = W(4, 6)
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "wt"], ["mm"], name="fc/matmul"),
             helper.make_node("Add", ["mm", "b"], ["fc"])]
    model = model_of(nodes, [fin("x", "N", "T", 6)], [fout("fc")], [init("w", w), init("b", W(4))])
    graph = import_onnx(model)
    (dense,) = graph.layers()
    assert (dense.name, dense.op, dense.attrs["bias"]) == ("fc", "dense", True)
    assert np.array_equal(dense.params["weight"], w)
    compare(model, graph, [(2, 5, 6)])


def test_conv_bias_added_after_the_conv_is_fused():
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "b"], ["y"])]
    model = model_of(nodes, [fin("x", "N", 2, 5, 5)], [fout("y")], [init("W", W(3, 2, 3, 3)), init("b", W(1, 3, 1, 1))])
    graph = import_onnx(model)
    assert [(n.name, n.op, n.attrs["bias"]) for n in graph.layers()] == [("y", "conv", True)]
    compare(model, graph, [(2, 2, 5, 5)])


def test_cast_of_a_shape_and_constant_of_shape_zero_state():
    """A GRU whose initial state is ``ConstantOfShape(Concat(1, Shape(x)[0], H))`` of zeros
    (how TorchScript exports nn.GRU) imports as one gru."""
    h = 4
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             const_node("zero", np.int64(0)),
             helper.make_node("Gather", ["s", "zero"], ["n"]),
             const_node("axes", np.asarray([0], np.int64)),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Cast", ["n1"], ["n1c"], to=TensorProto.INT64),
             const_node("one", np.asarray([1], np.int64)), const_node("hid", np.asarray([h], np.int64)),
             helper.make_node("Concat", ["one", "n1c", "hid"], ["hshape"], axis=0),
             helper.make_node("ConstantOfShape", ["hshape"], ["h0"], value=numpy_helper.from_array(np.zeros(1, np.float32))),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("GRU", ["xt", "W", "R", "B", "", "h0"], ["Y", "Y_h"], hidden_size=h, linear_before_reset=1),
             const_node("ax0", np.asarray([0], np.int64)),
             helper.make_node("Squeeze", ["Y_h", "ax0"], ["last"])]
    inits = [init("W", W(1, 3 * h, 3)), init("R", W(1, 3 * h, h)), init("B", W(1, 6 * h))]
    model = model_of(nodes, [fin("x", "N", "T", 3)], [fout("last")], inits)
    graph = import_onnx(model)
    assert [(n.name, n.op) for n in graph.layers()] == [("last", "gru")]
    compare(model, graph, [(2, 7, 3), (3, 4, 3)], tol=1e-4)


@pytest.mark.parametrize("opset", sorted({13, 14, 17, newest_opset()}))
@pytest.mark.parametrize("name", ["lenet5", "lstm", "gru", "unet"])
def test_netspec_models_at_every_opset(name, opset):
    overrides = {"lenet5": {"size": 32}, "unet": {"size": 32, "filters": 4}}.get(name, {"classes": 3, "units": 8})
    if name == "gru":
        overrides = {"classes": 3, "units": 8, "vocab": 50, "dim": 6}
    elif name == "lstm":
        overrides = {"classes": 3, "units": 8, "features": 5}
    graph = netspec.load(name, seed=0, overrides=overrides)
    model = get_backend("onnx").build(graph, opset=opset)
    imported = import_onnx(model.proto)
    assert [n.name for n in imported.nodes()] == [n.name for n in graph.nodes() if n.op != "dropout"]
    t = graph.node(graph.inputs[0]).type
    shape = (2, *[9 if d is None else d for d in t.shape[1:]])
    x = (np.random.default_rng(2).integers(0, 50, shape) if t.dtype == "int64"
         else np.random.default_rng(2).standard_normal(shape).astype(np.float32))
    ref = list(get_backend("onnx").run(model, {graph.inputs[0]: x}).values())
    got = list(TORCH.run(TORCH.build(imported), {graph.inputs[0]: x}, imported).values())
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- names
def test_names_are_sanitised_unique_and_deterministic():
    nodes = [helper.make_node("Relu", ["input.1"], ["/layer1/layer1.0/relu/Relu_output_0"], name="/layer1/layer1.0/relu/Relu"),
             helper.make_node("Sigmoid", ["/layer1/layer1.0/relu/Relu_output_0"], ["onnx::Add_7"], name=""),
             helper.make_node("Tanh", ["onnx::Add_7"], ["9"], name="9")]
    model = model_of(nodes, [fin("input.1", "N", 4)], [fout("9")])
    first, second = import_onnx(model), import_onnx(model)
    names = [n.name for n in first.nodes()]
    assert names == ["input.1", "layer1.0.relu", "onnx_Add_7", "_9"]  # a scope path, then sanitised names
    assert names == [n.name for n in second.nodes()]
    assert first.outputs == ["_9"]


# ---------------------------------------------------------------- errors
def test_every_unsupported_op_is_reported_at_once_with_node_names():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("Hardmax", ["a"], ["b"], name="first_bad"),
             helper.make_node("Relu", ["b"], ["c"], name="skipped"),  # after a failure: not reported
             helper.make_node("TopK", ["c", "k"], ["d", "i"], name="second_bad"),
             helper.make_node("MyOp", ["x"], ["e"], name="custom", domain="com.example"),
             helper.make_node("Add", ["d", "e"], ["y"], name="join")]
    model = model_of(nodes, [fin("x", "N", 4)], [fout("y")], [init("k", np.asarray([2], np.int64))])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(NetspecErrors) as info:
        import_onnx(model)
    errors = info.value.errors
    assert [e.loc.node for e in errors] == ["first_bad", "second_bad", "custom"]
    assert "unsupported ONNX op Hardmax at node 'first_bad'" in errors[0].message
    assert "TopK" in errors[1].message and "com.example" in errors[2].message
    assert all(e.hint for e in errors)


def test_refused_attributes_name_the_node_and_say_why():
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R"], ["Y"], hidden_size=2, direction="bidirectional", name="bi"),
             helper.make_node("Reshape", ["x", "shape"], ["r"], name="batch_mover")]
    inits = [init("W", W(2, 8, 3)), init("R", W(2, 8, 2)), init("shape", np.asarray([-1, 3], np.int64))]
    model = model_of(nodes, [fin("x", "N", "T", 3)], [fout("Y"), fout("r")], inits)
    with pytest.raises(NetspecErrors) as info:
        import_onnx(model)
    bi, mover = info.value.errors
    assert bi.loc.node == "bi" and "bidirectional" in bi.message and "forward-only" in bi.message
    assert mover.loc.node == "batch_mover" and "moves the batch axis" in mover.message and mover.hint


def test_bad_files_are_errors_not_tracebacks(tmp_path):
    with pytest.raises(NetspecError, match="no such file"):
        import_onnx(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model\xff" * 10)
    with pytest.raises(NetspecError, match="cannot read an ONNX model"):
        import_onnx(junk)
    with pytest.raises(NetspecError, match="file path or an onnx.ModelProto"):
        import_onnx(42)


def test_a_model_file_imports_with_its_path_in_locations(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "W"], ["y"], name="conv")]
    model = model_of(nodes, [fin("x", "N", 2, 5, 5)], [fout("y")], [init("W", W(3, 2, 3, 3))])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    graph = import_onnx(path)
    assert graph.node("y").loc.file == str(path) and graph.node("y").loc.node == "conv"
    assert graph.name == "g" and graph.meta["source"] == str(path)


def test_zero_states_fold_away_and_gemm_adds_a_computed_c():
    """An unrolled recurrence's first step: ``h0 @ R' + x W'`` and ``f * c0 + i`` with
    ``h0``, ``c0`` zeros of a dynamic shape; the second step has a real ``h @ R' + C``."""
    h = 4
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             const_node("zero", np.asarray([0], np.int64)),
             helper.make_node("Gather", ["s", "zero"], ["n"]),
             const_node("hid", np.asarray([h], np.int64)),
             helper.make_node("Concat", ["n", "hid"], ["hshape"], axis=0),
             helper.make_node("ConstantOfShape", ["hshape"], ["h0"]),
             helper.make_node("Gemm", ["x", "Wx", "b"], ["xproj"], transB=1),
             helper.make_node("Gemm", ["h0", "R", "xproj"], ["z1"], transB=1),
             helper.make_node("Mul", ["peep", "h0"], ["pc"]),
             helper.make_node("Add", ["z1", "pc"], ["z1p"]),
             helper.make_node("Tanh", ["z1p"], ["h1"]),
             helper.make_node("Gemm", ["h1", "R", "xproj"], ["z2"], transB=1)]
    inits = [init("Wx", W(h, 3)), init("b", W(h)), init("R", W(h, h)), init("peep", W(h))]
    model = model_of(nodes, [fin("x", "N", 3)], [fout("z2")], inits)
    graph = import_onnx(model)
    assert [n.op for n in graph.layers()] == ["dense", "tanh", "dense", "add"]
    compare(model, graph, [(2, 3), (5, 3)])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_formula_before_opset_20_imports_as_gelu(approximate):
    """netspec's ONNX backend and torch.onnx both write GELU's formula below opset 20."""
    import io
    import warnings

    import torch

    from netspec.testing import random_inputs, single_op_graph

    graph = single_op_graph("gelu", {"approximate": approximate}, [(3, 4)])
    x = random_inputs(graph)
    module = TORCH.build(graph)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x["x0"]),), buffer, dynamo=False, input_names=["x0"],
                          output_names=["out"], opset_version=17, dynamic_axes={"x0": {0: "N"}})
    for model in (get_backend("onnx").build(graph, opset=17).proto, onnx.load_from_string(buffer.getvalue())):
        imported = import_onnx(model)
        assert [(n.name, n.op, n.attrs["approximate"]) for n in imported.layers()] == [("out", "gelu", approximate)]
        compare(model, imported, [(2, 3, 4)])


def test_opset9_upsample_and_dropout_ratio_import_after_the_upgrade():
    """Upsample (removed in opset 10) becomes Resize in the upgrade, then upsample."""
    nodes = [helper.make_node("Upsample", ["x", "scales"], ["u"], mode="nearest"),
             helper.make_node("Dropout", ["u"], ["d"], ratio=0.3),
             helper.make_node("Relu", ["d"], ["y"])]
    model = model_of(nodes, [fin("x", "N", 2, 3, 4)], [fout("y")],
                     [init("scales", np.asarray([1, 1, 2, 2], np.float32))], opset=9, ir_version=4)
    graph = import_onnx(model)
    assert [(n.op, n.attrs.get("scale")) for n in graph.layers()] == [("upsample", (2, 2)), ("relu", None)]
    compare(model, graph, [(2, 2, 3, 4)])
