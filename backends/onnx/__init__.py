"""The onnx backend (in progress)."""
