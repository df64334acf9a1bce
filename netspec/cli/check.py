"""Prove a spec computes the same thing in every backend: same weights, same inputs, errors per pair.

Exit status: 0 when every compared tensor is within tolerance, 1 when any is not (the first
diverging layer is named), 2 for bad input. Tolerances are scale-relative and documented in
netspec.testing.tolerance; --atol/--rtol replace them and the report says so.
"""
from __future__ import annotations

import numpy as np
from rich.table import Table

from ..errors import NetspecError, SourceLoc
from ..testing.equivalence import DEFAULT_BACKENDS, check
from .common import add_spec_options, console, dump_json, load_graph

IMAGE_RANKS = (3, 4, 5)  # N, C, *spatial: the inputs whose layout --input-layout names


def add_arguments(parser):
    add_spec_options(parser)
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS),
                        help="comma-separated backends to compare (default: torch,keras,onnx)")
    parser.add_argument("--inputs", metavar="X.npz", help="also compare on these arrays (named after the inputs)")
    parser.add_argument("--input-layout", choices=["nchw", "nhwc"], default="nchw",
                        help="layout of the image arrays in --inputs (default nchw)")
    parser.add_argument("--batch", type=int, default=2, help="batch size of the seeded inputs (default 2)")
    parser.add_argument("--size", type=int, default=16, help="value for dynamic dimensions (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    parser.add_argument("--atol", type=float, help="absolute tolerance (default: per dtype)")
    parser.add_argument("--rtol", type=float, help="tolerance relative to each tensor's scale (default: per dtype)")
    parser.add_argument("--grad", action="store_true", help="also compare gradients (torch vs keras)")
    parser.add_argument("--train-step", action="store_true", help="also compare one SGD step (torch vs keras)")
    parser.add_argument("--opset", type=int, help="onnx opset (default 17)")
    parser.add_argument("--via", choices=["torch", "keras"],
                        help="onnx: check the framework's own ONNX export instead of the direct build")
    parser.add_argument("--json", metavar="REPORT.json", help="write the report as JSON ('-' for stdout)")
    parser.add_argument("--force", action="store_true", help="replace an existing --json file")


def read_inputs(path: str, layout: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise NetspecError(f"cannot read inputs: {exc}".split("\n")[0], SourceLoc(path),
                           "give an .npz file (numpy.savez) with one array per model input") from None
    if layout == "nhwc":
        arrays = {k: np.moveaxis(v, -1, 1) if v.ndim in IMAGE_RANKS else v for k, v in arrays.items()}
    return arrays


def _positive(name, value):
    if value is not None and value < 1:
        raise NetspecError(f"--{name} must be at least 1, received {value}")


def run(args) -> int:
    _positive("batch", args.batch)
    _positive("size", args.size)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    from ..backends import get_backend
    for b in backends:
        get_backend(b)  # unknown or missing backends fail here, before anything is built
    graph = load_graph(args, seed=args.seed)
    user = read_inputs(args.inputs, args.input_layout) if args.inputs else None
    onnx_options = {k: v for k, v in (("opset", args.opset), ("via", args.via)) if v is not None}
    report = check(graph, backends, inputs=user, inputs_label=args.inputs or "user inputs",
                   batch=args.batch, seed=args.seed, atol=args.atol, rtol=args.rtol, grad=args.grad,
                   train_step=args.train_step, options={"onnx": onnx_options}, dynamic_size=args.size)
    if args.json:
        dump_json(report.to_json(), args.json, force=args.force)
    if args.json != "-":
        print_report(report)
    return 0 if report.ok else 1


def print_report(report) -> None:
    table = Table(title=f"{report.model}: outputs across {', '.join(report.backends)}")
    for column, justify in (("inputs", "left"), ("output", "left"), ("pair", "left"), ("max abs", "right"),
                            ("max rel", "right"), ("tolerance", "right"), ("", "left")):
        table.add_column(column, justify=justify)
    for row in report.rows:
        if row.kind == "output":
            table.add_row(row.inputs, row.name, f"{row.reference} vs {row.other}", f"{row.diff.max_abs:.2e}",
                          f"{row.diff.max_rel:.2e}", str(row.diff.tolerance), _verdict(row.diff.ok))
    console.print(table)
    for kind, title in (("gradient", "gradients"), ("step", "weights after one SGD step")):
        rows = [r for r in report.rows if r.kind == kind]
        if rows:
            worst = max(rows, key=lambda r: r.diff.max_rel)
            failed = [r for r in rows if not r.diff.ok]
            console.print(f"{title} ({worst.reference} vs {worst.other}): {len(rows) - len(failed)}/{len(rows)} "
                          f"tensors within {worst.diff.tolerance}; worst {worst.name} max rel "
                          f"{worst.diff.max_rel:.2e} {_verdict(not failed)}")
            for r in failed[:10]:
                console.print(f"  [red]{r.name}[/red]: max abs {r.diff.max_abs:.2e}, max rel {r.diff.max_rel:.2e}")
    for d in report.divergences:
        console.print(f"[red]first divergence[/red] ({d.reference} vs {d.other}, {d.inputs}): layer "
                      f"[bold]{d.node}[/bold] ({d.op}) at {d.where}: max abs {d.diff.max_abs:.2e}, max rel "
                      f"{d.diff.max_rel:.2e} (earlier layers, all agreeing: {d.upstream_ok})")
    for note in report.notes:
        console.print(f"note: {note}")
    verdict = "[green]equivalent[/green]" if report.ok else "[red]NOT equivalent[/red]"
    console.print(f"{report.model}: {verdict} ({len(report.rows)} tensors compared)")


def _verdict(ok: bool) -> str:
    return "[green]pass[/green]" if ok else "[red]FAIL[/red]"
