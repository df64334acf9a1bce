"""Finding repeated structure where the names cannot show it: new names for ``rename=True``.

A graph imported from elsewhere may have names no spec can produce
(``/layer1/layer1.0/conv1/Conv``) or names without any block structure. When the caller
allows renaming, the repeated substructures are found from the graph alone and the nodes
are given the names a spec with those blocks would produce (``conv_relu.0.conv``); the
name-based writer (:mod:`converters.spec_blocks`) then types and parameterises the blocks
as usual. Three steps:

1. **Segments.** Nodes are laid out in a topological order that follows chains, and cut
   after every node that is the only value still needed later (an articulation point of
   the data flow). A segment between two cuts reads only the previous cut: a residual
   block, an inception module, a dense layer, or a single layer of a plain chain.
2. **Signatures.** A segment's signature is its ops and wiring in local terms (which input
   of which earlier node), without attribute values: blocks take those as parameters.
3. **Units.** Segments of two or more layers that occur more than once become a unit each;
   then, repeatedly, the sequence of segments and units is searched for the repeated run
   of tokens that saves the most layers (``conv relu`` in VGG), which becomes a unit too.
   Runs of one unit become a repeat. Units hold other units, so blocks nest.

The result is only a proposal: the writer checks the spec it makes from these names by
compiling it, and falls back to flat names when it would not rebuild the graph.
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from netspec.graph.ir import INPUT
from netspec.ops import OPS

from .spec_blocks import _auto_name, node_order

MAX_PATTERN = 12  # tokens in one searched pattern; blocks longer than this are rare
MERGE_NAMES = {"add": "residual", "concat": "module", "multiply": "gated"}


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
    """A segment (``nodes``), a unit instance (``unit``, ``children``) or a run of unit
    instances (``unit``, ``copies``)."""

    symbol: tuple
    weight: int
    nodes: list = field(default_factory=list)
    unit: int | None = None
    children: list = field(default_factory=list)
    copies: list = field(default_factory=list)


@dataclass
class Unit:
    name: str
    pattern: tuple


class Finder:
    def __init__(self, graph):
        self.graph = graph
        self.units: list[Unit] = []
        self.taken: set = set()

    def unit_name(self, tokens) -> str:
        """After what it holds: the op that merges its branches (``residual`` for add,
        ``module`` for concat), else its first ops (``conv_relu``); ``stage`` for units of units."""
        if all(t.unit is None for t in tokens):
            ops = [self.graph.node(n).op for t in tokens for n in t.nodes]
            merges = [MERGE_NAMES[op] for op in ops if op in MERGE_NAMES]
            base = merges[-1] if merges else "_".join(dict.fromkeys(ops[:3])) if len(ops) > 1 else ops[0] + "_block"
        else:
            base = "stage"
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name

    def new_unit(self, tokens) -> int:
        self.units.append(Unit(self.unit_name(tokens), tuple(t.symbol for t in tokens)))
        return len(self.units) - 1

    def wrap(self, unit: int, tokens) -> Token:
        return Token(("unit", unit), sum(t.weight for t in tokens), unit=unit, children=list(tokens))

    def runs(self, tokens) -> list:
        """Consecutive instances of one unit as one run token."""
        out = []
        for token in tokens:
            previous = out[-1] if out else None
            if token.unit is not None and not token.copies and previous is not None \
                    and previous.unit == token.unit:
                if previous.copies:
                    previous.copies.append(token)
                    previous.weight += token.weight
                else:
                    out[-1] = Token(("run", token.unit), previous.weight + token.weight, unit=token.unit,
                                    copies=[previous, token])
                continue
            out.append(token)
        for token in out:  # a run's symbol says how many copies: patterns match it exactly
            if token.copies:
                token.symbol = ("run", token.unit, len(token.copies))
        return out

    def best_pattern(self, tokens):
        """The repeated token run (2 to MAX_PATTERN tokens, two or more layers) whose
        replacement by a unit saves the most layers; None when nothing repeats."""
        best, best_gain = None, 0
        symbols = [t.symbol for t in tokens]
        for length in range(2, min(MAX_PATTERN, len(tokens) // 2) + 1):
            seen: dict = {}
            for start in range(len(tokens) - length + 1):
                seen.setdefault(tuple(symbols[start:start + length]), []).append(start)
            for pattern, starts in seen.items():
                if len(set(pattern)) == 1:
                    continue  # a run of one thing is a repeat, not a new block
                count, end = 0, -1
                for s in starts:
                    if s > end:
                        count += 1
                        end = s + length - 1
                if count < 2:
                    continue
                weight = sum(tokens[starts[0] + i].weight for i in range(length))
                gain = (count - 1) * weight - length
                if weight >= 2 and gain > best_gain:
                    best, best_gain = pattern, gain
        return best

    def replace(self, tokens, pattern) -> list:
        unit = self.new_unit(self._sample(tokens, pattern))
        out, i, n = [], 0, len(pattern)
        while i < len(tokens):
            if tuple(t.symbol for t in tokens[i:i + n]) == pattern:
                out.append(self.wrap(unit, tokens[i:i + n]))
                i += n
            else:
                out.append(tokens[i])
                i += 1
        return out

    @staticmethod
    def _sample(tokens, pattern):
        symbols = [t.symbol for t in tokens]
        for i in range(len(tokens)):
            if tuple(symbols[i:i + len(pattern)]) == pattern:
                return tokens[i:i + len(pattern)]
        return []

    def find(self, segs: list[list[str]]) -> list:
        sigs: dict = {}
        tokens = []
        for nodes in segs:
            sig = signature(self.graph, nodes)
            sigs.setdefault(sig, len(sigs))
            tokens.append(Token(("seg", sigs[sig]), len(nodes), nodes=nodes))
        counts = Counter(t.symbol for t in tokens)
        units: dict = {}
        for index, token in enumerate(tokens):  # repeated multi-layer segments: a unit each
            if token.weight >= 2 and counts[token.symbol] >= 2:
                if token.symbol not in units:
                    units[token.symbol] = self.new_unit([token])
                tokens[index] = self.wrap(units[token.symbol], [token])
        tokens = self.runs(tokens)
        while True:
            pattern = self.best_pattern(tokens)
            if pattern is None:
                return tokens
            tokens = self.runs(self.replace(tokens, pattern))


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
