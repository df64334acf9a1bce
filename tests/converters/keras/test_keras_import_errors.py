"""What the Keras importer refuses, and how: one NetspecError naming every unsupported
layer (name and class) before anything is built, refused options with the layer's name
and a hint, models without a functional graph, and files it cannot read; plus .keras
files that do import (Keras's own and netspec's)."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers as L

import netspec
from netspec.backends import get_backend
from netspec.converters.keras import (TABLE, LayerTable, from_keras, import_keras_file, supported_layers,
                                      unsupported_layers)
from netspec.errors import NetspecError, NetspecErrors

from keras_import_cases import MODEL_TOLERANCE, assert_matches, randomize

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


class Twice(keras.layers.Layer):
    def call(self, x):
        return 2 * x


class MyDense(keras.layers.Dense):
    """A subclass may compute anything: it must not be imported as Dense."""


def _model_with_unsupported():
    x = keras.Input((8,), name="x")
    y = Twice(name="twice")(L.Dense(8)(x))
    y = MyDense(4, name="mine")(y)
    y = L.Activation("selu", name="selu")(y)
    return keras.Model(x, L.Dense(2, activation="softplus", name="soft")(y))


def test_every_unsupported_layer_in_one_error():
    model = _model_with_unsupported()
    found = unsupported_layers(model)
    assert [(u.name, u.cls.rsplit(".", 1)[-1]) for u in found] == [("twice", "Twice"), ("mine", "MyDense"),
                                                                   ("selu", "Activation"), ("soft", "Dense")]
    with pytest.raises(NetspecError) as info:
        from_keras(model)
    text = str(info.value)
    for name in ("'twice'", "'mine'", "'selu'", "'soft'", "Twice", "MyDense", "selu", "softplus"):
        assert name in text
    assert "ONNX" in info.value.hint


def test_unsupported_layers_is_empty_for_supported_models():
    keras.utils.set_random_seed(0)
    assert unsupported_layers(keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3))) == []


def test_refused_options_are_all_reported_with_layer_names():
    x = keras.Input((5, 3))
    a = L.LSTM(4, go_backwards=True, name="backwards")(x)
    b = L.UpSampling1D(2)(L.Conv1D(2, 1)(x))
    c = L.ReLU(threshold=0.5, name="thresholded")(x)
    with pytest.raises(NetspecErrors) as info:
        from_keras(keras.Model(x, [a, b, c]))
    messages = [str(e) for e in info.value.errors]
    assert len(messages) == 2
    assert "LSTM 'backwards'" in messages[0] and "go_backwards=True" in messages[0]
    assert info.value.errors[0].loc.node == "backwards" and info.value.errors[0].hint
    assert "ReLU 'thresholded'" in messages[1]


def test_registry_refuses_duplicates():
    with pytest.raises(RuntimeError, match="registered twice"):
        TABLE.register("Dense")(lambda ctx, layer: None)
    table = LayerTable("test")
    table.register("A")(lambda ctx, layer: None)
    with pytest.raises(RuntimeError, match="'A' is registered twice"):
        table.register("B", "A")(lambda ctx, layer: None)
    assert "Conv2D" in supported_layers() and "netspec>Pad" in supported_layers()


def test_models_without_a_functional_graph():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 3), np.float32))
    for model, words in ((sub, "subclassed"), (keras.Sequential([L.Dense(2)]), "never built")):
        with pytest.raises(NetspecError, match=words) as info:
            from_keras(model)
        assert "keras.Input" in info.value.hint
    with pytest.raises(NetspecError, match="takes a keras.Model"):
        from_keras("model.keras")


def test_files_that_cannot_be_read(tmp_path):
    with pytest.raises(NetspecError, match="no such file") as info:
        import_keras_file(tmp_path / "missing.keras")
    assert info.value.loc.file.endswith("missing.keras")
    wrong = tmp_path / "model.onnx"
    wrong.write_bytes(b"\0")
    with pytest.raises(NetspecError, match="cannot read a Keras model"):
        import_keras_file(wrong)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(NetspecError, match="cannot load") as info:
        import_keras_file(broken)
    assert info.value.loc.file == str(broken)


def test_lambda_layers_are_never_executed(tmp_path):
    x = keras.Input((3,))
    path = tmp_path / "lambda.keras"
    keras.Model(x, L.Lambda(lambda t: t * 2)(x)).save(path)
    with pytest.raises(NetspecError, match="cannot load") as info:
        import_keras_file(path)
    assert info.value.loc.file == str(path)


def test_keras_file_imports(tmp_path):
    x = keras.Input((8, 8, 3))
    y = L.MaxPooling2D()(L.BatchNormalization()(L.Conv2D(4, 3, activation="relu")(x)))
    model = randomize(keras.Model(x, L.Dense(3)(L.Flatten()(y))))
    path = tmp_path / "small.keras"
    model.save(path)
    graph = import_keras_file(path)
    assert graph.meta["source"] == str(path)
    assert_matches(model, graph=graph)


@pytest.mark.slow
def test_netspec_keras_file_imports(tmp_path):
    keras_backend = get_backend("keras")
    graph = netspec.load("resnet18", overrides={"size": 32, "classes": 10})
    model = keras_backend.build(graph)
    path = tmp_path / "resnet18.keras"
    keras_backend.save(model, graph, path)
    imported = import_keras_file(path)
    assert_matches(keras.models.load_model(path), MODEL_TOLERANCE, graph=imported)
    assert imported.param_count == graph.param_count


def test_sequential_model_imports():
    model = randomize(keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(3, 3, activation="relu"),
                                        L.MaxPooling2D(), L.Flatten(), L.Dropout(0.5), L.Dense(4)]))
    graph, _ = assert_matches(model)
    assert [n.op for n in graph.nodes()] == ["input", "conv", "relu", "maxpool", "flatten", "dropout", "dense"]
