"""What a conversion can write, and how each written file is loaded back to be verified.

A target is keyed by the output's extension: the backend that builds it (``spec`` for a
YAML spec) and a *reloader* that opens the written file the way a user would (onnxruntime
on the ``.onnx``, ``keras.models.load_model`` on the ``.keras``, ``torch.export.load`` on
the ``.pt2``, importing the generated ``.py``, recompiling the ``.yaml``) and returns a
runner, so the harness proves the file on disk, not the object it was written from.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Callable

from netspec.errors import NetspecError, SourceLoc


@dataclass(frozen=True)
class Target:
    backend: str
    reload: Callable  # (path, graph) -> run(inputs) -> outputs


def _backend(name):
    from netspec.backends import get_backend
    return get_backend(name)


def reload_onnx(path, graph):
    backend = _backend("onnx")
    model = backend.load(path)
    return lambda inputs: backend.run(model, inputs, graph)


def reload_keras(path, graph):
    backend = _backend("keras")
    model = backend.load(path, graph)
    return lambda inputs: backend.run(model, inputs, graph)


def reload_keras_weights(path, graph):
    backend = _backend("keras")
    model = backend.build(graph)
    model.load_weights(path)
    return lambda inputs: backend.run(model, inputs, graph)


def _torch_runner(model, graph):
    from netspec.backends.torch.build import run
    return lambda inputs: run(model, graph, inputs)


def reload_pt2(path, graph):
    """An exported program is traced in eval mode and refuses ``.eval()``: call it as is."""
    import torch

    from netspec.backends.torch.build import to_numpy, to_tensors

    module = torch.export.load(path).module()

    def run(inputs):
        with torch.no_grad():
            out = module(*to_tensors(module, graph, inputs))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return {name: to_numpy(v) for name, v in zip(graph.outputs, outs)}
    return run


def reload_py(path, graph):
    """Import the generated file under a fresh module name and call its ``load()``."""
    name = f"netspec_converted_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        model = module.load()
    finally:
        sys.modules.pop(name, None)
    return _torch_runner(model, graph)


def reload_safetensors(path, graph):
    from safetensors.torch import load_file
    model = _backend("torch").build(graph)
    model.load_state_dict(load_file(path))
    return _torch_runner(model, graph)


def reload_spec(path, graph):
    """The written spec compiled and built in torch. Its names may differ from the
    graph's (a decompiled import is renamed into blocks), so inputs and outputs are
    matched by position."""
    from netspec.spec import load_spec
    rebuilt = load_spec(path, seed=0)  # the written weights file wins over the seed
    run = _torch_runner(_backend("torch").build(rebuilt), rebuilt)

    def by_position(inputs):
        out = run({new: inputs[old] for old, new in zip(graph.inputs, rebuilt.inputs)})
        return {old: out[new] for old, new in zip(graph.outputs, rebuilt.outputs)}
    return by_position


TARGETS = {
    ".onnx": Target("onnx", reload_onnx),
    ".keras": Target("keras", reload_keras),
    ".weights.h5": Target("keras", reload_keras_weights),
    ".pt2": Target("torch", reload_pt2),
    ".py": Target("torch", reload_py),
    ".safetensors": Target("torch", reload_safetensors),
    ".yaml": Target("spec", reload_spec),
    ".yml": Target("spec", reload_spec),
}
KINDS = {"onnx": ".onnx", "keras": ".keras", "pt2": ".pt2", "py": ".py", "safetensors": ".safetensors",
         "yaml": ".yaml", "weights.h5": ".weights.h5"}


def target_for(path: str, to: str | None = None) -> tuple[str, Target]:
    """``(extension, Target)`` from ``--to`` or the output's extension (longest match wins,
    so ``model.weights.h5`` is Keras weights, not an unknown ``.h5``)."""
    if to is not None:
        if to.lstrip(".") not in KINDS:
            raise NetspecError(f"--to must be one of {', '.join(KINDS)}, received {to!r}")
        ext = KINDS[to.lstrip(".")]
        return ext, TARGETS[ext]
    name = os.path.basename(path).lower()
    for ext in sorted(TARGETS, key=len, reverse=True):
        if name.endswith(ext):
            return ext, TARGETS[ext]
    raise NetspecError(f"cannot tell what to write from the name '{os.path.basename(path)}'", SourceLoc(path),
                       f"use one of {', '.join(TARGETS)}, or --to KIND")
