"""Graph -> readable YAML spec (decompiling): ``netspec build model.yaml`` gives the graph back.

``spec_text(graph)`` writes the spec as text; ``write_spec(graph, path)`` writes it to a file
and, with ``weights=True``, the graph's parameters beside it in ``<stem>.safetensors``,
which the spec names in its top-level ``weights:`` key.

What makes the text readable, and where each part lives:

* attributes: the shortest spelling that the op registry resolves back to the node's
  resolved attributes, defaults left out (:mod:`converters.spec_attrs`);
* blocks: instances found from the dotted names, shared blocks from structural
  signatures (:mod:`converters.spec_blocks`, whose docstring says why names bound the
  instances); varying values as block parameters, repeats with ``$index`` expressions
  (:mod:`converters.spec_emit`);
* wiring: ``from:`` only where an entry does not read exactly the previous entry's
  result; ``name:`` only where the compiler's automatic name (``conv``, ``conv_1``, ...)
  would differ from the node's;
* layout: one line per layer, as the zoo specs are written (:mod:`converters.spec_yaml`);
* names no spec can produce: refused, or with ``rename=True`` replaced by the names of
  block instances found from the structure alone (:mod:`converters.spec_structure`).

Every text is checked before it is returned: it is compiled again and compared with the
graph (node names, ops, resolved attributes, inputs, output types, graph inputs and
outputs). A spec that would not rebuild the graph exactly is never written; the error says
where the two differ.
"""
from __future__ import annotations

import os
import re

import numpy as np

from netspec.errors import NetspecError, SourceLoc
from netspec.graph.ir import INPUT, Graph
from netspec.ops import REQUIRED
from netspec.ops.types import CHANNELS_FIRST, PLAIN
from netspec.spec.compiler import NAME

from .spec_blocks import Typing, instances, name_tree, node_order, present_mask, repeats
from .spec_emit import Emitter, block_name
from .spec_yaml import spec_yaml

__all__ = ["spec_text", "write_spec", "decompile", "spec_data", "graph_differences", "spec_names", "renamed"]


# ------------------------------------------------------------------ the spec as data
def _input_decl(graph: Graph, name: str):
    """``[3, 224, 224]`` when dtype and layout are the defaults, else the long form."""
    t = graph.node(name).type
    shape = list(t.shape[1:])
    default_layout = CHANNELS_FIRST if len(shape) >= 2 and not t.dtype.startswith("int") else PLAIN
    if t.dtype == "float32" and t.layout == default_layout:
        return shape
    decl = {"shape": shape}
    if t.dtype != "float32":
        decl["dtype"] = t.dtype
    if t.layout != default_layout:
        decl["layout"] = t.layout
    return decl


def _find_blocks(graph: Graph, share: bool = True):
    """The name tree with every instance typed and every block finished, innermost first.
    ``share=False`` gives every instance a block of its own (the fallback when a shared
    block would not rebuild the graph exactly)."""
    top = name_tree(graph)
    typing = Typing(graph, share)
    found = instances(top)
    loops = repeats(top)
    site = {copy: loop.local for loop in loops for copy in loop.copies}
    for height in sorted({inst.height for inst in found}):
        for inst in found:
            if inst.height == height:
                typing.assign(inst)
        for loop in loops:
            copies = loop.copies
            if copies[0].kind == "instance" and max(c.height for c in copies) == height:
                if not typing.merge([c.type for c in copies]):
                    raise NetspecError(
                        f"the copies of repeat '{loop.local}' are block instances of different "
                        "structure, and no layers can be left out of one to give the other",
                        SourceLoc(node=copies[0].nodes[0]),
                        "a spec's repeat stacks copies of one block; rename the nodes so that they "
                        "are no repeat (no .0, .1 suffixes)")
    if share:
        typing.consolidate(found)
    emitter = Emitter(graph, typing)
    # a block is finished after the blocks inside it: by the height of its tallest instance
    # (a merged block's variants may differ in height), then by first appearance
    tallest: dict[int, int] = {}
    for inst in found:
        root = typing.find(inst.type)
        tallest[root] = max(tallest.get(root, 0), inst.height)
    order = sorted(tallest, key=lambda root: tallest[root])
    taken: set = set()
    blocks = []
    for root in order:
        block = typing.types[root]
        members = [i for i in found if typing.find(i.type) == root]
        signatures = [typing.signature(m.body) for m in members]
        widest = max(range(len(members)), key=lambda k: len(signatures[k][1]))
        masks = [present_mask(signatures[widest], sig) for sig in signatures]
        if any(mask is None for mask in masks):
            bad = members[masks.index(None)]
            raise NetspecError("block instances merged as variants do not align after merging their "
                               "inner blocks", SourceLoc(node=bad.nodes[0]),
                               "this is a bug in the spec writer; please report it with the graph")
        block.name = block_name(graph, block, [site.get(m, m.local) for m in members], taken)
        taken.add(block.name)
        rep = members[widest].body
        block.layers, block.params, values = emitter.emit_body([m.body for m in members], masks, rep,
                                                               rep.input_names)
        block.inputs = rep.input_names
        for member, member_values in zip(members, values):
            member.param_values = member_values
        blocks.append(block)
    top_entries, _, _ = emitter.emit_body([top], [[True] * len(top.items)], top, top.input_names)
    return top, blocks, top_entries


