"""Every importer entry on a one-node (or, where ONNX needs a layout around the op, a
three-node) model written with ``onnx.helper``: onnxruntime runs the model, the imported
graph runs in the torch backend, on the same seeded inputs.

Tolerance (float32): |torch - onnxruntime| <= 1e-5 + 1e-4 * |onnxruntime| element-wise, as
in the backend op tests: a few ulps of round-off from differently ordered sums over
windows of at most a few hundred terms; recurrent layers compound it over their steps and
get 1e-4 absolute.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from netspec.backends import get_backend
from netspec.converters.onnx import TABLE, import_onnx

TORCH = get_backend("torch")
RNG = np.random.default_rng(0)


def X(*shape, dtype="float32"):
    """A runtime input; None sizes are dynamic (the batch always is)."""
    return ("x", (None, *shape), dtype)


def W(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def I(*values):
    return np.asarray(values, dtype=np.int64)


ELEM = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "bool": TensorProto.BOOL}


def make_model(nodes, inputs, outputs, opset, inits=()):
    graph = helper.make_graph(nodes, "case", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 18 else 10
    return model


def one_node(op_type, args, attrs=None, opset=17, outputs=1):
    """A model with one ``op_type`` node; ``args`` are inputs in order: X(...) runtime
    inputs, arrays (initializers), or None (an absent optional input)."""
    inputs, inits, names = [], [], []
    for i, arg in enumerate(args):
        if arg is None:
            names.append("")
        elif isinstance(arg, tuple):
            name = f"x{len(inputs)}"
            dims = ["N" if j == 0 else (f"d{j}" if d is None else d) for j, d in enumerate(arg[1])]
            inputs.append(helper.make_tensor_value_info(name, ELEM[arg[2]], dims))
            names.append(name)
        else:
            name = f"c{i}"
            inits.append(numpy_helper.from_array(arg, name))
            names.append(name)
    outs = [f"y{k}" for k in range(outputs)]
    node = helper.make_node(op_type, names, outs, name=f"the_{op_type.lower()}", **(attrs or {}))
    return make_model([node], inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                      opset, inits)


def feeds_for(model, fill=6):
    rng = np.random.default_rng(1)
    out = {}
    for value in model.graph.input:
        t = value.type.tensor_type
        shape = [2 if k == 0 else (d.dim_value or fill) for k, d in enumerate(t.shape.dim)]
        if t.elem_type == TensorProto.INT64:
            out[value.name] = rng.integers(0, 5, shape).astype(np.int64)
        elif t.elem_type == TensorProto.BOOL:
            out[value.name] = rng.random(shape) > 0.5
        else:
            out[value.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def check_import(model, tol=(1e-5, 1e-4), fill=6, ops=None):
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # a valid model
    feeds = feeds_for(model, fill)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    graph = import_onnx(model)
    got = TORCH.run(TORCH.build(graph), {k: feeds[k] for k in graph.inputs}, graph)
    assert len(got) == len(ref)
    atol, rtol = tol
    for (key, value), expected in zip(got.items(), ref.values()):
        assert value.shape == expected.shape, key
        np.testing.assert_allclose(value, expected, atol=atol, rtol=rtol)
    if ops is not None:
        assert [n.op for n in graph.layers()] == ops
    return graph


# (id, op type, inputs, attributes, opset, netspec ops the import must produce)
CASES = [
    ("conv", "Conv", [X(3, 8, 8), W(4, 3, 3, 3), W(4)], {"pads": [1, 1, 1, 1]}, 17, ["conv"]),
    ("conv_stride_dilation", "Conv", [X(2, 9, 9), W(6, 2, 3, 2)], {"strides": [2, 1], "dilations": [1, 2], "pads": [1, 0, 2, 1]}, 13, ["conv"]),
    ("conv_groups", "Conv", [X(4, 7, 7), W(8, 2, 3, 3), W(8)], {"group": 2}, 11, ["conv"]),
    ("conv_same_upper", "Conv", [X(3, 9, 8), W(4, 3, 3, 3)], {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, 17, ["conv"]),
    ("conv_same_lower", "Conv", [X(3, 8, 8), W(4, 3, 2, 2)], {"auto_pad": "SAME_LOWER"}, 17, ["conv"]),
    ("conv_dynamic", "Conv", [X(3, None, None), W(4, 3, 3, 3)], {"pads": [1, 1, 1, 1]}, 17, ["conv"]),
    ("conv1d_causal", "Conv", [X(3, None), W(4, 3, 3), W(4)], {"pads": [4, 0], "dilations": [2]}, 17, ["temporal_conv"]),
    ("conv3d", "Conv", [X(2, 4, 5, 4), W(3, 2, 2, 2, 2)], {}, 17, ["conv"]),
    ("conv_transpose", "ConvTranspose", [X(3, 5, 6), W(3, 4, 4, 4), W(4)], {"strides": [2, 2], "pads": [1, 1, 1, 1]}, 17, ["conv_transpose"]),
    ("conv_transpose_groups", "ConvTranspose", [X(4, 5), W(4, 3, 3)], {"group": 2, "strides": [2], "output_padding": [1]}, 13, ["conv_transpose"]),
    ("maxpool", "MaxPool", [X(3, 8, 9)], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, 17, ["maxpool"]),
    ("maxpool_stride1", "MaxPool", [X(3, 7)], {"kernel_shape": [2]}, 11, ["maxpool"]),
    ("avgpool", "AveragePool", [X(3, 8, 9)], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 17, ["avgpool"]),
    ("avgpool_include_pad", "AveragePool", [X(3, 8, 8)], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, 17, ["avgpool"]),
    ("globalavgpool", "GlobalAveragePool", [X(3, 5, 6)], {}, 17, ["globalavgpool"]),
    ("globalmaxpool", "GlobalMaxPool", [X(3, 7)], {}, 17, ["globalmaxpool"]),
    ("reducemean_spatial", "ReduceMean", [X(3, 5, 6)], {"axes": [2, 3], "keepdims": 1}, 17, ["globalavgpool"]),
    ("reducemean_18", "ReduceMean", [X(3, 5, 6), I(-1, -2)], {"keepdims": 0}, 18, ["globalavgpool", "flatten"]),
    ("reducemax_spatial", "ReduceMax", [X(3, 5, 6)], {"axes": [2, 3]}, 13, ["globalmaxpool"]),
    ("batchnorm", "BatchNormalization", [X(3, 4, 4), W(3), W(3), W(3), np.abs(W(3)) + 0.5], {"epsilon": 1e-3}, 17, ["batchnorm"]),
    ("batchnorm_15", "BatchNormalization", [X(3, 4), W(3), W(3), W(3), np.abs(W(3)) + 0.5], {}, 15, ["batchnorm"]),
    ("layernorm", "LayerNormalization", [X(5, 6), W(6), W(6)], {"axis": -1}, 17, ["layernorm"]),
    ("layernorm_2axes", "LayerNormalization", [X(5, 6), W(5, 6)], {"axis": 1, "epsilon": 1e-3}, 17, ["layernorm"]),
    ("lrn", "LRN", [X(6, 4, 4)], {"size": 3, "alpha": 1e-3, "beta": 0.75, "bias": 2.0}, 17, ["lrn"]),
    ("relu", "Relu", [X(3, 4)], {}, 17, ["relu"]),
    ("sigmoid", "Sigmoid", [X(3, 4)], {}, 17, ["sigmoid"]),
    ("tanh", "Tanh", [X(3, 4)], {}, 17, ["tanh"]),
    ("leaky_relu", "LeakyRelu", [X(3, 4)], {"alpha": 0.2}, 17, ["leaky_relu"]),
    ("elu", "Elu", [X(3, 4)], {"alpha": 0.7}, 17, ["elu"]),
    ("gelu", "Gelu", [X(3, 4)], {}, 20, ["gelu"]),
    ("gelu_tanh", "Gelu", [X(3, 4)], {"approximate": "tanh"}, 20, ["gelu"]),
    ("softmax_11", "Softmax", [X(3, 4)], {"axis": -1}, 11, ["softmax"]),
    ("softmax", "Softmax", [X(3, 4, 5)], {"axis": 1}, 13, ["softmax"]),
    ("dropout", "Dropout", [X(3, 4)], {}, 17, []),
    ("add", "Add", [X(3, 4), X(3, 4)], {}, 17, ["add"]),
    ("sum", "Sum", [X(3, 4), X(3, 4), X(3, 4)], {}, 17, ["add"]),
    ("mul", "Mul", [X(3, 4, 4), X(3, 4, 4)], {}, 17, ["multiply"]),
    ("concat", "Concat", [X(3, 4, 4), X(2, 4, 4)], {"axis": 1}, 17, ["concat"]),
    ("concat_last", "Concat", [X(4, 3), X(4, 2)], {"axis": -1}, 17, ["concat"]),
    ("flatten", "Flatten", [X(3, 4, 5)], {}, 17, ["flatten"]),
    ("reshape_flatten", "Reshape", [X(3, 4, 5), I(0, -1)], {}, 17, ["flatten"]),
    ("reshape_minus1_batch", "Reshape", [X(3, 4, 5), I(-1, 60)], {}, 17, ["flatten"]),
    ("reshape", "Reshape", [X(3, 4, 5), I(0, 4, -1)], {}, 17, ["reshape"]),
    ("transpose", "Transpose", [X(3, 4, 5)], {"perm": [0, 2, 3, 1]}, 17, ["transpose"]),
    ("unsqueeze_11", "Unsqueeze", [X(4, 5)], {"axes": [1]}, 11, ["reshape"]),
    ("unsqueeze", "Unsqueeze", [X(4, 5), I(-1)], {}, 13, ["reshape"]),
    ("squeeze_11", "Squeeze", [X(1, 5)], {"axes": [1]}, 11, ["reshape"]),
    ("squeeze", "Squeeze", [X(4, 1, 5), I(2)], {}, 13, ["reshape"]),
    ("pad_constant", "Pad", [X(3, 4, 5), I(0, 0, 1, 2, 0, 0, 3, 0), np.float32(0.5)], {}, 17, ["pad"]),
    ("pad_reflect", "Pad", [X(3, 4, 5), I(0, 0, 1, 2, 0, 0, 2, 1)], {"mode": "reflect"}, 13, ["pad"]),
    ("pad_edge_axes", "Pad", [X(3, 6), I(2, 1), None, I(2)], {"mode": "edge"}, 18, ["pad"]),
    ("slice_crop", "Slice", [X(3, 8, 9), I(1, 2), I(-1, 2 ** 63 - 1), I(2, 3)], {}, 17, ["crop"]),
    ("slice_crop_static_end", "Slice", [X(3, 8, 9), I(1), I(6), I(3)], {}, 13, ["crop"]),
    ("resize_nearest", "Resize", [X(3, 4, 5), None, np.asarray([1, 1, 2, 3], np.float32)],
     {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, 17, ["upsample"]),
    ("resize_nearest_half_pixel", "Resize", [X(3, 4, 5), None, np.asarray([1, 1, 2, 2], np.float32)], {}, 13, ["upsample"]),
    ("resize_bilinear", "Resize", [X(3, 4, 5), None, np.asarray([1, 1, 2, 2], np.float32)],
     {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}, 17, ["upsample"]),
    ("resize_align_corners_sizes", "Resize", [X(3, 4, 5), None, None, I(2, 3, 8, 15)],
     {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, 19, ["upsample"]),
    ("gemm", "Gemm", [X(5), W(4, 5), W(4)], {"transB": 1}, 17, ["dense"]),
    ("gemm_plain_b_alpha_beta", "Gemm", [X(5), W(5, 4), W(1, 4)], {"alpha": 0.5, "beta": 2.0}, 11, ["dense"]),
    ("matmul", "MatMul", [X(3, 5), W(5, 4)], {}, 17, ["dense"]),
    ("embedding", "Gather", [W(7, 4), X(None, dtype="int64")], {"axis": 0}, 17, ["embedding"]),
    # low-level ops (netspec/ops/lowlevel.py)
    ("sub_constant", "Sub", [X(3, 4, 4), W(3, 1, 1)], {}, 17, ["constant", "binary"]),
    ("div_broadcast", "Div", [X(3, 4, 4), np.abs(W(1, 4)) + 1], {}, 17, ["constant", "binary"]),
    ("pow", "Pow", [X(3, 4), np.float32(2.0)], {}, 17, ["constant", "binary"]),
    ("max", "Max", [X(3, 4), X(3, 4)], {}, 17, ["binary"]),
    ("min", "Min", [X(3, 4), np.float32(0.1)], {}, 13, ["constant", "binary"]),
    ("add_broadcast", "Add", [X(3, 4, 5), X(3, 1, 5)], {}, 17, ["binary"]),
    ("mul_constant", "Mul", [X(3, 4), np.float32(0.5)], {}, 17, ["constant", "binary"]),
    ("sqrt", "Sqrt", [X(3, 4)], {}, 17, ["unary"]),
    ("exp", "Exp", [X(3, 4)], {}, 17, ["unary"]),
    ("log", "Log", [X(3, 4)], {}, 17, ["unary"]),
    ("abs", "Abs", [X(3, 4)], {}, 17, ["unary"]),
    ("neg", "Neg", [X(3, 4)], {}, 17, ["unary"]),
    ("reciprocal", "Reciprocal", [X(3, 4)], {}, 17, ["unary"]),
    ("erf", "Erf", [X(3, 4)], {}, 17, ["unary"]),
    ("floor", "Floor", [X(3, 4)], {}, 17, ["unary"]),
    ("ceil", "Ceil", [X(3, 4)], {}, 17, ["unary"]),
    ("clip_relu6", "Clip", [X(3, 4), np.float32(0.0), np.float32(0.5)], {}, 17, ["clip"]),
    ("clip_relu", "Clip", [X(3, 4), np.float32(0.0)], {}, 13, ["relu"]),
    ("clip_upper_only", "Clip", [X(3, 4), None, np.float32(0.2)], {}, 17, ["clip"]),
    ("where", "Where", [X(3, 4, dtype="bool"), X(3, 4), np.float32(0.0)], {}, 17, ["constant", "where"]),
    ("cast", "Cast", [X(3, 4, dtype="int64")], {"to": TensorProto.FLOAT}, 17, ["cast"]),
    ("matmul_tensors", "MatMul", [X(3, 4), X(4, 5)], {}, 17, ["matmul"]),
    ("slice_channels", "Slice", [X(6, 4, 4), I(1), I(5), I(1), I(2)], {}, 17, ["slice"]),
    ("gather_last", "Gather", [X(5, 4), np.int64(-1)], {"axis": 1}, 17, ["gather"]),
    ("gather_list", "Gather", [X(5, 4), I(0, 3)], {"axis": 2}, 17, ["gather"]),
    ("reducemean", "ReduceMean", [X(3, 4, 5)], {"axes": [-1], "keepdims": 0}, 17, ["reduce"]),
    ("reducesum", "ReduceSum", [X(3, 4), I(1)], {}, 13, ["reduce"]),
    ("reducesum_11", "ReduceSum", [X(3, 4)], {"axes": [1, 2]}, 11, ["reduce"]),
    ("reducemin", "ReduceMin", [X(3, 4)], {"axes": [2]}, 17, ["reduce"]),
    ("reducemax_channels", "ReduceMax", [X(3, 4, 4), I(1)], {"keepdims": 1}, 18, ["reduce"]),
    # compositions of low-level ops
    ("instance_norm", "InstanceNormalization", [X(3, 4, 5), W(3), W(3)], {"epsilon": 1e-3}, 17, None),
    ("hard_sigmoid", "HardSigmoid", [X(3, 4)], {"alpha": 0.3}, 17, None),
    ("hard_swish", "HardSwish", [X(3, 4, 4)], {}, 17, None),
    ("prelu_channels", "PRelu", [X(3, 4, 4), W(3, 1, 1)], {}, 17, None),
    ("prelu_scalar", "PRelu", [X(5), np.float32(0.2)], {}, 13, None),
    ("softplus", "Softplus", [X(3, 4)], {}, 17, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_one_node(case):
    _, op_type, args, attrs, opset, ops = case
    check_import(one_node(op_type, args, attrs, opset), ops=ops)  # ops None: a composition


# ---------------------------------------------------------------- recurrent layers
def recurrent_model(op_type, hidden, features, attrs, opset=17, peephole=False, output="Y"):
    """``Transpose -> op -> Transpose/Squeeze`` to (N, T, H), or ``Y_h -> Squeeze`` to
    (N, H): the batch-first form netspec and PyTorch export."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op_type]
    inits = [numpy_helper.from_array(W(1, gates * hidden, features), "W"),
             numpy_helper.from_array(W(1, gates * hidden, hidden), "R"),
             numpy_helper.from_array(W(1, 2 * gates * hidden), "B")]
    names = ["xt", "W", "R", "B"]
    if peephole:
        inits.append(numpy_helper.from_array(W(1, 3 * hidden), "P"))
        names += ["", "", "", "P"]
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node(op_type, names, ["Y", "Y_h"], hidden_size=hidden, **attrs)]
    if output == "Y":
        nodes += [helper.make_node("Transpose", ["Y"], ["Yt"], perm=[2, 0, 1, 3]),
                  helper.make_node("Squeeze", ["Yt", "axis2"], ["out"])]
        inits.append(numpy_helper.from_array(I(2), "axis2"))
    else:
        nodes.append(helper.make_node("Squeeze", ["Y_h", "axis0"], ["out"]))
        inits.append(numpy_helper.from_array(I(0), "axis0"))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", features])]
    return make_model(nodes, inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], opset, inits)


