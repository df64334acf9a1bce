"""Finding repeated structure where the names cannot show it: new names for ``rename=True``.

A graph imported from elsewhere may have names no spec can produce
(``/layer1/layer1.0/conv1/Conv``) or names without any block structure. When the caller
allows renaming, the repeated substructures are found from the graph alone and the nodes
are given the names a spec with those blocks would produce (``conv_relu.0.conv``); the
name-based writer (:mod:`converters.spec_blocks`) then types and parameterises the blocks
as usual. Three steps:

1. **Segments.** Nodes are laid out in a topological order that follows chains, and cut
   after every node that is the only value still needed later (an articulation point of
   the data flow); a lone activation after a cut joins the segment before it. A segment
   reads only the previous cut: a residual block, an inception module, a dense layer, or a
   single layer of a plain chain.
2. **Signatures.** A window of consecutive tokens is described by its ops and wiring in
   local terms (which input of which earlier node, or the k-th value from outside),
   without attribute values: blocks take those as parameters.
3. **Units.** Segments of two or more layers that occur more than once become a unit each,
   and inside a large segment the same search runs over its single layers (an inception
   module's conv-batchnorm-relu branches). Then, repeatedly, the sequence is searched for
   the repeated window that saves the most layers (``conv relu`` in VGG), which becomes a
   unit too. Consecutive instances of a unit that each read only the one before become a
   repeat. Units hold other units, so blocks nest.

The result is only a proposal: the writer checks the spec it makes from these names by
compiling it, and falls back to flat names when it would not rebuild the graph.
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from netspec.graph.ir import INPUT
from netspec.ops import OPS

from .spec_blocks import node_order
from .spec_emit import _auto_name, describe

MAX_PATTERN = 12  # tokens in one searched pattern; blocks longer than this are rare
NESTED_MIN = 6  # layers in a segment before its inside is searched too
BLOCK_COST = 3  # lines a block definition adds (its name, layers:, a blank line)


def chain_first_order(graph) -> list[str]:
    """Layer nodes in a topological order that puts a node's only reader right after it
    when it can (so chains stay together), else the earliest ready node of the graph's order."""
    names = [n for n in node_order(graph) if graph.node(n).op != INPUT]
    rank = {n: i for i, n in enumerate(names)}
    waiting = {n: len(set(i for i in graph.node(n).inputs if i in rank)) for n in names}
    ready = [rank[n] for n in names if waiting[n] == 0]
    heapq.heapify(ready)
    done: set = set()
    order: list = []
    last = None
    while ready:
        pick = None
        if last is not None:
            chained = [rank[c] for c in graph.consumers(last)
                       if c in rank and c not in done and waiting[c] == 0 and graph.node(c).inputs == [last]]
            if chained:
                pick = min(chained)
                ready.remove(pick)
                heapq.heapify(ready)
        if pick is None:
            pick = heapq.heappop(ready)
        name = names[pick]
        order.append(name)
        done.add(name)
        last = name
        for consumer in graph.consumers(name):
            if consumer in rank:
                waiting[consumer] -= 1
                if waiting[consumer] == 0:
                    heapq.heappush(ready, rank[consumer])
    return order


def segments(graph, order: list[str]) -> list[list[str]]:
    """Cut ``order`` after each node that is then the only value still to be read."""
    needed = Counter()
    for name in order:
        for src in set(graph.node(name).inputs):
            needed[src] += 1
    for name in graph.outputs:
        needed[name] += 1  # read by the caller: never released
    live = {n for n in graph.inputs if needed[n]}
    out, current = [], []
    for name in order:
        current.append(name)
        for src in set(graph.node(name).inputs):
            needed[src] -= 1
            if needed[src] == 0:
                live.discard(src)
        if needed[name]:
            live.add(name)
        if live <= {name}:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return _attach_activations(graph, out)


def _attach_activations(graph, segs):
    """A residual block ends in ``add`` then ``relu``; the cut after the add would leave the
    relu outside the block. A lone activation is joined to the layers before it."""
    out = []
    for nodes in segs:
        if out and len(out[-1]) > 1 and len(nodes) == 1 and OPS[graph.node(nodes[0]).op].family == "activation":
            out[-1] = out[-1] + nodes
        else:
            out.append(nodes)
    return out


def signature(graph, nodes: list[str]) -> tuple:
    """Ops and wiring of a segment: each input is ('in', k) for the k-th outside value it
    reads or ('at', i) for the segment's i-th node."""
    position = {n: i for i, n in enumerate(nodes)}
    outside: list = []
    sig = []
    for name in nodes:
        refs = []
        for src in graph.node(name).inputs:
            if src in position:
                refs.append(("at", position[src]))
            else:
                if src not in outside:
                    outside.append(src)
                refs.append(("in", outside.index(src)))
        sig.append((graph.node(name).op, tuple(refs)))
    return tuple(sig)


@dataclass(eq=False)
class Token:
    """A run of nodes seen as one thing: a segment or a single node (``nodes``), a unit
    instance (``unit``, ``children``) or a run of instances of one unit (``unit``, ``copies``)."""

    symbol: tuple
    nodes: list  # every graph node inside, in order
    unit: int | None = None
    children: list = field(default_factory=list)
    copies: list = field(default_factory=list)

    @property
    def weight(self) -> int:
        return len(self.nodes)


@dataclass
class Unit:
    name: str
    key: tuple


def _nodes(tokens) -> list:
    return [n for t in tokens for n in t.nodes]


