"""ONNX model -> netspec graph.

Steps: read the model (a path or a ``ModelProto``); upgrade opsets older than
:data:`MIN_OPSET` with ``onnx.version_converter``; declare the graph inputs (initializers
listed as inputs, as old exporters did, are weights, not inputs); then visit the nodes in
their (topological) file order. A node whose inputs are all constants is folded
(:mod:`.fold`); any other node goes to the newest importer registered for its op type at
the model's opset (:mod:`.registry`). Problems are collected, not raised one by one: every
unsupported op and every node an importer refuses is reported in one error, and nodes that
depend on a failed one are skipped so one problem is reported once. Finally the graph is
built with deterministic names, linted and shape-checked, and its weights are verified
against the ops' parameter specs.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnx.defs
from onnx import numpy_helper

from netspec.errors import NetspecError, SourceLoc, did_you_mean, raise_all
from netspec.graph.ir import INPUT, Graph
from netspec.graph.lint import NAME, lint
from netspec.graph.passes import infer_shapes, receptive_fields
from netspec.ops.types import CHANNELS_FIRST, PLAIN, TensorType

from . import boundary
from . import fold as folding
from .context import DTYPES, ImportContext, node_label, sanitise
from .registry import TABLE
from .values import Fill, SymShape, View

MIN_OPSET = 11  # older models are upgraded to UPGRADE_TO first
UPGRADE_TO = 13
# Ops that read their input as a feature map: a rank-3 graph input they consume is (N, C, L).
MAP_OPS = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
                     "GlobalMaxPool", "BatchNormalization", "LRN", "Pad", "Resize",
                     "InstanceNormalization"})


def import_onnx(source, name: str | None = None) -> Graph:
    """A linted graph with inferred shapes from an ONNX file path or ``onnx.ModelProto``.

    Weights are the model's initializers (float32 arrays unchanged; where netspec stores a
    parameter in another layout, e.g. recurrent gate order, it is rearranged exactly).
    Raises one :class:`~netspec.errors.NetspecError` listing every problem found.
    """
    model, file = load_model(source)
    model, opset = upgrade(model, file)
    ctx = ImportContext(model, file, opset)
    declare_inputs(ctx)
    for node in model.graph.node:
        import_node(ctx, node)
    ctx.node = None
    outputs = collect_outputs(ctx)
    raise_all(ctx.errors)
    graph_name = name or sanitise(model.graph.name or (os.path.splitext(os.path.basename(file))[0]
                                                       if file else "model"))
    return finish(ctx, outputs, graph_name, model.graph.doc_string or "")


# ---------------------------------------------------------------- reading and upgrading
def load_model(source) -> tuple[onnx.ModelProto, str | None]:
    if isinstance(source, onnx.ModelProto):
        return source, None
    try:
        path = os.fspath(source)
    except TypeError:
        raise NetspecError(f"import_onnx takes a file path or an onnx.ModelProto, received "
                           f"{type(source).__name__}") from None
    if not os.path.isfile(path):
        raise NetspecError(f"no such file: {path}", SourceLoc(file=path))
    try:
        return onnx.load_model(path), path
    except Exception as exc:  # protobuf raises DecodeError, external data OSError, ...
        raise NetspecError(f"cannot read an ONNX model from {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                           SourceLoc(file=path), "is it an .onnx file? (onnx.load should read it)") from None


def model_opset(model: onnx.ModelProto, file) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise NetspecError("the model imports no version of the default ONNX domain", SourceLoc(file=file))


def upgrade(model: onnx.ModelProto, file) -> tuple[onnx.ModelProto, int]:
    """Opsets below :data:`MIN_OPSET` (7-10 are common in old model zoos) are converted with
    ``onnx.version_converter`` so one set of importers serves them; newer opsets than the
    installed onnx knows are refused, since their ops' meaning is unknown here."""
    opset = model_opset(model, file)
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise NetspecError(f"the model uses opset {opset}, newer than {newest}, the newest the "
                           f"installed onnx {onnx.__version__} knows", SourceLoc(file=file),
                           "upgrade the onnx package")
    if opset >= MIN_OPSET:
        return model, opset
    from onnx import version_converter

    try:
        upgraded = version_converter.convert_version(model, UPGRADE_TO)
    except Exception as exc:
        raise NetspecError(f"cannot upgrade the model from opset {opset} to {UPGRADE_TO}: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                           SourceLoc(file=file), "re-export the model with opset 11 or newer") from None
    return upgraded, UPGRADE_TO


# ---------------------------------------------------------------- inputs
def declare_inputs(ctx: ImportContext) -> None:
    """Initializers become constants; the remaining graph inputs become graph inputs."""
    graph = ctx.model.graph
    for init in graph.initializer:
        ctx.values[init.name] = numpy_helper.to_array(init)
    for value in graph.input:
        if value.name in ctx.values:
            continue  # a weight listed as an input (opset <= 8 style) stays a weight
        t = input_type(ctx, value)
        mover = boundary.input_mover(ctx, value, list(t.shape))
        if mover is not None:
            # a channels-last input moved to channels-first at once: the graph input is the
            # canonical tensor, and the file's layout is kept in meta (see .boundary)
            perm = boundary.to_channels_first(t.rank)
            shape = tuple(t.shape[p] for p in perm)
            layout = input_layout(ctx, mover.output[0], t.rank, t.dtype)
            if layout == CHANNELS_FIRST:
                name = ctx.add_input(value.name, TensorType(shape, t.dtype, layout))
                ctx.values[mover.output[0]] = ctx.values[value.name]
                ctx.claim(mover)
                ctx.input_perms[name] = boundary.to_channels_last(t.rank)
                continue
        ctx.add_input(value.name, t)


def input_type(ctx: ImportContext, value: onnx.ValueInfoProto) -> TensorType:
    tensor = value.type.tensor_type
    where = SourceLoc(file=ctx.file, node=value.name)
    if not value.type.HasField("tensor_type") or not tensor.HasField("shape"):
        raise NetspecError(f"graph input '{value.name}' has no tensor shape", where,
                           "netspec needs each input's rank; export with shapes")
    dtype = DTYPES.get(tensor.elem_type)
    if dtype is None:
        raise NetspecError(f"graph input '{value.name}' has element type "
                           f"{onnx.TensorProto.DataType.Name(tensor.elem_type)}, which netspec does not "
                           f"support", where, f"netspec tensors are {', '.join(DTYPES.values())}")
    # a set dim_value is a static size, 0 included (an empty tensor, not a dynamic size)
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    if not shape:
        raise NetspecError(f"graph input '{value.name}' is a scalar; netspec inputs have a batch axis", where)
    return TensorType(shape, dtype, input_layout(ctx, value.name, len(shape), dtype))


def input_layout(ctx: ImportContext, name: str, rank: int, dtype: str) -> str:
    """Images and maps (rank >= 4) are channels-first; a rank-3 float input is a map
    (N, C, L) when a convolution-like op reads it, else a sequence (N, T, F)."""
    if dtype.startswith("int") or dtype == "bool" or rank <= 2:
        return PLAIN
    if rank >= 4:
        return CHANNELS_FIRST
    readers = {n.op_type for n in ctx.consumers.get(name, ())}
    return CHANNELS_FIRST if readers & MAP_OPS else PLAIN


# ---------------------------------------------------------------- nodes
def import_node(ctx: ImportContext, node: onnx.NodeProto) -> None:
    ctx.node = node
    ctx.weight_sources = []
    if id(node) in ctx.claimed:
        return
    importer = TABLE.lookup(node.op_type, ctx.opset) if node.domain in ("", "ai.onnx") else None
    inputs = [n for n in node.input if n]
    if any(n in ctx.failed for n in inputs):
        ctx.failed.update(node.output)
        if importer is None:  # a failed input is no constant, so this node could not be folded
            ctx.errors.append(unsupported(ctx, node))
        return
    undefined = [n for n in inputs if n not in ctx.values]
    if undefined:
        ctx.errors.append(ctx.error(f"reads '{undefined[0]}', which no node or initializer produces",
                                    did_you_mean(undefined[0], ctx.values)))
        ctx.failed.update(node.output)
        return
    try:
        values = [ctx.values[n] if n else None for n in node.input]
        if folding.foldable(node) and all(v is None or isinstance(v, np.ndarray) for v in values):
            for out, value in zip(node.output, folding.fold(node, values, ctx.opset, ctx.where())):
                if out:
                    ctx.values[out] = value
            return
        if importer is None:
            ctx.errors.append(unsupported(ctx, node))
            ctx.failed.update(node.output)
            return
        importer(ctx, node)
    except NetspecError as exc:
        ctx.errors.append(exc.located(ctx.where()))
        ctx.failed.update(node.output)
        return
    for out in node.output:
        if out and out not in ctx.values and (out in ctx.graph_outputs or any(
                id(c) not in ctx.claimed for c in ctx.consumers.get(out, ()))):
            ctx.errors.append(ctx.error(f"output '{out}' is used, but netspec cannot import it"))
            ctx.failed.add(out)


def unsupported(ctx: ImportContext, node: onnx.NodeProto) -> NetspecError:
    domain = f" (domain '{node.domain}')" if node.domain not in ("", "ai.onnx") else ""
    versions = TABLE.versions(node.op_type)
    if versions:
        hint = f"netspec imports {node.op_type} from opset {versions[0]}; the model uses opset {ctx.opset}"
    else:
        hint = did_you_mean(node.op_type, TABLE.op_types()) or (
            f"netspec imports {len(TABLE.op_types())} ONNX op types; "
            "see netspec.converters.onnx.supported_ops()")
    return NetspecError(f"unsupported ONNX op {node.op_type}{domain} at node '{node_label(node)}'",
                        ctx.where(node), hint)


# ---------------------------------------------------------------- outputs and the graph
def collect_outputs(ctx: ImportContext) -> list[str]:
    names = []
    for output in ctx.model.graph.output:
        if output.name in ctx.failed:
            continue
        value = ctx.values.get(output.name)
        where = SourceLoc(file=ctx.file, node=output.name)
        folded = boundary.output_source(ctx, value)
        if folded is not None and folded not in names:
            # a canonical map moved to channels-last for the output: the graph outputs the
            # map, and the file's layout is kept in meta (see .boundary)
            ctx.output_perms[folded] = boundary.to_channels_last(ctx.ir_type(folded).rank)
            names.append(folded)
        elif isinstance(value, View):
            # a view is materialised here, after the nodes: its errors are about the node
            # that produced the output, so they name that node
            ctx.node = ctx.producer.get(output.name)
            try:
                node = ctx.materialise(value)
            except NetspecError as exc:
                ctx.errors.append(exc.located(where))
                continue
            finally:
                ctx.node = None
            pending = ctx.pending[node]
            if pending.op != INPUT and NAME.match(output.name) and output.name not in pending.aliases:
                pending.aliases.append(output.name)
            names.append(node)
        elif value is None:
            ctx.errors.append(NetspecError(f"graph output '{output.name}' is produced by no node", where))
        else:
            kind = "a shape" if isinstance(value, SymShape) else "a constant" if isinstance(
                value, (np.ndarray, Fill)) else type(value).__name__
            ctx.errors.append(NetspecError(f"graph output '{output.name}' is {kind}, not a tensor "
                                           "computed from the inputs", where,
                                           "netspec graphs compute every output from the inputs"))
    return names


def weights_prefix(sources: list[str]) -> str | None:
    """``layer1.0.conv1`` when every weight came from an initializer ``layer1.0.conv1.<param>``
    (PyTorch exports name initializers by their state-dict keys, i.e. module paths)."""
    prefixes = {s.rpartition(".")[0] for s in sources if "." in s}
    if len(prefixes) != 1 or len(sources) != sum("." in s for s in sources):
        return None
    prefix = prefixes.pop()
    return prefix if NAME.match(prefix) else None


def final_names(ctx: ImportContext, live: list[str], outputs: list[str]) -> dict[str, str]:
    """Each node keeps its name unless a better one exists. A graph output's name always
    wins; a node whose name was made from an ONNX helper name (``/layer1/conv1/Conv``)
    takes the module path its weights were stored under (``layer1.conv1``), or else the
    name of the value its consumers see (``conv1/matmul`` -> ``conv1``)."""
    chosen: dict[str, str] = {}
    wanted: dict[str, str] = {}
    claimed_prefixes: set[str] = set()
    for name in live:
        pending = ctx.pending[name]
        outs = [a for a in pending.aliases if a in ctx.graph_outputs]
        prefix = weights_prefix(pending.sources) if not pending.clean else None
        if outs:
            wanted[name] = outs[0]
        elif prefix is not None and prefix not in claimed_prefixes:
            wanted[name] = prefix  # the first node using a module's weights gets its path
            claimed_prefixes.add(prefix)
        elif not pending.clean and pending.aliases:
            wanted[name] = pending.aliases[-1]
    taken = {n for n in live if n not in wanted}
    for name in live:
        new = wanted.get(name)
        if new is not None and new != name:
            base, i = new, 2
            while new in taken:
                new, i = f"{base}_{i}", i + 1
        else:
            new = name
        taken.add(new)
        chosen[name] = new
    return chosen


def finish(ctx: ImportContext, outputs: list[str], name: str, doc: str) -> Graph:
    live: set[str] = set(ctx.inputs)
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if n not in live:
            live.add(n)
            stack.extend(ctx.pending[n].inputs)
    order = [n for n in ctx.pending if n in live]
    names = final_names(ctx, order, outputs)
    graph = Graph(name, doc)
    for n in order:
        p = ctx.pending[n]
        if p.op == INPUT:
            graph.add_input(names[n], p.type, p.loc)
        else:
            node = graph.add_node(names[n], p.op, p.attrs, [names[i] for i in p.inputs], p.loc)
            node.params = dict(p.params)
    graph.outputs = [names[o] for o in outputs]
    # "source" is the file a graph came from, as for specs (writers never overwrite it)
    if ctx.file:
        graph.meta["source"] = ctx.file
    graph.meta["onnx"] = {"opset": ctx.opset, "producer": ctx.model.producer_name or None,
                          # canonical -> the file's layout, where a boundary transpose was folded
                          "input_perms": {names[n]: list(p) for n, p in ctx.input_perms.items()},
                          "output_perms": {names[n]: list(p) for n, p in ctx.output_perms.items()}}
    lint(graph)
    infer_shapes(graph)
    receptive_fields(graph)
    graph.set_weights(graph.weights())  # checks every parameter against its op's spec
    return graph