RECURRENT = [
    ("lstm", "LSTM", {}, False, "Y"),
    ("lstm_peephole_last", "LSTM", {}, True, "Y_h"),
    ("gru", "GRU", {}, False, "Y"),
    ("gru_linear_before_reset", "GRU", {"linear_before_reset": 1}, False, "Y_h"),
    ("rnn_relu", "RNN", {"activations": ["Relu"]}, False, "Y"),
    ("rnn_last", "RNN", {}, False, "Y_h"),
]


@pytest.mark.parametrize("case", RECURRENT, ids=[c[0] for c in RECURRENT])
def test_recurrent(case):
    _, op_type, attrs, peephole, output = case
    graph = check_import(recurrent_model(op_type, 5, 3, attrs, peephole=peephole, output=output),
                         tol=(1e-4, 1e-4), fill=7)
    (node,) = graph.layers()  # the transposes and squeezes cancel out
    assert node.attrs["return_sequences"] == (output == "Y")
    assert node.name == "out"


# Op types whose importers are exercised by multi-node models in test_onnx_import_graphs.py
# (shape subgraphs, weights behind computations) rather than by one-node models.
IN_GRAPH_TESTS = {"Identity", "Shape", "Gather", "Concat", "ConstantOfShape", "Cast", "Transpose", "Squeeze"}


