"""The graph wrapper, lint, weight initialisation and totals."""
import numpy as np
import pytest

from netspec.errors import NetspecError
from netspec.graph.init import init_weights
from netspec.graph.ir import Graph
from netspec.graph.lint import lint
from netspec.graph.passes import infer_shapes
from netspec.ops.types import TensorType
from netspec.spec import load_spec
from netspec.testing import single_op_graph

SPEC = """netspec: 1
inputs: {image: [3, 16, 16]}
layers:
  - conv: {filters: 4, kernel: 3, name: c1}
  - batchnorm
  - relu
  - flatten
  - dense: {units: 5, name: head}
"""


def small_graph():
    graph = Graph("g")
    graph.add_input("x", TensorType((None, 3, 8, 8), layout="channels_first"))
    return graph


def test_same_seed_gives_bit_identical_weights():
    a = load_spec("a.yaml", text=SPEC, seed=7).weights()
    b = load_spec("a.yaml", text=SPEC, seed=7).weights()
    c = load_spec("a.yaml", text=SPEC, seed=8).weights()
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["c1.weight"], c["c1.weight"])
    assert all(v.dtype == np.float32 for v in a.values())


def test_weights_do_not_depend_on_other_layers():
    other = SPEC.replace("  - relu\n", "  - relu\n  - dropout: 0.1\n")
    a = load_spec("a.yaml", text=SPEC, seed=1).weights()
    b = load_spec("b.yaml", text=other, seed=1).weights()
    assert np.array_equal(a["head.weight"], b["head.weight"])


def test_initialisers_follow_their_fan():
    graph = load_spec("a.yaml", text=SPEC, seed=0)
    w = graph.node("c1").params["weight"]
    bound = np.sqrt(6.0 / (3 * 9))  # he_uniform on fan_in = 3 * 3 * 3
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.all(graph.node("batchnorm").params["running_var"] == 1)
    assert np.all(graph.node("head").params["bias"] == 0)


def test_totals():
    graph = load_spec("a.yaml", text=SPEC, seed=None)
    conv = 4 * 3 * 9 + 4
    dense = 5 * 4 * 14 * 14 + 5
    assert graph.param_count == conv + 8 + dense
    assert graph.state_count == 8
    assert graph.node("c1").macs == 4 * 14 * 14 * 3 * 9
    assert graph.node("head").macs == 5 * 4 * 14 * 14


def test_set_weights_checks_names_and_shapes():
    graph = load_spec("a.yaml", text=SPEC, seed=0)
    weights = graph.weights()
    weights["c1.weight"] = np.zeros((1, 1), np.float32)
    with pytest.raises(NetspecError, match="'c1.weight' has shape"):
        graph.set_weights(weights)
    with pytest.raises(NetspecError, match="missing"):
        graph.set_weights({})


def test_lint_reports_every_structural_problem():
    graph = small_graph()
    graph.add_node("a", "relu", {}, ["nowhere"])
    graph.add_node("b", "add", {}, ["x"])
    graph.add_node("bad name", "relu", {}, ["x"])
    graph.add_node("c", "frobnicate", {}, ["x"])
    graph.outputs = ["zzz"]
    with pytest.raises(NetspecError) as info:
        lint(graph)
    text = str(info.value)
    assert "'a' takes input from 'nowhere', which does not exist" in text
    assert "add 'b' takes 2 or more input(s), received 1" in text
    assert "node name 'bad name'" in text
    assert "unknown op 'frobnicate'" in text
    assert "output 'zzz' names no node" in text


def test_lint_names_the_cycle():
    graph = small_graph()
    graph.add_node("a", "add", {}, ["x", "b"])
    graph.add_node("b", "relu", {}, ["a"])
    graph.outputs = ["b"]
    with pytest.raises(NetspecError, match="cycle: (a -> b -> a|b -> a -> b)"):
        lint(graph)


def test_shape_errors_are_all_reported_and_not_repeated_downstream():
    graph = small_graph()
    graph.add_node("big", "conv", {"filters": 2, "kernel": 9, "stride": 1, "padding": 0, "dilation": 1,
                                  "groups": 1, "bias": True, "init": "he_uniform"}, ["x"])
    graph.add_node("after", "relu", {}, ["big"])
    graph.add_node("dense", "dense", {"units": 2, "bias": True, "init": "glorot_uniform"}, ["x"])
    graph.outputs = ["after", "dense"]
    with pytest.raises(NetspecError) as info:
        infer_shapes(graph)
    errors = info.value.errors
    assert len(errors) == 2 and "big" in str(errors[0]) and "dense" in str(errors[1])


def test_copy_is_independent_in_structure():
    graph = single_op_graph("relu")
    other = graph.copy()
    other.node("out").attrs["x"] = 1
    assert "x" not in graph.node("out").attrs
    assert other.outputs == graph.outputs and other.inputs == graph.inputs


def test_init_keeps_loaded_weights_unless_told():
    graph = single_op_graph("dense", {"units": 2}, [(3,)])
    graph.node("out").params["weight"] = np.ones((2, 3), np.float32)
    init_weights(graph, 5)
    assert np.all(graph.node("out").params["weight"] == 1)
    init_weights(graph, 5, overwrite=True)
    assert not np.all(graph.node("out").params["weight"] == 1)
