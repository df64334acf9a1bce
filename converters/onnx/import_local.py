"""The locally connected composition netspec's ONNX backend writes, recognised as one
``locally_connected`` layer (see ``backends/onnx/emit_conv.py``)."""
from __future__ import annotations


def match_locally_connected(ctx, node) -> bool:
    return False
