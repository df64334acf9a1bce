"""Every op netspec's ONNX backend emits imports back as the same op with the same
attributes and bit-identical weights, and runs in torch as onnxruntime runs the emitted
model (tolerance as in test_onnx_import_ops.py: 1e-5 + 1e-4 relative, 1e-4 for recurrent
layers, which compound round-off over their steps)."""
from __future__ import annotations

import numpy as np
import pytest

from netspec.backends import get_backend
from netspec.backends.onnx import newest_opset
from netspec.converters.onnx import import_onnx
from netspec.ops import OPS
from netspec.testing import random_inputs, single_op_graph

N = None
SEQ = "plain"

# (op, attrs, input shapes without batch, layout or dtype marker)
CASES = [
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(3, 8, 9)], None),
    ("conv", {"filters": 6, "kernel": [3, 2], "padding": [[1, 2], [0, 1]], "dilation": [2, 1], "groups": 2}, [(2, 9, 9)], None),
    ("conv", {"filters": 4, "kernel": 3, "padding": 1, "bias": False}, [(2, N, N)], None),
    ("temporal_conv", {"filters": 4, "kernel": 3, "dilation": 2}, [(3, N)], None),
    ("conv_transpose", {"filters": 4, "kernel": 4, "stride": 2, "padding": 1}, [(3, 5, 6)], None),
    ("conv_transpose", {"filters": 4, "kernel": 3, "stride": 2, "output_padding": 1, "groups": 2}, [(4, 7)], None),
    ("locally_connected", {"filters": 5, "kernel": 3}, [(2, 7, 6)], None),
    ("locally_connected", {"filters": 3, "kernel": [2, 3], "stride": 2, "padding": 1, "bias": False}, [(2, 7, 5)], None),
    ("locally_connected", {"filters": 3, "kernel": 3, "padding": "same"}, [(2, 9)], None),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}, [(3, 8, 9)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": True}, [(3, 8, 9)], None),
    ("globalavgpool", {}, [(3, 5, 6)], None),
    ("globalmaxpool", {}, [(3, N)], None),
    ("batchnorm", {"eps": 1e-3}, [(3, 4, 4)], None),
    ("layernorm", {}, [(5, 6)], SEQ),
    ("lrn", {"size": 3}, [(6, 4, 4)], None),
    ("lrn", {"size": 4, "alpha": 0.01, "beta": 0.5, "bias": 2.0}, [(6, 4, 4)], None),  # a composition
    ("relu", {}, [(3, 4)], None),
    ("leaky_relu", {"alpha": 0.2}, [(3, 4)], None),
    ("elu", {"alpha": 0.5}, [(3, 4)], None),
    ("sigmoid", {}, [(3, 4)], None),
    ("tanh", {}, [(3, 4)], None),
    ("gelu", {}, [(3, 4)], None),
    ("gelu", {"approximate": "tanh"}, [(3, 4)], None),
    ("softmax", {}, [(3, 4, 4)], None),
    ("add", {}, [(3, 4, 4), (3, 4, 4), (3, 4, 4)], None),
    ("multiply", {}, [(3, 4), (3, 4)], None),
    ("concat", {}, [(3, 4, 4), (2, 4, 4)], None),
    ("flatten", {}, [(3, 4, 4)], None),
    ("reshape", {"shape": [4, -1]}, [(3, 4, 4)], None),
    ("transpose", {"perm": [0, 2, 1]}, [(3, 4)], SEQ),
    ("pad", {"pads": [[1, 2], [0, 1]], "mode": "reflect"}, [(3, 4, 5)], None),
    ("pad", {"pads": 1, "value": 0.5}, [(3, 4, 5)], None),
    ("crop", {"crop": [[1, 0], [2, 1]]}, [(3, 6, 7)], None),
    ("upsample", {"scale": [2, 3]}, [(3, 4, 5)], None),
    ("upsample", {"mode": "bilinear", "align_corners": True}, [(3, 4, 5)], None),
    ("zero_upsample", {"scale": [2, 3]}, [(2, 3, 3)], None),
    ("dense", {"units": 5}, [(7,)], None),
    ("dense", {"units": 3, "bias": False}, [(4, 7)], SEQ),
    ("dense", {"units": 3}, [(4, 7)], SEQ),
    ("embedding", {"vocab": 11, "dim": 4}, [(N,)], "int64"),
    ("lstm", {"units": 5}, [(6, 3)], SEQ),
    ("lstm", {"units": 4, "peephole": True, "return_sequences": False}, [(N, 3)], SEQ),
    ("gru", {"units": 5}, [(6, 3)], SEQ),
    ("gru", {"units": 4, "linear_before_reset": False, "return_sequences": False}, [(6, 3)], SEQ),
    ("rnn", {"units": 4, "activation": "relu"}, [(N, 3)], SEQ),
    ("dropout", {"rate": 0.3}, [(3, 4)], None),
    # low-level ops
    ("binary", {"fn": "div"}, [(3, 4), (1, 4)], None),
    ("unary", {"fn": "exp"}, [(3, 4)], None),
    ("clip", {"min": 0.0, "max": 0.5}, [(3, 4)], None),
    ("cast", {"dtype": "int64"}, [(3, 4)], None),
    ("matmul", {}, [(3, 4), (4, 5)], SEQ),
    ("slice", {"starts": [1], "ends": [-1], "axes": [2], "steps": [2]}, [(3, 8, 8)], None),
    ("gather", {"axis": 1, "indices": [2, 0]}, [(3, 4, 4)], None),
    ("reduce", {"fn": "max", "axes": [3], "keepdims": False}, [(3, 4, 5)], None),
]
# ops whose import is another op of the same meaning: dropout is the identity at inference;
# constant and where need graphs of their own (test_onnx_import_lowlevel.py)
NOT_HERE = {"dropout", "constant", "where"}


def make_graph(op, attrs, shapes, marker, seed):
    if marker == "int64":
        return single_op_graph(op, attrs, shapes, seed=seed, dtype="int64")
    return single_op_graph(op, attrs, shapes, seed=seed, layout=marker)


def test_every_op_has_a_case():
    assert set(OPS) - NOT_HERE <= {c[0] for c in CASES}


# LayerNormalization exists from opset 17: the backend refuses it below (tested there)
ROUND_TRIPS = [(index, opset) for opset in sorted({13, 17, newest_opset()}) for index, case in enumerate(CASES)
               if not (case[0] == "layernorm" and opset < 17)]


@pytest.mark.parametrize("index, opset", ROUND_TRIPS, ids=[f"{CASES[i][0]}{i}-{o}" for i, o in ROUND_TRIPS])
def test_backend_op_round_trips(index, opset):
    op, attrs, shapes, marker = CASES[index]
    graph = make_graph(op, attrs, shapes, marker, seed=index)
    model = get_backend("onnx").build(graph, opset=opset)
    imported = import_onnx(model.proto)
    if op == "dropout":
        assert list(imported.layers()) == []
        return
    (node,) = imported.layers()
    original = graph.node("out")
    assert (node.name, node.op, node.attrs) == ("out", op, original.attrs)
    assert set(node.params) == set(original.params)
    for key, array in node.params.items():
        assert np.array_equal(array, original.params[key]), key
    inputs = random_inputs(graph, batch=2, seed=index)
    ref = get_backend("onnx").run(model, inputs)["out"]
    torch_backend = get_backend("torch")
    got = torch_backend.run(torch_backend.build(imported), inputs, imported)["out"]
    tol = 1e-4 if op in ("lstm", "gru", "rnn") else 1e-5
    np.testing.assert_allclose(got, ref, atol=tol, rtol=1e-4)
