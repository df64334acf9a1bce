"""The torch backend as a whole: coverage, weights in and out, intermediates, errors, files."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import netspec
from netspec.backends import get_backend
from netspec.backends.torch import BACKEND, TABLE
from netspec.errors import NetspecError
from netspec.graph.ir import Graph
from netspec.ops import OPS
from netspec.ops.types import TensorType
from netspec.testing.cases import random_inputs, single_op_graph

def small_graph(seed=0):
    graph = Graph("small net")
    graph.add_input("image", TensorType((None, 3, 12, 12), layout="channels_first"))
    chain = [("stem", "conv", {"filters": 4, "kernel": 3, "padding": "same"}, ["image"]),
             ("stem_bn", "batchnorm", {}, ["stem"]),
             ("relu", "relu", {}, ["stem_bn"]),
             ("pool", "maxpool", {"kernel": 2, "padding": "same"}, ["relu"]),
             ("block.0.conv", "conv", {"filters": 4, "kernel": 3, "padding": 1}, ["pool"]),
             ("block.0.add", "add", {}, ["block.0.conv", "pool"]),
             ("head.flat", "flatten", {}, ["block.0.add"]),
             ("head.fc", "dense", {"units": 5}, ["head.flat"])]
    from netspec.graph.init import init_weights
    from netspec.graph.passes import infer_shapes
    for name, op, attrs, inputs in chain:
        checked, problems = OPS[op].check_attrs(attrs)
        assert not problems
        graph.add_node(name, op, checked, inputs)
    graph.outputs = ["head.fc", "pool"]
    infer_shapes(graph)
    return init_weights(graph, seed)


def test_every_op_has_an_emitter():
    assert not TABLE.unsupported
    assert sorted(set(OPS) - set(TABLE.entries)) == []
    assert get_backend("torch") is BACKEND


def test_registering_an_op_twice_fails():
    with pytest.raises(RuntimeError, match="twice"):
        TABLE.register("relu")(lambda ctx, node, x: x)


def test_forward_is_generated_code_with_readable_state_dict():
    graph = small_graph()
    model = BACKEND.build(graph)
    assert isinstance(model, torch.fx.GraphModule)
    assert "def forward(self, image)" in model.code
    keys = set(model.state_dict())
    assert {"stem.weight", "stem_bn.running_var", "block.0.conv.weight", "head.fc.bias"} <= keys
    assert sum(p.numel() for p in model.parameters()) == graph.param_count


def test_weights_load_bit_identical_and_read_back():
    graph = small_graph(seed=3)
    model = BACKEND.build(graph)
    back = BACKEND.read_weights(model, graph)
    assert set(back) == set(graph.weights())
    for key, value in graph.weights().items():
        assert back[key].dtype == np.float32
        assert np.array_equal(back[key], value), key


def test_trained_weights_flow_back_into_the_graph():
    graph = single_op_graph("lstm", {"units": 4}, [(5, 3)], layout="plain")
    model = BACKEND.build(graph).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.from_numpy(random_inputs(graph)["x0"])
    model(x).square().mean().backward()
    optimiser.step()
    BACKEND.update_graph_weights(model, graph)
    rebuilt = BACKEND.build(graph)
    for key, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    assert "out.weight_ih_l0" in model.state_dict()


def test_run_returns_every_output_and_restores_the_mode():
    graph = small_graph()
    model = BACKEND.build(graph).train()
    inputs = random_inputs(graph, batch=3)
    out = BACKEND.run(model, inputs)
    assert out["head.fc"].shape == (3, 5) and out["pool"].shape == (3, 4, 6, 6)
    assert model.training
    again = get_backend("torch").run(model, inputs)
    assert np.array_equal(out["head.fc"], again["head.fc"])  # eval mode: batchnorm is deterministic


def test_run_intermediates_matches_the_final_output():
    graph = small_graph()
    model = BACKEND.build(graph)
    inputs = random_inputs(graph, batch=2)
    mids = BACKEND.run_intermediates(model, graph, inputs, ["stem", "block.0.add", "head.fc", "image"])
    assert mids["stem"].shape == (2, 4, 12, 12)
    assert np.array_equal(mids["head.fc"], BACKEND.run(model, inputs)["head.fc"])
    assert np.array_equal(mids["image"], inputs["image"])
    with pytest.raises(NetspecError, match="no such nodes"):
        BACKEND.run_intermediates(model, graph, inputs, ["nope"])


def test_unsupported_ops_are_all_reported_before_building(monkeypatch):
    graph = small_graph()
    monkeypatch.delitem(TABLE.entries, "conv")
    monkeypatch.delitem(TABLE.entries, "dense")
    with pytest.raises(NetspecError) as info:
        BACKEND.build(graph)
    text = str(info.value)
    assert "node 'stem'" in text and "node 'block.0.conv'" in text and "'dense'" in text


def test_a_layer_name_torch_reserves_is_a_located_error():
    graph = single_op_graph("dense", {"units": 2}, [(3,)])
    graph.node("out").name = "training"  # the module name the emitter will try
    with pytest.raises(NetspecError, match="training"):
        BACKEND.build(graph)


def test_bad_device_is_a_netspec_error():
    with pytest.raises(NetspecError, match="device"):
        BACKEND.build(small_graph(), device="nosuchdevice")


def test_dtype_option_casts_after_loading():
    model = BACKEND.build(small_graph(), dtype="float64")
    assert next(model.parameters()).dtype == torch.float64
    out = BACKEND.run(model, random_inputs(small_graph()))
    assert out["head.fc"].dtype == np.float64


# ------------------------------------------------------------------ files
def test_unknown_extension_names_path_and_choices(tmp_path):
    graph = small_graph()
    with pytest.raises(NetspecError) as info:
        BACKEND.save(BACKEND.build(graph), graph, str(tmp_path / "model.h5"))
    assert "model.h5" in str(info.value) and ".pt2" in str(info.value) and ".py" in str(info.value)


def test_safetensors_is_the_state_dict(tmp_path):
    from safetensors.torch import load_file
    graph = small_graph()
    model = BACKEND.build(graph)
    BACKEND.save(model, graph, str(tmp_path / "w.safetensors"))
    loaded = load_file(str(tmp_path / "w.safetensors"))
    assert set(loaded) == set(model.state_dict())
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_pt2_export_reproduces_outputs(tmp_path):
    graph = small_graph()
    model = BACKEND.build(graph)
    path = str(tmp_path / "m.pt2")
    BACKEND.save(model, graph, path)
    program = torch.export.load(path)
    x = torch.from_numpy(random_inputs(graph, batch=3)["image"])  # batch is dynamic
    for got, want in zip(program.module()(x), model(x)):
        torch.testing.assert_close(got, want)


ROUND_TRIP = textwrap.dedent("""
    import sys, numpy as np, torch
    sys.modules["netspec"] = None  # any import of netspec now fails
    sys.path.insert(0, sys.argv[1])
    import {stem}
    model = {stem}.load()
    x = torch.from_numpy(np.load(sys.argv[2]))
    with torch.no_grad():
        out = model(x)
    out = out if isinstance(out, tuple) else (out,)
    np.savez(sys.argv[3], *[o.numpy() for o in out])
