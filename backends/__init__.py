"""Backends: each turns a checked graph into a model of one framework.

Backends are imported lazily (TensorFlow alone takes seconds to import), through
:func:`get_backend`. Every backend module exposes a ``BACKEND`` object with this interface:

``name``                              "torch", "keras" or "onnx"
``emitters``                          an :class:`netspec.emitters.EmitterTable`
``build(graph, **options)``           the framework model, loaded with ``graph``'s weights
``run(model, inputs)``                eval-mode forward; ``inputs``/result are
                                      ``{name: np.ndarray}`` in canonical (channels-first) layout
``run_intermediates(model, graph, inputs, names)``
                                      the canonical-layout outputs of the named nodes
``read_weights(model, graph)``        the model's current weights as ``{"node.param": array}``
                                      in canonical layout (``graph.set_weights`` takes them)
``save(model, graph, path)``          write the model in the backend's format(s), by extension
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile

from ..errors import NetspecError, did_you_mean

BACKEND_MODULES = {
    "torch": "netspec.backends.torch",
    "keras": "netspec.backends.keras",
    "onnx": "netspec.backends.onnx",
}


def available_backends() -> list[str]:
    """Backends whose module exists in this installation."""
    out = []
    for name in BACKEND_MODULES:
        try:
            get_backend(name)
        except NetspecError:
            continue
        out.append(name)
    return out


def get_backend(name: str):
    if name not in BACKEND_MODULES:
        raise NetspecError(f"unknown backend '{name}'", hint=did_you_mean(name, BACKEND_MODULES)
                           or f"backends: {', '.join(BACKEND_MODULES)}")
    try:
        with native_stderr_held():
            module = importlib.import_module(BACKEND_MODULES[name])
    except ModuleNotFoundError as exc:
        if exc.name == BACKEND_MODULES[name]:
            raise NetspecError(f"the {name} backend is not part of this installation") from None
        raise NetspecError(f"the {name} backend needs the package '{exc.name}', which is not installed") from None
    backend = getattr(module, "BACKEND", None)
    if backend is None:
        raise NetspecError(f"the {name} backend is not finished in this version")
    return backend


@contextlib.contextmanager
def native_stderr_held():
    """Hold back what C++ libraries print to file descriptor 2 while a backend imports.

    TensorFlow 2.21 logs several lines from C++ at import (oneDNN notices, "could not find
    cuda drivers") before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL cannot
    silence them. They are replayed if the import fails, or when NETSPEC_VERBOSE is set.
    """
    if os.environ.get("NETSPEC_VERBOSE"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
