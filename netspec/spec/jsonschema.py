"""The JSON Schema of the spec language, derived from the op registry (never hand-kept).

Editors use it through a first line ``# yaml-language-server: $schema=<path>`` in a spec,
after ``netspec schema -o netspec.schema.json``. It gives completion and checks of op
names, attribute names and attribute types; what needs evaluation (expressions, shapes,
wiring) is left to ``netspec validate``, so any attribute also accepts an expression.
"""
from __future__ import annotations

from ..ops import OPS
from ..ops.types import DTYPES, LAYOUTS
from .compiler import BLOCK_KEYS, MAX_REPEAT, META_KEYS, TOP_KEYS
from .train import FIELDS, LOSSES, OPTIMIZERS

EXPRESSION = {"type": "string", "pattern": "\\$", "description": "an expression, e.g. \"$filters * 2\""}
NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
REFERENCE = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.]*$|\\$",
             "description": "a layer or input name; 'block.layer' reaches into a block instance"}


def _attr_schema(attr) -> dict:
    schema = dict(attr.type.json_schema())
    out = {"anyOf": [schema, EXPRESSION]}
    if attr.doc:
        out["description"] = attr.doc
    if not attr.required:
        out["default"] = attr.default if isinstance(attr.default, (int, float, str, bool)) else None
    return out


META = {
    "name": {**NAME, "description": "layer name (unique in its scope)"},
    "from": {"anyOf": [REFERENCE, {"type": "array", "items": REFERENCE, "minItems": 1}],
             "description": "input layer(s); default: the previous layer"},
    "repeat": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_REPEAT}, EXPRESSION],
               "description": f"stack this many copies (0 to {MAX_REPEAT:,}); $index counts them"},
    "when": {"anyOf": [{"type": "boolean"}, EXPRESSION],
             "description": "build the layer only when true; a skipped layer is an identity"},
    "doc": {"type": "string"},
}
assert tuple(META) == META_KEYS


def op_schema(op) -> dict:
    """A layer entry using ``op``: ``op``, ``op: scalar`` (its first attribute) or
    ``op: {attrs and meta keys}``, with meta keys also allowed beside the op."""
    props = {a.name: _attr_schema(a) for a in op.attrs}
    props.update(META)
    body = {"type": "object", "properties": props, "additionalProperties": False,
            "required": [a.name for a in op.attrs if a.required]}
    forms = [body]
    if not body["required"]:
        forms.append({"type": "null"})
    if op.attrs:
        forms.append(_attr_schema(op.attrs[0])["anyOf"][0])
        forms.append(EXPRESSION)
    return {"type": "object", "description": op.doc,
            "properties": {op.name: {"anyOf": forms, "description": op.doc}, **META},
            "required": [op.name], "additionalProperties": False}


def train_schema() -> dict:
    props = {key: kind.json_schema() for key, kind in FIELDS.items()}
    props["loss"] = {"enum": list(LOSSES)}
    props["data"] = {"type": "string", "description": "a bundled dataset name, or a path to .npz"}
    props["optimizer"] = {"anyOf": [{"enum": list(OPTIMIZERS)}, *[
        {"type": "object", "additionalProperties": False, "required": [name], "properties": {name: {
            "anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": False,
                                         "properties": {k: t.json_schema() for k, t in settings.items()}}]}}}
        for name, settings in OPTIMIZERS.items()]]}
    return {"type": "object", "properties": props, "additionalProperties": False,
            "required": ["data", "loss", "optimizer"]}


def spec_schema() -> dict:
    block_call = {"type": "object", "description": "a block call: {block: {params...}}",
                  "minProperties": 1, "propertyNames": {"not": {"enum": list(OPS)}}}
    layer = {"anyOf": [
        {"type": "string", "description": "an op or block name without attributes"},
        *[op_schema(op) for op in OPS.values()],
        block_call,
    ]}
    layers = {"type": "array", "items": layer, "minItems": 1}
    dim = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}, EXPRESSION]}
    shape = {"anyOf": [{"type": "array", "items": dim, "minItems": 1}, EXPRESSION]}
    names = {"anyOf": [NAME, {"type": "array", "items": NAME, "minItems": 1}]}
    paths = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    block = {"type": "object", "required": ["layers"], "additionalProperties": False, "properties": {
        "params": {"type": "object", "propertyNames": NAME,
                   "description": "name: default, or name: required"},
        "inputs": names, "layers": layers, "output": REFERENCE, "doc": {"type": "string"}}}
    assert tuple(block["properties"]) == BLOCK_KEYS
    top = {
        "netspec": {"const": 1},
        "name": {"type": "string"},
        "doc": {"type": "string"},
        "inputs": {"type": "object", "minProperties": 1, "propertyNames": NAME, "additionalProperties": {
            "anyOf": [shape, {"type": "object", "additionalProperties": False, "required": ["shape"],
                              "properties": {"shape": shape, "dtype": {"enum": list(DTYPES)},
                                             "layout": {"enum": list(LAYOUTS)}}}]}},
        "outputs": {"anyOf": [REFERENCE, {"type": "array", "items": REFERENCE, "minItems": 1}]},
        "params": {"type": "object", "propertyNames": NAME,
                   "description": "spec parameters, overridable with --set NAME=VALUE"},
        "blocks": {"type": "object", "propertyNames": NAME, "additionalProperties": block},
        "layers": layers,
        "include": paths,
        "train": train_schema(),
        "weights": {"type": "string", "description": "a .safetensors file, relative to the spec"},
    }
    assert set(top) == set(TOP_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "netspec network spec",
        "type": "object",
        "required": ["inputs", "layers"],
        "additionalProperties": False,
        "properties": top,
    }
