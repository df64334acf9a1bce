"""Finding the blocks of a graph: instance boundaries from the names, block types from structure.

Why the names draw the boundaries. The spec language names a node inside a block instance
``<instance>.<layer>`` and a repeated copy ``<name>.<index>``, and a layer name itself may
not contain a dot. So a graph node ``layer2.1.conv1`` can only be produced by a repeat
``layer2`` whose second copy is a block instance with a layer ``conv1``, and a graph whose
names hold no dots can only be written flat: any block would rename its nodes. The dotted
names therefore fix *where* instances are (a tree of scopes, :func:`name_tree`), and a
name that no spec could produce (``a.0`` without ``a.1``, ``a`` beside ``a.b``, a dash)
is reported before anything is written.

Why structure decides the sharing. Which instances are *the same block* is decided by a
canonical signature of each instance's body, never by its name: the sequence of its entries
with their ops (or, for nested instances, the block type found for them), local layer
names and wiring expressed in local terms (``from: [bn2, input]``), with attribute values
left out. Instances with equal signatures share a block; attribute values that differ
between them become block parameters (``filters: $filters``), values equal in all of them
stay literal, and a parameter whose values are a multiple of another's is written as an
expression (``"$filters * 4"``). GoogLeNet's nine inception modules thus become one block
whatever they are called, and its conv-batchnorm-relu triples another, used both at the top
level and inside the inception block.

Variants. The copies of one repeat must use one block, but a ResNet stage's first block has
a projection shortcut the others lack. When one variant is another with some layers left
out, and leaving them out (the compiler makes a skipped layer an identity that stands for
its input) rewires the rest exactly as in the smaller variant, the two merge into one block
whose extra layers carry ``when: $with_<layer>``. Otherwise the spec cannot be written and
the caller is told so. Outside repeats, variants merge too when the smaller keeps at least
half of the layers (VGG's stages of two and of three convolutions).

Writing the typed tree as spec entries is :mod:`converters.spec_emit`; a graph whose names
show no structure (or cannot be kept) gets names from :mod:`converters.spec_structure`
when the caller allows renaming.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from netspec.errors import NetspecError, SourceLoc
from netspec.graph.ir import INPUT
from netspec.spec.compiler import NAME


# ------------------------------------------------------------------ the name tree
@dataclass(eq=False)
class Item:
    """One entry of a scope: an op node, a block instance (``body``) or a repeat (``copies``)."""

    local: str
    node: str | None = None
    body: "Body | None" = None
    copies: list | None = None
    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # graph nodes it reads from outside itself
    output: str = ""
    from_: tuple | None = None  # references in its scope; None: chains from the previous entry
    type: int | None = None  # instance: block type id
    height: int = 0  # instance: 1 + the deepest instance inside it
    param_values: dict = field(default_factory=dict)  # instance: block param -> value

    @property
    def kind(self) -> str:
        return "op" if self.node is not None else "instance" if self.body is not None else "repeat"


@dataclass(eq=False)
class Body:
    """A scope: the top level or one instance's body."""

    items: list
    inputs: list = field(default_factory=list)  # graph nodes feeding it, in order of first use
    input_names: list = field(default_factory=list)
    refs: dict = field(default_factory=dict)  # graph node -> how this scope refers to it


def _unwritable(name: str, why: str) -> NetspecError:
    return NetspecError(f"node name '{name}' cannot be produced by a spec: {why}", SourceLoc(node=name),
                        "names are letters, digits and '_'; dots come only from block instances "
                        "(<instance>.<layer>) and repeats (<name>.0, <name>.1, ...); rename the node, "
                        "or pass rename=True to write such names as spec names")


def _group(entries) -> list[Item]:
    """``entries``: (full node name, remaining name segments) in graph order."""
    groups: dict[str, list] = {}
    for full, parts in entries:
        groups.setdefault(parts[0], []).append((full, parts[1:]))
    return [_item(key, members) for key, members in groups.items()]


