"""Write the op reference (docs/ops.md) from the op registry, so it can never drift from it.

    python -m netspec.spec.opsdoc [-o docs/ops.md] [--check]

``--check`` exits 1 when the file differs from what the registry gives (the test suite uses
the same comparison).
"""
from __future__ import annotations

import argparse
import sys

from ..ops import OPS
from ..ops.schema import REQUIRED

HEADER = """# Op reference

Generated from the op registry (`netspec/ops/`) by `python -m netspec.spec.opsdoc -o docs/ops.md`;
do not edit by hand. How to use ops in a spec: [spec-language.md](spec-language.md).
In a spec, `- op: value` sets the op's first attribute; every attribute also takes an expression.
"""


def _default(attr) -> str:
    if attr.default is REQUIRED:
        return "**required**"
    value = attr.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None:
        return "`null`"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _inputs(op) -> str:
    low, high = op.arity
    if low == high:
        return str(low)
    return f"{low}+" if high is None else f"{low}-{high}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    lines = [HEADER]
    families: dict[str, list] = {}
    for op in OPS.values():
        families.setdefault(op.family, []).append(op)
    lines.append("| family | ops |\n|---|---|")
    for family, ops in families.items():
        lines.append(f"| {family} | {', '.join(f'[`{op.name}`](#{op.name})' for op in ops)} |")
    for family, ops in families.items():
        lines.append(f"\n## {family}\n")
        for op in ops:
            lines.append(f"### {op.name}\n\n{_cell(op.doc)} Inputs: {_inputs(op)}.\n")
            if op.notes:
                lines.append(f"{op.notes.strip()}\n")
            if op.attrs:
                lines.append("| attribute | expects | default | meaning |\n|---|---|---|---|")
                for attr in op.attrs:
                    lines.append(f"| `{attr.name}` | {_cell(attr.type.expected)} | {_default(attr)} | "
                                 f"{_cell(attr.doc)} |")
                lines.append("")
            else:
                lines.append("No attributes.\n")
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", help="file to write (default: standard output)")
    parser.add_argument("--check", action="store_true", help="only compare with --output")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        with open(args.output) as handle:
            same = handle.read() == text
        if not same:
            print(f"{args.output} is out of date: run python -m netspec.spec.opsdoc -o {args.output}",
                  file=sys.stderr)
        return 0 if same else 1
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
