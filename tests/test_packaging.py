"""The distribution ships every package: pyproject's explicit package list must name each
folder with an ``__init__.py`` (an editable install would hide a missing one; a wheel
would not), and the zoo's specs are package data."""
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_package_is_listed():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        config = tomllib.load(handle)["tool"]["setuptools"]
    folders = {name: path.rstrip("/") for name, path in config["package-dir"].items()}
    found = set()
    for package, folder in folders.items():
        for here, _, files in os.walk(os.path.join(ROOT, folder)):
            if "__init__.py" in files and "__pycache__" not in here:
                rel = os.path.relpath(here, os.path.join(ROOT, folder))
                found.add(package if rel == "." else f"{package}.{rel.replace(os.sep, '.')}")
    assert {"netspec.backends.torch", "netspec.converters.onnx", "netspec.testing"} <= found  # the walk works
    assert found - set(config["packages"]) == set(), "add these to [tool.setuptools] packages"
    assert config["package-data"]["netspec.zoo"] == ["*.yaml"]
