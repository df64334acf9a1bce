"""Spec -> graph: expands blocks, repeats, conditions and expressions straight into a Graph.

Scoping: each block instance gets its own namespace; its nodes are named
``<instance>.<layer>`` (``layer1.0.conv``), so names are unique, deterministic and mirror
the spec. Inside a block, ``from:`` sees the block's inputs (default one, named ``input``)
and its own layers; at the top level it sees the spec's inputs (``input`` is the first) and
top-level layers. Expressions see the spec's params, the input shapes (``$image`` is
``[3, 224, 224]``), the block's params and, inside a repeat, ``$index``.

Errors are collected, not raised one by one, so a user sees every problem in one run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import NetspecError, SourceLoc, did_you_mean, raise_all
from ..graph.ir import Graph
from ..ops import OPS, REQUIRED
from ..ops.types import CHANNELS_FIRST, DTYPES, LAYOUTS, PLAIN, TensorType
from .expr import ExprError, evaluate, is_expression
from .loader import LocDict, LocList, load_yaml_file

TOP_KEYS = ("netspec", "name", "doc", "inputs", "outputs", "params", "blocks", "layers",
            "include", "train", "weights")
META_KEYS = ("name", "from", "repeat", "when", "doc")
BLOCK_KEYS = ("params", "inputs", "layers", "output", "doc")
MAX_REPEAT = 10_000  # per layer; a larger count is almost certainly a typo
MAX_NODES = 1_000_000  # total after expansion


@dataclass
class Block:
    name: str
    params: dict  # name -> default (REQUIRED when none)
    inputs: list[str]
    layers: LocList
    output: str | None
    loc: SourceLoc
    doc: str = ""


@dataclass
class Scope:
    prefix: str
    vars: dict
    names: dict  # local name -> graph node name
    used: set = field(default_factory=set)
    counters: dict = field(default_factory=dict)

    def auto_name(self, base: str) -> str:
        n = self.counters.get(base, 0)
        name = base if n == 0 else f"{base}_{n}"
        while name in self.names or name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.counters[base] = n + 1
        return name


class SpecCompiler:
    def __init__(self, data, file: str, overrides: dict | None = None):
        self.data = data
        self.file = file
        self.overrides = dict(overrides or {})
        self.errors: list[NetspecError] = []
        self.blocks: dict[str, Block] = {}
        self.stack: list[str] = []
        self.node_count = 0
        self.graph = Graph()

    # ------------------------------------------------------------ helpers
    def error(self, message, loc, hint=None):
        self.errors.append(NetspecError(message, loc, hint))

    def value(self, raw, scope_vars, loc, what):
        """Evaluate expressions inside a value (recursively through lists)."""
        if is_expression(raw):
            try:
                return evaluate(raw, scope_vars)
            except ExprError as exc:
                raise NetspecError(f"{what}: {exc}", loc) from None
        if isinstance(raw, list):
            return [self.value(v, scope_vars, loc, what) for v in raw]
        return raw

    # ------------------------------------------------------------ top level
    def compile(self) -> Graph:
        data = self.data
        if not isinstance(data, LocDict):
            raise NetspecError("a spec must be a YAML mapping with at least 'inputs' and 'layers'",
                               getattr(data, "loc", SourceLoc(self.file)))
        for key in data:
            if key not in TOP_KEYS:
                self.error(f"unknown top-level key '{key}'", data.where_key(key),
                           did_you_mean(key, TOP_KEYS) or f"allowed: {', '.join(TOP_KEYS)}")
        version = data.get("netspec", 1)
        if version != 1:
            self.error(f"unsupported spec version {version!r}, this netspec reads version 1",
                       data.where("netspec"))
        graph = self.graph
        graph.name = str(data.get("name") or os.path.splitext(os.path.basename(self.file))[0])
        graph.doc = str(data.get("doc") or "")
        graph.meta["source"] = self.file
        self.load_blocks(data, self.file, [])
        spec_vars = self.load_params(data)
        graph.meta["params"] = dict(spec_vars)
        scope = Scope("", spec_vars, {})
        self.load_inputs(data, scope)
        if "train" in data:
            from .train import validate_train
            try:
                graph.meta["train"] = validate_train(data["train"], self.file)
            except NetspecError as exc:
                self.errors.extend(getattr(exc, "errors", [exc]))
        layers = data.get("layers")
        if not isinstance(layers, LocList) or not layers:
            self.error("'layers' must be a non-empty list", data.where("layers") if "layers" in data else data.loc)
            raise_all(self.errors)
        if not graph.inputs:
            raise_all(self.errors)
        last = self.run_layers(layers, scope, [graph.inputs[0]])
        self.load_outputs(data, scope, last)
        if "weights" in data:
            weights = data["weights"]
            if not isinstance(weights, str):
                self.error(f"weights must be a path to a .safetensors file, received {weights!r}", data.where("weights"))
            else:
                graph.meta["weights"] = os.path.join(os.path.dirname(self.file), weights)
                graph.meta["weights_loc"] = data.where("weights")
        raise_all(self.errors)
        return graph

    def load_params(self, data) -> dict:
        params = data.get("params") or {}
        if not isinstance(params, dict):
            self.error(f"params must be a mapping of name: value, received {params!r}", data.where("params"))
            params = {}
        unknown = sorted(set(self.overrides) - set(params))
        for name in unknown:
            self.errors.append(NetspecError(f"--set {name}: the spec has no parameter '{name}'",
                                            SourceLoc(self.file), did_you_mean(name, params) or
                                            f"parameters: {', '.join(params) or 'none'}"))
        out = {}
        for name, raw in params.items():
            raw = self.overrides.get(name, raw)
            try:
                out[name] = self.value(raw, out, params.where(name), f"params.{name}")
            except NetspecError as exc:
                self.errors.append(exc)
        return out

    def load_inputs(self, data, scope: Scope):
        inputs = data.get("inputs")
        if not isinstance(inputs, LocDict) or not inputs:
            self.error("'inputs' must map input names to shapes, e.g. inputs: {image: [3, 224, 224]}",
                       data.where("inputs") if "inputs" in data else data.loc)
            return
        for name, decl in inputs.items():
            loc = inputs.where(name)
            try:
                ttype = self.input_type(name, decl, scope.vars, loc)
            except NetspecError as exc:
                self.errors.append(exc)
                continue
            if name in scope.vars:
                self.error(f"input '{name}' has the name of a parameter", inputs.where_key(name))
                continue
            self.graph.add_input(name, ttype, inputs.where_key(name))
            scope.names[name] = name
            scope.vars[name] = list(ttype.shape[1:])
        if self.graph.inputs:
            scope.names.setdefault("input", self.graph.inputs[0])

    def input_type(self, name, decl, scope_vars, loc) -> TensorType:
        shape, dtype, layout = decl, "float32", None
        if isinstance(decl, dict):
            unknown = set(decl) - {"shape", "dtype", "layout"}
            if unknown:
                raise NetspecError(f"input '{name}': unknown key '{sorted(unknown)[0]}' (allowed: shape, dtype, layout)",
                                   decl.where_key(sorted(unknown)[0]))
            shape, dtype, layout = decl.get("shape"), decl.get("dtype", "float32"), decl.get("layout")
        shape = self.value(shape, scope_vars, loc, f"input '{name}'")
        if (not isinstance(shape, list) or not shape
                or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape)):
            raise NetspecError(f"input '{name}' shape must be a list of positive ints or null (dynamic), "
                               f"without the batch axis, received {shape!r}", loc)
        if dtype not in DTYPES:
            raise NetspecError(f"input '{name}' dtype must be one of {', '.join(DTYPES)}, received {dtype!r}", loc)
        if layout is None:
            layout = CHANNELS_FIRST if len(shape) >= 2 and not dtype.startswith("int") else PLAIN
        if layout not in LAYOUTS:
            raise NetspecError(f"input '{name}' layout must be one of {', '.join(LAYOUTS)}, received {layout!r}", loc)
        return TensorType((None, *shape), dtype, layout)

    def load_outputs(self, data, scope, last):
        outputs = data.get("outputs")
        if outputs is None:
            self.graph.outputs = [last]
            return
        names = [outputs] if isinstance(outputs, str) else outputs
        if not isinstance(names, list) or not names:
            self.error(f"outputs must be a layer name or a list of them, received {outputs!r}", data.where("outputs"))
            return
        for name in names:
            if name not in scope.names:
                self.error(f"output '{name}' names no layer", data.where("outputs"),
                           did_you_mean(str(name), scope.names))
            else:
                self.graph.outputs.append(scope.names[name])

    # ------------------------------------------------------------ blocks and includes
    def load_blocks(self, data, file, chain):
        for entry_index, include in enumerate(data.get("include") or []):
            loc = data["include"].where(entry_index) if isinstance(data["include"], LocList) else data.where("include")
            if not isinstance(include, str):
                self.error(f"include entries must be file paths, received {include!r}", loc)
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(file), include))
            real = os.path.realpath(path)
            if real in chain or real == os.path.realpath(file):
                cycle = " -> ".join(os.path.basename(p) for p in [*chain, os.path.realpath(file), real])
                self.error(f"include loop: {cycle}", loc)
                continue
            if not os.path.exists(path):
                self.error(f"included file '{include}' does not exist (looked for {path})", loc)
                continue
            try:
                included = load_yaml_file(path)
            except NetspecError as exc:
                self.errors.append(exc)
                continue
            if not isinstance(included, LocDict):
                self.error(f"included file '{include}' must be a mapping with 'blocks'", loc)
                continue
            for key in included:
                if key not in ("blocks", "include", "doc", "netspec"):
                    self.error(f"an included file may hold only blocks and includes, found '{key}'",
                               included.where_key(key))
            self.load_blocks(included, path, [*chain, os.path.realpath(file)])
        blocks = data.get("blocks") or {}
        if not isinstance(blocks, dict):
            self.error("blocks must be a mapping of block name to definition", data.where("blocks"))
            return
        for name, body in blocks.items():
            loc = blocks.where_key(name)
            if name in OPS:
                self.error(f"block '{name}' has the name of an op", loc, "rename the block")
                continue
            if name in self.blocks:
                self.error(f"block '{name}' is defined twice (first at {self.blocks[name].loc})", loc)
                continue
            block = self.parse_block(name, body, loc)
            if block:
                self.blocks[name] = block

    def parse_block(self, name, body, loc) -> Block | None:
        if not isinstance(body, LocDict) or not isinstance(body.get("layers"), LocList) or not body["layers"]:
            self.error(f"block '{name}' needs a non-empty 'layers' list", loc)
            return None
        for key in body:
            if key not in BLOCK_KEYS:
                self.error(f"unknown key '{key}' in block '{name}'", body.where_key(key),
                           did_you_mean(key, BLOCK_KEYS) or f"allowed: {', '.join(BLOCK_KEYS)}")
        params = {}
        raw = body.get("params") or {}
        if not isinstance(raw, dict):
            self.error(f"block '{name}' params must be a mapping", body.where("params"))
            raw = {}
        for key, default in raw.items():
            params[key] = REQUIRED if default == "required" else default
        inputs = body.get("inputs", ["input"])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            self.error(f"block '{name}' inputs must be a list of names", body.where("inputs"))
            inputs = ["input"]
        return Block(name, params, list(inputs), body["layers"], body.get("output"), loc, str(body.get("doc", "")))

    # ------------------------------------------------------------ layers
    def parse_entry(self, entry, loc):
        """Return (kind, args, meta, args_loc_source) for one layer entry."""
        if isinstance(entry, str):
            return entry, LocDict(), {}, None
        if not isinstance(entry, LocDict) or not entry:
            raise NetspecError(f"a layer must be an op or block name, or a one-key mapping like "
                               f"'conv: {{filters: 8, kernel: 3}}', received {entry!r}", loc)
        kinds = [k for k in entry if k not in META_KEYS]
        if len(kinds) != 1:
            raise NetspecError(f"a layer entry needs exactly one op or block name, found "
                               f"{', '.join(map(str, kinds)) or 'none'}", loc)
        kind = kinds[0]
        body = entry[kind]
        meta = {k: (entry[k], entry.where(k)) for k in entry if k in META_KEYS}
        if body is None:
            body = LocDict()
            body.loc, body.key_loc, body.val_loc = entry.where(kind), {}, {}
        elif not isinstance(body, LocDict):
            primary = self.primary_arg(kind)
            if primary is None:
                raise NetspecError(f"'{kind}' takes a mapping of attributes, received {body!r}", entry.where(kind))
            value = body
            body = LocDict({primary: value})
            body.loc = entry.where(kind)
            body.key_loc = {primary: body.loc}
            body.val_loc = {primary: body.loc}
        args = LocDict()
        args.loc, args.key_loc, args.val_loc = body.loc, {}, {}
        for key, value in body.items():
            if key in META_KEYS:
                meta[key] = (value, body.where(key))
            else:
                args[key] = value
                args.key_loc[key] = body.where_key(key)
                args.val_loc[key] = body.where(key)
        return str(kind), args, meta, entry

    def primary_arg(self, kind):
        if kind in OPS:
            attrs = OPS[kind].attrs
            return attrs[0].name if attrs else None
        if kind in self.blocks:
            return next(iter(self.blocks[kind].params), None)
        return None

    def run_layers(self, layers: LocList, scope: Scope, current: list[str]) -> str:
        """Add the nodes of a layer list to the graph; return the name of the last output."""
        for index, entry in enumerate(layers):
            loc = layers.where(index)
            try:
                current = [self.run_layer(entry, loc, scope, current)]
            except NetspecError as exc:
                self.errors.extend(getattr(exc, "errors", [exc]))
        return current[0]

    def run_layer(self, entry, loc, scope: Scope, current: list[str]) -> str:
        kind, args, meta, _ = self.parse_entry(entry, loc)
        if kind not in OPS and kind not in self.blocks:
            raise NetspecError(f"unknown op or block '{kind}'", loc,
                               did_you_mean(kind, [*OPS, *self.blocks]) or "run 'netspec ops' for the op list")
        name = None
        if "name" in meta:
            name, nloc = meta["name"]
            name = self.value(name, scope.vars, nloc, "name")
            if not isinstance(name, str) or not name or "." in name:
                raise NetspecError(f"layer name must be a non-empty string without '.', received {name!r}", nloc)
            if name in scope.names or name in scope.used:
                raise NetspecError(f"layer name '{name}' is used twice in this scope", nloc)
        inputs = current
        if "from" in meta:
            inputs = self.resolve_from(meta["from"], scope)
        if "when" in meta:
            raw, wloc = meta["when"]
            keep = self.value(raw, scope.vars, wloc, "when")
            if not isinstance(keep, bool):
                raise NetspecError(f"when must evaluate to true or false, received {keep!r}", wloc)
            if not keep:  # a skipped layer is an identity: its name stands for its input
                if name:
                    scope.names[name] = inputs[0]
                return inputs[0]
        count = 1
        if "repeat" in meta:
            raw, rloc = meta["repeat"]
            count = self.value(raw, scope.vars, rloc, "repeat")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0 or count > MAX_REPEAT:
                raise NetspecError(f"repeat must be an int from 0 to {MAX_REPEAT}, received {count!r}", rloc)
            if count == 0:
                if name:
                    scope.names[name] = inputs[0]
                return inputs[0]
        base = name or scope.auto_name(kind)
        scope.used.add(base)
        out = inputs[0]
        for rep in range(count):
            local = base if count == 1 else f"{base}.{rep}"
            vars_ = scope.vars if count == 1 else {**scope.vars, "index": rep}
            if kind in OPS:
                out = self.add_op(kind, args, vars_, scope.prefix + local, inputs, loc)
            else:
                out = self.call_block(kind, args, vars_, scope.prefix + local, inputs, loc)
            inputs = [out]
        scope.names[base] = out
        return out

    def resolve_from(self, meta_from, scope):
        raw, loc = meta_from
        names = raw if isinstance(raw, list) else [raw]
        if not names:
            raise NetspecError("from: needs at least one layer name", loc)
        out = []
        for name in names:
            name = self.value(name, scope.vars, loc, "from")
            if name not in scope.names:
                raise NetspecError(f"from: '{name}' names no earlier layer or input in this scope", loc,
                                   did_you_mean(str(name), scope.names) or
                                   f"known here: {', '.join(list(scope.names)[-8:])}")
            out.append(scope.names[name])
        return out

    def add_op(self, kind, args, vars_, node_name, inputs, loc) -> str:
        op = OPS[kind]
        values, errors = {}, []
        for key, raw in args.items():
            try:
                values[key] = self.value(raw, vars_, args.where(key), f"{kind}.{key}")
            except NetspecError as exc:
                errors.append(exc)
        attrs, problems = op.check_attrs(values)
        for key, message, hint in problems:
            where = loc if key is None else (args.where_key(key) if message.startswith("unknown") else args.where(key))
            errors.append(NetspecError(message, where, hint))
        raise_all(errors)
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise NetspecError(f"the spec expands to more than {MAX_NODES:,} layers", loc)
        self.graph.add_node(node_name, kind, attrs, inputs, loc)
        return node_name

    def call_block(self, kind, args, vars_, node_name, inputs, loc) -> str:
        block = self.blocks[kind]
        if kind in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(kind):], kind])
            raise NetspecError(f"block '{kind}' uses itself ({chain}); blocks cannot recurse", loc)
        errors = []
        bound = {}
        for key, raw in args.items():
            if key not in block.params:
                errors.append(NetspecError(f"block '{kind}' has no parameter '{key}'", args.where_key(key),
                                           did_you_mean(key, block.params) or
                                           f"parameters: {', '.join(block.params) or 'none'}"))
                continue
            try:
                bound[key] = self.value(raw, vars_, args.where(key), f"{kind}.{key}")
            except NetspecError as exc:
                errors.append(exc)
        block_vars = {k: v for k, v in self.graph.meta["params"].items()}
        block_vars.update({n: list(self.graph.node(n).type.shape[1:]) for n in self.graph.inputs})
        for key, default in block.params.items():
            if key in bound:
                block_vars[key] = bound[key]
            elif default is REQUIRED:
                errors.append(NetspecError(f"block '{kind}' needs parameter '{key}'", loc))
            else:
                try:
                    block_vars[key] = self.value(default, block_vars, block.loc, f"{kind}.{key}")
                except NetspecError as exc:
                    errors.append(exc)
        if len(inputs) != len(block.inputs):
            errors.append(NetspecError(f"block '{kind}' takes {len(block.inputs)} input(s) "
                                       f"({', '.join(block.inputs)}), received {len(inputs)}", loc))
        raise_all(errors)
        scope = Scope(node_name + ".", block_vars, dict(zip(block.inputs, inputs)))
        self.stack.append(kind)
        before = len(self.errors)
        try:
            out = self.run_layers(block.layers, scope, [inputs[0]])
        finally:
            self.stack.pop()
        if len(self.errors) > before:
            raise _Abort()  # the problems inside the block are already recorded
        if block.output is not None:
            if block.output not in scope.names:
                raise NetspecError(f"block '{kind}' output '{block.output}' names no layer", block.loc,
                                   did_you_mean(str(block.output), scope.names))
            return scope.names[block.output]
        return out


class _Abort(NetspecError):
    """Stops a chain after errors were already recorded (nothing new to report)."""

    def __init__(self):
        super().__init__("")
        self.errors = []
