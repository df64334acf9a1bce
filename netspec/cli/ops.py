"""Print the op x backend coverage matrix, computed from the op registry and emitter tables."""
from __future__ import annotations

from rich.table import Table

from ..backends import BACKEND_MODULES, get_backend
from ..errors import NetspecError
from ..ops import OPS
from .common import console, dump_json


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the matrix as JSON")


def coverage() -> dict:
    tables = {}
    for name in BACKEND_MODULES:
        try:
            tables[name] = get_backend(name).emitters
        except NetspecError:
            tables[name] = None
    matrix = {}
    for op in sorted(OPS):
        row = {}
        for name, table in tables.items():
            if table is None:
                row[name] = "backend missing"
            elif op in table:
                row[name] = "yes"
            else:
                row[name] = "no: " + table.unsupported.get(op, "no emitter")
        matrix[op] = {"family": OPS[op].family, "doc": OPS[op].doc, "backends": row}
    return matrix


def run(args) -> int:
    matrix = coverage()
    if args.json:
        dump_json(matrix)
        return 0
    table = Table(title="ops x backends")
    table.add_column("op")
    table.add_column("family")
    for name in BACKEND_MODULES:
        table.add_column(name)
    table.add_column("what it does")
    for op, info in matrix.items():
        cells = [("[green]yes[/]" if v == "yes" else f"[red]{v}[/]") for v in info["backends"].values()]
        table.add_row(op, info["family"], *cells, info["doc"])
    console.print(table)
    return 0