def spec_data(graph: Graph, weights_file: str | None = None, share: bool = True) -> dict:
    """The spec as plain data (what :func:`converters.spec_yaml.spec_yaml` writes)."""
    if not graph.inputs:
        raise NetspecError("the graph has no inputs", SourceLoc(node=graph.name), "a spec needs 'inputs'")
    if not any(n.op != INPUT for n in graph.nodes()):
        raise NetspecError("the graph has no layers", SourceLoc(node=graph.name), "a spec needs 'layers'")
    top, blocks, entries = _find_blocks(graph, share)
    spec: dict = {"name": graph.name or "model"}
    if graph.doc:
        spec["doc"] = graph.doc
    spec["inputs"] = {name: _input_decl(graph, name) for name in graph.inputs}
    last = top.items[-1].output
    if list(graph.outputs) != [last]:
        missing = [o for o in graph.outputs if o not in top.refs]
        if missing or not graph.outputs:
            raise NetspecError(f"graph output '{missing[0] if missing else '(none)'}' cannot be named in a spec",
                               SourceLoc(node=missing[0] if missing else graph.name),
                               "outputs must be layers a spec can name (not an inner copy of a repeated layer)")
        names = [top.refs[o] for o in graph.outputs]
        spec["outputs"] = names[0] if len(names) == 1 else names
    if weights_file is not None:
        spec["weights"] = weights_file
    spec["blocks"] = {
        b.name: {"params": {p: "required" if d is REQUIRED else d for p, d in b.params.items()},
                 "inputs": b.inputs if b.inputs != ["input"] else None,
                 "layers": b.layers}
        for b in blocks}
    spec["layers"] = entries
    if graph.meta.get("train"):
        spec["train"] = graph.meta["train"]  # how to train it is part of the model's spec
    return spec


# ------------------------------------------------------------------ checking
def graph_differences(expected: Graph, actual: Graph, weights: bool = False, limit: int = 10) -> list[str]:
    """How ``actual`` differs from ``expected``: one line per difference (at most ``limit``);
    empty when they are the same graph. ``weights`` also compares parameters bit for bit."""
    out = []
    for what in ("name", "doc", "inputs", "outputs"):
        a, b = getattr(expected, what), getattr(actual, what)
        if list(a) != list(b) if isinstance(a, list) else a != b:
            out.append(f"graph {what}: expected {a!r}, got {b!r}")
    if expected.meta.get("train") != actual.meta.get("train"):
        out.append(f"train section: expected {expected.meta.get('train')!r}, got {actual.meta.get('train')!r}")
    names_a, names_b = set(expected.nx.nodes), set(actual.nx.nodes)
    for name in sorted(names_a - names_b)[:limit]:
        out.append(f"node '{name}' is missing")
    for name in sorted(names_b - names_a)[:limit]:
        out.append(f"node '{name}' is not in the original")
    for node in expected.nodes():
        if node.name not in names_b:
            continue
        other = actual.node(node.name)
        for what in ("op", "attrs", "inputs", "type"):
            a, b = getattr(node, what), getattr(other, what)
            if a != b:
                out.append(f"node '{node.name}' {what}: expected {a!r}, got {b!r}")
        if weights:
            if set(node.params) != set(other.params):
                out.append(f"node '{node.name}' params: expected {sorted(node.params)}, got {sorted(other.params)}")
            for key, value in node.params.items():
                if key in other.params and (value.dtype != other.params[key].dtype
                                            or value.shape != other.params[key].shape
                                            or value.tobytes() != other.params[key].tobytes()):
                    out.append(f"node '{node.name}' param '{key}' differs")
        if len(out) >= limit:
            break
    return out[:limit]


