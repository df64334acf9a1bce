"""Converters: ONNX, PyTorch and Keras models into the graph, and the graph back into a YAML spec."""
