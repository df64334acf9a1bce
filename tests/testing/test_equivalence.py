"""The equivalence harness: verdicts, localisation of a corrupted weight, gradients and a
training step, user inputs, and the library API."""
import numpy as np
import pytest
import torch
from onnx import numpy_helper

import netspec
from netspec.backends import get_backend
from netspec.backends.keras.emitters import layer_name
from netspec.errors import NetspecError
from netspec.spec import load_spec
from netspec.testing import EquivalenceError, assert_equivalent, check

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# conv -> batchnorm -> relu -> flatten of a 4x5x5 map -> dense: the dense weight is permuted
# for Keras (channels-last flatten order), the classic place for a silent bug.
FLAT_HEAD = """
netspec: 1
name: flat_head
inputs: {image: [3, 10, 10]}
layers:
  - conv: {name: conv, filters: 4, kernel: 3, stride: 2, padding: 1}
  - batchnorm: {name: bn}
  - relu
  - flatten
  - dense: {name: fc, units: 6}
  - relu: {name: out}
"""


def flat_head():
    return load_spec("flat_head.yaml", text=FLAT_HEAD, seed=0)


# A corruption scales one weight tensor by 5% (a batchnorm's variance: one channel by 9):
# enough to move the outputs far beyond float32 noise, small enough to look like a plausible
# mapping bug rather than garbage, and independent of which units a ReLU happens to kill.
SCALE = 1.05


def corrupt_torch(model, key, factor=SCALE):
    with torch.no_grad():
        model.state_dict(keep_vars=True)[model.netspec_params[key]].mul_(factor)


def corrupt_keras(model, node, index=0, factor=SCALE, channel=None):
    layer = model.get_layer(layer_name(node))
    arrays = layer.get_weights()
    if channel is None:
        arrays[index] = arrays[index] * factor
    else:
        arrays[index][channel] *= factor
    layer.set_weights(arrays)


def corrupt_onnx(model, initializer, factor=SCALE):
    for i, t in enumerate(model.proto.graph.initializer):
        if t.name == initializer:
            array = numpy_helper.to_array(t) * np.float32(factor)
            model.proto.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, t.name))
    model._session = None


def test_identical_backends_pass_with_errors_reported():
    report = check(flat_head())
    pairs = {(r.reference, r.other) for r in report.rows}
    assert pairs == {("torch", "keras"), ("torch", "onnx"), ("keras", "onnx")}
    assert report.ok and not report.divergences
    for row in report.rows:
        assert 0 <= row.diff.max_abs <= row.diff.tolerance.atol + row.diff.tolerance.rtol * row.diff.scale
        assert row.diff.scale > 0  # a real output, not all zeros


@pytest.mark.parametrize("backend, node", [("torch", "conv"), ("keras", "bn"), ("keras", "fc"), ("onnx", "fc")])
def test_corrupted_weight_is_named_as_first_divergence(backend, node):
    graph = flat_head()
    model = get_backend(backend).build(graph)
    if backend == "torch":
        corrupt_torch(model, f"{node}.weight")
    elif backend == "keras" and node == "bn":
        corrupt_keras(model, node, index=3, factor=9.0, channel=0)  # moving variance
    elif backend == "keras":
        corrupt_keras(model, node)
    else:
        corrupt_onnx(model, f"{node}.weight")
    report = check(graph, models={backend: model})
    assert not report.ok
    assert report.divergences, report.summary()
    assert {d.node for d in report.divergences} == {node}
    others = {d.other if d.reference == backend else d.reference for d in report.divergences}
    assert others == {"torch", "keras", "onnx"} - {backend}  # the two clean backends agree
    clean = [r for r in report.rows if backend not in (r.reference, r.other)]
    assert clean and all(r.diff.ok for r in clean)


def test_corrupted_lstm_weight_is_named():
    graph = netspec.load("lstm", overrides={"features": 6, "units": 8})
    model = get_backend("torch").build(graph)
    corrupt_torch(model, "lstm2.weight_hh")
    report = check(graph, backends=("torch", "keras"), models={"torch": model})
    assert [d.node for d in report.divergences] == ["lstm2"]
    assert report.divergences[0].upstream_ok == len([n for n in graph.layers()][:2])  # lstm1, drop1


def test_corrupted_conv_in_a_zoo_resnet_is_named():
    graph = netspec.load("resnet18", overrides={"size": 32, "classes": 10})
    model = get_backend("keras").build(graph)
    corrupt_keras(model, "layer3.0.conv2")
    report = check(graph, backends=("torch", "keras"), models={"keras": model})
    assert [d.node for d in report.divergences] == ["layer3.0.conv2"]
    assert "_resnet_blocks.yaml:" in report.divergences[0].where  # the block that made it


def test_assert_equivalent_raises_with_the_failure_in_the_message():
    graph = flat_head()
    model = get_backend("torch").build(graph)
    corrupt_torch(model, "fc.weight")
    with pytest.raises(EquivalenceError, match=r"first divergence .* node 'fc'"):
        assert_equivalent(graph, backends=("torch", "onnx"), models={"torch": model})
    report = assert_equivalent(graph, backends=("torch", "onnx"))
    assert report.ok


