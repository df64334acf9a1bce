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
