"""The Keras 3 backend: emits functional Keras models, channels-last inside.

Keras runs on TensorFlow unless ``KERAS_BACKEND`` says otherwise before Keras is first
imported (this module only sets the default). Layout conventions are in :mod:`.layout`,
the op table in :mod:`.emitters`, custom layers in :mod:`.layers`.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .backend import BACKEND, KerasBackend  # noqa: E402
from .emitters import TABLE, WEIGHTS  # noqa: E402
from . import emit_lowlevel  # noqa: E402,F401  (registration)

__all__ = ["BACKEND", "KerasBackend", "TABLE", "WEIGHTS"]
