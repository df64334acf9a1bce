"""List the bundled model zoo with one-line descriptions."""
from __future__ import annotations

from rich.table import Table

from ..spec.loader import load_yaml_file
from ..spec.zoo import resolve_spec, zoo_names
from .common import console


def add_arguments(parser):
    pass


def run(args) -> int:
    table = Table(title="netspec zoo (netspec info NAME for details)")
    table.add_column("name")
    table.add_column("description")
    for name in zoo_names():
        data = load_yaml_file(resolve_spec(name))
        table.add_row(name, str(data.get("doc", "")).strip().splitlines()[0] if data.get("doc") else "")
    console.print(table)
    return 0
