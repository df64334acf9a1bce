"""Spec data -> YAML text in the zoo's style: one flow mapping per layer, block bodies indented.

PyYAML's dumper writes either everything in block style (one attribute per line, a ResNet
becomes thousands of lines) or everything in flow style (one unreadable line); the zoo
specs mix them: top-level keys in block style, each layer on one line as
``- conv: {name: conv1, filters: 64, kernel: 7}``. This small emitter writes exactly that,
and quotes only what the spec loader would otherwise misread (``yes``, ``1e3``-like text,
expressions with spaces, ``: `` inside text).
"""
from __future__ import annotations

import json
import math
import re

PLAIN_TEXT = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_.]*")
# Words YAML 1.1 reads as booleans or null; as text they must be quoted.
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}


def scalar(value) -> str:
    """One value in flow style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(value, str):
        if PLAIN_TEXT.fullmatch(value) and value.lower() not in YAML_WORDS:
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} in a spec")


def text_block(key: str, text: str, indent: str = "") -> list[str]:
    """A (possibly multi-line) text as ``key: |`` literal, or quoted when a literal cannot
    hold it exactly (leading spaces, trailing blank lines, control characters)."""
    if "\n" not in text.rstrip("\n") or text != text.strip(" ") or text.startswith("\n") \
            or any(ord(c) < 32 and c != "\n" for c in text) or text.endswith("\n\n"):
        return [f"{indent}{key}: {json.dumps(text, ensure_ascii=False)}"]
    chomp = "" if text.endswith("\n") else "-"
    lines = [f"{indent}{key}: |{chomp}"]
    lines += [f"{indent}  {line}" if line else "" for line in text.rstrip("\n").split("\n")]
    return lines


WIDTH = 100  # the zoo's line length; longer flow mappings continue under their first key


def flow_mapping(head: str, mapping: dict) -> str:
    """``head{k: v, ...}``, wrapped between items (never inside one) past :data:`WIDTH`;
    continuation lines align under the first key, which YAML reads as one flow mapping."""
    pieces = [f"{k}: {scalar(v)}" for k, v in mapping.items()]
    line = head + "{" + ", ".join(pieces) + "}"
    if len(line) <= WIDTH:
        return line
    lines, current = [], head + "{"
    for index, piece in enumerate(pieces):
        text = piece + ("}" if index == len(pieces) - 1 else ",")
        if not current.endswith("{") and len(current) + 1 + len(text) > WIDTH:
            lines.append(current)
            current = " " * (len(head) + 1) + text
        else:
            current += ("" if current.endswith("{") else " ") + text
    lines.append(current)
    return "\n".join(lines)


def layer_line(entry: dict, indent: str) -> str:
    """``entry`` is ``{"kind", "args", "meta"}``; meta (name, from) comes first, as people
    write it, then the attributes, then repeat and when."""
    kind, args, meta = entry["kind"], entry["args"], entry["meta"]
    head = {k: meta[k] for k in ("name", "from") if k in meta}
    tail = {k: meta[k] for k in ("repeat", "when") if k in meta}
    body = {**head, **args, **tail}
    if not body:
        return f"{indent}- {kind}"
    if entry.get("scalar") and not head and not tail and len(args) == 1:
        return f"{indent}- {kind}: {scalar(next(iter(args.values())))}"
    return flow_mapping(f"{indent}- {kind}: ", body)


def spec_yaml(spec: dict) -> str:
    """The whole spec (see :func:`converters.spec_writer.spec_data` for its shape)."""
    lines = ["netspec: 1", f"name: {scalar(spec['name'])}"]
    if spec.get("doc"):
        lines += text_block("doc", spec["doc"])
    lines.append("inputs:")
    lines += [f"  {name}: {scalar(decl)}" for name, decl in spec["inputs"].items()]
    if "outputs" in spec:
        lines.append(f"outputs: {scalar(spec['outputs'])}")
    if "weights" in spec:
        lines.append(f"weights: {scalar(spec['weights'])}")
    if spec.get("blocks"):
        lines += ["", "blocks:"]
        for name, block in spec["blocks"].items():
            lines.append(f"  {name}:")
            if block.get("doc"):
                lines += text_block("doc", block["doc"], "    ")
            if block.get("params"):
                lines.append(flow_mapping("    params: ", block["params"]))
            if block.get("inputs"):
                lines.append(f"    inputs: {scalar(block['inputs'])}")
            lines.append("    layers:")
            lines += [layer_line(e, "      ") for e in block["layers"]]
            lines.append("")
        lines.pop()
    lines += ["", "layers:"]
    lines += [layer_line(e, "  ") for e in spec["layers"]]
    if spec.get("train"):
        lines += ["", "train:"]
        lines += [f"  {key}: {scalar(value)}" for key, value in spec["train"].items()]
    return "\n".join(lines) + "\n"
