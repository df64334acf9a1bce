"""The spec writer: graph -> YAML -> graph gives the same graph, weights and outputs, and the
YAML reads like a hand-written spec (blocks found, defaults left out, from: only where needed).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

import netspec
from netspec.backends import get_backend
from netspec.converters.spec_emit import index_expr
from netspec.converters.spec_writer import (decompile, graph_differences, renamed, spec_names, spec_text,
                                             write_spec)
from netspec.errors import NetspecError
from netspec.graph.init import init_weights
from netspec.graph.ir import Graph
from netspec.graph.passes import infer_shapes
from netspec.ops import OPS
from netspec.ops.types import CHANNELS_FIRST, PLAIN, TensorType
from netspec.spec import load_spec, zoo_names
from netspec.testing import random_inputs, single_op_graph

# Small inputs and widths, so that weights stay small where a model has width parameters
# (alexnet, vgg16, googlenet and the resnets have fixed widths; their sizes are cut).
SMALL = {
    "alexnet": {"size": 64, "classes": 10},
    "vgg16": {"size": 32, "classes": 10},
    "googlenet": {"size": 64, "classes": 10},
    "resnet18": {"size": 32, "classes": 10},
    "resnet34": {"size": 32, "classes": 10},
    "resnet50": {"size": 32, "classes": 10},
    "densenet121": {"size": 32, "classes": 10, "growth": 8, "init": 16},
    "unet": {"size": 32, "filters": 4},
    "fcn": {"height": 64, "width": 64, "filters": 4, "fc": 16},
    "deepface": {"size": 80, "features": 32, "classes": 10},
    "encoder_decoder": {"size": 32, "filters": 4},
    "mlp": {"units": 32, "features": 64},
    "lstm": {"units": 16, "features": 8},
    "gru": {"units": 16, "vocab": 50, "dim": 8},
    "tcn": {"filters": 8, "channels": 2},
    "lenet5": {},
}
# Blocks the writer finds (each a block definition in the written spec).
BLOCKS = {"resnet18": 1, "resnet34": 1, "resnet50": 1, "googlenet": 2, "densenet121": 2}


def torch_outputs(graph):
    backend = get_backend("torch")
    return backend.run(netspec.build(graph, backend="torch"), random_inputs(graph, batch=1))


def layer_entries(text: str) -> int:
    data = yaml.safe_load(text)
    return len(data["layers"]) + sum(len(b["layers"]) for b in (data.get("blocks") or {}).values())


def compile_text(text: str) -> Graph:
    return load_spec("<written>", seed=None, text=text)


# ------------------------------------------------------------------ every zoo model
def test_every_zoo_model_has_small_settings():
    assert set(zoo_names()) <= set(SMALL)


@pytest.mark.parametrize("name", sorted(zoo_names()))
def test_zoo_round_trip_gives_the_same_graph_weights_and_outputs(name, tmp_path):
    graph = netspec.load(name, seed=0, **SMALL.get(name, {}))
    path = tmp_path / f"{name}_copy.yaml"
    write_spec(graph, str(path))
    text = path.read_text()
    assert yaml.safe_load(text)["weights"] == f"{name}_copy.safetensors"
    assert (tmp_path / f"{name}_copy.safetensors").is_file()
    rebuilt = netspec.load(str(path), seed=0)
    assert graph_differences(graph, rebuilt, weights=True) == []
    expected, actual = torch_outputs(graph), torch_outputs(rebuilt)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert np.array_equal(expected[key], actual[key]), key


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_repeated_structures_become_blocks(name):
    graph = netspec.load(name, seed=None, **SMALL[name])
    text = spec_text(graph)
    blocks = yaml.safe_load(text)["blocks"]
    assert len(blocks) == BLOCKS[name], list(blocks)
    assert layer_entries(text) * 3 < len(graph), "much shorter than one line per layer"
    flat = spec_text(renamed(graph, {n: n.replace(".", "_") for n in graph.nx.nodes}))
    assert "blocks" not in yaml.safe_load(flat)
    assert len(text) * 2.5 < len(flat), "much shorter than the flat spec of the same graph"


def test_resnet_stages_are_repeats_with_index_expressions():
    text = spec_text(netspec.load("resnet18", seed=None))
    data = yaml.safe_load(text)
    (block_name, block), = data["blocks"].items()
    stage2 = next(e for e in data["layers"] if block_name in e and e[block_name].get("name") == "layer2")
    assert stage2[block_name]["repeat"] == 2
    assert stage2[block_name]["stride"] == "2 if $index == 0 else 1"
    whens = [next(iter(e.values())).get("when") for e in block["layers"] if isinstance(e, dict)]
    # the projection shortcut (conv and batchnorm) is there where the stride is: no extra flag
    assert [w for w in whens if w] == ["$stride > 1", "$stride > 1"]
    assert block["params"] == {"filters": "required", "stride": 1}


def test_googlenet_nests_its_conv_block_inside_the_inception_block():
    data = yaml.safe_load(spec_text(netspec.load("googlenet", seed=None)))
    inner, outer = data["blocks"]
    assert outer == "inception"
    kinds = [next(k for k in e if k not in ("name", "from")) for e in data["blocks"][outer]["layers"]]
    assert kinds.count(inner) == 6


def test_a_parameter_that_is_a_multiple_of_another_is_an_expression():
    data = yaml.safe_load(spec_text(netspec.load("resnet50", seed=None)))
    (block,) = data["blocks"].values()
    conv3 = next(e["conv"] for e in block["layers"] if "conv" in e and e["conv"].get("name") == "conv3")
    assert conv3["filters"] == "$filters * 4"


def docs_examples():
    text = (Path(__file__).resolve().parents[2] / "docs" / "spec-language.md").read_text()
    return [block for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if block.startswith("netspec: 1")]


@pytest.mark.parametrize("index", range(len(docs_examples())))
def test_every_example_of_the_language_reference_round_trips(index):
    """Blocks with several inputs, references into instances, repeats with $index, skipped
    layers, several inputs and outputs, dynamic sizes: the reference's own examples."""
    graph = load_spec("<docs>", seed=None, text=docs_examples()[index])
    assert graph_differences(graph, compile_text(spec_text(graph))) == []


