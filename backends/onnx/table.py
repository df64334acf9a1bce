"""The ONNX emitter table. Importing this module registers every emitter (one module per
op family); ``tests/backends/onnx/test_coverage.py`` asserts it covers ``netspec.ops.OPS``."""
from netspec.emitters import EmitterTable

TABLE = EmitterTable("onnx")

from . import emit_basic, emit_conv, emit_lowlevel, emit_recurrent  # noqa: E402,F401  (registration)
