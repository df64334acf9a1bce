"""Whole models: keras.applications ResNet50 and MobileNetV2, and every zoo model netspec's
Keras backend emits, import into graphs that run in torch as Keras runs them (netspec's
float32 default tolerance, 1e-5 + 1e-4 * scale; see keras_import_cases.py), with zero
transposes and Keras's parameter count; zoo models come back with their node names and
their original parameter counts."""
from __future__ import annotations

from collections import Counter

import keras
import numpy as np
import pytest

import netspec
from netspec.converters.keras import from_keras
from netspec.converters.spec_writer import spec_text
from netspec.spec import zoo_names
from netspec.testing.zoo import small_overrides

from keras_import_cases import MODEL_TOLERANCE, assert_matches, keras_count, keras_inputs, transposes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

HEAVY = {"alexnet", "densenet121", "googlenet", "resnet34", "resnet50", "vgg16"}


def trained_looking_batchnorm(model, seed=0):
    """Batch-norm statistics and affine terms away from 0/1 (fresh ones make it an
    identity, hiding a swapped mean and variance); kernels keep Keras's initialisers."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            arrays = [rng.uniform(0.5, 1.5, c)] if layer.scale else []
            arrays += [rng.normal(0, 0.1, c)] if layer.center else []
            layer.set_weights(arrays + [rng.normal(0, 0.1, c),
                               rng.uniform(0.5, 1.5, c)])
    return model


@pytest.mark.slow
# MobileNetV3's hard sigmoid computes with constants (x + 3) * (1/6): layers with no
# inputs, which the spec writes as `from: []`.
@pytest.mark.parametrize("name,size", [("ResNet50", 64), ("MobileNetV2", 96), ("MobileNetV3Small", 64)])
def test_keras_application(name, size):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                              classifier_activation=None)
    trained_looking_batchnorm(model)
    graph, worst = assert_matches(model, MODEL_TOLERANCE, inputs=keras_inputs(model, batch=2))
    assert transposes(graph) == 0
    assert keras_count(graph) == model.count_params()
    assert "netspec: 1" in spec_text(graph, rename=True)  # the imported graph decompiles into a spec
    print(f"{name} {size}x{size}: max |keras - torch| = {worst:.3g}, {keras_count(graph):,} parameters")


# More of keras.applications, for the layers they add: EfficientNet's Rescaling,
# Normalization, swish and broadcast squeeze-excite; Xception's separable convolutions;
# InceptionV3's scale-free batch norms; ConvNeXt's LayerScale and its layer norms over
# channels, which netspec's layernorm (trailing axes only) reads through two transposes per
# block. Parameter counts: netspec's batchnorm always has a scale (InceptionV3's have none),
# and Normalization's statistics and LayerScale on a sequence are constants, not weights.
@pytest.mark.slow
@pytest.mark.parametrize("name,size,expected_transposes,same_count", [
    ("EfficientNetB0", 64, 0, False), ("Xception", 71, 0, True), ("InceptionV3", 75, 0, False),
    ("ConvNeXtTiny", 32, 42, False)])
def test_more_keras_applications(name, size, expected_transposes, same_count):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                              classifier_activation=None)
    trained_looking_batchnorm(model)
    graph, _ = assert_matches(model, MODEL_TOLERANCE)
    assert transposes(graph) == expected_transposes
    assert (keras_count(graph) == model.count_params()) == same_count


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in zoo_names()])
def test_zoo_model_round_trip(name):
    overrides = small_overrides(name)
    original = netspec.load(name, overrides=overrides)
    model = netspec.build(name, backend="keras", overrides=overrides)
    graph = from_keras(model)
    assert_matches(model, MODEL_TOLERANCE, graph=graph)
    assert transposes(graph) == sum(n.op == "transpose" for n in original.nodes())
    assert (graph.param_count, graph.state_count) == (original.param_count, original.state_count)
    assert {n.name for n in graph.nodes() if n.params} == {n.name for n in original.nodes() if n.params}
    assert Counter(n.op for n in graph.nodes()) == Counter(n.op for n in original.nodes())


@pytest.mark.parametrize("name", ["lenet5", "unet", "tcn"])
def test_channels_first_io_models_import_without_transposes(name):
    """netspec's Keras backend with input_layout='nchw' transposes at the model's boundary
    (Permute layers); importing turns those back into the graph's own layout."""
    overrides = small_overrides(name)
    original = netspec.load(name, overrides=overrides)
    model = netspec.build(name, backend="keras", overrides=overrides, input_layout="nchw")
    assert any(isinstance(layer, keras.layers.Permute) for layer in model.layers)
    graph = from_keras(model)
    assert_matches(model, MODEL_TOLERANCE, graph=graph)
    assert transposes(graph) == 0
    assert [graph.node(n).type for n in graph.inputs] == [original.node(n).type for n in original.inputs]
    assert graph.meta["keras"]["inputs"][graph.inputs[0]]["perm"] == list(range(len(original.node(original.inputs[0]).type.shape)))