def test_the_train_section_is_written_back():
    graph = load_spec("<t>", seed=None, text="""
netspec: 1
inputs: {image: [1, 8, 8]}
layers:
  - flatten
  - dense: {units: 10}
train:
  data: digits
  loss: cross_entropy
  optimizer: {sgd: {lr: 0.1, momentum: 0.9, weight_decay: 5e-4}}
  epochs: 3
""")
    text = spec_text(graph)
    assert yaml.safe_load(text)["train"]["optimizer"] == {"sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005}}
    assert compile_text(text).meta["train"] == graph.meta["train"]


def test_a_repeated_layer_is_written_with_repeat_and_an_index_expression():
    graph = load_spec("<t>", seed=None, text="""
netspec: 1
inputs: {x: [3, 16, 16]}
layers:
  - conv: {filters: "8 * 2 ** $index", kernel: 3, padding: 1, repeat: 3}
  - relu
""")
    data = yaml.safe_load(spec_text(graph))
    assert data["layers"] == [{"conv": {"filters": "8 * 2 ** $index", "kernel": 3, "padding": 1, "repeat": 3}},
                              "relu"]


def test_outputs_inside_block_instances_are_named_by_their_path():
    graph = load_spec("<t>", seed=None, text="""
netspec: 1
inputs: {x: [3, 16, 16]}
outputs: [enc.0.features, head]
blocks:
  down:
    layers:
      - conv: {name: features, filters: 4, kernel: 3, padding: 1}
      - maxpool: 2
layers:
  - down: {name: enc, repeat: 2}
  - conv: {name: head, from: enc.0.features, filters: 2, kernel: 1}
""")
    text = spec_text(graph)
    data = yaml.safe_load(text)
    assert data["outputs"] == ["enc.0.features", "head"]
    assert data["layers"][-1]["conv"]["from"] == "enc.0.features"
    assert graph_differences(graph, compile_text(text)) == []


# (op, attrs, input shapes without the batch axis, layout, dtype): every op of the language,
# with the attribute forms that resolution changes (per-axis values, 'same', pairs, axes)
OP_CASES = [
    ("conv", {"filters": 4, "kernel": [3, 5], "padding": [1, 2], "dilation": 2, "init": "glorot_normal"},
     [(2, 9, 9)], None, "float32"),
    ("conv", {"filters": 4, "kernel": 3, "padding": "same", "stride": 2}, [(3, 11, 12)], None, "float32"),
    ("conv", {"filters": 6, "kernel": 3, "groups": 3, "padding": [[0, 1], [2, 1], 1]}, [(3, 5, 5, 5)],
     None, "float32"),
    ("conv", {"filters": 4, "kernel": 2, "padding": "causal", "dilation": 4}, [(2, 10)], None, "float32"),
    ("temporal_conv", {"filters": 4, "kernel": 3, "dilation": 2, "bias": False}, [(2, None)], None, "float32"),
    ("conv_transpose", {"filters": 4, "kernel": 3, "stride": 2, "output_padding": 1, "padding": 1},
     [(3, 5, 6)], None, "float32"),
    ("locally_connected", {"filters": 5, "kernel": 2, "stride": 2, "padding": "same"}, [(2, 8, 7)], None,
     "float32"),
    ("maxpool", {"kernel": 3, "stride": 2, "ceil_mode": True, "padding": 1}, [(3, 9, 8)], None, "float32"),
    ("avgpool", {"kernel": [2, 3], "stride": 1, "count_include_pad": True, "padding": [1, 0]}, [(3, None, 5)],
     None, "float32"),
    ("globalavgpool", {}, [(7, 5, 6)], None, "float32"),
    ("globalmaxpool", {}, [(7, None)], None, "float32"),
    ("batchnorm", {"eps": 1e-3, "momentum": 0.01}, [(4, None, None)], None, "float32"),
    ("layernorm", {"axes": [1, 2]}, [(6, 10)], "plain", "float32"),
    ("lrn", {"size": 3, "alpha": 2e-4, "bias": 2.0}, [(6, 4, 4)], None, "float32"),
    ("dropout", {"rate": 0.3}, [(6,)], None, "float32"),
    ("softmax", {"axis": -1}, [(4, 10)], None, "float32"),
    ("relu", {}, [(3,)], None, "float32"),
    ("leaky_relu", {"alpha": 0.2}, [(3,)], None, "float32"),
    ("elu", {}, [(3,)], None, "float64"),
    ("sigmoid", {}, [(3,)], None, "float32"),
    ("tanh", {}, [(3,)], None, "float32"),
    ("gelu", {"approximate": "tanh"}, [(3, 4, 4)], None, "float32"),
    ("add", {}, [(3, None, 4), (3, 5, 4)], None, "float32"),
    ("multiply", {}, [(3,), (3,), (3,)], None, "float32"),
    ("concat", {"axis": 2}, [(3, None, 4), (3, 5, 4)], None, "float32"),
    ("flatten", {}, [(3, 4, 5)], None, "float32"),
    ("reshape", {"shape": [4, -1], "layout": "channels_first"}, [(3, 4, 2)], None, "float32"),
    ("transpose", {"perm": [0, 2, 1]}, [(3, 7)], None, "float32"),
    ("pad", {"pads": [[1, 2], 3], "mode": "reflect"}, [(3, 4, 4)], None, "float32"),
    ("crop", {"crop": [1, [0, 2]]}, [(3, 6, 6)], None, "float32"),
    ("upsample", {"scale": [2, 3], "mode": "bilinear", "align_corners": True}, [(3, 4, 5)], None, "float32"),
    ("zero_upsample", {"scale": 2}, [(3, 4, 5)], None, "float32"),
    ("dense", {"units": 10, "bias": False}, [(None, 20)], "plain", "float32"),
    ("embedding", {"vocab": 50, "dim": 8}, [(None,)], None, "int64"),
    ("lstm", {"units": 5, "return_sequences": False, "peephole": True}, [(7, 3)], "plain", "float32"),
    ("gru", {"units": 4, "linear_before_reset": False}, [(None, 3)], "plain", "float32"),
    ("rnn", {"units": 4, "activation": "relu"}, [(6, 3)], "plain", "float32"),
]
LANGUAGE_OPS = {case[0] for case in OP_CASES}


@pytest.mark.parametrize("op, attrs, shapes, layout, dtype", OP_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(OP_CASES)])
def test_every_op_round_trips(op, attrs, shapes, layout, dtype):
    graph = single_op_graph(op, attrs, shapes, layout=layout, dtype=dtype)
    text = spec_text(graph)
    assert graph_differences(graph, compile_text(text)) == []


