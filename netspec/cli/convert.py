"""Convert between .onnx, .keras, .pt2, .py (+ .safetensors), .safetensors, .weights.h5 and .yaml, verified.

The written file is loaded back and compared with the source model run in its own
framework (onnxruntime, Keras, torch); only a conversion that passes is moved into place.
Exit status: 0 converted and equivalent, 1 not equivalent (nothing written), 2 bad input.
"""
from __future__ import annotations

import os

from .check import print_report
from .common import console


def add_arguments(parser):
    parser.add_argument("input", help="model file (.onnx, .keras, .pt2), spec (.yaml) or zoo name")
    parser.add_argument("-o", "--output", required=True, help="output file; its extension picks the format")
    parser.add_argument("--to", help="force the output kind: onnx, keras, weights.h5, pt2, py, safetensors, yaml")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a spec parameter (spec inputs only)")
    parser.add_argument("--seed", type=int, default=0, help="weights seed for spec inputs, and the inputs' seed")
    parser.add_argument("--batch", type=int, default=2, help="batch size of the verification inputs")
    parser.add_argument("--size", type=int, default=16, help="value for dynamic dimensions when verifying")
    parser.add_argument("--no-check", action="store_true", help="write without verifying (not recommended)")
    parser.add_argument("--force", action="store_true", help="replace existing outputs")


def run(args) -> int:
    from ..converters.convert import ConversionFailed, convert
    from ..converters.sources import read_source
    from ..spec import parse_overrides

    source = read_source(args.input, parse_overrides(args.set), seed=args.seed)
    try:
        result = convert(source, args.output, to=args.to, check=not args.no_check, force=args.force,
                         batch=args.batch, seed=args.seed, dynamic_size=args.size, input_paths=(args.input,))
    except ConversionFailed as failed:
        print_report(failed.report)
        raise
    if result.report is not None:
        print_report(result.report)
    graph = result.graph
    names = ", ".join(os.path.relpath(p) for p in result.written)
    console.print(f"wrote {names}: {graph.name}, {len(list(graph.layers()))} layers, "
                  f"{graph.param_count:,} parameters" + ("" if result.report else " (not verified: --no-check)"))
    return 0
