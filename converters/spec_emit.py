"""Typed block instances -> spec entries: block parameters, ``$index`` expressions, names.

One body is written for all the instances of a block. Each entry position has *slots*
(an attribute of an op, a parameter of a nested block, the presence of a variant's layer),
and each slot a value per instance. A value equal in all instances is written as it is; the
others become block parameters, shared where two slots of one attribute agree (conv1 and
conv2 filters) or one is a multiple of the other (a bottleneck's ``"$filters * 4"``); a
parameter's default is the value most instances have, when more than half have it. A layer
present in only some instances gets ``when:``, on a flag, or on the comparison of a
parameter that gives the same answer (``"$stride > 1"``).

Per-copy values of a repeat are written as an expression of ``$index``: a constant, an
arithmetic or geometric progression (``"2 ** $index"``), "the first differs"
(``"2 if $index == 0 else 1"``), or a list indexed by ``$index``.

Names are left out where the compiler would give the same one: the automatic naming of
``Scope.auto_name`` (``conv``, ``conv_1``, ...) is replayed entry by entry.
"""
from __future__ import annotations

import re
from collections import Counter

from netspec.errors import NetspecError, SourceLoc
from netspec.ops import OPS, REQUIRED
from netspec.spec.compiler import NAME

from .spec_attrs import spec_attrs
from .spec_blocks import Body, BlockType, Item, Typing

WILD = object()  # no value: the instance skips this layer, any value would do


class PerCopy(tuple):
    """The values one attribute takes in the copies of a repeat, when they differ."""


