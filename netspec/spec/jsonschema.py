"""The JSON Schema of the spec language, derived from the op registry (never hand-kept).

Editors use it through a first line ``# yaml-language-server: $schema=<path>`` in a spec.
"""
from __future__ import annotations

from ..ops import OPS
from ..ops.types import DTYPES, LAYOUTS
from .compiler import MAX_REPEAT

EXPRESSION = {"type": "string", "pattern": "\\$", "description": "an expression, e.g. \"$filters * 2\""}


def _attr_schema(attr) -> dict:
    schema = dict(attr.type.json_schema())
    if attr.doc:
        schema["description"] = attr.doc
    return {"anyOf": [schema, EXPRESSION], **({"description": attr.doc} if attr.doc else {})}


META = {
    "name": {"type": "string", "description": "layer name (unique in its scope)"},
    "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
             "description": "input layer(s); default: the previous layer"},
    "repeat": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_REPEAT}, EXPRESSION]},
    "when": {"anyOf": [{"type": "boolean"}, EXPRESSION], "description": "skip the layer when false"},
    "doc": {"type": "string"},
}


def op_schema(op) -> dict:
    props = {a.name: _attr_schema(a) for a in op.attrs}
    props.update(META)
    body = {"type": "object", "properties": props, "additionalProperties": False,
            "required": [a.name for a in op.attrs if a.required]}
    if not body["required"]:
        body = {"anyOf": [{"type": "null"}, body]}
    return {"type": "object", "description": op.doc, "properties": {op.name: body},
            "required": [op.name]}


def spec_schema() -> dict:
    layer = {"anyOf": [
        {"type": "string", "description": "an op or block name without attributes"},
        *[op_schema(op) for op in OPS.values()],
        {"type": "object", "description": "a block call", "minProperties": 1},
    ]}
    layers = {"type": "array", "items": layer, "minItems": 1}
    dim = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}, EXPRESSION]}
    shape = {"type": "array", "items": dim, "minItems": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "netspec network spec",
        "type": "object",
        "required": ["inputs", "layers"],
        "additionalProperties": False,
        "properties": {
            "netspec": {"const": 1},
            "name": {"type": "string"},
            "doc": {"type": "string"},
            "inputs": {"type": "object", "additionalProperties": {"anyOf": [shape, {
                "type": "object", "additionalProperties": False, "required": ["shape"],
                "properties": {"shape": shape, "dtype": {"enum": list(DTYPES)},
                               "layout": {"enum": list(LAYOUTS)}}}]}},
            "outputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "params": {"type": "object"},
            "include": {"type": "array", "items": {"type": "string"}},
            "weights": {"type": "string", "description": "a .safetensors file, relative to the spec"},
            "blocks": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["layers"], "additionalProperties": False,
                "properties": {"params": {"type": "object"}, "inputs": {"type": "array", "items": {"type": "string"}},
                               "layers": layers, "output": {"type": "string"}, "doc": {"type": "string"}}}},
            "layers": layers,
            "train": {"type": "object"},
        },
    }