def test_split_is_one_slice_per_output():
    model = one_node("Split", [X(6, 4), I(2, 4)], {"axis": 1}, 17, outputs=2)
    graph = check_import(model, ops=["slice", "slice"])
    assert [n.attrs["starts"] for n in graph.layers()] == [(0,), (2,)]
    check_import(one_node("Split", [X(6, 4)], {"axis": 1, "num_outputs": 3}, 18, outputs=3),
                 ops=["slice"] * 3)
    check_import(one_node("Split", [X(6, 4)], {"axis": 1, "split": [1, 5]}, 11, outputs=2), ops=["slice"] * 2)


def test_every_importer_entry_is_tested():
    from netspec.converters.onnx import supported_ops

    tested = {c[1] for c in CASES} | {c[1] for c in RECURRENT} | IN_GRAPH_TESTS | {"Split"}
    assert set(supported_ops()) - tested == set()
    assert TABLE.lookup("Squeeze", 12) is TABLE.lookup("Squeeze", 11)
    assert TABLE.lookup("Squeeze", 13) is not TABLE.lookup("Squeeze", 12)


def test_last_position_of_a_dynamic_length():
    """``x[:, -2]`` on a dynamic axis: a slice of the tail, then its first position."""
    for index in (-1, -2):
        model = one_node("Gather", [X(None, 4), np.int64(index)], {"axis": 1}, 17)
        graph = check_import(model, fill=5)
        assert [n.op for n in graph.layers()][:1] == ["slice"]
