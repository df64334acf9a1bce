"""The torch backend: a graph becomes a ``torch.fx.GraphModule`` with the graph's weights.

``netspec.build(spec, backend="torch", device="cuda")`` returns the module (eval mode);
``BACKEND.save`` writes ``.pt2`` (torch.export program), ``.py`` (standalone source + a
``.safetensors`` state dict beside it) or ``.safetensors`` (state dict only). Emitters live in
:mod:`.emit` (one per op), layers torch lacks in :mod:`.modules`, code generation and files
in :mod:`.export`.
"""
from __future__ import annotations

from .build import build, emit_graph, intermediates_module, read_weights, run, run_intermediates, update_graph_weights
from .emit import TABLE
from . import emit_lowlevel  # noqa: E402,F401  (registration)
from .export import SAVERS, save


class TorchBackend:
    """The backend interface of :mod:`netspec.backends` (see its docstring)."""

    name = "torch"
    emitters = TABLE
    extensions = tuple(SAVERS)

    def build(self, graph, **options):
        return build(graph, **options)

    def run(self, model, inputs, graph=None):
        return run(model, graph or _graph_of(model), inputs)

    def run_intermediates(self, model, graph, inputs, names):
        return run_intermediates(model, graph, inputs, names)

    def read_weights(self, model, graph=None):
        return read_weights(model, graph)

    def update_graph_weights(self, model, graph):
        return update_graph_weights(model, graph)

    def save(self, model, graph, path, **options):
        return save(model, graph, path, **options)


class _Inputs:
    """What ``run`` needs from a graph, recovered from the module itself."""

    def __init__(self, model):
        self.inputs, self.outputs = model.netspec_inputs, model.netspec_outputs
        self.dtypes = getattr(model, "netspec_input_dtypes", {})


def _graph_of(model):
    return _Inputs(model)


BACKEND = TorchBackend()

__all__ = ["BACKEND", "TorchBackend", "TABLE", "build", "emit_graph", "run", "run_intermediates",
           "read_weights", "update_graph_weights", "intermediates_module", "save", "SAVERS"]
