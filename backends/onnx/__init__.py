"""The ONNX backend: emits ONNX directly from the graph with ``onnx.helper`` (no framework in
the loop) and runs it in onnxruntime.

:mod:`.table` holds the emitter table (one module per op family registers into it),
:mod:`.context` the conventions emitters share, :mod:`.build` the graph -> ModelProto step,
:mod:`.verify` the checks every model must pass, :mod:`.export` the cross-check exports
through torch and Keras, and :mod:`.backend` the ``BACKEND`` object.
"""
from .backend import BACKEND, OnnxBackend, OnnxModel
from .build import DEFAULT_OPSET, MIN_OPSET, emit_graph, newest_opset
from .table import TABLE

__all__ = ["BACKEND", "OnnxBackend", "OnnxModel", "TABLE", "emit_graph", "DEFAULT_OPSET",
           "MIN_OPSET", "newest_opset"]