def _checked(graph: Graph, text: str, file: str) -> str:
    from netspec.spec import compile_spec
    from netspec.spec.loader import load_yaml_text

    try:
        rebuilt = compile_spec(load_yaml_text(text, file), file)
    except NetspecError as exc:
        raise NetspecError(f"the written spec does not compile: {exc}", SourceLoc(node=graph.name),
                           "this is a bug in the spec writer; please report it with the graph") from None
    problems = graph_differences(graph, rebuilt, limit=3)
    if problems:
        raise NetspecError("the written spec would not rebuild the graph: " + "; ".join(problems),
                           SourceLoc(node=graph.name),
                           "this is a bug in the spec writer; please report it with the graph")
    return text


def spec_text(graph: Graph, weights_file: str | None = None, rename: bool = False) -> str:
    """The graph as YAML spec text, checked to compile back to the same graph.

    Node names are kept exactly. A graph whose names no spec can produce (an importer's
    ``layer1_layer1.0_conv1_Conv``) is refused with the offending name, unless ``rename``;
    see :func:`decompile`, which also returns the graph the text describes.
    """
    return decompile(graph, weights_file, rename)[0]


def decompile(graph: Graph, weights_file: str | None = None, rename: bool = False) -> tuple[str, Graph]:
    """(spec text, the graph it rebuilds). Without ``rename`` that graph is ``graph``.

    With ``rename``, names may change where that buys blocks or is needed at all: a graph
    whose own names already show its blocks keeps them; otherwise repeated structure is
    found from the graph alone (:mod:`converters.spec_structure`) and the nodes get the
    names of those blocks' instances; when that finds nothing or would not rebuild the
    graph, names are only made into spec names (:func:`spec_names`).
    """
    if not rename:
        return _written(graph, weights_file), graph
    keepable = not spec_names(graph)

    def structural():
        from .spec_structure import structural_names
        order, mapping, units = structural_names(graph)
        if units:
            mapping.update(_input_names(graph))
            return renamed(graph, mapping, order)
        return None

    # Names that read as block instances are tried as such first; dotted names that only
    # look like instances (an exporter's ``stem.1`` for the 2nd layer of an nn.Sequential,
    # with a different op in each "copy") fall through to structure, then to plain names.
    candidates = [lambda: graph] if keepable and graph_has_blocks(graph) else []
    candidates += [structural, lambda: graph if keepable and not graph_has_blocks(graph) else None,
                   lambda: renamed(graph, _plain_names(graph, node_order(graph)))]
    failure = None
    for make in candidates:
        candidate = make()
        if candidate is None:
            continue
        try:
            return _written(candidate, weights_file), candidate
        except NetspecError as exc:
            failure = failure or exc
    raise failure


def _written(graph: Graph, weights_file: str | None) -> str:
    try:
        return _checked(graph, spec_yaml(spec_data(graph, weights_file)), "<spec>")
    except NetspecError as shared_failed:
        if not graph_has_blocks(graph):
            raise
        try:  # a block of its own per instance: longer, but it may rebuild what sharing could not
            return _checked(graph, spec_yaml(spec_data(graph, weights_file, share=False)), "<spec>")
        except NetspecError:
            raise shared_failed from None


def graph_has_blocks(graph: Graph) -> bool:
    return any("." in n.name for n in graph.nodes())


# ------------------------------------------------------------------ names no spec can produce
def spec_names(graph: Graph) -> dict[str, str]:
    """``{old: new}`` for the nodes to rename when the graph's names cannot all be kept:
    every name that is not a plain spec name becomes one (other characters, dots included,
    turn into ``_``; a leading digit gets a ``_`` before it), made unique with ``_2``,
    ``_3``, ... Empty when the names can be kept as they are."""
    try:
        name_tree(graph)
        return {}
    except NetspecError:
        pass
    return _plain_names(graph, node_order(graph))