def test_the_op_cases_cover_the_spec_language_ops():
    """Every op of the language; the importers' low-level ops go through the same generic
    attribute search (no code here names an op)."""
    assert {name for name, op in OPS.items() if op.family != "lowlevel"} <= LANGUAGE_OPS


# ------------------------------------------------------------------ hand-built graphs
def build(inputs, layers, outputs=None, name="hand"):
    """A graph from (name, op, attrs, inputs) tuples, checked and shape-inferred."""
    graph = Graph(name)
    for input_name, shape, dtype, layout in inputs:
        graph.add_input(input_name, TensorType((None, *shape), dtype, layout))
    for node_name, op, attrs, ins in layers:
        checked, problems = OPS[op].check_attrs(attrs)
        assert not problems, problems
        graph.add_node(node_name, op, checked, ins)
    graph.outputs = outputs or [layers[-1][0]]
    infer_shapes(graph)
    return init_weights(graph, 0)


def image(name="x", shape=(3, 16, 16)):
    return (name, shape, "float32", CHANNELS_FIRST)


def test_a_graph_without_repetition_gives_a_flat_spec(tmp_path):
    graph = build([image()], [
        ("stem", "conv", {"filters": 8, "kernel": 3, "padding": 1}, ["x"]),
        ("act", "relu", {}, ["stem"]),
        ("pool", "maxpool", {"kernel": 2}, ["act"]),
        ("flatten", "flatten", {}, ["pool"]),
        ("head", "dense", {"units": 4}, ["flatten"]),
    ])
    text = spec_text(graph)
    data = yaml.safe_load(text)
    assert "blocks" not in data and "outputs" not in data
    assert data["layers"] == [
        {"conv": {"name": "stem", "filters": 8, "kernel": 3, "padding": 1}},
        {"relu": {"name": "act"}},
        {"maxpool": {"name": "pool", "kernel": 2}},
        "flatten",                                   # the compiler's own name: left out
        {"dense": {"name": "head", "units": 4}},
    ]
    assert graph_differences(graph, compile_text(text)) == []


