"""netspec: define a network once in YAML; build it in PyTorch, Keras and ONNX; convert
between them; prove every build and conversion equivalent."""
from .api import build, from_keras, from_onnx, from_torch, load
from .errors import NetspecError
from .graph.ir import Graph

__version__ = "0.1.0"
__all__ = ["build", "load", "from_onnx", "from_torch", "from_keras", "Graph", "NetspecError", "__version__"]
