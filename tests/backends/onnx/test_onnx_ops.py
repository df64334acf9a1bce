"""Every op as a one-node ONNX model, run in onnxruntime against an independent
torch.nn.functional/numpy computation (onnx_reference.py) on the same seeded weights, at
opsets 13, 17 and the newest the installed onnx knows.

Each model must also pass ``onnx.checker`` (full check) and ONNX shape inference must
reproduce the shape netspec inferred for every node.

Tolerance (float32): |onnx - reference| <= 1e-5 + 1e-4 * |reference| element-wise: a few
ulps of round-off from differently ordered sums in windows of at most a few hundred terms.
Recurrent layers compound round-off over the steps and compare against a float64 numpy
loop, so they get 1e-4 absolute.
"""
import numpy as np
import pytest

from netspec.backends.onnx import BACKEND, newest_opset
from netspec.backends.onnx.verify import check, shape_mismatches
from netspec.errors import NetspecError
from netspec.ops import OPS
from netspec.testing import random_inputs, single_op_graph

from onnx_reference import REF, reference

N = None
SEQ = "plain"
OPSETS = sorted({13, 17, newest_opset()})
TOL = {"lstm": (1e-4, 1e-4), "gru": (1e-4, 1e-4), "rnn": (1e-4, 1e-4)}
DEFAULT_TOL = (1e-5, 1e-4)