def test_from_is_written_only_where_the_graph_is_not_a_chain():
    graph = build([image()], [
        ("a", "conv", {"filters": 3, "kernel": 3, "padding": 1}, ["x"]),
        ("b", "relu", {}, ["a"]),
        ("c", "conv", {"filters": 3, "kernel": 1}, ["b"]),
        ("sum", "add", {}, ["c", "x"]),
        ("side", "conv", {"filters": 2, "kernel": 1}, ["b"]),
        ("join", "concat", {}, ["sum", "side"]),
    ])
    data = yaml.safe_load(spec_text(graph))
    froms = {next(iter(e.values()))["name"]: next(iter(e.values())).get("from") for e in data["layers"]}
    assert froms == {"a": None, "b": None, "c": None, "sum": ["c", "x"], "side": "b",
                     "join": ["sum", "side"]}


def test_inputs_outputs_dynamic_sizes_dtypes_and_layouts_round_trip(tmp_path):
    graph = build([image("img", (3, None, None)), ("ids", (None,), "int64", PLAIN),
                   ("seq", (None, 6), "float32", PLAIN), ("flat", (5, 7), "float64", PLAIN)], [
        ("conv", "conv", {"filters": 4, "kernel": 3, "padding": "same"}, ["img"]),
        ("pooled", "globalavgpool", {}, ["conv"]),
        ("embed", "embedding", {"vocab": 10, "dim": 6}, ["ids"]),
        ("rnn", "gru", {"units": 3, "return_sequences": False}, ["seq"]),
        ("both", "add", {}, ["embed", "seq"]),
    ], outputs=["pooled", "rnn", "both"])
    text = spec_text(graph)
    data = yaml.safe_load(text)
    assert data["inputs"] == {"img": [3, None, None], "ids": {"shape": [None], "dtype": "int64"},
                              "seq": {"shape": [None, 6], "layout": "plain"},
                              "flat": {"shape": [5, 7], "dtype": "float64", "layout": "plain"}}
    assert data["outputs"] == ["pooled", "rnn", "both"]
    assert graph_differences(graph, compile_text(text)) == []