def test_explicit_tolerances_are_used_and_reported():
    report = check(flat_head(), backends=("torch", "onnx"), atol=0.0, rtol=0.0)
    assert all(r.diff.tolerance.atol == 0.0 and r.diff.tolerance.rtol == 0.0 for r in report.rows)
    # float32 frameworks do not agree to the last bit on a conv + dense chain
    assert not report.ok


def test_user_inputs_are_a_second_input_set():
    graph = flat_head()
    x = np.random.default_rng(5).standard_normal((3, 3, 10, 10))  # float64: cast to the graph's
    report = check(graph, backends=("torch", "onnx"), inputs={"image": x}, inputs_label="x.npz")
    assert {r.inputs for r in report.rows} == {"seeded", "x.npz"}
    assert report.ok


def test_user_inputs_are_checked_all_at_once():
    graph = flat_head()
    with pytest.raises(NetspecError) as info:
        check(graph, backends=("torch", "onnx"), inputs={"img": np.zeros((1, 3, 10, 10))}, inputs_label="x.npz")
    text = str(info.value)
    assert "x.npz: no array named 'image'" in text and "arrays ['img'] match no model input" in text
    with pytest.raises(NetspecError, match=r"x.npz: array 'image' has shape \[1, 10, 10, 3\], the input expects \[N, 3, 10, 10\]"):
        check(graph, backends=("torch", "onnx"), inputs={"image": np.zeros((1, 10, 10, 3))}, inputs_label="x.npz")


def test_one_backend_is_not_a_comparison():
    with pytest.raises(NetspecError, match="at least two backends"):
        check(flat_head(), backends=("torch",))


def test_json_report_has_the_table_content():
    data = check(flat_head(), backends=("torch", "onnx")).to_json()
    assert data["ok"] is True and data["backends"] == ["torch", "onnx"]
    row = data["rows"][0]
    assert row["pair"] == ["torch", "onnx"] and row["name"] == "out"
    assert {"max_abs", "max_rel", "scale", "tolerance", "ok"} <= set(row)
    assert {"build torch", "run onnx", "compare"} <= set(data["timings_s"])


# ---------------------------------------------------------------- gradients and a training step
TRAINING = {"lenet5": {}, "resnet18": {"size": 64, "classes": 10}, "lstm": {"features": 6, "units": 8},
            "gru": {"vocab": 50, "dim": 8, "units": 8}, "tcn": {}}


@pytest.mark.parametrize("name", list(TRAINING))
def test_gradients_and_training_step_match(name):
    graph = netspec.load(name, overrides=TRAINING[name])
    report = check(graph, backends=("torch", "keras"), grad=True, train_step=True)
    assert report.ok, report.summary()
    grads = {r.name for r in report.rows if r.kind == "gradient"}
    steps = {r.name for r in report.rows if r.kind == "step"}
    trainable = {f"{n.name}.{s.name}" for n in graph.layers() for s in n.param_specs if s.trainable}
    assert trainable <= grads and trainable <= steps
    if any(graph.node(i).type.dtype.startswith("float") for i in graph.inputs):
        assert any(g.startswith("input:") for g in grads)


def test_a_wrong_gradient_mapping_is_caught():
    """The training comparison can fail: a Keras model whose conv weight was scaled has
    equal shapes but different gradients."""
    graph = flat_head()
    model = get_backend("keras").build(graph)
    corrupt_keras(model, "conv")
    report = check(graph, backends=("torch", "keras"), models={"keras": model}, grad=True)
    failed = {r.name for r in report.rows if r.kind == "gradient" and not r.diff.ok}
    assert {"bn.weight", "fc.weight", "input:image"} <= failed  # downstream of the scaled conv


def test_tiny_training_batchnorm_is_flagged():
    graph = netspec.load("resnet18", overrides={"size": 32, "classes": 10})
    report = check(graph, backends=("torch", "keras"), train_step=True, batch=2)
    assert any("'layer4.0.bn1' normalises over 2 values per channel" in n for n in report.notes)
    with pytest.raises(NetspecError, match="needs more than one value per channel"):
        check(graph, backends=("torch", "keras"), train_step=True, batch=1)


def test_all_zero_outputs_are_flagged():
    graph = flat_head()
    model = get_backend("torch").build(graph)
    with torch.no_grad():  # every unit of the last dense layer dead behind the final relu
        model.fc.weight.zero_()
        model.fc.bias.fill_(-1.0)
    report = check(graph, backends=("torch",), foreign={"zeros": lambda inputs: {"out": np.zeros((2, 6), np.float32)}},
                   models={"torch": model})
    assert report.ok and any("output 'out' is all zeros in every model" in n for n in report.notes)
    assert not any("all zeros" in n for n in check(flat_head(), backends=("torch", "onnx")).notes)