# (op, attrs, input shapes without batch, layout/dtype marker or None)
CASES = [
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(3, 8, 9)], None),
    ("conv", {"filters": 4, "kernel": 3, "padding": "same", "stride": 2}, [(3, 9, 8)], None),
    ("conv", {"filters": 6, "kernel": [3, 2], "padding": [[1, 2], [0, 1]], "dilation": [2, 1]}, [(2, 9, 9)], None),
    ("conv", {"filters": 6, "kernel": 3, "groups": 3, "padding": 1, "bias": False}, [(3, 7, 7)], None),
    ("conv", {"filters": 4, "kernel": 3, "groups": 2, "padding": 1, "stride": 2}, [(2, 12)], None),
    ("conv", {"filters": 3, "kernel": 2, "padding": [1, 0, 1], "stride": [1, 2, 1]}, [(2, 5, 6, 4)], None),
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(2, N, N)], None),
    ("temporal_conv", {"filters": 4, "kernel": 3, "dilation": 2}, [(3, 14)], None),
    ("temporal_conv", {"filters": 2, "kernel": 2, "bias": False}, [(3, N)], None),
    ("conv_transpose", {"filters": 4, "kernel": 4, "stride": 2, "padding": 1}, [(3, 5, 6)], None),
    ("conv_transpose", {"filters": 4, "kernel": 3, "stride": 2, "output_padding": 1, "padding": 1}, [(3, 7)], None),
    ("conv_transpose", {"filters": 6, "kernel": 3, "groups": 2, "stride": 2, "padding": [[1, 0], [0, 2]]}, [(4, 5, 5)], None),
    ("conv_transpose", {"filters": 2, "kernel": 3, "dilation": 2, "padding": 1, "bias": False}, [(3, 5, 5)], None),
    ("conv_transpose", {"filters": 2, "kernel": 2, "stride": 2}, [(3, 3, 4, 2)], None),
    ("locally_connected", {"filters": 5, "kernel": 3}, [(2, 7, 6)], None),
    ("locally_connected", {"filters": 3, "kernel": [2, 3], "stride": 2, "padding": 1, "bias": False}, [(2, 7, 5)], None),
    ("locally_connected", {"filters": 3, "kernel": 3, "padding": "same"}, [(2, 9)], None),
    ("maxpool", {"kernel": 2}, [(3, 8, 8)], None),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}, [(3, 8, 9)], None),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": "same"}, [(2, 8, 8)], None),
    ("maxpool", {"kernel": 2, "stride": 1}, [(2, 7)], None),
    ("maxpool", {"kernel": 2}, [(2, N, N)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": 1}, [(3, 8, 9)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": True}, [(3, 8, 9)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "ceil_mode": True}, [(3, 8, 9)], None),
    ("avgpool", {"kernel": 2, "stride": 2, "padding": "same"}, [(2, 7, 7)], None),
    ("avgpool", {"kernel": [2, 2, 2]}, [(2, 4, 4, 6)], None),
    ("globalavgpool", {}, [(3, 5, 6)], None),
    ("globalavgpool", {}, [(3, N)], None),
    ("globalmaxpool", {}, [(3, 5, 6)], None),
    ("globalmaxpool", {}, [(2, 3, 4, 5)], None),
    ("batchnorm", {}, [(3, 5, 5)], None),
    ("batchnorm", {"eps": 1e-3}, [(4,)], SEQ),
    ("layernorm", {}, [(3, 5, 6)], None),
    ("layernorm", {"axes": [1, 2], "eps": 1e-3}, [(5, 6)], SEQ),
    ("lrn", {}, [(7, 4, 4)], None),
    ("lrn", {"size": 4, "alpha": 1e-2, "beta": 0.5, "bias": 2.0}, [(6, 3, 3)], None),
    ("lrn", {"size": 2, "alpha": 0.1}, [(5, 6)], None),
    ("dropout", {"rate": 0.3}, [(3, 5, 5)], None),
    ("relu", {}, [(3, 5, 5)], None),
    ("leaky_relu", {"alpha": 0.2}, [(3, 5, 5)], None),
    ("elu", {"alpha": 0.7}, [(6,)], None),
    ("sigmoid", {}, [(3, 5, 5)], None),
    ("tanh", {}, [(3, 5)], None),
    ("gelu", {}, [(3, 5, 5)], None),
    ("gelu", {"approximate": "tanh"}, [(3, 5, 5)], None),
    ("softmax", {}, [(4, 3, 5)], None),
    ("softmax", {"axis": -1}, [(4, 3, 5)], None),
    ("softmax", {}, [(6, 5)], SEQ),
    ("add", {}, [(3, 4, 4), (3, 4, 4)], None),
    ("add", {}, [(3, 4, 4), (3, 4, 4), (3, 4, 4)], None),
    ("multiply", {}, [(3, 4, 4), (3, 4, 4)], None),
    ("multiply", {}, [(5,), (5,), (5,)], None),
    ("concat", {}, [(3, 4, 4), (2, 4, 4)], None),
    ("concat", {"axis": 2}, [(3, 4, 4), (3, 2, 4), (3, 1, 4)], None),
    ("flatten", {}, [(3, 4, 5)], None),
    ("flatten", {}, [(3, 4)], SEQ),
    ("reshape", {"shape": [4, -1]}, [(3, 4, 4)], None),
    ("reshape", {"shape": [2, 6, 4], "layout": "channels_first"}, [(48,)], None),
    ("transpose", {"perm": [0, 2, 3, 1]}, [(3, 4, 5)], None),
    ("transpose", {"perm": [0, 2, 1], "layout": "channels_first"}, [(6, 3)], SEQ),
    ("pad", {"pads": 1}, [(3, 4, 5)], None),
    ("pad", {"pads": [[1, 2], [0, 3]], "value": -1.5}, [(3, 4, 5)], None),
    ("pad", {"pads": 2, "mode": "reflect"}, [(2, 5, 5)], None),
    ("pad", {"pads": [[2, 1]], "mode": "replicate"}, [(2, 6)], None),
    ("crop", {"crop": 1}, [(3, 6, 6)], None),
    ("crop", {"crop": [[1, 0], [0, 2]]}, [(3, 6, 7)], None),
    ("crop", {"crop": [[2, 1]]}, [(3, N)], None),
    ("upsample", {}, [(3, 4, 5)], None),
    ("upsample", {"scale": [2, 3]}, [(3, 4, 5)], None),
    ("upsample", {"scale": 3}, [(3, 4)], None),
    ("upsample", {"mode": "bilinear"}, [(3, 4, 5)], None),
    ("upsample", {"mode": "bilinear", "align_corners": True, "scale": [2, 3]}, [(3, 4, 5)], None),
    ("upsample", {}, [(2, N, N)], None),
    ("zero_upsample", {}, [(3, 4, 5)], None),
    ("zero_upsample", {"scale": [2, 3]}, [(2, 3, 3)], None),
    ("zero_upsample", {"scale": 3}, [(2, N)], None),
    ("dense", {"units": 5}, [(7,)], None),
    ("dense", {"units": 5, "bias": False}, [(7,)], None),
    ("dense", {"units": 5}, [(4, 7)], SEQ),
    ("dense", {"units": 3, "bias": False}, [(2, 3, 7)], SEQ),
    ("embedding", {"vocab": 11, "dim": 4}, [(6,)], "int64"),
    ("embedding", {"vocab": 5, "dim": 3}, [(N,)], "int64"),
    ("lstm", {"units": 5}, [(6, 3)], SEQ),
    ("lstm", {"units": 4, "peephole": True, "return_sequences": False}, [(6, 3)], SEQ),
    ("lstm", {"units": 4, "peephole": True}, [(N, 3)], SEQ),
    ("gru", {"units": 5}, [(6, 3)], SEQ),
    ("gru", {"units": 4, "linear_before_reset": False, "return_sequences": False}, [(6, 3)], SEQ),
    ("rnn", {"units": 5}, [(6, 3)], SEQ),
    ("rnn", {"units": 4, "activation": "relu", "return_sequences": False}, [(N, 3)], SEQ),
    # low-level ops (netspec/ops/lowlevel.py)
    ("binary", {"fn": "sub"}, [(3, 4, 4), (3, 1, 4)], None),
    ("binary", {"fn": "div"}, [(3, 4), (1, 4)], None),
    ("binary", {"fn": "max"}, [(2, N), (2, N)], SEQ),
    ("unary", {"fn": "exp"}, [(3, 4)], None),
    ("unary", {"fn": "erf"}, [(6,)], None),
    ("clip", {"min": -0.5, "max": 0.5}, [(3, 4, 4)], None),
    ("clip", {"max": 0.1}, [(6,)], None),
    ("cast", {"dtype": "int64"}, [(3, 4)], None),
    ("matmul", {}, [(3, 4), (4, 5)], SEQ),
    ("slice", {"starts": [1, -3], "ends": [2 ** 31 - 1, -1], "axes": [1, 3], "steps": [2, 1]}, [(5, 4, 6)], None),
    ("gather", {"axis": 1, "indices": -1}, [(5, 4)], SEQ),
    ("gather", {"axis": 1, "indices": [2, 0]}, [(3, 4, 4)], None),
    ("reduce", {"fn": "mean", "axes": [1], "keepdims": True}, [(3, 4, 4)], None),
    ("reduce", {"fn": "min", "axes": [2, 3], "keepdims": False}, [(3, 4, 5)], None),
    ("reduce", {"fn": "sum", "axes": [-1]}, [(4, 6)], SEQ),
    ("where", {}, [(3, 4), (3, 4), (3, 4)], "where"),
    ("constant", {"shape": [1, 3, 4]}, [], None),
]