""")


def roundtrip_py(graph, tmp_path, stem="exported"):
    """Export to .py, run it in a fresh interpreter without netspec, return its outputs."""
    model = BACKEND.build(graph)
    BACKEND.save(model, graph, str(tmp_path / f"{stem}.py"))
    assert (tmp_path / f"{stem}.safetensors").exists()
    inputs = random_inputs(graph, batch=2, seed=5)
    np.save(tmp_path / "x.npy", inputs[graph.inputs[0]])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-I", "-c", ROUND_TRIP.format(stem=stem), str(tmp_path),
                    str(tmp_path / "x.npy"), str(tmp_path / "y.npz")], check=True, cwd=tmp_path, env=env)
    got = np.load(tmp_path / "y.npz")
    return BACKEND.run(model, inputs), [got[f"arr_{i}"] for i in range(len(got.files))]


def test_py_export_runs_without_netspec_and_reproduces_outputs_exactly(tmp_path):
    graph = small_graph()
    want, got = roundtrip_py(graph, tmp_path)
    for name, value in zip(graph.outputs, got):
        assert np.array_equal(want[name], value), name


def test_py_export_of_custom_layers(tmp_path):
    """Layers torch lacks travel as source inside the file."""
    graph = single_op_graph("lstm", {"units": 4, "peephole": True}, [(6, 3)], layout="plain")
    want, got = roundtrip_py(graph, tmp_path, stem="peephole")
    assert np.array_equal(want["out"], got[0])
    assert "class PeepholeLSTM" in (tmp_path / "peephole.py").read_text()


def test_py_export_does_not_clobber_an_unrelated_safetensors(tmp_path):
    graph = small_graph()
    (tmp_path / "m.safetensors").write_text("precious")
    with pytest.raises(NetspecError, match="exists"):
        BACKEND.save(BACKEND.build(graph), graph, str(tmp_path / "m.py"))
    assert (tmp_path / "m.safetensors").read_text() == "precious"


def test_cli_build_writes_py_and_sidecar_atomically(tmp_path):
    from netspec.cli import main
    spec = tmp_path / "tiny.yaml"
    spec.write_text(textwrap.dedent("""
        netspec: 1
        name: tiny
        inputs:
          x: [6]
        params: {units: 4}
        layers:
          - dense: {units: $units}
          - relu
    """))
    out = tmp_path / "tiny_model.py"
    assert main(["build", str(spec), "--backend", "torch", "--set", "units=3", "-o", str(out)]) == 0
    assert out.exists() and (tmp_path / "tiny_model.safetensors").exists()
    assert main(["build", str(spec), "-o", str(out)]) == 2  # exists, no --force
    assert main(["build", str(spec), "-o", str(out), "--force", "--seed", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml", "tiny_model.py", "tiny_model.safetensors"]
    assert main(["build", str(spec), "-o", str(tmp_path / "tiny.onnx.bad")]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    graph = small_graph()
    inputs = random_inputs(graph)
    cpu = BACKEND.run(BACKEND.build(graph), inputs)
    gpu = BACKEND.run(netspec.build(graph, backend="torch", device="cuda"), inputs)
    for name in graph.outputs:
        np.testing.assert_allclose(gpu[name], cpu[name], atol=1e-4, rtol=1e-3)
