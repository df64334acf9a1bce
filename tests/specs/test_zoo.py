"""The model zoo (specs/*.yaml): published parameter counts, output shapes, names, options.

Everything compiles without weights (``seed=None``), so the whole file runs in seconds.
"""
from pathlib import Path

import pytest
import yaml

from netspec.spec import load_spec, zoo_names

SPECS = Path(__file__).resolve().parents[2] / "specs"
MODELS = sorted(p.stem for p in SPECS.glob("*.yaml") if not p.name.startswith("_"))
EXPECTED_MODELS = {"lenet5", "alexnet", "vgg16", "googlenet", "resnet18", "resnet34", "resnet50",
                   "densenet121", "fcn", "encoder_decoder", "unet", "lstm", "gru", "tcn", "mlp",
                   "deepface"}


def load(name, **overrides):
    return load_spec(str(SPECS / f"{name}.yaml"), overrides or None, seed=None)


def output_shape(graph, index=0):
    return graph.node(graph.outputs[index]).type.shape


def node(graph, name):
    return graph.node(name)


# ------------------------------------------------------------------ published counts
@pytest.mark.parametrize("name, overrides, count", [
    ("lenet5", {}, 61_706),
    ("alexnet", {}, 61_100_840),
    ("alexnet", {"lrn": True}, 61_100_840),           # LRN has no parameters
    ("vgg16", {}, 138_357_544),
    ("googlenet", {}, 7_005_832),                     # paper: 5x5 convs in branch 3
    ("googlenet", {"branch3_kernel": 3}, 6_624_904),  # torchvision's 3x3 variant
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("densenet121", {}, 7_978_856),
    ("unet", {"filters": 64}, 31_030_658),            # the paper's widths, 1 channel, 2 classes
])
def test_published_parameter_counts(name, overrides, count):
    assert load(name, **overrides).param_count == count


def test_keras_style_resnet50_matches_keras_applications():
    """keras.applications.ResNet50 reports 25,636,712 params: 25,583,592 trainable plus
    53,120 non-trainable batchnorm moving means and variances."""
    graph = load("resnet50", style="keras")
    assert graph.param_count == 25_583_592
    assert graph.state_count == 53_120
    assert graph.param_count + graph.state_count == 25_636_712


def test_resnet50_styles_put_the_stride_in_different_convs():
    torch_style, keras_style = load("resnet50"), load("resnet50", style="keras")
    assert node(torch_style, "layer2.0.conv1").attrs["stride"] == (1, 1)
    assert node(torch_style, "layer2.0.conv2").attrs["stride"] == (2, 2)
    assert node(keras_style, "layer2.0.conv1").attrs["stride"] == (2, 2)
    assert node(keras_style, "layer2.0.conv2").attrs["stride"] == (1, 1)
    assert node(torch_style, "layer2.0.conv1").attrs["bias"] is False
    assert node(keras_style, "layer2.0.conv1").attrs["bias"] is True
    assert node(keras_style, "conv1").attrs["bias"] is True
    assert node(torch_style, "bn1").attrs["eps"] == 1e-5
    assert node(keras_style, "layer3.4.bn2").attrs["eps"] == 1.001e-5
    for graph in (torch_style, keras_style):
        assert output_shape(graph) == (None, 1000)
        assert node(graph, "layer4.2.relu").type.shape == (None, 2048, 7, 7)


# ------------------------------------------------------------------ every spec
def test_the_zoo_has_every_model_and_lists_no_library():
    assert set(MODELS) == EXPECTED_MODELS
    assert set(zoo_names()) >= EXPECTED_MODELS
    assert not any(name.startswith("_") for name in zoo_names())


