"""Print the JSON Schema of the spec language (for editors), derived from the op registry."""
from __future__ import annotations

from ..spec.jsonschema import spec_schema
from .common import dump_json


def add_arguments(parser):
    parser.add_argument("-o", "--output", help="write to a file instead of standard output")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")


def run(args) -> int:
    if args.output:
        from .common import write_atomic
        import json
        text = json.dumps(spec_schema(), indent=2) + "\n"
        write_atomic(args.output, lambda tmp: open(tmp, "w").write(text), force=args.force)
    else:
        dump_json(spec_schema())
    return 0
