"""Graph -> ``torch.fx.GraphModule``: straight-line generated ``forward``, graph weights loaded.

The fx graph is written directly from the IR (no tracing of a Python model): one
placeholder per graph input, the emitters' nodes in topological order, one output (a tensor,
or a tuple in ``graph.outputs`` order). ``GraphModule`` turns it into Python source, so the
module runs as fast as handwritten code and ``torch.compile``/``torch.export``/
``torch.onnx.export`` see an ordinary module.

Bookkeeping kept on the module (plain attributes, ignored by torch):
``netspec_values``  IR node name -> fx node name (``run_intermediates`` finds outputs with it)
``netspec_params``  ``"node.param"`` -> state-dict key (``read_weights`` maps back with it)
``netspec_specs``   submodule path -> :class:`ModSpec` (the ``.py`` export writes them out)
"""
from __future__ import annotations

import keyword
import re

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
from torch.fx.proxy import GraphAppendingTracer, Proxy

from netspec.errors import NetspecError, SourceLoc
from netspec.graph.ir import Graph

from .emit import TABLE, ModSpec, out_of_place

# torch dtype of each IR dtype
DTYPES = {"float32": torch.float32, "float16": torch.float16, "float64": torch.float64,
          "int64": torch.int64, "int32": torch.int32, "bool": torch.bool}


def identifier(name: str) -> str:
    """A Python identifier close to an IR name (``layer1.0.add`` -> ``layer1_0_add``)."""
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit() or keyword.iskeyword(text):
        text = "_" + text
    return text


def class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"\W|_", name) if part) or "Model"


class EmitContext:
    """What an emitter may use: input types of its node, and ``module`` to add a submodule."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.fx = fx.Graph()
        self.tracer = GraphAppendingTracer(self.fx)
        self.root = nn.Module()
        self.specs: dict[str, ModSpec] = {}
        self.params: dict[str, str] = {}

    def in_type(self, node, index: int = 0):
        return self.graph.node(node.inputs[index]).type

    def module(self, node, spec: ModSpec, *args) -> Proxy:
        """Install ``spec`` at the node's dotted name and call it on ``args``."""
        path = node.name
        install(self.root, path, spec.build(), node)
        self.specs[path] = spec
        for p in node.params:
            self.params[f"{node.name}.{p}"] = f"{path}.{spec.names.get(p, p)}"
        fx_node = self.fx.call_module(path, tuple(a.node if isinstance(a, Proxy) else a for a in args))
        return Proxy(fx_node, self.tracer)


def install(root: nn.Module, path: str, module: nn.Module, node=None) -> None:
    """Put ``module`` at a dotted path, creating empty parents: ``layer1.0.conv1``."""
    *parents, leaf = path.split(".")
    where = SourceLoc(node=path) if node is None else node.where()
    try:
        for part in parents:
            if part not in root._modules:
                root.add_module(part, nn.Module())
            root = root._modules[part]
        root.add_module(leaf, module)
    except (KeyError, TypeError) as exc:
        raise NetspecError(f"the layer name '{path}' cannot be a torch submodule name ({exc})", where,
                           "rename the layer (names like 'forward', 'training' or '' are taken)") from None


def emit_graph(graph: Graph) -> fx.GraphModule:
    """The GraphModule of ``graph`` with freshly constructed (not yet loaded) weights."""
    TABLE.check_graph(graph)
    ctx = EmitContext(graph)
    values: dict[str, Proxy] = {}
    for name in graph.inputs:
        values[name] = Proxy(ctx.fx.placeholder(identifier(name)), ctx.tracer)
    for node in graph.layers():
        inputs = [values[i] for i in node.inputs]
        try:
            out = TABLE[node.op](ctx, node, *inputs)
        except NetspecError as exc:
            raise exc.located(node.where())
        if out.node.op != "call_module":  # submodule calls already carry the layer's name
            out.node._rename(identifier(node.name))
        values[node.name] = out
    results = [values[o].node for o in graph.outputs]
    ctx.fx.output(results[0] if len(results) == 1 else tuple(results))
    ctx.fx.lint()
    gm = fx.GraphModule(ctx.root, ctx.fx, class_name=class_name(graph.name))
    gm.netspec_values = {k: v.node.name for k, v in values.items()}
    gm.netspec_params = ctx.params
    gm.netspec_specs = ctx.specs
    gm.netspec_inputs = list(graph.inputs)
    gm.netspec_input_dtypes = {n: graph.node(n).type.dtype for n in graph.inputs}
    gm.netspec_outputs = list(graph.outputs)
    return gm