class Finder:
    """Units shared across the whole graph: a window of tokens is an instance of a unit
    when its token symbols and its wiring (:func:`signature` of its nodes) are the unit's."""

    def __init__(self, graph):
        self.graph = graph
        self.units: list[Unit] = []
        self.by_key: dict = {}
        self.taken: set = set()

    def key(self, tokens) -> tuple:
        return tuple(t.symbol for t in tokens), signature(self.graph, _nodes(tokens))

    def unit_name(self, tokens) -> str:
        """After what it holds (:func:`converters.spec_blocks.describe`), made unique."""
        base = describe([self.graph.node(n).op for n in _nodes(tokens)])
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name

    def wrap(self, tokens) -> Token:
        key = self.key(tokens)
        if key not in self.by_key:
            self.by_key[key] = len(self.units)
            self.units.append(Unit(self.unit_name(tokens), key))
        unit = self.by_key[key]
        return Token(("unit", unit), _nodes(tokens), unit=unit, children=list(tokens))

    def reads(self, token) -> list:
        inside = set(token.nodes)
        out: list = []
        for name in token.nodes:
            for src in self.graph.node(name).inputs:
                if src not in inside and src not in out:
                    out.append(src)
        return out

    def runs(self, tokens) -> list:
        """Consecutive instances of one unit, each reading only the one before: one run
        (a spec's repeat stacks copies that way and no other)."""
        out: list = []
        for token in tokens:
            previous = out[-1] if out else None
            if (token.unit is not None and not token.copies and previous is not None
                    and previous.unit == token.unit and self.reads(token) == [previous.nodes[-1]]):
                copies = previous.copies or [previous]
                out[-1] = Token(("run", token.unit, len(copies) + 1), previous.nodes + token.nodes,
                                unit=token.unit, copies=[*copies, token])
                continue
            out.append(token)
        return out

    def best_pattern(self, tokens, min_weight: int = 2):
        """The repeated window (2 to MAX_PATTERN tokens, ``min_weight`` or more layers)
        whose replacement by a unit saves the most layers; None when nothing repeats."""
        best, best_gain = None, 0
        for length in range(2, min(MAX_PATTERN, len(tokens) // 2) + 1):
            seen: dict = {}
            for start in range(len(tokens) - length + 1):
                window = tokens[start:start + length]
                if len({t.symbol for t in window}) == 1:
                    continue  # a run of one thing is a repeat, not a new block
                seen.setdefault(self.key(window), []).append(start)
            for key, starts in seen.items():
                taken, end = [], -1
                for start in starts:
                    if start > end:
                        taken.append(start)
                        end = start + length - 1
                count = len(taken)
                calls = 1 + sum(b != a + length for a, b in zip(taken, taken[1:]))  # a run is one repeat
                weight = len(_nodes(tokens[starts[0]:starts[0] + length]))
                # lines saved: count copies of weight layers become one body and a call per
                # run of copies, and a block definition costs a few lines of its own
                gain = (count - 1) * weight - calls - BLOCK_COST
                if count >= 2 and weight >= min_weight and gain > best_gain:
                    best, best_gain = (length, key), gain
        return best

    def replace(self, tokens, pattern) -> list:
        length, key = pattern
        out, i = [], 0
        while i < len(tokens):
            window = tokens[i:i + length]
            if len(window) == length and self.key(window) == key:
                out.append(self.wrap(window))
                i += length
            else:
                out.append(tokens[i])
                i += 1
        return out

    def compress(self, tokens, min_weight: int = 2) -> list:
        tokens = self.runs(tokens)
        while True:
            pattern = self.best_pattern(tokens, min_weight)
            if pattern is None:
                return tokens
            tokens = self.runs(self.replace(tokens, pattern))

    def inside(self, nodes) -> list:
        """A large segment's own repeated structure (an inception module's conv-bn-relu
        branches), searched among its single nodes. Inside a block, two layers are not worth
        a block of their own: a residual block's two conv-bn pairs stay as they are."""
        single = [Token(("node", self.graph.node(n).op), [n]) for n in nodes]
        return self.compress(single, min_weight=3) if len(nodes) >= NESTED_MIN else single

    def find(self, segs: list[list[str]]) -> list:
        tokens = [Token(("seg", signature(self.graph, nodes)), nodes) for nodes in segs]
        counts = Counter(t.symbol for t in tokens)
        out = []
        for token in tokens:  # repeated multi-layer segments: a unit each, with its inner units
            if token.weight >= 2 and counts[token.symbol] >= 2:
                out.append(self.wrap(self.inside(token.nodes)))
            elif token.weight >= NESTED_MIN:
                out.extend(self.inside(token.nodes))
            else:
                out.extend(Token(("node", self.graph.node(n).op), [n]) for n in token.nodes)
        return self.compress(out)


def structural_names(graph) -> tuple[list[str], dict[str, str], int]:
    """(node order, ``{old: new}`` for every layer node, number of units found). Graph
    inputs keep their names when they are spec names (the caller renames the others)."""
    order = chain_first_order(graph)
    finder = Finder(graph)
    tokens = finder.find(segments(graph, order))
    mapping: dict = {}

    def assign(tokens, prefix: str, names: set):
        counters: Counter = Counter()
        for token in tokens:
            if token.unit is None:
                for node in token.nodes:
                    local = _auto_name(graph.node(node).op, names, counters, commit=True)
                    names.add(local)
                    mapping[node] = prefix + local
                continue
            local = _auto_name(finder.units[token.unit].name, names, counters, commit=True)
            names.add(local)
            if token.copies:
                for index, copy in enumerate(token.copies):
                    assign(copy.children, f"{prefix}{local}.{index}.", {"input"})
            else:
                assign(token.children, f"{prefix}{local}.", {"input"})

    assign(tokens, "", set(graph.inputs) | {"input"})
    return order, mapping, len(finder.units)
