"""Resolved node attributes -> the shortest spec attributes that resolve back to them.

A compiled graph holds *resolved* attributes: ``kernel: 3`` became ``(3, 3)``, ``padding: 1``
became ``((1, 1), (1, 1))``, ``padding: same`` became pairs computed from the input size,
``softmax.axis: channels`` became ``1``. Writing those back verbatim is correct but
unreadable, and guessing the short forms per op would repeat every op's resolution rules.
So this module asks the op registry instead: a candidate spelling is accepted only when
``op.check_attrs`` and ``op.resolve`` (with the node's real input types) turn it into exactly
the resolved attributes the graph holds. Defaults are omitted, equal per-axis values
collapse to a scalar, symmetric padding pairs to ints, all checked the same way, so a new
op or attribute needs no change here.
"""
from __future__ import annotations

from dataclasses import dataclass

from netspec.errors import NetspecError, SourceLoc
from netspec.ops import OPS, ShapeError


def _plain(value):
    """Tuples -> lists, recursively: the form YAML writes and the compiler reads."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def spellings(value) -> list:
    """Spellings of a resolved value, shortest first (each still to be checked)."""
    out = []
    if isinstance(value, tuple) and value:
        if all(isinstance(v, tuple) and len(v) == 2 for v in value):  # (begin, end) per axis
            if all(b == e for b, e in value):
                ends = [b for b, _ in value]
                if len(set(ends)) == 1:
                    out.append(ends[0])
                out.append(ends)
            else:  # symmetric axes as one int, the others as [begin, end]
                out.append([b if b == e else [b, e] for b, e in value])
        elif len(set(value)) == 1 and not isinstance(value[0], tuple):
            out.append(value[0])
    out.append(_plain(value))
    unique = []
    for v in out:
        if v not in unique:
            unique.append(v)
    return unique


def _fullest(attr, value):
    """The longest spelling the attribute's type accepts: a resolved per-axis tuple for an
    attribute typed as one int (temporal_conv's kernel) is written as that int."""
    for form in reversed(spellings(value)):
        try:
            attr.type.check(form)
        except ValueError:
            continue
        return form
    return _plain(value)


@dataclass
class SpecAttrs:
    """How one node's attributes can be written.

    ``minimal``: the attributes to write (defaults left out), in schema order.
    ``explicit``: for every schema attribute, the shortest spelling that may be written
    out even where ``minimal`` omits it (a block shared by nodes where one needs
    ``padding: 1`` and another the default writes the default explicitly).
    """

    op: str
    minimal: dict
    explicit: dict  # lacks the attributes only their default can express (clip.min: None)


def _resolves_to(op, given: dict, ins, target: dict) -> bool:
    attrs, problems = op.check_attrs(given)
    if problems:
        return False
    if op.resolve is not None:
        try:
            attrs = op.resolve(attrs, ins)
        except (ShapeError, TypeError, ValueError):
            return False
    return attrs == target


def spec_attrs(graph, node) -> SpecAttrs:
    """The :class:`SpecAttrs` of ``node``; raises when no spelling reproduces its attributes
    (an attribute set by hand that its op could never resolve to)."""
    op = OPS.get(node.op)
    if op is None:
        raise NetspecError(f"node '{node.name}' has op '{node.op}', which netspec does not define",
                           SourceLoc(node=node.name), "run 'netspec ops' for the op list")
    ins = graph.input_types(node)
    if node.type is None or any(t is None for t in ins):
        raise NetspecError(f"node '{node.name}' has no inferred type", SourceLoc(node=node.name),
                           "run netspec.graph.passes.infer_shapes(graph) before writing a spec")
    target = node.attrs
    full = {}
    for attr in op.attrs:
        if attr.name in target and not (target[attr.name] is None and attr.default is None):
            full[attr.name] = _fullest(attr, target[attr.name])  # (a None default cannot be written)
    if not _resolves_to(op, full, ins, target):
        raise NetspecError(f"{node.op} '{node.name}': its attributes {target} cannot be written "
                           "as spec attributes that resolve to them", SourceLoc(node=node.name),
                           "attributes must be ones the op's schema and resolution can produce")
    current = dict(full)
    explicit = {}
    for attr in op.attrs:
        if attr.name not in full:
            continue
        forms = spellings(target[attr.name])
        chosen = None
        for form in forms:
            if _resolves_to(op, {**current, attr.name: form}, ins, target):
                chosen = form
                break
        explicit[attr.name] = chosen if chosen is not None else full[attr.name]
        current[attr.name] = explicit[attr.name]
        if not attr.required:
            without = {k: v for k, v in current.items() if k != attr.name}
            if _resolves_to(op, without, ins, target):
                current = without
    minimal = {a.name: current[a.name] for a in op.attrs if a.name in current}
    return SpecAttrs(node.op, minimal, explicit)
