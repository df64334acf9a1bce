"""Shape inference of every op, static and dynamic, against hand-computed shapes."""
import pytest

from netspec.ops import OPS
from netspec.testing import single_op_graph

N = None  # the batch axis, and any dynamic size

# (op, attrs, input shapes without batch, layout, expected output shape without batch)
CASES = [
    ("conv", {"filters": 8, "kernel": 3}, [(3, 10, 12)], None, (8, 8, 10)),
    ("conv", {"filters": 8, "kernel": 3, "padding": "same", "stride": 2}, [(3, 11, 12)], None, (8, 6, 6)),
    ("conv", {"filters": 4, "kernel": [3, 5], "padding": [1, 2], "dilation": 2}, [(2, 9, 9)], None, (4, 7, 5)),
    ("conv", {"filters": 6, "kernel": 3, "groups": 3, "padding": 1}, [(3, 5, 5)], None, (6, 5, 5)),
    ("conv", {"filters": 4, "kernel": 3}, [(2, 9)], None, (4, 7)),
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(2, 5, 6, 7)], None, (4, 5, 6, 7)),
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(2, N, N)], None, (4, N, N)),
    ("conv", {"filters": 4, "kernel": 3, "stride": 2}, [(2, N, 9)], None, (4, N, 4)),
    ("conv", {"filters": 4, "kernel": 2, "padding": "causal", "dilation": 4}, [(2, 10)], None, (4, 10)),
    ("temporal_conv", {"filters": 4, "kernel": 3, "dilation": 2}, [(2, N)], None, (4, N)),
    ("conv_transpose", {"filters": 4, "kernel": 4, "stride": 2, "padding": 1}, [(3, 5, 6)], None, (4, 10, 12)),
    ("conv_transpose", {"filters": 4, "kernel": 3, "stride": 2, "output_padding": 1, "padding": 1},
     [(3, 5)], None, (4, 10)),
    ("conv_transpose", {"filters": 4, "kernel": 2, "stride": 2}, [(3, N, 4)], None, (4, N, 8)),
    ("locally_connected", {"filters": 5, "kernel": 3}, [(2, 7, 8)], None, (5, 5, 6)),
    ("locally_connected", {"filters": 5, "kernel": 2, "stride": 2}, [(2, 8)], None, (5, 4)),
    ("maxpool", {"kernel": 2}, [(3, 9, 8)], None, (3, 4, 4)),
    ("maxpool", {"kernel": 3, "stride": 2, "ceil_mode": True}, [(3, 56, 56)], None, (3, 28, 28)),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1}, [(3, 112, 112)], None, (3, 56, 56)),
    ("avgpool", {"kernel": 2, "stride": 1}, [(3, N, 5)], None, (3, N, 4)),
    ("globalavgpool", {}, [(7, 5, 6)], None, (7, 1, 1)),
    ("globalmaxpool", {}, [(7, N)], None, (7, 1)),
    ("batchnorm", {}, [(4, N, N)], None, (4, N, N)),
    ("layernorm", {}, [(6, 10)], "plain", (6, 10)),
    ("lrn", {"size": 3}, [(6, 4, 4)], None, (6, 4, 4)),
    ("dropout", {"rate": 0.3}, [(6,)], None, (6,)),
    ("softmax", {}, [(10,)], None, (10,)),
    ("gelu", {}, [(3, 4, 4)], None, (3, 4, 4)),
    ("add", {}, [(3, 4, 4), (3, 4, 4)], None, (3, 4, 4)),
    ("add", {}, [(3, N, 4), (3, 5, 4)], None, (3, 5, 4)),
    ("multiply", {}, [(3,), (3,), (3,)], None, (3,)),
    ("concat", {}, [(3, 4, 4), (5, 4, 4)], None, (8, 4, 4)),
    ("concat", {"axis": 2}, [(3, N, 4), (3, 5, 4)], None, (3, N, 4)),
    ("flatten", {}, [(3, 4, 5)], None, (60,)),
    ("flatten", {}, [(3, N, 5)], None, (N,)),
    ("reshape", {"shape": [4, -1]}, [(3, 4, 2)], None, (4, 6)),
    ("transpose", {"perm": [0, 2, 1]}, [(3, 7)], None, (7, 3)),
    ("pad", {"pads": [[1, 2], 3]}, [(3, 4, 4)], None, (3, 7, 10)),
    ("crop", {"crop": [1, [0, 2]]}, [(3, 6, 6)], None, (3, 4, 4)),
    ("upsample", {"scale": 2}, [(3, 4, N)], None, (3, 8, N)),
    ("upsample", {"scale": [2, 3], "mode": "bilinear"}, [(3, 4, 5)], None, (3, 8, 15)),
    ("zero_upsample", {"scale": 2}, [(3, 4, 5)], None, (3, 8, 10)),
    ("dense", {"units": 10}, [(20,)], None, (10,)),
    ("dense", {"units": 10}, [(N, 20)], "plain", (N, 10)),
    ("lstm", {"units": 5}, [(N, 3)], "plain", (N, 5)),
    ("lstm", {"units": 5, "return_sequences": False, "peephole": True}, [(7, 3)], "plain", (5,)),
    ("gru", {"units": 4}, [(6, 3)], "plain", (6, 4)),
    ("rnn", {"units": 4, "return_sequences": False}, [(6, 3)], "plain", (4,)),
    # low-level ops (netspec/ops/lowlevel.py)
    ("binary", {"fn": "sub"}, [(3, 4, 4), (3, 1, 4)], None, (3, 4, 4)),
    ("binary", {"fn": "mul"}, [(N, 4), (1, 4)], "plain", (N, 4)),
    ("unary", {"fn": "sqrt"}, [(3, 4)], None, (3, 4)),
    ("clip", {"min": 0.0, "max": 6.0}, [(3, N)], None, (3, N)),
    ("cast", {"dtype": "int64"}, [(3,)], None, (3,)),
    ("matmul", {}, [(3, 4), (4, 5)], "plain", (3, 5)),
    ("slice", {"starts": [1], "ends": [-1], "axes": [2], "steps": [2]}, [(3, 8, 8)], None, (3, 3, 8)),
    ("slice", {"starts": [0], "ends": [2], "axes": [1]}, [(N, 4)], "plain", (N, 4)),
    ("gather", {"axis": 1, "indices": -1}, [(5, 4)], "plain", (4,)),
    ("gather", {"axis": 2, "indices": [0, 2]}, [(3, 4, 4)], None, (3, 2, 4)),
    ("reduce", {"fn": "mean", "axes": [2, 3]}, [(3, 4, 5)], None, (3, 1, 1)),
    ("reduce", {"fn": "max", "axes": [-1], "keepdims": False}, [(3, 4, 5)], None, (3, 4)),
]


