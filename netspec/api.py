"""The Python API: ``netspec.load`` a spec into a graph, ``netspec.build`` it in a backend."""
from __future__ import annotations

from .graph.ir import Graph


def load(spec, seed: int | None = 0, overrides: dict | None = None, **params) -> Graph:
    """A checked graph from a spec path, zoo name or an existing Graph (returned as is).

    Keyword arguments override spec parameters: ``netspec.load("resnet18", classes=10)``.
    """
    if isinstance(spec, Graph):
        return spec
    from .spec import load_spec
    return load_spec(spec, {**(overrides or {}), **params}, seed=seed)


def build(spec, backend: str = "torch", seed: int = 0, overrides: dict | None = None, **options):
    """Build ``spec`` (path, zoo name or Graph) in ``backend``; options go to the backend
    (``device="cuda"`` for torch, ``input_layout="nchw"`` for keras, ``opset=17`` for onnx)."""
    from .backends import get_backend
    graph = load(spec, seed=seed, overrides=overrides)
    return get_backend(backend).build(graph, **options)


def from_onnx(model_or_path) -> Graph:
    """The graph of an ONNX model (file path or ``onnx.ModelProto``), weights included."""
    from .converters.onnx import import_onnx
    return import_onnx(model_or_path)


def from_torch(module, example_inputs) -> Graph:
    """The graph of a torch module, through ``torch.onnx.export`` at ``example_inputs``
    (batch axis dynamic); :func:`netspec.testing.check` can then prove any build of it."""
    from .converters.sources import torch_source
    return torch_source(module, example_inputs).graph


def from_keras(model) -> Graph:
    """The graph of a Keras model, read directly from its functional graph (channels-last
    layers become the canonical channels-first ops; no transposes are added)."""
    from .converters.keras import from_keras as import_keras
    return import_keras(model)