def _plain_names(graph: Graph, names) -> dict[str, str]:
    taken = {n for n in graph.nx.nodes if NAME.fullmatch(n)}
    out = {}
    for name in names:
        if NAME.fullmatch(name) and name != "input":
            continue
        base = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not base or base[0].isdigit():
            base = "_" + base
        new, n = base, 2
        while new in taken or new == "input":
            new, n = f"{base}_{n}", n + 1
        taken.add(new)
        out[name] = new
    return out


def _input_names(graph: Graph) -> dict[str, str]:
    return _plain_names(graph, graph.inputs)


def renamed(graph: Graph, mapping: dict[str, str] | None = None, order: list[str] | None = None) -> Graph:
    """A copy of ``graph`` with nodes renamed by ``mapping`` (default :func:`spec_names`) and
    its layers listed in ``order`` (default: the graph's); parameter arrays are shared."""
    mapping = spec_names(graph) if mapping is None else mapping
    if not mapping:
        return graph
    new = lambda name: mapping.get(name, name)  # noqa: E731
    other = Graph(graph.name, graph.doc)
    other.meta = {k: v for k, v in graph.meta.items() if k not in ("source", "weights", "weights_loc")}
    other.meta["renamed"] = dict(mapping)
    layers = order if order is not None else [n for n in node_order(graph) if graph.node(n).op != INPUT]
    for node in (graph.node(n) for n in [*graph.inputs, *layers]):
        copy = other.add_node(new(node.name), node.op, node.attrs, [new(i) for i in node.inputs], node.loc)
        copy.type, copy.param_specs, copy.params = node.type, list(node.param_specs), dict(node.params)
        copy.macs, copy.rf = node.macs, node.rf
    other.inputs = [new(n) for n in graph.inputs]
    other.outputs = [new(n) for n in graph.outputs]
    return other


# ------------------------------------------------------------------ files
def _stem(path: str) -> str:
    base = os.path.basename(path)
    for ext in (".yaml", ".yml"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def write_spec(graph: Graph, path: str, weights: bool = True, force: bool = False,
               rename: bool = False) -> None:
    """Write ``path`` (a .yaml spec) and, with ``weights``, ``<stem>.safetensors`` beside it.

    Both files are written atomically (temporary file, then rename); the graph's own source
    spec and weights file are never overwritten; an existing output only with ``force``.
    ``rename``: see :func:`spec_text` (the weights are then stored under the new names).
    """
    from netspec.cli.common import write_atomic

    sources = (graph.meta.get("source"), graph.meta.get("weights"))
    folder = os.path.dirname(os.path.abspath(path))
    weights_name = f"{_stem(path)}.safetensors" if weights else None
    text, graph = decompile(graph, weights_name, rename)
    targets = [path] + ([os.path.join(folder, weights_name)] if weights else [])
    for target in targets:  # all checks before the first write: both files or neither
        if any(src and os.path.realpath(src) == os.path.realpath(target) for src in sources):
            raise NetspecError("refusing to overwrite the input file", SourceLoc(target),
                               "write the spec under another name")
        if os.path.exists(target) and not force:
            raise NetspecError("output exists", SourceLoc(target), "pass force=True to replace it")
    if weights:
        arrays = {key: np.ascontiguousarray(value) for key, value in graph.weights().items()}
        expected = {f"{n.name}.{s.name}" for n in graph.nodes() for s in n.param_specs}
        missing = sorted(expected - set(arrays))
        if missing:
            raise NetspecError(f"the graph has no weights for {missing[0]}" +
                               (f" and {len(missing) - 1} more" if len(missing) > 1 else ""),
                               SourceLoc(node=missing[0].rsplit(".", 1)[0]),
                               "initialise them (netspec.graph.init.init_weights) or pass weights=False")

        def save(tmp):
            from safetensors.numpy import save_file
            save_file(arrays, tmp)

        write_atomic(os.path.join(folder, weights_name), save, force=force, inputs=sources)

    def save_text(tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    write_atomic(path, save_text, force=force, inputs=sources)
