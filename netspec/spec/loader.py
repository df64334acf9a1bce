"""Safe YAML loading that remembers where every value came from.

Mappings become :class:`LocDict` and sequences :class:`LocList`; both keep the 1-based
line and column of the container, of each key and of each value, so any later check can
say ``file:line:col``. Only the plain YAML types are accepted: a ``!!python/...`` tag (or any
other tag) is an error, never code. Size, depth and alias-expansion limits stop hostile files.
"""
from __future__ import annotations

import os

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ..errors import NetspecError, SourceLoc

MAX_FILE_BYTES = 10 * 1024 * 1024  # a real spec is a few KB; 10 MB leaves room for generated ones
MAX_DEPTH = 64
MAX_VALUES = 2_000_000  # bounds alias ("billion laughs") expansion

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}
_scalars = SafeConstructor()


class LocDict(dict):
    """A dict with source positions: ``loc`` (the mapping), ``key_loc[k]``, ``val_loc[k]``."""

    __slots__ = ("loc", "key_loc", "val_loc")

    def where(self, key=None) -> SourceLoc:
        return self.val_loc.get(key, self.loc) if key is not None else self.loc

    def where_key(self, key) -> SourceLoc:
        return self.key_loc.get(key, self.loc)


class LocList(list):
    """A list with source positions: ``loc`` (the sequence) and ``item_loc[i]``."""

    __slots__ = ("loc", "item_loc")

    def where(self, index=None) -> SourceLoc:
        return self.item_loc[index] if index is not None else self.loc


def _loc(file, node) -> SourceLoc:
    mark = node.start_mark
    return SourceLoc(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file):
        self.file = file
        self.count = 0

    def build(self, node, depth=0):
        self.count += 1
        if self.count > MAX_VALUES:
            raise NetspecError(f"the file expands to more than {MAX_VALUES:,} values (alias bomb?)",
                               _loc(self.file, node))
        if depth > MAX_DEPTH:
            raise NetspecError(f"values are nested more than {MAX_DEPTH} levels deep",
                               _loc(self.file, node), "flatten the structure")
        if isinstance(node, ScalarNode):
            if node.tag not in _PLAIN_TAGS:
                raise NetspecError(f"YAML tag '{node.tag.replace('tag:yaml.org,2002:', '!!')}' is not "
                                   "allowed: a spec holds plain data only", _loc(self.file, node),
                                   "remove the tag; specs never construct objects or run code")
            return _scalars.construct_object(node)
        if node.tag not in ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"):
            raise NetspecError(f"YAML tag '{node.tag.replace('tag:yaml.org,2002:', '!!')}' is not "
                               "allowed: a spec holds plain data only", _loc(self.file, node))
        if isinstance(node, SequenceNode):
            out = LocList()
            out.loc = _loc(self.file, node)
            out.item_loc = []
            for item in node.value:
                out.append(self.build(item, depth + 1))
                out.item_loc.append(_loc(self.file, item))
            return out
        assert isinstance(node, MappingNode)
        out = LocDict()
        out.loc, out.key_loc, out.val_loc = _loc(self.file, node), {}, {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise NetspecError("mapping keys must be plain scalars", _loc(self.file, key_node))
            key = self.build(key_node, depth + 1)
            if key in out:
                raise NetspecError(f"duplicate key '{key}' (first at line {out.key_loc[key].line})",
                                   _loc(self.file, key_node))
            out[key] = self.build(value_node, depth + 1)
            out.key_loc[key] = _loc(self.file, key_node)
            out.val_loc[key] = _loc(self.file, value_node)
        return out


def load_yaml_text(text: str, file: str = "<string>"):
    """Parse YAML text into located plain values; YAML errors name their line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLoc(file, mark.line + 1, mark.column + 1) if mark else SourceLoc(file)
        raise NetspecError(f"YAML syntax error: {exc.problem or exc.context}", loc) from None
    except yaml.YAMLError as exc:
        raise NetspecError(f"YAML error: {exc}", SourceLoc(file)) from None
    except RecursionError:
        raise NetspecError(f"values are nested too deeply (more than {MAX_DEPTH} levels)",
                           SourceLoc(file)) from None
    if node is None:
        return None
    try:
        return _Builder(file).build(node)
    except RecursionError:
        raise NetspecError(f"values are nested too deeply (more than {MAX_DEPTH} levels)",
                           SourceLoc(file)) from None


def load_yaml_file(path: str):
    """Read and parse a spec file, refusing unreadable, binary or oversized files."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise NetspecError(f"cannot read spec: {exc.strerror}", SourceLoc(path)) from None
    if size > MAX_FILE_BYTES:
        raise NetspecError(f"spec file is {size / 1e6:.1f} MB, above the {MAX_FILE_BYTES // 2**20} MiB "
                           "limit", SourceLoc(path), "specs describe structure; keep weights in .safetensors")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NetspecError(f"spec is not UTF-8 text (byte {exc.start})", SourceLoc(path)) from None
    except OSError as exc:
        raise NetspecError(f"cannot read spec: {exc.strerror}", SourceLoc(path)) from None
    return load_yaml_text(text, path)