def test_attributes_are_written_in_their_shortest_form():
    graph = build([image()], [
        ("a", "conv", {"filters": 4, "kernel": [3, 3], "padding": [[1, 1], [1, 1]]}, ["x"]),
        ("b", "conv", {"filters": 4, "kernel": [3, 1], "padding": [[1, 0], [2, 2]], "stride": 1}, ["a"]),
        ("c", "conv", {"filters": 4, "kernel": 3, "padding": "same", "bias": True}, ["b"]),
        ("d", "maxpool", {"kernel": 2, "stride": 2}, ["c"]),
        ("e", "softmax", {"axis": "channels"}, ["d"]),
        ("f", "batchnorm", {"eps": 1e-3}, ["e"]),
        ("g", "dropout", {"rate": 0.25}, ["f"]),
    ])
    data = yaml.safe_load(spec_text(graph))
    assert data["layers"] == [
        {"conv": {"name": "a", "filters": 4, "kernel": 3, "padding": 1}},
        {"conv": {"name": "b", "filters": 4, "kernel": [3, 1], "padding": [[1, 0], 2]}},
        {"conv": {"name": "c", "filters": 4, "kernel": 3, "padding": 1}},     # 'same' at stride 1
        {"maxpool": {"name": "d", "kernel": 2}},                             # stride = kernel
        {"softmax": {"name": "e"}},
        {"batchnorm": {"name": "f", "eps": 0.001}},
        {"dropout": {"name": "g", "rate": 0.25}},
    ]


def test_unnamed_layers_keep_the_compiler_names_and_named_ones_their_own():
    text = """
netspec: 1
inputs: {x: [4]}
layers:
  - dense: {units: 4}
  - relu
  - dense: {name: middle, units: 4}
  - relu
  - dense: {units: 2}
  - dropout: 0.3
"""
    graph = load_spec("<t>", seed=None, text=text)
    written = spec_text(graph)
    assert "name:" in written and written.count("name:") == 2  # the graph name and 'middle'
    assert "- dropout: 0.3" in written
    assert graph_differences(graph, compile_text(written)) == []


def test_dotted_names_without_a_block_structure_are_refused():
    graph = build([image()], [("a.0", "relu", {}, ["x"])])
    with pytest.raises(NetspecError, match="cannot be produced by a spec") as info:
        spec_text(graph)
    assert info.value.hint and "rename" in info.value.hint


def test_structurally_equal_instances_share_a_block_whatever_their_names():
    graph = build([image()], [
        ("left.conv", "conv", {"filters": 3, "kernel": 3, "padding": 1}, ["x"]),
        ("left.act", "relu", {}, ["left.conv"]),
        ("right.conv", "conv", {"filters": 5, "kernel": 3, "padding": 1}, ["left.act"]),
        ("right.act", "relu", {}, ["right.conv"]),
        ("other.conv", "conv", {"filters": 5, "kernel": 1}, ["right.act"]),
        ("other.pool", "maxpool", {"kernel": 2}, ["other.conv"]),
    ])
    data = yaml.safe_load(spec_text(graph))
    assert len(data["blocks"]) == 2
    shared = [b for b in data["blocks"].values() if b.get("params")]
    assert shared[0]["params"] == {"filters": "required"}


