"""The main job in one command: the zoo compiled, one model proved equivalent in every backend.

Steps: (1) every zoo spec compiled, with parameters and MACs; (2) ``--model`` (resnet18 at
its published 224x224 size) built in torch, keras and onnx from the same seeded weights and
compared output by output; (3) lenet5's gradients and one SGD step compared between torch
and keras; (4) a conversion, where the converters are installed.
"""
from __future__ import annotations

from rich.table import Table

from ..backends import available_backends
from ..spec import load_spec, zoo_names
from ..testing.equivalence import check
from .check import print_report
from .common import console


def add_arguments(parser):
    parser.add_argument("--model", default="resnet18", help="zoo model for the equivalence demo")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter of --model")


def zoo_table() -> Table:
    table = Table(title="1. the netspec zoo: every spec compiled (shapes, parameters, MACs)")
    for column in ("model", "inputs", "outputs", "params", "MACs"):
        table.add_column(column, justify="right" if column in ("params", "MACs") else "left")
    for name in zoo_names():
        graph = load_spec(name, seed=None)
        table.add_row(name, ", ".join(str(graph.node(n).type) for n in graph.inputs),
                      ", ".join(str(graph.node(n).type) for n in graph.outputs),
                      f"{graph.param_count:,}", f"{graph.macs:,}" if graph.macs else "per input size")
    return table


def run(args) -> int:
    from ..spec import parse_overrides

    console.print(zoo_table())
    backends = available_backends()
    console.print(f"backends installed: {', '.join(backends) or 'none'}\n")
    ok = True
    console.rule(f"2. {args.model}: the same weights and inputs in {', '.join(backends)}")
    report = check(load_spec(args.model, parse_overrides(args.set), seed=0), backends, batch=2)
    print_report(report)
    ok &= report.ok
    trainable = [b for b in backends if b in ("torch", "keras")]
    if len(trainable) == 2:
        console.rule("3. lenet5: gradients and one SGD step, torch vs keras")
        report = check(load_spec("lenet5", seed=0), trainable, grad=True, train_step=True)
        print_report(report)
        ok &= report.ok
    if {"torch", "keras", "onnx"} <= set(backends):
        ok &= convert_demo()
    console.print("[green]all checks passed[/green]" if ok else "[red]some checks failed[/red]")
    return 0 if ok else 1


def convert_demo() -> bool:
    """A torch module (the zoo's resnet18 built in torch, standing in for a user's trained
    model) exported through torch.onnx, imported, written as a .keras file and as a YAML
    spec; each written file is loaded back and compared with the torch module itself."""
    import tempfile

    import torch

    from ..backends import get_backend
    from ..converters.convert import convert
    from ..converters.sources import torch_source
    from ..spec import load_spec

    console.rule("4. convert: a torch module -> .keras and -> a readable YAML spec, each verified")
    module = get_backend("torch").build(load_spec("resnet18", {"size": 64, "classes": 10}, seed=1))
    source = torch_source(module, torch.zeros(2, 3, 64, 64))
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        for name in ("resnet18.keras", "resnet18.yaml"):
            result = convert(source, f"{folder}/{name}")
            print_report(result.report)
            ok &= result.report.ok
        spec = open(f"{folder}/resnet18.yaml").read().splitlines()
    console.print(f"the decompiled spec ({len(spec)} lines; repeated structure became blocks) begins:")
    console.print("\n".join(spec[:18]), markup=False, highlight=False)
    return ok