def make_graph(op, attrs, shapes, marker, seed=0):
    if marker == "where":  # a bool condition, then two float tensors
        from netspec.graph.ir import Graph
        from netspec.graph.passes import infer_shapes
        from netspec.ops.types import TensorType

        graph = Graph("single_where")
        for i, (name, dtype) in enumerate((("c", "bool"), ("x", "float32"), ("y", "float32"))):
            graph.add_input(name, TensorType((None, *shapes[i]), dtype))
        graph.add_node("out", "where", {}, ["c", "x", "y"])
        graph.outputs = ["out"]
        return infer_shapes(graph)
    if marker == "int64":
        return single_op_graph(op, attrs, shapes, seed=seed, dtype="int64")
    return single_op_graph(op, attrs, shapes, seed=seed, layout=marker)


def case_id(case):
    op, attrs, shapes, _ = case
    text = ",".join(f"{k}={v}" for k, v in attrs.items())
    return f"{op}[{text}]{shapes}".replace(" ", "")


def test_every_op_has_a_case_and_a_reference():
    assert set(OPS) <= {c[0] for c in CASES}
    assert set(OPS) <= set(REF)


@pytest.fixture(scope="module")
def graphs():
    """Graphs and references computed once, shared by the opsets."""
    out = {}
    for i, (op, attrs, shapes, marker) in enumerate(CASES):
        graph = make_graph(op, attrs, shapes, marker, seed=i)
        inputs = random_inputs(graph, batch=2, seed=i)
        node = graph.node("out")
        out[i] = (graph, inputs, reference(node, [inputs[n] for n in graph.inputs]))
    return out


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("index", range(len(CASES)), ids=[case_id(c) for c in CASES])
def test_op_matches_reference(graphs, index, opset):
    op = CASES[index][0]
    graph, inputs, expected = graphs[index]
    if op == "layernorm" and opset < 17:  # LayerNormalization exists from opset 17
        with pytest.raises(NetspecError, match=r"node 'out': op 'layernorm' \(LayerNormalization\) needs ONNX opset >= 17"):
            BACKEND.build(graph, opset=opset)
        return
    model = BACKEND.build(graph, opset=opset)
    check(model.proto)
    assert shape_mismatches(model.proto, graph) == []
    got = BACKEND.run(model, inputs)["out"]
    assert got.shape == expected.shape
    atol, rtol = TOL.get(op, DEFAULT_TOL)
    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)