# ------------------------------------------------------------------ files
def test_write_spec_never_overwrites_and_can_skip_weights(tmp_path):
    graph = netspec.load("mlp", seed=0, **SMALL["mlp"])
    path = tmp_path / "mlp.yaml"
    write_spec(graph, str(path), weights=False)
    assert "weights:" not in path.read_text()
    assert not (tmp_path / "mlp.safetensors").exists()
    with pytest.raises(NetspecError, match="exists"):
        write_spec(graph, str(path), weights=False)
    with pytest.raises(NetspecError, match="exists"):
        write_spec(graph, str(path))
    assert not (tmp_path / "mlp.safetensors").exists()  # both files or neither
    write_spec(graph, str(path), weights=True, force=True)
    assert (tmp_path / "mlp.safetensors").is_file()
    reloaded = netspec.load(str(path), seed=0)
    with pytest.raises(NetspecError, match="overwrite the input"):
        write_spec(reloaded, str(path), force=True)
    assert sorted(os.listdir(tmp_path)) == ["mlp.safetensors", "mlp.yaml"]  # no temporary files


def test_written_weights_win_over_the_seed(tmp_path):
    graph = netspec.load("lenet5", seed=3)
    write_spec(graph, str(tmp_path / "lenet.yaml"))
    rebuilt = netspec.load(str(tmp_path / "lenet.yaml"), seed=0)
    assert graph_differences(graph, rebuilt, weights=True) == []


# ------------------------------------------------------------------ expressions of $index
@pytest.mark.parametrize("values, text", [
    ([2, 1], "2 if $index == 0 else 1"),
    ([2, 1, 1, 1], "2 if $index == 0 else 1"),
    ([True, False, False], "$index == 0"),
    ([1, 2, 4, 8], "2 ** $index"),
    ([64, 128, 192], "64 + 64 * $index"),
    ([3, 2, 1], "3 - $index"),
    ([0, 1, 2], "$index"),
    ([5, 1, 7], "[5, 1, 7][$index]"),
    (["a", "b", "a"], "['a', 'b', 'a'][$index]"),
])
def test_index_expressions(values, text):
    from netspec.spec.expr import evaluate
    assert index_expr(values) == text
    assert [evaluate(text, {"index": i}) for i in range(len(values))] == values


# ------------------------------------------------------------------ names no spec can produce
def imported_style_graph():
    return build([image("input.1")], [
        ("layer1_layer1.0_conv1_Conv", "conv", {"filters": 4, "kernel": 3, "padding": 1}, ["input.1"]),
        ("onnx::Relu_3", "relu", {}, ["layer1_layer1.0_conv1_Conv"]),
        ("9", "conv", {"filters": 4, "kernel": 1}, ["onnx::Relu_3"]),
        ("onnx_Relu_3", "add", {}, ["9", "onnx::Relu_3"]),
    ])


def test_names_no_spec_can_produce_are_refused_unless_renamed(tmp_path):
    graph = imported_style_graph()
    with pytest.raises(NetspecError, match="cannot be produced") as info:
        spec_text(graph)
    assert "rename" in info.value.hint
    mapping = spec_names(graph)
    assert mapping == {"input.1": "input_1", "layer1_layer1.0_conv1_Conv": "layer1_layer1_0_conv1_Conv",
                       "onnx::Relu_3": "onnx__Relu_3", "9": "_9"}
    write_spec(graph, str(tmp_path / "imported.yaml"), rename=True)
    rebuilt = netspec.load(str(tmp_path / "imported.yaml"), seed=0)
    assert graph_differences(renamed(graph), rebuilt, weights=True) == []
    assert np.array_equal(torch_outputs(graph)["onnx_Relu_3"], torch_outputs(rebuilt)["onnx_Relu_3"])


def test_compiler_names_are_kept_even_when_renaming_is_allowed():
    graph = netspec.load("unet", seed=None, **SMALL["unet"])
    assert spec_names(graph) == {}
    assert spec_text(graph, rename=True) == spec_text(graph)