def _item(key: str, members) -> Item:
    first = members[0][0]
    if not NAME.fullmatch(key):
        raise _unwritable(first, f"'{key}' is not a layer name")
    if len(members) == 1 and not members[0][1]:
        return Item(key, node=first)
    if any(not rest for _, rest in members):
        plain = next(full for full, rest in members if not rest)
        raise _unwritable(plain, f"'{plain}' is both a layer and the prefix of other layers")
    heads: dict[str, list] = {}
    for full, rest in members:
        heads.setdefault(rest[0], []).append((full, rest[1:]))
    digits = [h for h in heads if h.isdigit()]
    if not digits:
        return Item(key, body=Body(_group([(full, rest) for full, rest in members])))
    count = len(heads)
    if len(digits) != count or sorted(heads) != sorted(str(i) for i in range(count)) or count < 2:
        raise _unwritable(first, f"the copies of a repeat are numbered 0, 1, ... (at least two), "
                                 f"found {', '.join(sorted(heads))} under '{key}'")
    copies = []
    for index in range(count):
        group = heads[str(index)]
        if len(group) == 1 and not group[0][1]:
            copies.append(Item(str(index), node=group[0][0]))
        elif any(not rest for _, rest in group):
            raise _unwritable(group[0][0], "a repeat copy is both a layer and a block instance")
        else:
            copies.append(Item(str(index), body=Body(_group(group))))
    if len({c.kind for c in copies}) > 1:
        raise _unwritable(first, f"the copies of '{key}' mix single layers and block instances")
    return Item(key, copies=copies)


def node_order(graph) -> list[str]:
    """The graph's insertion order when it is topological (a compiled spec's order, which
    keeps inception branches in the order they were written), else a topological order."""
    names = list(graph.nx.nodes)
    seen = set()
    for name in names:
        if any(i not in seen for i in graph.node(name).inputs):
            return list(graph.order())
        seen.add(name)
    return names


def name_tree(graph) -> Body:
    layers = [n for n in node_order(graph) if graph.node(n).op != INPUT]
    for name in graph.inputs:
        if not NAME.fullmatch(name):
            raise _unwritable(name, "input names are letters, digits and '_', not starting with a digit")
    if "input" in layers:
        raise _unwritable("input", "a spec's first input is also called 'input'")
    top = Body(_group([(n, n.split(".")) for n in layers]))
    top.inputs = list(graph.inputs)
    top.input_names = list(graph.inputs)
    for item in top.items:
        _finish(item, graph)
    top.items = chain_order(top.items, graph.inputs[0])
    _link(top, graph)
    return top


def _finish(item: Item, graph) -> None:
    """Fill nodes, inputs and output, bottom-up; check that repeat copies form a chain."""
    if item.kind == "op":
        item.nodes, item.inputs, item.output = [item.node], list(graph.node(item.node).inputs), item.node
        return
    if item.kind == "instance":
        body = item.body
        for child in body.items:
            _finish(child, graph)
        body.items = chain_order(body.items)
        item.nodes = [n for child in body.items for n in child.nodes]
        inside = set(item.nodes)
        ext: list = []
        for name in item.nodes:
            for src in graph.node(name).inputs:
                if src not in inside and src not in ext:
                    ext.append(src)
        body.inputs = ext
        locals_ = {child.local for child in body.items}
        body.input_names = []
        for index in range(len(ext)):
            base = "input" if index == 0 else f"input_{index}"
            while base in locals_:
                base += "_"
            body.input_names.append(base)
        item.inputs, item.output = ext, body.items[-1].output
        item.height = 1 + max((_height(c) for c in body.items), default=0)
        return
    for copy in item.copies:
        _finish(copy, graph)
    for previous, copy in zip(item.copies, item.copies[1:]):
        if copy.inputs != [previous.output]:
            raise _unwritable(copy.nodes[0], f"copy {copy.local} of '{item.local}' does not read "
                                             f"only from copy {previous.local}, so it is no repeat")
    item.nodes = [n for c in item.copies for n in c.nodes]
    item.inputs, item.output = item.copies[0].inputs, item.copies[-1].output


