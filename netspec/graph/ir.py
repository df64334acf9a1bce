"""The intermediate graph: a networkx.DiGraph of :class:`Node` objects in a small typed wrapper.

Each node has one output tensor, named like the node. ``Node.inputs`` keeps the order of a
node's inputs (edges alone cannot: ``concat`` cares); edges mirror it for graph algorithms.
Graph inputs are nodes with op ``input``. Weights live on the nodes as numpy arrays in the
canonical (PyTorch/ONNX) layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx
import numpy as np

from ..errors import SourceLoc
from ..ops.types import TensorType

INPUT = "input"


@dataclass
class Node:
    name: str
    op: str
    attrs: dict[str, Any]
    inputs: list[str]
    loc: SourceLoc | None = None
    type: TensorType | None = None  # inferred output type
    param_specs: list = field(default_factory=list)  # ParamSpec, filled by shape inference
    params: dict[str, np.ndarray] = field(default_factory=dict)
    macs: int = 0
    rf: Any = None  # receptive field: tuple of (size, jump, start) per spatial axis, 'global' or None

    @property
    def param_count(self) -> int:
        """Learnt parameters (what papers and ``sum(p.numel() for p in model.parameters())``
        count); running statistics are state, counted by :attr:`state_count`."""
        return sum(math.prod(s.shape) for s in self.param_specs if s.trainable)

    @property
    def state_count(self) -> int:
        return sum(math.prod(s.shape) for s in self.param_specs if not s.trainable)

    def where(self) -> SourceLoc:
        return self.loc or SourceLoc(node=self.name)


class Graph:
    """A model: named nodes, ordered inputs and outputs, and free-form metadata."""

    def __init__(self, name: str = "model", doc: str = ""):
        self.name = name
        self.doc = doc
        self.nx = nx.DiGraph()
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.meta: dict[str, Any] = {}
        self._order: list[str] | None = None
        self._waiting: dict[str, set[str]] = {}

    # ------------------------------------------------------------ building
    def add_input(self, name: str, type: TensorType, loc: SourceLoc | None = None) -> Node:
        node = self.add_node(name, INPUT, {"shape": type.shape, "dtype": type.dtype,
                                           "layout": type.layout}, [], loc)
        node.type = type
        self.inputs.append(name)
        return node

    def add_node(self, name: str, op: str, attrs: dict, inputs: list[str],
                 loc: SourceLoc | None = None) -> Node:
        if name in self.nx:
            raise ValueError(f"duplicate node name '{name}'")
        node = Node(name, op, dict(attrs), list(inputs), loc)
        self.nx.add_node(name, node=node)
        self._connect(name, node.inputs)
        for consumer in self._waiting.pop(name, ()):  # nodes that named this one before it existed
            self._connect(consumer, self.node(consumer).inputs)
        return node

    def _connect(self, name: str, inputs: list[str]) -> None:
        """Mirror ``inputs`` as edges; a name not (yet) in the graph waits instead of becoming
        a phantom node, so lint can report it as dangling."""
        for src in set(inputs):
            if self.nx.has_edge(src, name):
                self.nx.remove_edge(src, name)
        for index, src in enumerate(inputs):
            if src not in self.nx:
                self._waiting.setdefault(src, set()).add(name)
            elif self.nx.has_edge(src, name):
                self.nx.edges[src, name]["slots"].append(index)
            else:
                self.nx.add_edge(src, name, slots=[index])
        self._order = None

    def remove_node(self, name: str) -> None:
        self.nx.remove_node(name)
        self._order = None

    def rewire(self, node_name: str, inputs: list[str]) -> None:
        """Replace a node's inputs (keeps edges in step with ``Node.inputs``)."""
        node = self.node(node_name)
        for src in set(node.inputs):
            if self.nx.has_edge(src, node_name):
                self.nx.remove_edge(src, node_name)
        node.inputs = list(inputs)
        self._connect(node_name, node.inputs)

    # ------------------------------------------------------------ reading
    def node(self, name: str) -> Node:
        return self.nx.nodes[name]["node"]

    def __contains__(self, name: str) -> bool:
        return name in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def order(self) -> list[str]:
        """Node names in a deterministic topological order (insertion order breaks ties)."""
        if self._order is None:
            self._order = list(nx.topological_sort(self.nx))
        return self._order

    def nodes(self) -> Iterator[Node]:
        data = self.nx.nodes
        for name in self.order():
            yield data[name]["node"]

    def layers(self) -> Iterator[Node]:
        """Every node except graph inputs."""
        return (n for n in self.nodes() if n.op != INPUT)

    def consumers(self, name: str) -> list[str]:
        return list(self.nx.successors(name))

    def input_types(self, node: Node) -> list[TensorType]:
        return [self.node(i).type for i in node.inputs]

    # ------------------------------------------------------------ totals
    @property
    def param_count(self) -> int:
        return sum(n.param_count for n in self.nodes())

    @property
    def state_count(self) -> int:
        return sum(n.state_count for n in self.nodes())

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes())

    def weights(self) -> dict[str, np.ndarray]:
        """All parameters as ``{"node.param": array}`` (the names used in weight files)."""
        return {f"{n.name}.{k}": v for n in self.nodes() for k, v in n.params.items()}

    def set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """Load ``{"node.param": array}``; shapes must match the graph's parameter specs."""
        from ..errors import NetspecError

        specs = {f"{n.name}.{s.name}": (n, s) for n in self.nodes() for s in n.param_specs}
        missing = sorted(set(specs) - set(arrays))
        unknown = sorted(set(arrays) - set(specs))
        if missing or unknown:
            raise NetspecError(f"weights do not match the graph: missing {missing[:5]}, "
                               f"unexpected {unknown[:5]}")
        for key, (node, spec) in specs.items():
            value = np.asarray(arrays[key])
            if tuple(value.shape) != tuple(spec.shape):
                raise NetspecError(f"weight '{key}' has shape {list(value.shape)}, the graph "
                                   f"expects {list(spec.shape)}", node.where())
            node.params[spec.name] = value

    def copy(self) -> "Graph":
        """A structural copy; nodes are new objects, parameter arrays are shared."""
        other = Graph(self.name, self.doc)
        other.meta = dict(self.meta)
        for n in self.nodes():
            new = other.add_node(n.name, n.op, n.attrs, n.inputs, n.loc)
            new.type, new.param_specs, new.params = n.type, list(n.param_specs), dict(n.params)
            new.macs, new.rf = n.macs, n.rf
        other.inputs, other.outputs = list(self.inputs), list(self.outputs)
        return other

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self)} nodes, {self.param_count:,} params>"
