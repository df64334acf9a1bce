"""Helpers for the spec-language tests: write spec text to files, compile, collect errors."""
from __future__ import annotations

import textwrap

import pytest

from netspec.errors import NetspecError
from netspec.spec import load_spec


class SpecFiles:
    """Writes specs (and files they include) under a temporary folder and compiles them."""

    def __init__(self, root):
        self.root = root

    def write(self, name: str, text: str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return str(path)

    def graph(self, text: str, overrides=None, name="main.yaml"):
        return load_spec(self.write(name, text), overrides, seed=None)

    def errors(self, text: str, overrides=None, name="main.yaml") -> list[str]:
        """Every error line, with the temporary folder cut from the paths."""
        with pytest.raises(NetspecError) as info:
            self.graph(text, overrides, name)
        return [line.replace(str(self.root) + "/", "") for line in str(info.value).splitlines()]


@pytest.fixture
def spec(tmp_path):
    return SpecFiles(tmp_path)