def chain_order(items: list, first: str | None = None) -> list:
    """The entries of one scope in an order that needs few ``from:``: among the entries whose
    inputs are all built, the one reading just the previous result comes next, else the
    earliest. An importer may list a projection shortcut right after the conv it branches
    from; written in that order every later layer of the block would need a ``from:``. The
    last entry stays last: it is the block's (or the spec's default) output."""
    if len(items) < 3:
        return items
    last = len(items) - 1
    owner = {n: index for index, item in enumerate(items) for n in item.nodes}
    waiting = [0] * len(items)
    readers: dict = {}
    for index, item in enumerate(items):
        needs = {owner[n] for n in item.inputs if n in owner}
        waiting[index] = len(needs)
        for need in needs:
            readers.setdefault(need, []).append(index)
    ready = [i for i in range(last) if waiting[i] == 0]
    heapq.heapify(ready)
    taken = [False] * len(items)
    order: list = []
    current = items[0].inputs[0] if first is None and items[0].inputs else first
    while len(order) < last:
        pool = readers.get(order[-1], ()) if order else ready
        chained = [i for i in pool if i != last and not taken[i] and waiting[i] == 0
                   and items[i].inputs == [current]]
        if chained:
            pick = min(chained)
        else:
            while taken[ready[0]]:  # picked earlier through a chain
                heapq.heappop(ready)
            pick = heapq.heappop(ready)
        taken[pick] = True
        order.append(pick)
        current = items[pick].output
        for reader in readers.get(pick, ()):
            waiting[reader] -= 1
            if waiting[reader] == 0 and reader != last:
                heapq.heappush(ready, reader)
    return [items[i] for i in order] + [items[last]]


def _height(item: Item) -> int:
    if item.kind == "instance":
        return item.height
    if item.kind == "repeat":
        return max(_height(c) for c in item.copies)
    return 0


def _link(body: Body, graph) -> None:
    """Write each entry's inputs as references of its scope (``from:``), and record how the
    scope refers to every node it can reach: ``layer1`` for an instance's result,
    ``layer1.0.conv1`` inside it. Only the last copy of a repeated layer has a name."""
    refs = dict(zip(body.inputs, body.input_names))
    current = body.inputs[0] if body.inputs else None
    for item in body.items:
        if item.inputs == [current]:
            item.from_ = None
        else:
            missing = [n for n in item.inputs if n not in refs]
            if missing:
                raise _unwritable(item.nodes[0], f"it reads '{missing[0]}', which a spec cannot name "
                                                 "from here (an inner copy of a repeated layer?)")
            item.from_ = tuple(refs[n] for n in item.inputs)
        if item.kind == "instance":
            _link(item.body, graph)
            for name, ref in item.body.refs.items():
                if name not in item.body.inputs:
                    refs.setdefault(name, f"{item.local}.{ref}")
        elif item.kind == "repeat":
            for copy in item.copies:
                if copy.kind == "instance":
                    _link(copy.body, graph)
                    for name, ref in copy.body.refs.items():
                        if name not in copy.body.inputs:
                            refs.setdefault(name, f"{item.local}.{copy.local}.{ref}")
        refs[item.output] = item.local
        current = item.output
    body.refs = refs


def instances(body: Body) -> list[Item]:
    """Every block instance in the tree, outermost first."""
    out = []
    for item in body.items:
        group = [item] if item.kind == "instance" else (item.copies if item.kind == "repeat" else [])
        for inst in group:
            if inst.kind == "instance":
                out.append(inst)
                out.extend(instances(inst.body))
    return out


def repeats(body: Body) -> list[Item]:
    """Every repeat in the tree (their copies must end up as instances of one block)."""
    out = []
    for item in body.items:
        if item.kind == "repeat":
            out.append(item)
            for copy in item.copies:
                if copy.kind == "instance":
                    out.extend(repeats(copy.body))
        elif item.kind == "instance":
            out.extend(repeats(item.body))
    return out


# ------------------------------------------------------------------ block types
@dataclass(eq=False)
class BlockType:
    """One block of the written spec: the variants it covers, then (once finished) its name,
    parameters with defaults, input names and layer entries."""

    id: int
    variants: dict  # signature when first seen -> a representative instance
    name: str = ""
    params: dict = field(default_factory=dict)  # name -> default (ops.REQUIRED when none)
    layers: list = field(default_factory=list)  # spec entries
    inputs: list = field(default_factory=list)


