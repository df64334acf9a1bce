"""Every op as a one-node Keras model against an independent torch.nn.functional/numpy
computation (keras_reference.py), on the same seeded canonical weights.

Tolerance (float32): |keras - reference| <= 1e-5 + 1e-4 * |reference| element-wise, i.e.
a few ulps of accumulated round-off for the small reductions used here; recurrent layers
(15 steps of compounding round-off) get 1e-4 absolute.
"""
import numpy as np
import pytest

from netspec.backends import get_backend
from netspec.ops import OPS
from netspec.testing import random_inputs, single_op_graph

from keras_reference import REF, reference

# Keras' TensorFlow and torch wrappers trip numpy 2's __array__(copy=) deprecation.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

B = get_backend("keras")
N = None
SEQ = "plain"

# (op, attrs, input shapes without batch, layout or None, dtype)
CASES = [
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(3, 8, 9)], None),
    ("conv", {"filters": 4, "kernel": 3, "padding": "same", "stride": 2}, [(3, 9, 8)], None),
    ("conv", {"filters": 6, "kernel": [3, 2], "padding": [[1, 2], [0, 1]], "dilation": [2, 1]}, [(2, 9, 9)], None),
    ("conv", {"filters": 6, "kernel": 3, "groups": 3, "padding": 1}, [(3, 7, 7)], None),
    ("conv", {"filters": 6, "kernel": 3, "groups": 2, "stride": 2, "bias": False}, [(4, 9, 9)], None),
    ("conv", {"filters": 4, "kernel": 3, "stride": 2, "dilation": 2, "padding": 2}, [(2, 11, 10)], None),
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(2, 12)], None),
    ("conv", {"filters": 4, "kernel": 3, "groups": 2, "padding": 1}, [(2, 12)], None),
    ("conv", {"filters": 3, "kernel": 2, "padding": [1, 0, 1], "stride": [1, 2, 1]}, [(2, 5, 6, 4)], None),
    ("conv", {"filters": 4, "kernel": 3, "padding": 1}, [(2, N, N)], None),
    ("temporal_conv", {"filters": 4, "kernel": 3, "dilation": 2}, [(3, 14)], None),
    ("conv_transpose", {"filters": 4, "kernel": 4, "stride": 2, "padding": 1}, [(3, 5, 6)], None),
    ("conv_transpose", {"filters": 4, "kernel": 2, "stride": 2}, [(3, 5, 6)], None),
    ("conv_transpose", {"filters": 4, "kernel": 3, "stride": 2, "output_padding": 1, "padding": 1}, [(3, 7)], None),
    ("conv_transpose", {"filters": 4, "kernel": 3, "stride": 3, "output_padding": 2}, [(2, 4, 4)], None),
    ("conv_transpose", {"filters": 6, "kernel": 3, "groups": 2, "stride": 2, "padding": 1}, [(4, 5, 5)], None),
    ("conv_transpose", {"filters": 2, "kernel": 3, "dilation": 2, "padding": 1}, [(3, 5, 5)], None),
    ("conv_transpose", {"filters": 2, "kernel": 2, "stride": 2}, [(3, 3, 4, 2)], None),
    ("locally_connected", {"filters": 5, "kernel": 3}, [(2, 7, 6)], None),
    ("locally_connected", {"filters": 3, "kernel": 2, "stride": 2, "padding": 1}, [(2, 7, 5)], None),
    ("locally_connected", {"filters": 3, "kernel": 3, "padding": "same"}, [(2, 9)], None),
    ("dense", {"units": 5}, [(7,)], None),
    ("dense", {"units": 5, "bias": False}, [(4, 7)], SEQ),
    ("embedding", {"vocab": 11, "dim": 4}, [(6,)], "int64"),
    ("relu", {}, [(3, 5, 5)], None),
    ("leaky_relu", {"alpha": 0.2}, [(3, 5, 5)], None),
    ("elu", {"alpha": 0.7}, [(6,)], None),
    ("sigmoid", {}, [(3, 5, 5)], None),
    ("tanh", {}, [(3, 5)], None),
    ("gelu", {}, [(3, 5, 5)], None),
    ("gelu", {"approximate": "tanh"}, [(3, 5, 5)], None),
    ("softmax", {}, [(4, 3, 5)], None),
    ("softmax", {"axis": 3}, [(4, 3, 5)], None),
    ("softmax", {}, [(6, 5)], SEQ),
    ("add", {}, [(3, 4, 4), (3, 4, 4), (3, 4, 4)], None),
    ("multiply", {}, [(3, 4, 4), (3, 4, 4)], None),
    ("concat", {}, [(3, 4, 4), (2, 4, 4)], None),
    ("concat", {"axis": 2}, [(3, 4, 4), (3, 2, 4)], None),
    ("concat", {"axis": 1}, [(5, 3), (2, 3)], SEQ),
    ("batchnorm", {"eps": 1e-3}, [(3, 5, 5)], None),
    ("batchnorm", {}, [(6,)], None),
    ("layernorm", {}, [(5, 6)], SEQ),
    ("layernorm", {"axes": [1, 2, 3]}, [(3, 4, 5)], None),
    ("layernorm", {"axes": [2, 3]}, [(3, 4, 5)], None),
    ("lrn", {"size": 3}, [(7, 4, 4)], None),
    ("lrn", {"size": 4, "alpha": 0.5, "beta": 0.6, "bias": 2.0}, [(7, 4, 4)], None),
    ("dropout", {"rate": 0.3}, [(3, 4, 4)], None),
    ("maxpool", {"kernel": 2}, [(3, 9, 8)], None),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1}, [(3, 12, 11)], None),
    ("maxpool", {"kernel": 3, "stride": 2, "ceil_mode": True}, [(3, 12, 12)], None),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": "same"}, [(3, 10, 9)], None),
    ("maxpool", {"kernel": 2}, [(3, 9)], None),
    ("maxpool", {"kernel": 2}, [(2, 4, 5, 6)], None),
    ("avgpool", {"kernel": 2}, [(3, 8, 8)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": 1}, [(3, 9, 8)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": True}, [(3, 9, 8)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "ceil_mode": True}, [(3, 10, 10)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": True},
     [(3, 10, 10)], None),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": "same"}, [(3, 10, 9)], None),
    ("globalavgpool", {}, [(3, 5, 4)], None),
    ("globalmaxpool", {}, [(3, 7)], None),
    ("flatten", {}, [(3, 4, 5)], None),
    ("flatten", {}, [(4, 5)], SEQ),
    ("reshape", {"shape": [4, -1]}, [(3, 4, 5)], None),
    ("reshape", {"shape": [2, 6, 5], "layout": "channels_first"}, [(3, 4, 5)], None),
    ("transpose", {"perm": [0, 2, 1]}, [(3, 7)], None),
    ("transpose", {"perm": [0, 1, 3, 2], "layout": "channels_first"}, [(3, 4, 5)], None),
    ("transpose", {"perm": [0, 2, 3, 1]}, [(3, 4, 5)], None),
    ("pad", {"pads": [[1, 2], [0, 1]]}, [(3, 4, 5)], None),
    ("pad", {"pads": 1, "value": 0.5}, [(3, 4, 5)], None),
    ("pad", {"pads": [2, 1], "mode": "reflect"}, [(3, 4, 5)], None),
    ("pad", {"pads": [[2, 0], [1, 3]], "mode": "replicate"}, [(3, 4, 5)], None),
    ("pad", {"pads": 2, "mode": "reflect"}, [(3, 6)], None),
    ("crop", {"crop": [[1, 0], [2, 1]]}, [(3, 6, 7)], None),
    ("crop", {"crop": 1}, [(3, 6)], None),
    ("upsample", {"scale": 2}, [(3, 4, 5)], None),
    ("upsample", {"scale": [2, 3]}, [(3, 4, 5)], None),
    ("upsample", {"scale": 2, "mode": "bilinear"}, [(3, 4, 5)], None),
    ("upsample", {"scale": 3, "mode": "bilinear", "align_corners": True}, [(3, 4, 5)], None),
    ("upsample", {"scale": 2}, [(3, 5)], None),
    ("zero_upsample", {"scale": 2}, [(3, 4, 5)], None),
    ("zero_upsample", {"scale": [3, 1]}, [(3, 4, 5)], None),
    ("zero_upsample", {"scale": 2}, [(3, N, N)], None),
    ("lstm", {"units": 6}, [(5, 4)], SEQ),
    ("lstm", {"units": 6, "return_sequences": False}, [(5, 4)], SEQ),
    ("lstm", {"units": 5, "peephole": True}, [(6, 3)], SEQ),
    ("gru", {"units": 6}, [(5, 4)], SEQ),
    ("gru", {"units": 6, "linear_before_reset": False, "return_sequences": False}, [(5, 4)], SEQ),
    ("rnn", {"units": 6}, [(5, 4)], SEQ),
    ("rnn", {"units": 6, "activation": "relu"}, [(5, 4)], SEQ),
    # low-level ops (netspec/ops/lowlevel.py); constant: see test_constant_feeds_a_binary
    ("binary", {"fn": "sub"}, [(3, 4, 4), (3, 1, 4)], None),
    ("binary", {"fn": "div"}, [(3, 4), (1, 4)], None),
    ("unary", {"fn": "erf"}, [(3, 4, 4)], None),
    ("clip", {"min": -0.5, "max": 0.5}, [(3, 4, 4)], None),
    ("cast", {"dtype": "int64"}, [(3, 4)], None),
    ("matmul", {}, [(3, 4), (4, 5)], SEQ),
    ("slice", {"starts": [1, -3], "ends": [2 ** 31 - 1, -1], "axes": [1, 3], "steps": [2, 1]}, [(5, 4, 6)], None),
    ("gather", {"axis": 1, "indices": [2, 0]}, [(3, 4, 4)], None),
    ("gather", {"axis": 1, "indices": -1}, [(5, 4)], SEQ),
    ("reduce", {"fn": "mean", "axes": [1], "keepdims": True}, [(3, 4, 4)], None),
    ("reduce", {"fn": "max", "axes": [2, 3], "keepdims": False}, [(3, 4, 5)], None),
    ("where", {}, [(3, 4, 4), (3, 4, 4), (3, 4, 4)], "where"),
]


