"""Graph -> ``onnx.ModelProto`` through the emitter table, with ``onnx.helper`` only."""
from __future__ import annotations

import onnx
import onnx.defs
from onnx import helper

from netspec.errors import NetspecError

from .context import ONNX_DTYPES, EmitContext
from .table import TABLE

DEFAULT_OPSET = 17
# Softmax acts on a single axis, Squeeze/Unsqueeze/Split take axes as inputs, and Pad/Resize
# have their modern signatures from 13 on: one emitter per op covers 13 .. newest.
MIN_OPSET = 13
BATCH_DIM = "batch"


def newest_opset() -> int:
    return onnx.defs.onnx_opset_version()


def check_opset(opset) -> int:
    if opset is None:
        return DEFAULT_OPSET
    newest = newest_opset()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise NetspecError(f"onnx opset must be an int from {MIN_OPSET} to {newest} (the newest "
                           f"the installed onnx {onnx.__version__} knows), received {opset!r}",
                           hint=f"the default is {DEFAULT_OPSET}")
    return opset


def dim_names(name: str, shape) -> list:
    """ONNX dims for a graph input: static sizes stay ints, the batch axis is ``batch`` and
    every other dynamic axis gets its own symbol ``<input>_dim<axis>``, so runtimes and
    shape inference know which sizes must agree (all batches) and which are free."""
    return [d if d is not None else (BATCH_DIM if axis == 0 else f"{name}_dim{axis}")
            for axis, d in enumerate(shape)]


def output_dims(shape) -> list:
    """Graph-output dims: only the batch keeps its symbol; other dynamic sizes are left
    unnamed, since they may be derived (e.g. a strided conv of a dynamic length)."""
    return [BATCH_DIM if axis == 0 and d is None else d for axis, d in enumerate(shape)]


def tensor_info(name, t, dims):
    return helper.make_tensor_value_info(name, ONNX_DTYPES[t.dtype], dims)


def emit_graph(graph, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """The ONNX model of ``graph``: value names are the graph's node names, initializers
    ``<node>.<param>`` hold the graph's weights unchanged, batch and dynamic dims symbolic."""
    opset = check_opset(opset)
    TABLE.check_graph(graph)
    ctx = EmitContext(graph, opset)
    inputs = []
    for name in graph.inputs:
        t = graph.node(name).type
        inputs.append(tensor_info(name, t, dim_names(name, t.shape)))
        ctx._names.add(name)
    for node in graph.layers():
        ctx.current = node
        try:
            TABLE[node.op](ctx, node, list(node.inputs))
        except NetspecError as exc:
            raise exc.located(node.where())
    outputs = [tensor_info(name, graph.node(name).type, output_dims(graph.node(name).type.shape))
               for name in graph.outputs]
    onnx_graph = helper.make_graph(ctx.nodes, graph.name, inputs, outputs, ctx.initializers,
                                   doc_string=graph.doc or None)
    model = helper.make_model(onnx_graph, producer_name="netspec",
                              opset_imports=[helper.make_opsetid("", opset)])
    # The oldest IR version that can carry this opset: newer runtimes read it, and older
    # ones are not refused for a version number alone.
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    meta = {"netspec.name": graph.name, "netspec.seed": graph.meta.get("seed")}
    helper.set_model_props(model, {k: str(v) for k, v in meta.items() if v is not None})
    return model


def with_outputs(model: onnx.ModelProto, graph, names) -> onnx.ModelProto:
    """A copy of ``model`` that also outputs the named nodes' values (for localisation)."""
    extra = onnx.ModelProto()
    extra.CopyFrom(model)
    present = {o.name for o in extra.graph.output}
    for name in names:
        if name not in present:
            t = graph.node(name).type
            extra.graph.output.append(helper.make_tensor_value_info(name, ONNX_DTYPES[t.dtype], None))
            present.add(name)
    return extra
