"""Spec -> graph: expands blocks, repeats, conditions and expressions straight into a Graph.

Scoping: each block instance gets its own namespace; its nodes are named
``<instance>.<layer>`` (``layer1.0.conv1``), so names are unique, deterministic and mirror
the spec. Inside a block, ``from:`` sees the block's inputs (default one, named ``input``)
and its own layers; at the top level it sees the spec's inputs (``input`` is the first) and
top-level layers. A dotted name reaches into a block instance that came earlier
(``from: enc1.conv2``), which is what U-Net style skips out of a block need. Expressions see
the spec's params, the input shapes (``$image`` is ``[3, 224, 224]``), the block's params
and, inside a repeat, ``$index``. Scoping is lexical: a block body does not see the
variables of the place it is called from, only what it is passed.

Errors are collected, not raised one by one, so a user sees every problem in one run. A
layer that fails stands for a poisoned value (:data:`BROKEN`): layers fed by it are still
checked for their own mistakes but are not built, so one typo is reported once rather
than again as a wrong shape or an unknown name further down.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field

from ..errors import NetspecError, NetspecErrors, SourceLoc, did_you_mean, raise_all
from ..graph.ir import Graph
from ..ops import OPS, REQUIRED
from ..ops.types import CHANNELS_FIRST, DTYPES, LAYOUTS, PLAIN, TensorType
from .expr import POISONED, ExprError, Poisoned, evaluate, is_expression
from .loader import LocDict, LocList, load_yaml_file

TOP_KEYS = ("netspec", "name", "doc", "inputs", "outputs", "params", "blocks", "layers",
            "include", "train", "weights")
INCLUDED_KEYS = ("netspec", "doc", "blocks", "include")
META_KEYS = ("name", "from", "repeat", "when", "doc")
META_SET = frozenset(META_KEYS)
BLOCK_KEYS = ("params", "inputs", "layers", "output", "doc")
MAX_REPEAT = 10_000  # per layer; a larger count is almost certainly a typo
MAX_NODES = 250_000  # total after expansion (ten times the largest zoo model, and then some)
MAX_BLOCK_DEPTH = 32  # blocks calling blocks
MAX_ERRORS = 100  # shown; the rest are counted
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BROKEN = "\0broken"  # the output of a layer that failed; never a node name
# Names from other frameworks, for the "did you mean" hint of an unknown op.
ALIASES = {"conv1d": "conv", "conv2d": "conv", "conv3d": "conv", "convolution": "conv",
           "linear": "dense", "fc": "dense", "fully_connected": "dense", "bn": "batchnorm",
           "batch_norm": "batchnorm", "batchnorm2d": "batchnorm", "layer_norm": "layernorm",
           "maxpool2d": "maxpool", "avgpool2d": "avgpool", "max_pool": "maxpool",
           "deconv": "conv_transpose", "conv2d_transpose": "conv_transpose",
           "concatenate": "concat", "cat": "concat", "sum": "add", "mul": "multiply",
           "adaptiveavgpool": "globalavgpool", "global_avg_pool": "globalavgpool",
           "leakyrelu": "leaky_relu", "upsampling": "upsample", "lstm_peephole": "lstm"}


class _Fatal(NetspecError):
    """A limit was crossed: stop compiling at once instead of collecting more errors."""


@dataclass
class Block:
    name: str
    params: dict  # name -> default (REQUIRED when none)
    param_loc: dict
    inputs: list[str]
    layers: LocList
    output: str | None
    output_loc: SourceLoc
    loc: SourceLoc
    doc: str = ""


@dataclass
class Scope:
    prefix: str
    vars: dict
    names: dict  # local name -> graph node name (or BROKEN)
    where: dict = field(default_factory=dict)  # local name -> where it was defined
    children: dict = field(default_factory=dict)  # block instance name -> its Scope
    counters: dict = field(default_factory=dict)

    def auto_name(self, base: str) -> str:
        n = self.counters.get(base, 0)
        name = base if n == 0 else f"{base}_{n}"
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.counters[base] = n + 1
        return name


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else "a mapping"


def tidy(errors: list[NetspecError]) -> list[NetspecError]:
    """Errors in source order, each once (a block called eight times reports a typo once),
    at most MAX_ERRORS of them."""
    seen, unique = set(), []
    for err in errors:
        key = str(err)
        if key not in seen:
            seen.add(key)
            unique.append(err)
    files: dict = {}
    for err in unique:
        files.setdefault(err.loc.file if err.loc else None, len(files))

    def order(err):
        loc = err.loc
        if loc is None:
            return (-1, 0, 0)
        return (files[loc.file], loc.line or 0, loc.col or 0)

    unique.sort(key=order)
    if len(unique) > MAX_ERRORS:
        rest = len(unique) - MAX_ERRORS
        unique = unique[:MAX_ERRORS] + [NetspecError(f"... and {rest} more problems", unique[MAX_ERRORS].loc)]
    return unique


class SpecCompiler:
    def __init__(self, data, file: str, overrides: dict | None = None):
        self.data = data
        self.file = file
        self.overrides = dict(overrides or {})
        self.errors: list[NetspecError] = []
        self.blocks: dict[str, Block] = {}
        self.called: set[str] = set()
        self.loaded: set[str] = set()
        self.stack: list[str] = []
        self.node_count = 0
        self.base_vars: dict = {}
        self.graph = Graph()

    # ------------------------------------------------------------ helpers
    def error(self, message, loc, hint=None):
        self.errors.append(NetspecError(message, loc, hint))

    def value(self, raw, scope_vars, loc, what):
        """Evaluate expressions inside a value (recursively through lists)."""
        if isinstance(raw, str):
            if "$" not in raw:
                return raw
            try:
                return evaluate(raw, scope_vars)
            except Poisoned:
                raise NetspecErrors([]) from None  # fails quietly: the cause is reported already
            except ExprError as exc:
                raise NetspecError(f"{what}: {exc.message}", loc, exc.hint) from None
        if isinstance(raw, list):
            return [self.value(v, scope_vars, raw.where(i) if isinstance(raw, LocList) else loc, what)
                    for i, v in enumerate(raw)]
        return raw

    # ------------------------------------------------------------ top level
    def compile(self) -> Graph:
        """The graph, or every problem found raised together."""
        graph = self.build()
        raise_all(tidy(self.errors))
        return graph

    def build(self) -> Graph:
        """Expand the spec into ``self.graph``; problems collect in ``self.errors``. The graph
        holds every layer that compiled cleanly, so later passes can still check them."""
        data = self.data
        if not isinstance(data, LocDict):
            raise NetspecError(f"a spec must be a YAML mapping with at least 'inputs' and 'layers', "
                               f"received {_kind(data)}", getattr(data, "loc", None) or SourceLoc(self.file, 1, 1))
        if "blocks" in data and "inputs" not in data and "layers" not in data and set(data) <= set(INCLUDED_KEYS):
            raise NetspecError("this file is a block library (blocks only), not a network", data.loc,
                               f"use it from a spec: include: [{os.path.basename(self.file)}]")
        for key in data:
            if key not in TOP_KEYS:
                self.error(f"unknown top-level key '{key}'", data.where_key(key),
                           did_you_mean(key, TOP_KEYS) or f"allowed: {', '.join(TOP_KEYS)}")
        version = data.get("netspec", 1)
        if version != 1:
            self.error(f"unsupported spec version {version!r}, this netspec reads version 1",
                       data.where("netspec"))
        for key in ("name", "doc"):
            if key in data and not isinstance(data[key], str):
                self.error(f"{key} must be a string, received {data[key]!r}", data.where(key))
        graph = self.graph
        graph.name = str(data.get("name") or os.path.splitext(os.path.basename(self.file))[0])
        graph.doc = str(data.get("doc") or "")
        graph.meta["source"] = self.file
        self.load_blocks(data, self.file, [os.path.realpath(self.file)])
        spec_vars = self.load_params(data)
        graph.meta["params"] = dict(spec_vars)
        scope = Scope("", spec_vars, {})
        self.load_inputs(data, scope)
        self.base_vars = dict(scope.vars)
        if "train" in data:
            from .train import validate_train
            graph.meta["train"] = validate_train(data["train"], data.where("train"), self.errors)
        if "weights" in data:
            weights = data["weights"]
            if not isinstance(weights, str) or not weights:
                self.error(f"weights must be a path to a .safetensors file, received {weights!r}",
                           data.where("weights"))
            else:
                graph.meta["weights"] = os.path.join(os.path.dirname(self.file), weights)
                graph.meta["weights_loc"] = data.where("weights")
        layers = data.get("layers")
        if "layers" not in data:
            self.error("the spec has no 'layers'", data.loc, "add 'layers:' with one '- op' per line")
        elif not isinstance(layers, LocList) or not layers:
            self.error(f"'layers' must be a non-empty list of layers, received {_show(layers)}",
                       data.where("layers"))
        elif graph.inputs:
            last = self.run_layers(layers, scope, [graph.inputs[0]])
            self.load_outputs(data, scope, last)
        self.check_unused_blocks()
        return graph

    def load_params(self, data) -> dict:
        params = data.get("params")
        if params is None:
            params = LocDict()
            params.loc, params.key_loc, params.val_loc = data.loc, {}, {}
        if not isinstance(params, LocDict):
            self.error(f"params must be a mapping of name: value, received {params!r}", data.where("params"))
            return {}
        where = data.where("params") if "params" in data else SourceLoc(self.file, 1, 1)
        for name in sorted(set(self.overrides) - set(params)):
            self.error(f"--set {name}: the spec has no parameter '{name}'", where,
                       did_you_mean(name, params) or f"parameters: {', '.join(params) or 'none'}")
        out = {}
        for name, raw in params.items():
            if not NAME.fullmatch(name):
                self.error(f"parameter name '{name}' must be letters, digits and '_', not starting "
                           "with a digit", params.where_key(name))
                continue
            if name in self.overrides:
                new = self.overrides[name]
                expected = _override_kind(raw)
                if expected and not is_expression(new) and _override_kind(new, raw) != expected:
                    self.error(f"--set {name}={new!r}: expected {expected}, like the default {raw!r}",
                               params.where(name))
                    out[name] = POISONED
                    continue
                raw = new
            try:
                out[name] = self.value(raw, out, params.where(name), f"params.{name}")
            except NetspecError as exc:
                _collect(self.errors, exc)
                out[name] = POISONED
        return out

    def load_inputs(self, data, scope: Scope):
        inputs = data.get("inputs")
        if "inputs" not in data:
            self.error("the spec has no 'inputs'", data.loc, "e.g. inputs: {image: [3, 224, 224]}")
            return
        if not isinstance(inputs, LocDict) or not inputs:
            self.error(f"'inputs' must map input names to shapes, received {_show(inputs)}",
                       data.where("inputs"), "e.g. inputs: {image: [3, 224, 224]}")
            return
        for name, decl in inputs.items():
            key_loc = inputs.where_key(name)
            if not NAME.fullmatch(name):
                self.error(f"input name '{name}' must be letters, digits and '_', not starting with a digit",
                           key_loc)
                continue
            if name in scope.vars:
                self.error(f"input '{name}' has the name of a parameter", key_loc, "rename one of them")
                continue
            try:
                ttype = self.input_type(name, decl, scope.vars, inputs.where(name))
            except NetspecError as exc:
                _collect(self.errors, exc)
                scope.names[name] = BROKEN
                scope.vars[name] = POISONED
                continue
            self.graph.add_input(name, ttype, key_loc)
            scope.names[name] = name
            scope.where[name] = key_loc
            scope.vars[name] = list(ttype.shape[1:])
        if inputs:
            first = next(iter(inputs))
            scope.names.setdefault("input", scope.names.get(first, BROKEN))

    def input_type(self, name, decl, scope_vars, loc) -> TensorType:
        shape, dtype, layout = decl, "float32", None
        if isinstance(decl, LocDict):
            unknown = [k for k in decl if k not in ("shape", "dtype", "layout")]
            if unknown:
                raise NetspecError(f"input '{name}': unknown key '{unknown[0]}'", decl.where_key(unknown[0]),
                                   did_you_mean(unknown[0], ("shape", "dtype", "layout")) or
                                   "allowed: shape, dtype, layout")
            if "shape" not in decl:
                raise NetspecError(f"input '{name}' needs a shape", loc, "e.g. {shape: [3, 224, 224]}")
            shape, dtype, layout = decl.get("shape"), decl.get("dtype", "float32"), decl.get("layout")
            loc = decl.where("shape")
        shape = self.value(shape, scope_vars, loc, f"input '{name}'")
        if (not isinstance(shape, list) or not shape
                or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape)):
            raise NetspecError(f"input '{name}' shape must be a list of positive ints or null (dynamic), "
                               f"without the batch axis, received {shape!r}", loc,
                               "e.g. [3, 224, 224] for an image, [null, 40] for a sequence")
        if dtype not in DTYPES:
            raise NetspecError(f"input '{name}' dtype must be one of {', '.join(DTYPES)}, received {dtype!r}",
                               decl.where("dtype"), did_you_mean(str(dtype), DTYPES))
        if layout is None:
            layout = CHANNELS_FIRST if len(shape) >= 2 and not dtype.startswith("int") else PLAIN
        if layout not in LAYOUTS:
            raise NetspecError(f"input '{name}' layout must be one of {', '.join(LAYOUTS)}, received {layout!r}",
                               decl.where("layout"), did_you_mean(str(layout), LAYOUTS))
        return TensorType((None, *shape), dtype, layout)

    def load_outputs(self, data, scope, last):
        if "outputs" not in data:
            self.graph.outputs = [] if last == BROKEN else [last]
            return
        outputs = data["outputs"]
        if isinstance(outputs, str):
            items = [(outputs, data.where("outputs"))]
        elif isinstance(outputs, LocList) and outputs:
            items = [(name, outputs.where(i)) for i, name in enumerate(outputs)]
        else:
            self.error(f"outputs must be a layer name or a list of them, received {outputs!r}",
                       data.where("outputs"))
            return
        for name, loc in items:
            node = self.lookup(name, scope) if isinstance(name, str) else None
            if node is None:
                self.error(f"output {name!r} names no layer", loc,
                           did_you_mean(str(name), scope.names) or self.known(scope))
            elif node in self.graph.outputs:
                self.error(f"output '{name}' is listed twice", loc)
            elif node != BROKEN:
                self.graph.outputs.append(node)

    # ------------------------------------------------------------ blocks and includes
    def load_blocks(self, data, file, chain):
        """Blocks of ``data`` and of the files it includes; ``chain`` holds the real paths of
        the files including this one, to tell a loop from a file included twice (diamond)."""
        raw = data.get("include")
        if raw is None:
            entries = []
        elif isinstance(raw, str):
            entries = [(raw, data.where("include"))]
        elif isinstance(raw, LocList):
            entries = [(item, raw.where(i)) for i, item in enumerate(raw)]
        else:
            self.error(f"include must be a file path or a list of them, received {raw!r}", data.where("include"))
            entries = []
        for include, loc in entries:
            if not isinstance(include, str) or not include:
                self.error(f"include entries must be file paths, received {include!r}", loc)
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(file), include))
            real = os.path.realpath(path)
            if real in chain:
                cycle = " -> ".join(os.path.basename(p) for p in [*chain[chain.index(real):], real])
                self.error(f"include loop: {cycle}", loc, "a file cannot include itself, directly or through others")
                continue
            if real in self.loaded:
                continue
            if not os.path.isfile(path):
                folder = os.path.dirname(path) or "."
                near = {os.path.splitext(f)[0]: f for f in (os.listdir(folder) if os.path.isdir(folder) else [])
                        if f.endswith((".yaml", ".yml"))}
                close = difflib.get_close_matches(os.path.splitext(os.path.basename(include))[0], near, n=1)
                self.error(f"included file '{include}' does not exist (looked for {path})", loc,
                           f"did you mean '{near[close[0]]}'?" if close else "paths are relative to the including file")
                continue
            self.loaded.add(real)
            try:
                included = load_yaml_file(path)
            except NetspecError as exc:
                self.errors.extend(getattr(exc, "errors", [exc]))
                continue
            if not isinstance(included, LocDict):
                self.error(f"included file '{include}' must be a mapping with 'blocks', received {_kind(included)}", loc)
                continue
            for key in included:
                if key not in INCLUDED_KEYS:
                    self.error(f"an included file holds only {', '.join(INCLUDED_KEYS)}, found '{key}'",
                               included.where_key(key), "params, inputs and layers belong in the including spec")
            self.load_blocks(included, path, [*chain, real])
        blocks = data.get("blocks")
        if blocks is None:
            return
        if not isinstance(blocks, LocDict):
            self.error(f"blocks must be a mapping of block name to definition, received {blocks!r}",
                       data.where("blocks"))
            return
        for name, body in blocks.items():
            loc = blocks.where_key(name)
            if not NAME.fullmatch(name):
                self.error(f"block name '{name}' must be letters, digits and '_', not starting with a digit", loc)
            elif name in OPS:
                self.error(f"block '{name}' has the name of an op", loc, f"rename the block, e.g. '{name}_block'")
            elif name in self.blocks:
                self.error(f"block '{name}' is defined twice (first at {self.blocks[name].loc})", loc)
            else:
                block = self.parse_block(name, body, loc, blocks.where(name))
                if block:
                    self.blocks[name] = block

    def parse_block(self, name, body, loc, body_loc) -> Block | None:
        if not isinstance(body, LocDict):
            self.error(f"block '{name}' must be a mapping with 'layers', received {body!r}", body_loc)
            return None
        for key in body:
            if key not in BLOCK_KEYS:
                self.error(f"unknown key '{key}' in block '{name}'", body.where_key(key),
                           did_you_mean(key, BLOCK_KEYS) or f"allowed: {', '.join(BLOCK_KEYS)}")
        if not isinstance(body.get("layers"), LocList) or not body["layers"]:
            self.error(f"block '{name}' needs a non-empty 'layers' list, received {body.get('layers')!r}",
                       body.where("layers") if "layers" in body else loc)
            return None
        params, param_loc = {}, {}
        raw = body.get("params")
        if raw is not None and not isinstance(raw, LocDict):
            self.error(f"block '{name}' params must be a mapping of name: default (or required), "
                       f"received {raw!r}", body.where("params"))
            raw = None
        for key, default in (raw or {}).items():
            if not NAME.fullmatch(key) or key in META_SET:
                self.error(f"block '{name}' parameter '{key}' must be a name other than "
                           f"{', '.join(META_KEYS)}", raw.where_key(key))
                continue
            params[key] = REQUIRED if default == "required" else default
            param_loc[key] = raw.where(key)
        inputs = body.get("inputs", ["input"])
        if isinstance(inputs, str):
            inputs = [inputs]
        if (not isinstance(inputs, list) or not inputs or len(set(map(str, inputs))) != len(inputs)
                or not all(isinstance(i, str) and NAME.fullmatch(i) for i in inputs)):
            self.error(f"block '{name}' inputs must be a list of distinct names, received {inputs!r}",
                       body.where("inputs"))
            inputs = ["input"]
        output = body.get("output")
        if output is not None and not isinstance(output, str):
            self.error(f"block '{name}' output must be a layer name, received {output!r}", body.where("output"))
            output = None
        return Block(name, params, param_loc, list(inputs), body["layers"], output,
                     body.where("output") if "output" in body else loc, loc, str(body.get("doc", "")))

    def check_unused_blocks(self):
        """A block nobody calls is never expanded; still catch its unknown ops and keys, so a
        library does not hide typos until the day it is used."""
        for block in self.blocks.values():
            if block.name in self.called:
                continue
            for index, entry in enumerate(block.layers):
                try:
                    kind, args, _ = self.parse_entry(entry, block.layers.where(index))
                    self.check_keys(kind, args, block.layers.where(index))
                except NetspecError as exc:
                    self.errors.extend(getattr(exc, "errors", [exc]))

    # ------------------------------------------------------------ layers
    def parse_entry(self, entry, loc):
        """One layer entry -> (kind, args, meta); meta values are (value, loc) pairs."""
        if isinstance(entry, str):
            return entry, _EMPTY, {}
        if not isinstance(entry, LocDict) or not entry:
            raise NetspecError(f"a layer must be an op or block name, or a one-key mapping like "
                               f"'conv: {{filters: 8, kernel: 3}}', received {_show(entry)}", loc)
        kinds = [k for k in entry if k not in META_SET]
        if len(kinds) != 1:
            known = [k for k in kinds if k in OPS or k in self.blocks]
            if len(kinds) > 1 and len(known) == 1:
                extra = next(k for k in kinds if k != known[0])
                raise NetspecError(f"'{extra}' beside '{known[0]}': a layer entry holds one op or block "
                                   f"and only {', '.join(META_KEYS)} beside it", entry.where_key(extra),
                                   did_you_mean(extra, META_KEYS) or
                                   f"attributes go inside: '{known[0]}: {{{extra}: ...}}' (check the indentation)")
            raise NetspecError(f"a layer entry needs exactly one op or block name, found "
                               f"{', '.join(map(str, kinds)) or 'none'}", loc)
        kind = kinds[0]
        body = entry[kind]
        meta = {k: (entry[k], entry.where(k)) for k in entry if k in META_SET} if len(entry) > 1 else {}
        if body is None:
            return kind, _EMPTY, meta
        if not isinstance(body, LocDict):
            primary = self.primary_arg(kind)
            if primary is None:
                raise NetspecError(f"'{kind}' takes a mapping of attributes, received {body!r}", entry.where(kind),
                                   f"{kind} has no attributes: write '- {kind}'" if kind in OPS else None)
            where = entry.where(kind)
            args = LocDict({primary: body})
            args.loc, args.key_loc, args.val_loc = where, {primary: where}, {primary: where}
            return kind, args, meta
        if META_SET.isdisjoint(body):
            return kind, body, meta
        args = LocDict()
        args.loc, args.key_loc, args.val_loc = body.loc, {}, {}
        for key, value in body.items():
            if key in META_SET:
                meta[key] = (value, body.where(key))
            else:
                args[key] = value
                args.key_loc[key] = body.where_key(key)
                args.val_loc[key] = body.where(key)
        return kind, args, meta

    def primary_arg(self, kind):
        """The attribute (or block param) a scalar sets: ``dropout: 0.5``, ``basic: 64``."""
        if kind in OPS:
            attrs = OPS[kind].attrs
            return attrs[0].name if attrs else None
        if kind in self.blocks:
            return next(iter(self.blocks[kind].params), None)
        return None

    def unknown_kind(self, kind, loc) -> NetspecError:
        alias = ALIASES.get(str(kind).lower().replace("-", "_"))  # a known synonym beats a near spelling
        hint = f"did you mean '{alias}'?" if alias else did_you_mean(kind, [*OPS, *self.blocks])
        return NetspecError(f"unknown op or block '{kind}'", loc, hint or "run 'netspec ops' for the op list")

    def check_keys(self, kind, args, loc):
        """Names only, no values: for layers that are not built (skipped, unused blocks)."""
        if kind in OPS:
            known, what = OPS[kind].attr_map, f"attribute '{{}}' for op '{kind}'"
        elif kind in self.blocks:
            known, what = self.blocks[kind].params, f"parameter '{{}}' for block '{kind}'"
        else:
            raise self.unknown_kind(kind, loc)
        raise_all([NetspecError("unknown " + what.format(key), args.where_key(key),
                                did_you_mean(key, known) or f"{kind} takes: {', '.join(known) or 'nothing'}")
                   for key in args if key not in known])

    def run_layers(self, layers: LocList, scope: Scope, current: list[str]) -> str:
        """Add the nodes of a layer list to the graph; return the name of the last output."""
        for index, entry in enumerate(layers):
            try:
                current = [self.run_layer(entry, layers.where(index), scope, current)]
            except _Fatal:
                raise
            except NetspecError as exc:
                self.errors.extend(getattr(exc, "errors", [exc]))
                current = [BROKEN]
                name = _declared_name(entry)
                if name is not None and name not in scope.names:
                    scope.names[name] = BROKEN
        return current[0]

    def run_layer(self, entry, loc, scope: Scope, current: list[str]) -> str:
        kind, args, meta = self.parse_entry(entry, loc)
        is_op = kind in OPS
        if not is_op and kind not in self.blocks:
            raise self.unknown_kind(kind, loc)
        name = None
        if meta:
            if "name" in meta:
                name = self.layer_name(meta["name"], scope)
            inputs = self.resolve_from(meta["from"], scope) if "from" in meta else current
            keep, count = True, 1
            if "when" in meta:
                raw, wloc = meta["when"]
                keep = self.value(raw, scope.vars, wloc, "when")
                if not isinstance(keep, bool):
                    hint = (f"variables are written with '$': \"${raw}\"" if isinstance(raw, str) and "$" not in raw
                            else "compare something, e.g. when: \"$stride > 1\"")
                    raise NetspecError(f"when must be true or false, received {keep!r}", wloc, hint)
            if "repeat" in meta:
                raw, rloc = meta["repeat"]
                count = self.value(raw, scope.vars, rloc, "repeat")
                if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPEAT:
                    raise NetspecError(f"repeat must be an int from 0 to {MAX_REPEAT:,}, received {count!r}", rloc,
                                       "the limit catches typos; a block holding a repeat multiplies it"
                                       if isinstance(count, int) and count > MAX_REPEAT else None)
            if not keep or count == 0:  # a skipped layer is an identity: its name stands for its input
                self.check_keys(kind, args, loc)
                if not inputs:
                    raise NetspecError("a skipped layer stands for its input, and this one has none (from: [])",
                                       loc, "give it a from:, or do not skip it")
                if name:
                    scope.names[name] = inputs[0]
                    scope.where[name] = loc
                return inputs[0]
        else:
            inputs, count = current, 1
        base = name or scope.auto_name(kind)
        scope.names[base] = BROKEN  # until it is built
        scope.where[base] = loc
        out = inputs[0] if inputs else None
        for rep in range(count):
            local = base if count == 1 else f"{base}.{rep}"
            vars_ = scope.vars if count == 1 else {**scope.vars, "index": rep}
            if is_op:
                out = self.add_op(kind, args, vars_, scope.prefix + local, inputs, loc)
            else:
                out = self.call_block(kind, args, vars_, local, inputs, loc, scope)
            inputs = [out]
        scope.names[base] = out
        return out

    def layer_name(self, meta_name, scope) -> str:
        raw, nloc = meta_name
        name = self.value(raw, scope.vars, nloc, "name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise NetspecError(f"layer name must be letters, digits and '_' (not starting with a digit), "
                               f"received {name!r}", nloc)
        if name in scope.names:
            first = scope.where.get(name)
            raise NetspecError(f"layer name '{name}' is already used in this scope"
                               + (f" (at line {first.line})" if first and first.line else ""), nloc,
                               "names are unique within a spec's layers or a block's layers")
        return name

    def known(self, scope) -> str:
        names = [n for n, node in scope.names.items() if node != BROKEN]
        text = f"known here: {', '.join(names[-8:]) or 'nothing'}"
        if scope.prefix:
            text += "; a block sees only its inputs and its own layers"
        return text

    def lookup(self, name: str, scope: Scope):
        """Graph node for a local name, ``instance.layer`` reaching into a block instance; None
        when nothing has that name."""
        found = scope.names.get(name)
        if found is not None or "." not in name:
            return found
        parts = name.split(".")
        if scope.names.get(parts[0]) == BROKEN:
            return BROKEN  # the instance failed; its inner layers were never built
        for cut in range(len(parts) - 1, 0, -1):
            child = scope.children.get(".".join(parts[:cut]))
            if child is not None:
                return self.lookup(".".join(parts[cut:]), child)
        return None

    def resolve_from(self, meta_from, scope):
        raw, loc = meta_from
        items = [(v, raw.where(i)) for i, v in enumerate(raw)] if isinstance(raw, LocList) else [(raw, loc)]
        out, errors = [], []  # ``from: []``: no inputs (a constant); the op's arity check judges it
        for name, where in items:
            name = self.value(name, scope.vars, where, "from")
            node = self.lookup(name, scope) if isinstance(name, str) else None
            if node is None:
                errors.append(NetspecError(f"from: {name!r} names no earlier layer or input in this scope", where,
                                           did_you_mean(str(name), scope.names) or self.known(scope)))
            out.append(node)
        raise_all(errors)
        return out

    def add_op(self, kind, args, vars_, node_name, inputs, loc) -> str:
        op = OPS[kind]
        values, errors, failed = {}, [], set()
        for key, raw in args.items():
            try:
                values[key] = self.value(raw, vars_, args.where(key), f"{kind}.{key}")
            except NetspecError as exc:
                _collect(errors, exc)
                failed.add(key)
        attrs, problems = op.check_attrs(values)
        # "needs attribute 'kernel'" adds nothing beside "unknown attribute 'kernal' (did you
        # mean 'kernel'?)", nor beside a failed expression for it
        covered = failed | {m for k in args if k not in op.attr_map
                            for m in difflib.get_close_matches(k, op.attr_map, n=1, cutoff=0.6)}
        for key, message, hint in problems:
            if key is None:
                if any(f"'{k}'" in message for k in covered):
                    continue
                errors.append(NetspecError(message, loc, hint))
            elif key not in op.attr_map:
                errors.append(NetspecError(message, args.where_key(key), hint))
            else:
                value = values[key]
                if not hint and isinstance(value, float) and value.is_integer() and "int" in message:
                    hint = "'/' divides into a float; use '//' for whole numbers"
                elif not hint and isinstance(value, str) and "${" in str(args[key]):
                    hint = "'${...}' inside text builds a string; write the whole value as an expression, e.g. \"$width * 2\""
                errors.append(NetspecError(message, args.where(key), hint))
        low, high = op.arity
        if not low <= len(inputs) <= (high if high is not None else len(inputs)):
            want = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            errors.append(NetspecError(f"{kind} takes {want} input(s), received {len(inputs)}", loc,
                                       "name its inputs with from: [a, b]" if low > 1 else None))
        if errors or failed or BROKEN in inputs:
            raise NetspecErrors(errors)  # with no errors: quietly broken, as its input is
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise _Fatal(f"the spec expands to more than {MAX_NODES:,} layers", loc,
                         "check repeat counts of blocks that hold repeats")
        self.graph.add_node(node_name, kind, attrs, inputs, loc)
        return node_name

    def call_block(self, kind, args, vars_, local, inputs, loc, parent: Scope) -> str:
        block = self.blocks[kind]
        if kind in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(kind):], kind])
            raise NetspecError(f"block '{kind}' uses itself ({chain}); blocks cannot recurse", loc,
                               "use repeat for a fixed number of copies")
        if len(self.stack) >= MAX_BLOCK_DEPTH:
            raise NetspecError(f"blocks are nested more than {MAX_BLOCK_DEPTH} deep "
                               f"({' -> '.join(self.stack[:3])} -> ... -> {kind})", loc)
        errors = []
        block_vars = dict(self.base_vars)
        for key, raw in args.items():
            if key not in block.params:
                errors.append(NetspecError(f"block '{kind}' has no parameter '{key}'", args.where_key(key),
                                           did_you_mean(key, block.params) or
                                           f"parameters: {', '.join(block.params) or 'none'}"))
                continue
            try:
                block_vars[key] = self.value(raw, vars_, args.where(key), f"{kind}.{key}")
            except NetspecError as exc:
                _collect(errors, exc)
                block_vars[key] = POISONED
        for key, default in block.params.items():
            if key in args:
                continue
            if default is REQUIRED:
                errors.append(NetspecError(f"block '{kind}' needs parameter '{key}'", loc,
                                           f"e.g. {kind}: {{{key}: ...}}"))
                continue
            try:  # defaults see the spec's params and the block's other params
                block_vars[key] = self.value(default, block_vars, block.param_loc[key], f"{kind}.{key}")
            except NetspecError as exc:
                _collect(errors, exc)
                block_vars[key] = POISONED
        if len(inputs) != len(block.inputs):
            errors.append(NetspecError(f"block '{kind}' takes {len(block.inputs)} input(s) "
                                       f"({', '.join(block.inputs)}), received {len(inputs)}", loc,
                                       "pass them with from: [...]" if len(block.inputs) > 1 else None))
        if errors or BROKEN in inputs or any(v is POISONED for v in block_vars.values()):
            raise NetspecErrors(errors)
        self.called.add(kind)
        scope = Scope(parent.prefix + local + ".", block_vars, dict(zip(block.inputs, inputs)))
        self.stack.append(kind)
        try:
            out = self.run_layers(block.layers, scope, [inputs[0]])
        finally:
            self.stack.pop()
        parent.children[local] = scope
        if block.output is not None:
            out = self.lookup(block.output, scope)
            if out is None:
                raise NetspecError(f"block '{kind}' output '{block.output}' names no layer of the block",
                                   block.output_loc, did_you_mean(block.output, scope.names) or self.known(scope))
        return out


def _override_kind(value, default=None) -> str | None:
    """What a ``--set`` value must be to replace ``value``: a typo'd number or flag is caught
    at the parameter instead of deep inside a layer. Text and lists are not checked."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a number"
    if default is not None and isinstance(default, float) and isinstance(value, int):
        return "a number"  # 1 for a default of 0.5 is fine
    return None


def _show(value) -> str:
    """A value as the user wrote it in YAML (null, not None)."""
    return "null" if value is None else repr(value)


def _collect(errors: list, exc: NetspecError) -> None:
    errors.extend(getattr(exc, "errors", [exc]))


_EMPTY = LocDict()
_EMPTY.loc, _EMPTY.key_loc, _EMPTY.val_loc = None, {}, {}


def _declared_name(entry):
    """The ``name:`` a failed layer entry declares, so later references to it stay quiet."""
    if not isinstance(entry, dict):
        return None
    name = entry.get("name")
    if name is None:
        for value in entry.values():
            if isinstance(value, dict) and "name" in value:
                name = value["name"]
    return name if isinstance(name, str) else None
