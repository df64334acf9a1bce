"""Build a spec in one backend and write it (.pt2, .py, .safetensors, .keras, .weights.h5, .onnx)."""
from __future__ import annotations

from ..backends import BACKEND_MODULES, get_backend
from .common import add_spec_options, console, load_graph, write_atomic


def add_arguments(parser):
    add_spec_options(parser)
    parser.add_argument("--backend", "-b", choices=list(BACKEND_MODULES), default="torch")
    parser.add_argument("-o", "--output", help="output file; its extension picks the format")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument("--device", help="torch: cpu, cuda, cuda:1 ...")
    parser.add_argument("--input-layout", choices=["nhwc", "nchw"], help="keras: layout of image inputs")
    parser.add_argument("--opset", type=int, help="onnx: opset version (default 17)")
    parser.add_argument("--via", choices=["torch", "keras"], help="onnx: export through a framework instead")


def backend_options(args) -> dict:
    names = ("device", "input_layout", "opset", "via")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def run(args) -> int:
    graph = load_graph(args, seed=args.seed)
    backend = get_backend(args.backend)
    options = backend_options(args)
    model = backend.build(graph, **options)
    if args.output:
        spec_path = graph.meta.get("source")
        write_atomic(args.output, lambda tmp: backend.save(model, graph, tmp, final_path=args.output, **options),
                     force=args.force, inputs=(spec_path,))
        console.print(f"wrote {args.output} ({args.backend}, {graph.param_count:,} parameters, seed {args.seed})")
    else:
        console.print(f"built {graph.name} in {args.backend}: {graph.param_count:,} parameters (no -o: nothing written)")
    return 0
