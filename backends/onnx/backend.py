"""The ONNX backend object: build (direct, or exported through torch/keras), run in
onnxruntime, intermediate values, weights and files."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from netspec.errors import NetspecError

from .build import DEFAULT_OPSET, check_opset, emit_graph, with_outputs
from .context import ONNX_DTYPES
from .table import TABLE

# ONNX files above 2 GiB cannot be one protobuf; their tensors go to a side file.
PROTOBUF_LIMIT = 2 ** 31 - 1
NUMPY_DTYPES = {v: k for k, v in ONNX_DTYPES.items()}
DEVICES = {"cpu": ["CPUExecutionProvider"],
           "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def default_providers(device: str | None = None) -> list[str]:
    """CUDA first when this onnxruntime has it (onnxruntime-gpu) unless ``device='cpu'``."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = DEVICES.get((device or "cuda").split(":")[0])
    if wanted is None:
        raise NetspecError(f"onnx device must be one of {', '.join(DEVICES)}, received {device!r}")
    return [p for p in wanted if p in available] or ["CPUExecutionProvider"]


@dataclass
class OnnxModel:
    """An ONNX model plus the onnxruntime session made from it on first use.

    ``via`` names the framework it was exported through (None: emitted directly);
    ``source`` is that framework's model, which holds the same weights.
    """

    proto: onnx.ModelProto
    opset: int
    via: str | None = None
    source: Any = None
    notes: list[str] = field(default_factory=list)  # exporter warnings worth knowing
    providers: list[str] = field(default_factory=default_providers)
    _session: Any = field(default=None, repr=False)

    @property
    def session(self):
        if self._session is None:
            self._session = make_session(self.proto, self.providers)
        return self._session


def make_session(proto: onnx.ModelProto, providers, quiet: bool = False):
    """``quiet`` also silences onnxruntime's own error log, for probes whose failure is
    an expected answer (the raised exception still carries the message)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # warnings about unused initializers are not the user's concern
    options.log_severity_level = 4 if quiet else 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=list(providers))


def _feeds(session, inputs: dict) -> dict:
    feeds = {}
    missing = []
    for arg in session.get_inputs():
        if arg.name not in inputs:
            missing.append(arg.name)
            continue
        dtype = arg.type[len("tensor("):-1]
        dtype = {"float": "float32", "double": "float64", "float16": "float16"}.get(dtype, dtype)
        feeds[arg.name] = np.ascontiguousarray(inputs[arg.name], dtype=dtype)
    if missing:
        raise NetspecError(f"missing model inputs: {', '.join(missing)}",
                           hint=f"the model takes {', '.join(a.name for a in session.get_inputs())}")
    return feeds


class OnnxBackend:
    name = "onnx"
    emitters = TABLE

    # ------------------------------------------------------------ build
    OPTIONS = ("opset", "via", "device")

    def build(self, graph, opset: int | None = None, via: str | None = None,
              device: str | None = None, **options) -> OnnxModel:
        """``via=None`` emits ONNX directly; ``via='torch'``/``'keras'`` exports that
        backend's model instead (a cross-check of both exporters, see :mod:`.export`)."""
        unknown = [k for k in options if k not in ("input_layout", "final_path")]
        if unknown:
            raise NetspecError(f"unknown onnx backend option(s): {', '.join(unknown)}",
                               hint=f"the onnx backend takes: {', '.join(self.OPTIONS)}")
        opset = check_opset(opset if opset is not None else DEFAULT_OPSET)
        providers = default_providers(device)
        if via is None:
            return OnnxModel(emit_graph(graph, opset), opset, providers=providers)
        from .export import export_via
        proto, source, notes = export_via(via, graph, opset)
        return OnnxModel(proto, opset, via=via, source=source, notes=notes, providers=providers)

    # ------------------------------------------------------------ run
    @staticmethod
    def _model(model) -> OnnxModel:
        if isinstance(model, OnnxModel):
            return model
        if isinstance(model, onnx.ModelProto):
            opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
            return OnnxModel(model, opset)
        raise NetspecError(f"the onnx backend runs OnnxModel or onnx.ModelProto, received {type(model).__name__}")

    def run(self, model, inputs: dict, graph=None) -> dict[str, np.ndarray]:
        model = self._model(model)
        session = model.session
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, _feeds(session, inputs))
        return dict(zip(names, values))

    def run_intermediates(self, model, graph, inputs: dict, names) -> dict[str, np.ndarray]:
        """The named nodes' values, exposed as extra graph outputs of a copy of the model.

        Only a direct build has one ONNX value per netspec node (exports name theirs freely).
        """
        model = self._model(model)
        if model.via is not None:
            raise NetspecError(f"intermediate values need a direct onnx build, this model was "
                               f"exported via {model.via}",
                               hint="compare intermediates with the direct build (via=None)")
        names = list(names)
        out = {n: np.asarray(inputs[n]) for n in names if n in graph.inputs}
        wanted = [n for n in names if n not in graph.inputs]
        if wanted:
            session = make_session(with_outputs(model.proto, graph, wanted), model.providers)
            values = session.run(wanted, _feeds(session, inputs))
            out.update(zip(wanted, values))
        return out

    # ------------------------------------------------------------ weights and files
    def read_weights(self, model, graph) -> dict[str, np.ndarray]:
        """``{"node.param": array}`` in canonical layout: the initializers of a direct build
        are the canonical arrays; an exported model is read through its source framework."""
        model = self._model(model)
        if model.via is not None and model.source is not None:
            from netspec.backends import get_backend
            return get_backend(model.via).read_weights(model.source, graph)
        arrays = {t.name: numpy_helper.to_array(t) for t in model.proto.graph.initializer}
        wanted = [f"{n.name}.{s.name}" for n in graph.nodes() for s in n.param_specs]
        missing = [k for k in wanted if k not in arrays]
        if missing:
            raise NetspecError(f"the onnx model lacks initializers for {', '.join(missing[:5])}"
                               + (" ..." if len(missing) > 5 else ""),
                               hint="read_weights expects a model netspec emitted from this graph")
        return {k: arrays[k] for k in wanted}

    def save(self, model, graph, path, final_path=None, **options) -> None:
        """Write ``.onnx`` (chosen by the extension of ``final_path``, the user's file name).
        Models over 2 GiB keep their tensors in ``<name>.onnx.data`` beside it."""
        target = str(final_path or path)
        if not target.endswith(".onnx"):
            ext = os.path.splitext(target)[1] or "(none)"
            raise NetspecError(f"the onnx backend cannot write '{ext}' files", hint="use .onnx")
        proto = self._model(model).proto
        if proto.ByteSize() > PROTOBUF_LIMIT:
            onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=os.path.basename(target) + ".data")
        else:
            onnx.save_model(proto, str(path))

    def load(self, path, graph=None) -> OnnxModel:
        return self._model(onnx.load_model(str(path)))


BACKEND = OnnxBackend()
