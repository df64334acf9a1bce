"""The low-level ops the importer maps onto (netspec/ops/lowlevel.py) agree in every
backend, and an exported-style model that needs them imports and runs in all three.

Tolerance: 1e-5 absolute + 1e-5 relative; these ops are single float32 operations (no
long sums), so the backends differ by an ulp or so (erf, pow and exp are libm-dependent).
"""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from netspec.backends import get_backend
from netspec.converters.onnx import import_onnx
from netspec.graph.ir import Graph
from netspec.graph.lint import lint
from netspec.graph.passes import infer_shapes
from netspec.ops import OPS
from netspec.ops.types import TensorType
from netspec.testing import random_inputs, single_op_graph

LOWLEVEL = sorted(name for name, op in OPS.items() if op.family == "lowlevel")

# (op, attrs, input shapes without batch, layout, dtype)
CASES = [
    ("binary", {"fn": "sub"}, [(3, 4, 4), (3, 1, 4)], None, "float32"),
    ("binary", {"fn": "pow"}, [(3, 4), (3, 4)], None, "float32"),
    ("binary", {"fn": "max"}, [(3, 4), (1, 4)], None, "float32"),
    ("unary", {"fn": "erf"}, [(5,)], None, "float32"),
    ("unary", {"fn": "neg"}, [(3, 4, 4)], None, "float32"),
    ("clip", {"min": -0.5, "max": 0.5}, [(3, 4, 4)], None, "float32"),
    ("clip", {"max": 0.1}, [(6,)], None, "float32"),
    ("cast", {"dtype": "int64"}, [(3, 4)], None, "float32"),
    ("matmul", {}, [(3, 4), (4, 5)], "plain", "float32"),
    ("slice", {"starts": [1, -3], "ends": [2 ** 31 - 1, -1], "axes": [1, 3], "steps": [2, 1]}, [(5, 4, 6)], None, "float32"),
    ("slice", {"starts": [0], "ends": [2], "axes": [2]}, [(3, None)], "plain", "float32"),
    ("gather", {"axis": 1, "indices": -1}, [(5, 4)], "plain", "float32"),
    ("gather", {"axis": 1, "indices": [2, 0]}, [(3, 4, 4)], None, "float32"),
    ("reduce", {"fn": "mean", "axes": [1], "keepdims": True}, [(3, 4, 4)], None, "float32"),
    ("reduce", {"fn": "min", "axes": [2, 3], "keepdims": False}, [(3, 4, 5)], None, "float32"),
    ("reduce", {"fn": "sum", "axes": [-1]}, [(4, 6)], "plain", "float32"),
]


def where_graph():
    g = Graph("where")
    g.add_input("c", TensorType((None, 3, 4), "bool"))
    g.add_input("x", TensorType((None, 3, 4)))
    g.add_input("y", TensorType((None, 3, 4)))
    g.add_node("out", "where", {}, ["c", "x", "y"])
    g.outputs = ["out"]
    return infer_shapes(lint(g))


def constant_graph(layout):
    g = Graph("constant")
    g.add_input("x", TensorType((None, 3, 4, 5), layout=layout))
    g.add_node("k", "constant", OPS["constant"].check_attrs({"shape": [1, 3, 1, 5], "layout": layout})[0], [])
    g.add_node("out", "binary", {"fn": "div"}, ["x", "k"])
    g.outputs = ["out"]
    infer_shapes(lint(g))
    g.node("k").params["value"] = np.arange(1, 16, dtype=np.float32).reshape(1, 3, 1, 5)
    return g


def graphs():
    out = [single_op_graph(op, attrs, shapes, seed=i, layout=layout, dtype=dtype)
           for i, (op, attrs, shapes, layout, dtype) in enumerate(CASES)]
    return out + [where_graph(), constant_graph("channels_first"), constant_graph("plain")]


def feeds(graph):
    x = random_inputs(graph, seed=3)
    if "c" in x:
        x["c"] = np.random.default_rng(4).random(x["c"].shape) > 0.5
    if graph.name == "single_binary" and graph.node("out").attrs["fn"] == "pow":
        x["x0"] = np.abs(x["x0"]) + 0.1
    return x


def test_every_lowlevel_op_has_a_case():
    assert set(LOWLEVEL) == {g.node("out").op for g in graphs()} | {"constant"}


@pytest.mark.parametrize("backend", ["onnx", pytest.param("keras", marks=pytest.mark.slow)])
def test_lowlevel_ops_agree_with_torch(backend):
    torch_backend, other = get_backend("torch"), get_backend(backend)
    for graph in graphs():
        x = feeds(graph)
        want = torch_backend.run(torch_backend.build(graph), x, graph)["out"]
        got = other.run(other.build(graph), x, graph)["out"] if backend == "keras" else \
            other.run(other.build(graph), x)["out"]
        assert got.shape == want.shape, graph.name
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5, err_msg=graph.name)


def normalised_classifier():
    """What exporters write around a small CNN: an input normalisation ``(x - mean) / std``,
    ReLU6 as Clip, a channel slice, a mean over the width, and ``x[:, -1]``."""
    mean = np.asarray([0.4, 0.5, 0.6], np.float32).reshape(3, 1, 1)
    std = np.asarray([0.2, 0.25, 0.3], np.float32).reshape(3, 1, 1)
    w = (np.random.default_rng(0).standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("mean", mean), ("std", std), ("w", w), ("lo", np.float32(0.0)), ("hi", np.float32(6.0)),
        ("s0", np.asarray([2], np.int64)), ("s1", np.asarray([5], np.int64)), ("ax", np.asarray([1], np.int64)),
        ("rax", np.asarray([3], np.int64)), ("last", np.int64(-1))]]
    nodes = [helper.make_node("Sub", ["x", "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "std"], ["normed"]),
             helper.make_node("Conv", ["normed", "w"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["conv", "lo", "hi"], ["relu6"]),
             helper.make_node("Slice", ["relu6", "s0", "s1", "ax"], ["some"]),
             helper.make_node("ReduceMean", ["some", "rax"], ["rows"], keepdims=0),
             helper.make_node("Gather", ["rows", "last"], ["out"], axis=2)]
    graph = helper.make_graph(nodes, "normalised", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 7])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("backend", ["torch", "onnx", pytest.param("keras", marks=pytest.mark.slow)])
def test_exported_style_model_runs_in_every_backend(backend):
    import onnxruntime as ort

    model = normalised_classifier()
    graph = import_onnx(model)
    # constants have no inputs, so the topological order may place them anywhere before use
    assert [n.op for n in graph.layers() if n.op != "constant"] == ["binary", "binary", "conv", "clip",
                                                                    "slice", "reduce", "gather"]
    assert sum(n.op == "constant" for n in graph.layers()) == 2
    x = np.random.default_rng(1).random((2, 3, 6, 7)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    b = get_backend(backend)
    built = b.build(graph)
    got = (b.run(built, {"x": x}, graph) if backend != "onnx" else b.run(built, {"x": x}))[graph.outputs[0]]
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-4)