@pytest.mark.parametrize("name", MODELS)
def test_spec_validates_and_is_documented(name):
    text = (SPECS / f"{name}.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["netspec"] == 1
    assert data["name"] == name
    first_line = data["doc"].strip().splitlines()[0]
    assert "(" in first_line and any(str(year) in first_line for year in range(1980, 2030)), \
        "the first doc line cites the paper with its year"
    # image-to-image: the output has out_channels, not classes
    assert ("out_channels" if name == "encoder_decoder" else "classes") in data["params"]
    graph = load(name)
    assert graph.param_count > 0
    assert len(graph.outputs) == 1


@pytest.mark.parametrize("name", MODELS)
def test_classes_can_be_set(name):
    key = "out_channels" if name == "encoder_decoder" else "classes"
    shape = output_shape(load(name, **{key: 7}))
    channel_axis = 1 if name in ("fcn", "unet", "tcn", "encoder_decoder") else -1
    assert shape[channel_axis] == 7


@pytest.mark.parametrize("name", MODELS)
def test_zoo_models_load_by_short_name(name):
    assert load_spec(name, seed=None).param_count == load(name).param_count


# ------------------------------------------------------------------ output shapes
@pytest.mark.parametrize("name, shape", [
    ("lenet5", (None, 10)),
    ("alexnet", (None, 1000)),
    ("vgg16", (None, 1000)),
    ("googlenet", (None, 1000)),
    ("resnet18", (None, 1000)),
    ("resnet34", (None, 1000)),
    ("resnet50", (None, 1000)),
    ("densenet121", (None, 1000)),
    ("fcn", (None, 21, None, None)),
    ("encoder_decoder", (None, 3, 64, 64)),
    ("unet", (None, 2, 128, 128)),
    ("lstm", (None, 10)),
    ("gru", (None, 2)),
    ("tcn", (None, 10, None)),
    ("mlp", (None, 10)),
    ("deepface", (None, 100)),
])
def test_output_shape(name, shape):
    assert output_shape(load(name)) == shape


@pytest.mark.parametrize("name, shapes", [
    ("resnet18", {"layer1.1.relu": (None, 64, 56, 56), "layer2.1.relu": (None, 128, 28, 28),
                  "layer3.1.relu": (None, 256, 14, 14), "layer4.1.relu": (None, 512, 7, 7)}),
    ("googlenet", {"maxpool1": (None, 64, 56, 56), "inception3b.concat": (None, 480, 28, 28),
                   "inception4e.concat": (None, 832, 14, 14),
                   "inception5b.concat": (None, 1024, 7, 7)}),
    ("densenet121", {"transition1.pool": (None, 128, 28, 28), "transition3.pool": (None, 512, 7, 7),
                     "norm5": (None, 1024, 7, 7)}),
    ("vgg16", {"block5.pool": (None, 512, 7, 7), "flatten": (None, 25088)}),
    ("alexnet", {"pool5": (None, 256, 6, 6), "flatten": (None, 9216)}),
    ("lenet5", {"c5": (None, 120, 1, 1)}),
    ("unet", {"bottleneck.conv.relu2": (None, 256, 8, 8), "dec1.concat": (None, 32, 128, 128)}),
])
def test_intermediate_shapes(name, shapes):
    graph = load(name)
    for layer, shape in shapes.items():
        assert node(graph, layer).type.shape == shape, layer


@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
def test_fcn_gives_per_pixel_scores_for_any_size(size):
    height, width = size
    graph = load("fcn", height=height, width=width)
    assert output_shape(graph) == (None, 21, height, width)
    assert graph.param_count == load("fcn").param_count  # no layer depends on the size


def test_fcn_is_fully_convolutional():
    graph = load("fcn")
    assert graph.node(graph.inputs[0]).type.shape == (None, 3, None, None)
    assert not {"dense", "flatten"} & {n.op for n in graph.layers()}


def test_unet_concatenates_skips_from_the_contracting_path():
    graph = load("unet")
    for level in (1, 2, 3, 4):
        concat = node(graph, f"dec{level}.concat")
        assert concat.op == "concat"
        skip = "enc1.relu2" if level == 1 else f"enc{level}.conv.relu2"
        assert concat.inputs == [skip, f"dec{level}.upconv"]
    assert load("unet", size=64).node("head").type.shape == (None, 2, 64, 64)
    assert load("unet", batchnorm=True).state_count > 0


def test_encoder_decoder_skips_are_optional():
    plain, skipped = load("encoder_decoder"), load("encoder_decoder", skips=True)
    assert not any(n.op == "add" for n in plain.layers())
    assert sum(n.op == "add" for n in skipped.layers()) == 3
    assert plain.param_count == skipped.param_count
    assert {n.op for n in plain.layers()} >= {"conv_transpose", "sigmoid"}


# ------------------------------------------------------------------ sequences
def test_lstm_uses_peepholes():
    graph = load("lstm")
    lstms = [n for n in graph.layers() if n.op == "lstm"]
    assert lstms and all(n.attrs["peephole"] for n in lstms)
    assert graph.node(graph.inputs[0]).type.shape == (None, None, 40)
    # 4 gates x (inputs + hidden + 2 biases) + 3 peephole vectors, per layer, then the classifier
    assert graph.param_count == (4 * 128 * (40 + 128 + 2) + 3 * 128) + \
        (4 * 128 * (128 + 128 + 2) + 3 * 128) + (128 * 10 + 10)


def test_gru_reads_token_ids():
    graph = load("gru")
    assert graph.node(graph.inputs[0]).type.dtype == "int64"
    assert [n.op for n in graph.layers()][:2] == ["embedding", "gru"]


def test_tcn_dilations_residuals_and_receptive_field():
    graph = load("tcn")
    convs = [n for n in graph.layers() if n.op == "temporal_conv"]
    assert [n.attrs["dilation"] for n in convs] == [(d,) for d in (1, 1, 2, 2, 4, 4, 8, 8)]
    assert sum(n.op == "add" for n in graph.layers()) == 4
    assert graph.node(graph.inputs[0]).type.shape == (None, 1, None)
    assert node(graph, "head").rf[0][0] == 1 + 2 * 2 * (1 + 2 + 4 + 8)
    # the 1x1 conv on the first residual path exists only when the channels change
    assert "blocks.0.downsample" in graph
    assert "blocks.0.downsample" not in load("tcn", channels=32)


# ------------------------------------------------------------------ names and readability
def test_resnet_names_mirror_torchvision():
    graph = load("resnet18")
    for name in ("conv1", "bn1", "layer1.0.conv1", "layer1.1.bn2", "layer2.0.downsample",
                 "layer2.0.downsample_bn", "layer4.1.conv2", "avgpool", "fc"):
        assert name in graph, name
    assert "layer1.0.downsample" not in graph  # same size and channels: identity shortcut
    assert "layer1.0.downsample" in load("resnet50")


def test_resnet18_spec_is_short():
    lines = (SPECS / "resnet18.yaml").read_text().splitlines()
    assert len(lines) <= 35


def test_mlp_has_dropout_after_every_hidden_layer():
    graph = load("mlp", layers=3)
    ops = [n.op for n in graph.layers()]
    assert ops.count("dense") == 4 and ops.count("dropout") == 4


def test_deepface_uses_locally_connected_layers_at_the_papers_sizes():
    graph = load("deepface", size=152, features=4096, classes=4030)
    assert node(graph, "m2").type.shape == (None, 32, 71, 71)
    assert node(graph, "l4").type.shape == (None, 16, 55, 55)
    assert node(graph, "l5").type.shape == (None, 16, 25, 25)
    assert node(graph, "l6").type.shape == (None, 16, 21, 21)
    assert output_shape(graph) == (None, 4030)
    assert sum(n.op == "locally_connected" for n in load("deepface").layers()) == 3