@pytest.mark.parametrize("op,attrs,shapes,layout,expected", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_output_shape(op, attrs, shapes, layout, expected):
    graph = single_op_graph(op, attrs, shapes, layout=layout)
    assert graph.node("out").type.shape == (None, *expected)


def test_embedding_takes_ids_and_keeps_dynamic_length():
    graph = single_op_graph("embedding", {"vocab": 50, "dim": 8}, [(None,)], dtype="int64")
    out = graph.node("out").type
    assert out.shape == (None, None, 8) and out.dtype == "float32"


def test_every_op_has_a_shape_case():
    covered = {c[0] for c in CASES} | {"embedding", "relu", "leaky_relu", "elu", "sigmoid", "tanh",
                                       "constant", "where"}
    assert covered == set(OPS), f"ops without a shape test: {sorted(set(OPS) - covered)}"


@pytest.mark.parametrize("op", ["relu", "leaky_relu", "elu", "sigmoid", "tanh"])
def test_activations_keep_type(op):
    graph = single_op_graph(op, {}, [(3, None, 4)])
    assert graph.node("out").type == graph.node("x0").type


PARAM_CASES = [
    ("conv", {"filters": 8, "kernel": 3, "groups": 2}, [(4, 6, 6)], {"weight": (8, 2, 3, 3), "bias": (8,)}),
    ("conv", {"filters": 8, "kernel": [1, 3], "bias": False}, [(4, 6, 6)], {"weight": (8, 4, 1, 3)}),
    ("conv_transpose", {"filters": 6, "kernel": 2, "groups": 2}, [(4, 3, 3)], {"weight": (4, 3, 2, 2), "bias": (6,)}),
    ("locally_connected", {"filters": 5, "kernel": 3}, [(2, 6, 7)],
     {"weight": (4, 5, 5, 2, 3, 3), "bias": (5, 4, 5)}),
    ("dense", {"units": 3}, [(7,)], {"weight": (3, 7), "bias": (3,)}),
    ("batchnorm", {}, [(4, 2, 2)], {"weight": (4,), "bias": (4,), "running_mean": (4,), "running_var": (4,)}),
    ("layernorm", {"axes": [1, 2]}, [(3, 5)], {"weight": (3, 5), "bias": (3, 5)}),
    ("lstm", {"units": 5, "peephole": True}, [(None, 3)],
     {"weight_ih": (20, 3), "weight_hh": (20, 5), "bias_ih": (20,), "bias_hh": (20,), "peephole": (3, 5)}),
    ("gru", {"units": 5}, [(None, 3)], {"weight_ih": (15, 3), "weight_hh": (15, 5), "bias_ih": (15,), "bias_hh": (15,)}),
    ("rnn", {"units": 5}, [(None, 3)], {"weight_ih": (5, 3), "weight_hh": (5, 5), "bias_ih": (5,), "bias_hh": (5,)}),
]


@pytest.mark.parametrize("op,attrs,shapes,expected", PARAM_CASES, ids=[c[0] for c in PARAM_CASES])
def test_parameter_shapes_are_canonical(op, attrs, shapes, expected):
    layout = "plain" if op in ("lstm", "gru", "rnn", "layernorm") else None
    node = single_op_graph(op, attrs, shapes, layout=layout).node("out")
    assert {k: v.shape for k, v in node.params.items()} == expected
    assert {s.name: s.shape for s in node.param_specs} == expected


def test_batchnorm_running_stats_are_state_not_parameters():
    node = single_op_graph("batchnorm", {}, [(4, 2, 2)]).node("out")
    assert node.param_count == 8 and node.state_count == 8


def test_constant_and_where_shapes():
    """``constant`` has no inputs and ``where`` a bool condition: built by hand."""
    from netspec.graph.ir import Graph
    from netspec.graph.passes import infer_shapes
    from netspec.ops.types import TensorType

    graph = Graph("g")
    graph.add_input("c", TensorType((None, 3, 4), "bool"))
    graph.add_input("x", TensorType((None, 3, 4)))
    graph.add_node("k", "constant", OPS["constant"].check_attrs({"shape": [1, 1, 4]})[0], [])
    graph.add_node("out", "where", {}, ["c", "x", "k"])
    infer_shapes(graph)
    assert graph.node("k").type.shape == (1, 1, 4)
    assert graph.node("out").type.shape == (None, 3, 4)