def test_an_onnx_import_decompiles_to_the_same_blocks(tmp_path):
    """The importer restores torch-style names; the blocks are found in its graph too, even
    though it lists the projection shortcut right after the block's first conv."""
    pytest.importorskip("onnx")
    from netspec.converters.onnx.importer import import_onnx
    graph = netspec.load("resnet18", seed=0, **SMALL["resnet18"])
    onnx_backend = get_backend("onnx")
    onnx_backend.save(onnx_backend.build(graph), graph, str(tmp_path / "r.onnx"))
    imported = import_onnx(str(tmp_path / "r.onnx"))
    text = spec_text(imported)
    data = yaml.safe_load(text)
    assert len(data["blocks"]) == 1
    assert text.count("from:") == spec_text(graph).count("from:")
    assert graph_differences(imported, compile_text(text)) == []


# ------------------------------------------------------------------ structure without names
def anonymous(graph):
    """The graph with names that show nothing of its structure (and that no spec can produce)."""
    return renamed(graph, {n: f"/n:{i}" for i, n in enumerate(graph.nx.nodes) if graph.node(n).op != "input"})


def test_blocks_are_found_from_structure_alone_when_renaming_is_allowed(tmp_path):
    graph = anonymous(netspec.load("resnet18", seed=0, **SMALL["resnet18"]))
    text, written = decompile(graph, rename=True)
    data = yaml.safe_load(text)
    assert "residual" in data["blocks"]
    assert layer_entries(text) * 3 < len(graph)
    assert graph_differences(written, compile_text(text)) == []
    write_spec(graph, str(tmp_path / "anon.yaml"), rename=True)
    rebuilt = netspec.load(str(tmp_path / "anon.yaml"), seed=0)
    (expected,), (actual,) = torch_outputs(graph).values(), torch_outputs(rebuilt).values()
    assert np.array_equal(expected, actual)


@pytest.mark.parametrize("name", ["vgg16", "densenet121", "googlenet", "unet"])
def test_structural_names_rebuild_the_same_structure(name):
    graph = anonymous(netspec.load(name, seed=None, **SMALL[name]))
    text, written = decompile(graph, rename=True)
    assert graph_differences(written, compile_text(text)) == []
    assert sorted(n.op for n in written.nodes()) == sorted(n.op for n in graph.nodes())
    if name != "unet":  # long skips leave no cut inside the U: no block is found
        assert yaml.safe_load(text).get("blocks")


def test_a_repetitive_graph_with_plain_names_keeps_them_unless_renaming_is_allowed():
    layers, previous = [], "x"
    for i in range(6):
        layers += [(f"c{i}", "conv", {"filters": 4, "kernel": 3, "padding": 1}, [previous]),
                   (f"r{i}", "relu", {}, [f"c{i}"])]
        previous = f"r{i}"
    graph = build([image()], layers)
    assert "blocks" not in yaml.safe_load(spec_text(graph))
    text, written = decompile(graph, rename=True)
    assert yaml.safe_load(text)["blocks"] == {"conv_relu": {"layers": [
        {"conv": {"filters": 4, "kernel": 3, "padding": 1}}, "relu"]}}
    assert yaml.safe_load(text)["layers"] == [{"conv_relu": {"repeat": 6}}]
    assert graph_differences(written, compile_text(text)) == []


def test_variants_of_different_depth_merge_into_one_block():
    """The first copy holds a nested block instance that the second skips: one block with a
    condition, finished after the nested block it uses."""
    graph = load_spec("<t>", seed=None, text="""
netspec: 1
inputs: {x: [4, 8, 8]}
blocks:
  inner:
    layers:
      - conv: {filters: 4, kernel: 1}
      - relu
  outer:
    params: {extra: false}
    layers:
      - conv: {name: a, filters: 4, kernel: 3, padding: 1}
      - inner: {name: side, when: $extra}
      - relu
layers:
  - outer: {name: s, extra: "$index == 0", repeat: 3}
""")
    text = spec_text(graph)
    data = yaml.safe_load(text)
    inner, outer = data["blocks"]
    assert data["layers"] == [{outer: {"name": "s", "with_side": "$index == 0", "repeat": 3}}]
    assert {inner: {"name": "side", "when": "$with_side"}} in data["blocks"][outer]["layers"]
    assert graph_differences(graph, compile_text(text)) == []