class Typing:
    """Block types by structural signature, with union-find for merged variants."""

    def __init__(self, graph, share: bool = True):
        self.graph = graph
        self.share = share
        self.types: list[BlockType] = []
        self.by_sig: dict = {}
        self.parent: dict[int, int] = {}

    def find(self, tid: int) -> int:
        while self.parent[tid] != tid:
            self.parent[tid] = self.parent[self.parent[tid]]
            tid = self.parent[tid]
        return tid

    def kind_key(self, item: Item):
        if item.kind == "op":
            return ("op", self.graph.node(item.node).op)
        if item.kind == "instance":
            return ("block", self.find(item.type))
        kinds = sorted({self.kind_key(c) for c in item.copies}, key=repr)
        return kinds[0] if len(kinds) == 1 else ("mixed", tuple(kinds))

    def signature(self, body: Body):
        return (len(body.inputs), tuple((self.kind_key(i), i.local, i.from_,
                                         len(i.copies) if i.kind == "repeat" else None)
                                        for i in body.items))

    def assign(self, inst: Item) -> None:
        sig = self.signature(inst.body) if self.share else (id(inst), self.signature(inst.body))
        if sig not in self.by_sig:
            tid = len(self.types)
            self.types.append(BlockType(tid, {sig: inst}))
            self.parent[tid] = tid
            self.by_sig[sig] = tid
        inst.type = self.by_sig[sig]

    def merge(self, tids, min_kept: float = 0.0) -> bool:
        """Make the types one block when each is the widest with some layers skipped (and
        keeps at least ``min_kept`` of its layers); signatures are taken afresh, as merges
        of inner blocks may have made them equal."""
        roots = sorted({self.find(t) for t in tids})
        if len(roots) < 2:
            return True
        variants = {}
        for r in roots:
            for inst in self.types[r].variants.values():
                variants.setdefault(self.signature(inst.body), inst)
        widest = max(variants, key=lambda s: len(s[1]))
        for sig in variants:
            mask = present_mask(widest, sig) if sig[0] == widest[0] else None
            if mask is None or sum(mask) < min_kept * len(mask):
                return False
        root = roots[0]
        for r in roots[1:]:
            self.parent[r] = root
        self.types[root].variants = variants
        return True

    def consolidate(self, found: list) -> None:
        """Merge blocks that are variants of each other even outside a repeat (VGG's stages
        of two and of three convolutions become one block with ``when:``), and blocks whose
        instances became equal when their inner blocks merged. A variant must keep at least
        half of the layers, so that unrelated blocks that happen to align stay apart."""
        changed = True
        while changed:
            changed = False
            roots = []
            for inst in found:
                root = self.find(inst.type)
                if root not in roots:
                    roots.append(root)
            size = {r: max(len(self.signature(i.body)[1]) for i in self.types[r].variants.values())
                    for r in roots}
            for wide in sorted(roots, key=lambda r: -size[r]):
                for narrow in roots:
                    if self.find(narrow) != self.find(wide) and self.merge([wide, narrow], 0.5):
                        changed = True


def _stand_in(entries, skipped):
    """The inputs each kept entry reads when ``skipped`` entries are identities (each stands
    for its first input), and the scope's final result; None when a reference reaches into a
    skipped instance."""
    stand: dict = {}
    current = "\0input0"
    reads = {}
    for index, (_, local, from_, _) in enumerate(entries):
        if from_ is None:
            ins = [current]
        else:
            ins = []
            for ref in from_:
                head = ref.split(".")[0]
                if "." in ref and head in stand:
                    return None
                ins.append(stand.get(ref, ref))
        if index in skipped:
            if not ins:  # a constant (no inputs) cannot stand in as an identity
                return None
            stand[local] = ins[0]
            current = ins[0]
        else:
            reads[local] = ins
            current = local
    return reads, current


def present_mask(wide, narrow):
    """Which entries of signature ``wide`` the variant ``narrow`` keeps, or None when
    ``narrow`` is not ``wide`` with some entries skipped."""
    wide_entries, narrow_entries = wide[1], narrow[1]
    keep, j = [], 0
    for entry in wide_entries:
        if j < len(narrow_entries) and narrow_entries[j][:2] == entry[:2] and narrow_entries[j][3] == entry[3]:
            keep.append(True)
            j += 1
        else:
            keep.append(False)
    if j != len(narrow_entries):
        return None
    skipped = {i for i, k in enumerate(keep) if not k}
    with_skips = _stand_in(wide_entries, skipped)
    plain = _stand_in(narrow_entries, set())
    if with_skips is None or plain is None or with_skips != plain:
        return None
    return keep