def _case_id(case):
    op, attrs, shapes, _ = case
    return f"{op}-{attrs}-{shapes}".replace(" ", "")


def make_graph(op, attrs, shapes, layout):
    if layout == "where":  # a bool condition, then two float maps
        from netspec.graph.ir import Graph
        from netspec.graph.passes import infer_shapes
        from netspec.ops.types import TensorType

        graph = Graph("single_where")
        graph.add_input("c", TensorType((None, *shapes[0]), "bool", "channels_first"))
        graph.add_input("x", TensorType((None, *shapes[1]), "float32", "channels_first"))
        graph.add_input("y", TensorType((None, *shapes[2]), "float32", "channels_first"))
        graph.add_node("out", "where", {}, ["c", "x", "y"])
        graph.outputs = ["out"]
        return infer_shapes(graph)
    if layout == "int64":
        return single_op_graph(op, attrs, shapes, dtype="int64")
    return single_op_graph(op, attrs, shapes, layout=layout)


def assert_matches(actual, expected, recurrent=False):
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    atol = 1e-4 if recurrent else 1e-5
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_op_matches_reference(case):
    op, attrs, shapes, layout = case
    graph = make_graph(op, attrs, shapes, layout)
    inputs = random_inputs(graph, batch=2, seed=1)
    model = B.build(graph)
    out = B.run(model, inputs)["out"]
    assert_matches(out, reference(graph, inputs), recurrent=op in ("lstm", "gru", "rnn"))
    # Graph mode (tf.function) has its own rules, e.g. on layer names.
    np.testing.assert_allclose(B.run(model, inputs, compiled=True)["out"], out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in (
    "conv", "avgpool", "concat", "softmax", "reshape", "transpose", "flatten", "layernorm")][::2],
    ids=_case_id)