def load_weights(model: nn.Module, graph: Graph, strict: bool = True) -> None:
    """Copy the graph's arrays into the module, bit for bit (float32 -> float32)."""
    state = model.state_dict(keep_vars=True)
    missing = []
    with torch.no_grad():
        for node in graph.layers():
            for spec in node.param_specs:
                key = f"{node.name}.{spec.name}"
                if spec.name not in node.params:
                    missing.append(key)
                    continue
                target = state[model.netspec_params[key]]
                value = torch.from_numpy(np.ascontiguousarray(node.params[spec.name]))
                if tuple(value.shape) != tuple(target.shape):
                    raise NetspecError(f"weight '{key}' has shape {list(value.shape)}, the torch "
                                       f"layer expects {list(target.shape)}", node.where())
                target.copy_(value)
    if missing and strict:
        raise NetspecError(f"the graph has no values for {len(missing)} weights, e.g. {missing[:3]}",
                           hint="load the spec with a seed, or set weights on the graph first")


def read_weights(model: nn.Module, graph: Graph | None = None) -> dict[str, np.ndarray]:
    """The module's current weights in canonical layout: ``{"node.param": float32 array}``."""
    state = model.state_dict()
    return {key: state[path].detach().cpu().numpy().copy() for key, path in model.netspec_params.items()}


def update_graph_weights(model: nn.Module, graph: Graph) -> Graph:
    """Write a (trained) module's weights back into ``graph``, so other backends emit them."""
    graph.set_weights(read_weights(model, graph))
    return graph


def build(graph: Graph, device: str | None = None, dtype: str | None = None, **_ignored) -> fx.GraphModule:
    """The torch module of ``graph``, weights loaded, in eval mode, on ``device`` (default cpu).

    ``dtype`` ("float64", "float16") casts parameters and float buffers after loading; the
    default keeps the graph's float32 weights bit-identical.
    """
    model = emit_graph(graph)
    load_weights(model, graph)
    model.eval()
    if dtype is not None:
        if dtype not in ("float16", "float32", "float64"):
            raise NetspecError(f"dtype must be float16, float32 or float64, received {dtype!r}")
        model.to(DTYPES[dtype])
    if device is not None:
        try:
            model.to(torch.device(device))
        except (RuntimeError, AssertionError) as exc:
            raise NetspecError(f"cannot move the model to device '{device}': {exc}".split("\n")[0],
                               hint="devices: cpu" + (", cuda" if torch.cuda.is_available() else
                                                      " (no CUDA device is visible)")) from None
    return model


def model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def input_dtype(graph, name: str) -> str:
    """The dtype the graph declares for input ``name``; ``graph`` may be the stand-in that
    ``run`` makes from a built module (``inputs``, ``outputs`` and ``dtypes`` alone)."""
    if isinstance(graph, Graph):
        return graph.node(name).type.dtype
    return getattr(graph, "dtypes", {}).get(name, "float32")


def to_tensors(model, graph: Graph, inputs: dict) -> list[torch.Tensor]:
    missing = [n for n in graph.inputs if n not in inputs]
    if missing:
        raise NetspecError(f"missing inputs {missing}", hint=f"the graph's inputs: {graph.inputs}")
    device = model_device(model)
    # float inputs take the weights' dtype (a module moved to float16 with .half() is fed
    # float16); a model without float weights is fed the dtype its graph declares, so a
    # float64 or float16 graph computes in that type, not in float32
    weights = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    out = []
    for name in graph.inputs:
        t = torch.as_tensor(np.asarray(inputs[name]))
        if t.is_floating_point():
            declared = input_dtype(graph, name)
            t = t.to(weights or (DTYPES[declared] if declared.startswith("float") else torch.float32))
        out.append(t.to(device))
    return out


def to_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy()


def run(model, graph: Graph, inputs: dict) -> dict[str, np.ndarray]:
    """Eval-mode forward on numpy inputs; the mode the module was in is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(*to_tensors(model, graph, inputs))
    finally:
        model.train(was_training)
    outs = out if isinstance(out, tuple) else (out,)
    return {name: to_numpy(v) for name, v in zip(graph.outputs, outs)}


def intermediates_module(model: fx.GraphModule, names: list[str]) -> fx.GraphModule:
    """A GraphModule sharing ``model``'s submodules whose outputs are the named IR nodes."""
    unknown = [n for n in names if n not in model.netspec_values]
    if unknown:
        raise NetspecError(f"no such nodes: {unknown}")
    copy = fx.Graph()
    mapping: dict = {}
    copy.graph_copy(model.graph, mapping)
    out_of_place(copy)  # an in-place relu would overwrite the batchnorm output asked for
    by_name = {n.name: n for n in model.graph.nodes}
    copy.output(tuple(mapping[by_name[model.netspec_values[n]]] for n in names))
    sub = fx.GraphModule(model, copy)
    sub.graph.eliminate_dead_code()  # only the layers the named nodes depend on
    sub.recompile()
    return sub


def run_intermediates(model, graph: Graph, inputs: dict, names) -> dict[str, np.ndarray]:
    names = list(names)
    sub = intermediates_module(model, names)
    was_training = model.training
    model.eval()
    sub.eval()
    try:
        with torch.no_grad():
            outs = sub(*to_tensors(model, graph, inputs))
    finally:
        model.train(was_training)
    return {name: to_numpy(v) for name, v in zip(names, outs)}
