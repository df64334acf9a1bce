"""The Keras importer: ``from_keras(model) -> Graph`` and ``import_keras_file(path)``.

Keras models are read directly from their functional graph, layer by layer, through a
table keyed by Keras layer class (:mod:`.registry`); each layer's config and weights become
graph ops in netspec's canonical, channels-first layout, with no transposes inside the
graph where Keras had none (:mod:`.values` explains how). Going through ONNX instead
(tf2onnx) fails on Keras 3 models and exhausts memory on large ones; it stays the way for
layers this table lacks: :func:`unsupported_layers` names them.

What it does not import (each refused with the layer's name and a hint): layers that hold
Python code (Lambda) or masks (Masking, ``mask_zero``); Bidirectional and recurrent layers
running backwards, statefully or returning their states; batch renormalisation and RMS
layer norms; interpolations other than nearest and bilinear; strided 'same' convolutions of
inputs with dynamic sizes (their padding depends on the size). Differences that remain
exact in inference: a layer called twice becomes two nodes with their own copy of the
weights; noise layers disappear; a layer norm over a map's channels reads the map through
two transposes (netspec's layernorm normalises trailing axes); constants (Normalization's
statistics, PReLU's slopes, keras.ops scalars) are not trainable in the graph.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .importer import Unsupported, from_keras, import_keras_file, unsupported_layers  # noqa: E402
from .io import to_graph_inputs, to_keras_outputs  # noqa: E402
from .registry import TABLE, LayerTable, class_key  # noqa: E402

from . import import_conv, import_core, import_netspec, import_ops, import_recurrent, import_shape  # noqa: E402,F401  (registration)


def supported_layers() -> list[str]:
    """The Keras layer classes (registered names) netspec imports."""
    return TABLE.names()


__all__ = ["from_keras", "import_keras_file", "unsupported_layers", "Unsupported", "supported_layers",
           "to_graph_inputs", "to_keras_outputs", "TABLE", "LayerTable", "class_key"]