def test_channels_first_io_matches(case):
    op, attrs, shapes, layout = case
    graph = make_graph(op, attrs, shapes, layout)
    inputs = random_inputs(graph, batch=2, seed=2)
    model = B.build(graph, input_layout="nchw")
    assert_matches(B.run(model, inputs)["out"], reference(graph, inputs))


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in (
    "conv", "temporal_conv", "conv_transpose", "locally_connected", "dense", "embedding",
    "batchnorm", "layernorm", "lstm", "gru", "rnn")], ids=_case_id)
def test_read_weights_gives_back_the_graph(case):
    """Reading weights back yields parameters computing the same function; every layout
    conversion is exact, only the recurrent biases come back summed into bias_ih."""
    op, attrs, shapes, layout = case
    graph = make_graph(op, attrs, shapes, layout)
    back = B.read_weights(B.build(graph), graph)
    for key, want in graph.weights().items():
        if key.endswith("bias_ih"):
            want = want + graph.weights()[key.replace("bias_ih", "bias_hh")]
            if back[key.replace("bias_ih", "bias_hh")].any():
                continue  # GRU with reset_after keeps both biases apart
        if key.endswith("bias_hh") and not back[key].any():
            continue
        assert back[key].shape == want.shape, key
        np.testing.assert_allclose(back[key], want, rtol=1e-6, atol=1e-7, err_msg=key)


def test_every_op_has_an_emitter_and_a_reference():
    assert set(B.emitters.entries) == set(OPS), set(OPS) ^ set(B.emitters.entries)
    assert not B.emitters.unsupported
    assert set(REF) == set(OPS)
    tested = {c[0] for c in CASES} | {"constant"}  # constant: test_constant_feeds_a_binary
    assert tested == set(OPS), set(OPS) - tested


def test_constant_feeds_a_binary():
    """A constant (no inputs of its own) broadcast into a channels-first map, held
    channels-last like the map it meets."""
    from netspec.graph.ir import Graph
    from netspec.graph.passes import infer_shapes
    from netspec.ops import OPS
    from netspec.ops.types import TensorType

    graph = Graph("constant")
    graph.add_input("x", TensorType((None, 3, 4, 5), layout="channels_first"))
    graph.add_node("k", "constant", OPS["constant"].check_attrs({"shape": [1, 3, 1, 5], "layout": "channels_first"})[0], [])
    graph.add_node("out", "binary", {"fn": "sub"}, ["x", "k"])
    graph.outputs = ["out"]
    infer_shapes(graph)
    graph.node("k").params["value"] = np.arange(15, dtype=np.float32).reshape(1, 3, 1, 5)
    inputs = random_inputs(graph, batch=2, seed=1)
    model = B.build(graph)
    assert_matches(B.run(model, inputs)["out"], inputs["x"] - graph.node("k").params["value"])
    assert np.array_equal(B.read_weights(model, graph)["k.value"], graph.node("k").params["value"])


def test_weighted_ops_have_weight_maps():
    from netspec.backends.keras import WEIGHTS
    for op, case in {c[0]: c for c in CASES}.items():
        graph = make_graph(*case)
        if graph.node("out").param_specs:
            assert op in WEIGHTS, op