# ------------------------------------------------------------------ values and expressions
def literal(value) -> str:
    """A value as expression text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def index_expr(values) -> str:
    """An expression of ``$index`` that gives ``values[index]`` for each copy."""
    values = list(values)
    if len(values) > 2 and all(_is_int(v) for v in values):
        step = values[1] - values[0]
        if all(b - a == step for a, b in zip(values, values[1:])):
            scaled = "$index" if abs(step) == 1 else f"{abs(step)} * $index"
            if values[0] == 0:
                return scaled if step > 0 else f"-{scaled}"
            return f"{values[0]} {'+' if step > 0 else '-'} {scaled}"
        if values[0] and values[1] % values[0] == 0:
            ratio = values[1] // values[0]
            if ratio > 1 and all(v == values[0] * ratio ** i for i, v in enumerate(values)):
                power = f"{ratio} ** $index"
                return power if values[0] == 1 else f"{values[0]} * {power}"
    rest = values[1:]
    if all(v == rest[0] for v in rest):
        if values[0] is True and rest[0] is False:
            return "$index == 0"
        if values[0] is False and rest[0] is True:
            return "$index > 0"
        return f"{literal(values[0])} if $index == 0 else {literal(rest[0])}"
    return f"{literal(values)}[$index]"


def _collapse(values):
    return values[0] if all(v == values[0] for v in values) else PerCopy(values)


def _written(value):
    """A constant slot value as written in an entry."""
    return index_expr(value) if isinstance(value, PerCopy) else value


# ------------------------------------------------------------------ emission
class Emitter:
    """Turns the typed tree into spec entries: block definitions and the top-level layers."""

    def __init__(self, graph, typing: Typing):
        self.graph = graph
        self.typing = typing
        self._attrs: dict = {}

    def attrs(self, node: str):
        if node not in self._attrs:
            self._attrs[node] = spec_attrs(self.graph, self.graph.node(node))
        return self._attrs[node]

    def block_of(self, item: Item) -> BlockType:
        return self.typing.types[self.typing.find(item.type)]

    def kind_name(self, item: Item) -> str:
        if item.kind == "op":
            return self.graph.node(item.node).op
        if item.kind == "instance":
            return self.block_of(item).name
        return self.kind_name(item.copies[0])

    # ---------------------------------------------------------- slot values of one entry
    def op_values(self, node: str, keys) -> dict:
        spec = self.attrs(node)
        out = {}
        for key in keys:
            if key in spec.minimal:
                out[key] = spec.minimal[key]
            elif key in spec.explicit:
                out[key] = spec.explicit[key]
            else:  # only the default says it, and a block shared with a node that differs cannot
                raise NetspecError(f"node '{node}': its {key} is the default, which no spec value spells",
                                   SourceLoc(node=node), "such nodes get a block of their own")
        return out

    def slots(self, items: list) -> list[tuple[str, list]]:
        """(key, value per instance) for one entry position across instances (None: the
        instance skips it). Keys an entry needs in none of the instances are left out."""
        present = [i for i in items if i is not None]
        sample = present[0]
        kind = sample.kind if sample.kind != "repeat" else "repeat_" + sample.copies[0].kind
        if kind in ("op", "repeat_op"):
            op = OPS[self.graph.node(sample.node if kind == "op" else sample.copies[0].node).op]
            nodes_of = (lambda i: [i.node]) if kind == "op" else (lambda i: [c.node for c in i.copies])
            used = {k for i in present for n in nodes_of(i) for k in self.attrs(n).minimal}
            keys = [a.name for a in op.attrs if a.name in used]
            out = []
            for key in keys:
                values = []
                for i in items:
                    if i is None:
                        values.append(WILD)
                        continue
                    per = [self.op_values(n, [key])[key] for n in nodes_of(i)]
                    values.append(per[0] if kind == "op" else _collapse(per))
                out.append((key, values))
            return out
        block = self.block_of(sample if kind == "instance" else sample.copies[0])
        out = []
        for key, default in block.params.items():
            values = []
            for i in items:
                if i is None:
                    values.append(WILD)
                elif kind == "instance":
                    values.append(i.param_values[key])
                else:
                    values.append(_collapse([c.param_values[key] for c in i.copies]))
            if all(v is WILD or v == default for v in values):
                continue
            out.append((key, values))
        return out

    # ---------------------------------------------------------- one body for many instances
    def emit_body(self, bodies: list[Body], masks: list, rep: Body, inputs_names: list[str]):
        """Entries of ``rep`` (the widest variant) written for all ``bodies``; returns
        (entries, params {name: default}, per-body param values)."""
        params: dict = {}
        vectors: dict = {}
        self.origins = {}
        count = len(bodies)
        aligned = []
        for body, mask in zip(bodies, masks):
            by_local = {i.local: i for i in body.items}
            aligned.append([by_local.get(e.local) if keep else None for e, keep in zip(rep.items, mask)])
        flags: dict = {}
        entries = []
        names = set(inputs_names) | ({"input"} if inputs_names else set())
        counters: Counter = Counter()
        for position, item in enumerate(rep.items):
            column = [row[position] for row in aligned]
            args = {}
            for key, values in self.slots(column):
                args[key] = self.value_of(key, item.local, values, params, vectors, count,
                                          len(item.copies) if item.kind == "repeat" else None)
            meta = {}
            presence = tuple(row[position] is not None for row in aligned)
            when = None
            if not all(presence):
                if presence not in flags:
                    flag = _fresh(f"with_{item.local}", params)
                    flags[presence] = flag
                    vectors[flag] = list(presence)
                    votes = Counter(presence)
                    params[flag] = votes[True] > votes[False]
                when = f"${flags[presence]}"
            kind = self.kind_name(item)
            auto = _auto_name(kind, names, counters, commit=False)
            if when is not None or auto != item.local:
                meta["name"] = item.local
            else:
                _auto_name(kind, names, counters, commit=True)
            names.add(item.local)
            if item.from_ is not None:
                # one source as a name; several, or none (a constant), as a list
                meta["from"] = item.from_[0] if len(item.from_) == 1 else list(item.from_)
            if item.kind == "repeat":
                meta["repeat"] = len(item.copies)
            if when is not None:
                meta["when"] = when
            entry = {"kind": kind, "args": args, "meta": meta}
            if item.kind == "op" and args and next(iter(args)) == OPS[kind].attrs[0].name:
                entry["scalar"] = True
            entries.append(entry)
        self.rename_shared(params, vectors, entries)
        for flag in flags.values():
            self.flag_as_condition(flag, params, vectors, entries)
        per_body = []
        for index in range(count):
            values = {}
            for name, default in params.items():
                value = vectors[name][index]
                if value is WILD:
                    value = default if default is not REQUIRED else next(
                        v for v in vectors[name] if v is not WILD)
                values[name] = value
            per_body.append(values)
        return entries, params, per_body

    def flag_as_condition(self, flag, params, vectors, entries) -> None:
        """``when: "$stride > 1"`` says why a layer is there; a ``with_downsample`` flag that
        is true exactly where the stride is above 1 only says that it is. A flag that a
        comparison of an integer parameter reproduces is replaced by that comparison."""
        want = vectors[flag]
        for name, vector in vectors.items():
            if name == flag or not all(_is_int(v) for v in vector):
                continue
            default = params[name]
            tests = [(f"${name} > 1", [v > 1 for v in vector])]
            if default is not REQUIRED:
                tests.append((f"${name} != {default}", [v != default for v in vector]))
            for condition, result in tests:
                if result == want:
                    for entry in entries:
                        if entry["meta"].get("when") == f"${flag}":
                            entry["meta"]["when"] = condition
                    del params[flag], vectors[flag]
                    return

    def rename_shared(self, params, vectors, entries) -> None:
        """``filters`` beside ``branch2_filters`` reads as if the first were special: when
        several parameters come from one attribute, all are named after their layers."""
        keys = Counter(key for key, _ in self.origins.values())
        renames = {}
        for name, (key, local) in self.origins.items():
            if name == key and keys[key] > 1:
                renames[name] = _fresh(f"{local}_{key}", set(params) | set(renames.values()))
        if not renames:
            return
        pattern = re.compile(r"\$(" + "|".join(map(re.escape, renames)) + r")\b")

        def swap(value):
            return pattern.sub(lambda m: "$" + renames[m.group(1)], value) if isinstance(value, str) else value

        for entry in entries:
            entry["args"] = {k: swap(v) for k, v in entry["args"].items()}
            if "when" in entry["meta"]:
                entry["meta"]["when"] = swap(entry["meta"]["when"])
        for target in (params, vectors):
            renamed = {renames.get(k, k): v for k, v in target.items()}
            target.clear()
            target.update(renamed)

    def value_of(self, key, local, values, params, vectors, count, repeat):
        defined = [v for v in values if v is not WILD]
        if all(v == defined[0] for v in defined):
            return _written(defined[0])
        if any(isinstance(v, PerCopy) for v in defined):
            values = [v if v is WILD else list(v) if isinstance(v, PerCopy) else [v] * repeat
                      for v in values]
            name = self.param_for(key, local, values, params, vectors)
            return f"${name}[$index]"
        # a parameter of the same attribute with the same values (conv1 and conv2 filters),
        # or a multiple of them (a bottleneck's expansion): one parameter, read twice.
        # Other attributes (a kernel that happens to equal a stride) and flags stay apart.
        same_key = [name for name, origin in self.origins.items() if origin[0] == key]
        for name in same_key:
            if _compatible(vectors[name], values):
                _fill(vectors[name], values)
                return f"${name}"
        for name in same_key:
            factor = _factor(vectors[name], values)
            if factor:
                return f"${name} * {factor}"
        return "$" + self.param_for(key, local, values, params, vectors)

    def param_for(self, key, local, values, params, vectors):
        name = _fresh(key if key not in params else f"{local}_{key}", params)
        self.origins[name] = (key, local)
        vectors[name] = list(values)
        defined = [v for v in values if v is not WILD]
        common, votes = Counter(map(_hashable, defined)).most_common(1)[0]
        default = next(v for v in defined if _hashable(v) == common)
        params[name] = default if votes * 2 > len(values) else REQUIRED
        return name


def _hashable(v):
    return tuple(map(_hashable, v)) if isinstance(v, list) else v


def _compatible(vector, values) -> bool:
    return all(a is WILD or b is WILD or (a == b and type(a) is type(b)) for a, b in zip(vector, values))


def _fill(vector, values) -> None:
    for i, v in enumerate(values):
        if vector[i] is WILD:
            vector[i] = v


def _factor(vector, values):
    """k when ``values == vector * k`` (ints, k > 1), where both are defined."""
    pairs = [(a, b) for a, b in zip(vector, values) if b is not WILD]
    if not pairs or any(a is WILD or not _is_int(a) or not _is_int(b) or a <= 0 for a, b in pairs):
        return None
    a, b = pairs[0]
    if b % a or b // a < 2:
        return None
    k = b // a
    return k if all(y == x * k for x, y in pairs) else None


def _fresh(base: str, taken) -> str:
    name, n = base, 1
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    return name


def _auto_name(kind: str, names: set, counters: Counter, commit: bool) -> str:
    """The name the compiler gives an unnamed layer of ``kind`` here (Scope.auto_name)."""
    n = counters[kind]
    name = kind if n == 0 else f"{kind}_{n}"
    while name in names:
        n += 1
        name = f"{kind}_{n}"
    if commit:
        counters[kind] = n + 1
    return name


MERGE_NAMES = {"add": "residual", "concat": "module", "multiply": "gated"}


def describe(ops: list[str]) -> str:
    """A name for a block from the ops it holds, in order: after the op that merges its
    branches at its end (``residual`` for add, ``module`` for concat), else its first
    different ops (``conv_relu``, ``maxpool_conv_relu``)."""
    tail = [op for op in ops if OPS[op].family != "activation"][-1:] or ops[-1:]
    if tail and tail[0] in MERGE_NAMES:
        return MERGE_NAMES[tail[0]]
    distinct = list(dict.fromkeys(ops))
    return "_".join(distinct[:3]) if len(distinct) > 1 else (distinct or ["layer"])[0] + "_block"


def block_name(graph, block: BlockType, sites: list[str], taken: set) -> str:
    """A readable, unused block name: what its instances' names have in common
    (inception3a, inception4b -> inception), else what it holds (:func:`describe`)."""
    prefix = sites[0]
    for site in sites[1:]:
        while not site.startswith(prefix):
            prefix = prefix[:-1]
    if not (len(sites) > 1 and prefix in sites):  # block, block_1, block_2: the block is 'block'
        prefix = prefix.rstrip("0123456789_")
    if len(prefix) < 2 or not NAME.fullmatch(prefix) or prefix in OPS:
        widest = max(block.variants.values(), key=lambda inst: len(inst.nodes))
        prefix = describe([graph.node(n).op for n in widest.nodes])
    if prefix in OPS:
        prefix += "_block"
    return _fresh(prefix, taken | set(OPS))
