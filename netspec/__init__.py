"""netspec: define a network once in YAML; build it in PyTorch, Keras and ONNX; convert
between them; prove every build and conversion equivalent."""
from .api import build, load
from .errors import NetspecError
from .graph.ir import Graph

__version__ = "0.1.0"
__all__ = ["build", "load", "Graph", "NetspecError", "__version__"]
