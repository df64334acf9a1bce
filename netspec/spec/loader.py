"""Safe YAML loading that remembers where every value came from.

Mappings become :class:`LocDict` and sequences :class:`LocList`; both keep the 1-based
line and column of the container, of each key and of each value, so any later check can
say ``file:line:col``. Only the plain YAML types are accepted: a ``!!python/...`` tag (or any
other tag) is an error, never code. Size, depth and alias-expansion limits stop hostile files.
"""
from __future__ import annotations

import os
import re

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ..errors import NetspecError, SourceLoc, raise_all

MAX_FILE_BYTES = 10 * 1024 * 1024  # a real spec is a few KB; 10 MiB leaves room for generated ones
MAX_DEPTH = 64
MAX_VALUES = 2_000_000  # bounds alias ("billion laughs") expansion


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader, reading ``1e-3`` as a number as YAML 1.2 does (PyYAML's YAML 1.1
    resolver wants ``1.0e-3``, and a learning rate silently read as a string is a trap)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}
_STR = "tag:yaml.org,2002:str"
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


def _tag_name(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


class _Builder:
    """Turns composed YAML nodes into located plain values, collecting every problem."""

    def __init__(self, file):
        self.file = file
        self.count = 0
        self.errors: list[NetspecError] = []
        self.built: dict[int, tuple] = {}  # id(node) -> (value, values inside): aliases share

    def build(self, node, depth=0):
        self.count += 1
        if self.count > MAX_VALUES:
            raise NetspecError(f"the file expands to more than {MAX_VALUES:,} values (alias bomb?)",
                               _loc(self.file, node), "anchors (&) and aliases (*) must not multiply data")
        if isinstance(node, ScalarNode):
            return self.build_one(node, depth)
        # An alias is the same node again: share the value but count its full size, so a
        # "billion laughs" file is refused after a few steps instead of after a long walk.
        seen = self.built.get(id(node))
        if seen is not None:
            self.count += seen[1]
            if self.count > MAX_VALUES:
                raise NetspecError(f"the file expands to more than {MAX_VALUES:,} values (alias bomb?)",
                                   _loc(self.file, node), "anchors (&) and aliases (*) must not multiply data")
            return seen[0]
        before = self.count
        value = self.build_one(node, depth)
        self.built[id(node)] = (value, self.count - before)
        return value

    def build_one(self, node, depth):
        if depth > MAX_DEPTH:
            raise NetspecError(f"values are nested more than {MAX_DEPTH} levels deep",
                               _loc(self.file, node), "flatten the structure")
        if isinstance(node, ScalarNode):
            if node.tag == _STR:  # most scalars; skips the constructor's dispatch
                return node.value
            if node.tag not in _PLAIN_TAGS:
                self.refuse_tag(node)
                return None
            return _scalars.construct_object(node)
        if node.tag not in ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"):
            self.refuse_tag(node)
            return None
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
            where = _loc(self.file, key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.errors.append(NetspecError("YAML merge keys ('<<') are not supported", where,
                                                "write the keys out, or use a block"))
                continue
            key = self.build(key_node, depth + 1) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                self.errors.append(NetspecError(
                    f"mapping keys must be names, received {shown!r}" + (
                        f" (read as {key!r})" if isinstance(key_node, ScalarNode) and key is not None else ""),
                    where, f"quote it: '{shown}'" if isinstance(key_node, ScalarNode) else None))
                continue
            if key in out:
                self.errors.append(NetspecError(
                    f"duplicate key '{key}' (first at line {out.key_loc[key].line})", where,
                    "a YAML mapping holds each key once; remove or rename one"))
                continue
            out[key] = self.build(value_node, depth + 1)
            out.key_loc[key] = where
            out.val_loc[key] = _loc(self.file, value_node)
        return out

    def refuse_tag(self, node):
        self.errors.append(NetspecError(
            f"YAML tag '{_tag_name(node.tag)}' is not allowed: a spec holds plain data only",
            _loc(self.file, node), "remove the tag; specs never construct objects or run code"))


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> NetspecError:
    mark = exc.problem_mark or exc.context_mark
    loc = SourceLoc(file, mark.line + 1, mark.column + 1) if mark else SourceLoc(file, 1, 1)
    message = f"YAML syntax error: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark:
        message += f" ({exc.context} started at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
    hint = None
    if mark and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        message = "YAML syntax error: a tab character cannot indent YAML"
        hint = "indent with spaces"
    elif exc.problem and "mapping values are not allowed" in exc.problem:
        hint = "a ':' inside a value needs quotes, or a nested mapping needs its own indented line"
    elif exc.problem and "expected ',' or" in exc.problem:
        hint = "close the bracket, or put a ',' between items"
    return NetspecError(message, loc, hint)


def load_yaml_text(text: str, file: str = "<string>"):
    """Parse YAML text into located plain values; YAML errors name their line and column."""
    if len(text) > MAX_FILE_BYTES:
        raise NetspecError(f"spec text is {len(text) / 1e6:.1f} MB, above the {MAX_FILE_BYTES // 2**20} MiB limit",
                           SourceLoc(file))
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise NetspecError(f"YAML error: {exc}", SourceLoc(file, 1, 1)) from None
    except RecursionError:
        raise NetspecError(f"values are nested too deeply (more than {MAX_DEPTH} levels)",
                           SourceLoc(file, 1, 1)) from None
    if node is None:
        return None
    builder = _Builder(file)
    try:
        data = builder.build(node)
    except RecursionError:
        raise NetspecError(f"values are nested too deeply (more than {MAX_DEPTH} levels)",
                           SourceLoc(file, 1, 1)) from None
    raise_all(builder.errors)
    return data


def load_yaml_file(path: str):
    """Read and parse a spec file, refusing unreadable, binary or oversized files before parsing."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise NetspecError(f"cannot read spec: {exc.strerror}", SourceLoc(path)) from None
    if size > MAX_FILE_BYTES:
        raise NetspecError(f"spec file is {size / 1e6:.1f} MB, above the {MAX_FILE_BYTES // 2**20} MiB "
                           "limit", SourceLoc(path), "specs describe structure; keep weights in .safetensors")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NetspecError(f"spec is not UTF-8 text (byte {exc.start})", SourceLoc(path)) from None
    except OSError as exc:
        raise NetspecError(f"cannot read spec: {exc.strerror}", SourceLoc(path)) from None
    return load_yaml_text(text, path)
