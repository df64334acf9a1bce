"""``netspec convert``: any supported model file or spec into any other, proved on disk.

Order of work, so that nothing is lost and nothing wrong is left behind:

1. read the source into a graph (all unsupported ops or layers reported at once);
2. ask the target backend whether it can emit every op of the graph (all at once again);
3. refuse outputs that exist (without ``force``) or that are an input, before writing;
4. build and write into a private staging folder beside the output, under the final file
   names (so sidecars such as ``model.safetensors`` reference the right names);
5. load the staged files back the way a user would and compare them with the **source
   model run in its own framework** (onnxruntime, Keras, torch), through the harness;
6. only when that passes (or ``check=False``) move the files into place.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from netspec.cli.common import usual_mode
from netspec.errors import NetspecError, SourceLoc

from .sources import Source
from .targets import target_for


@dataclass
class Conversion:
    graph: object
    written: list[str]
    report: object | None  # netspec.testing.Report, None with check=False


class ConversionFailed(NetspecError):
    """The written model does not compute what the source computes; nothing was written."""

    exit_status = 1  # a verdict, not bad input

    def __init__(self, report, output: str):
        super().__init__("the converted model is not equivalent to the source; nothing was written",
                         SourceLoc(output), "see the table above; --no-check writes it anyway")
        self.report = report


def _reference(source: Source, target_backend: str) -> str:
    """For a spec (no framework of its own) the reference is another backend's build."""
    return "onnx" if target_backend == "torch" else "torch"


def convert(source: Source, output: str, to: str | None = None, check: bool = True, force: bool = False,
            batch: int = 2, seed: int = 0, dynamic_size: int = 16, input_paths: tuple = ()) -> Conversion:
    from netspec.backends import get_backend
    from netspec.testing.equivalence import check as check_equivalence

    graph = source.graph
    ext, target = target_for(output, to)
    if target.backend != "spec":
        get_backend(target.backend).emitters.check_graph(graph)
    final = os.path.abspath(output if to is None or output.lower().endswith(ext) else output + ext)
    folder = os.path.dirname(final)
    if not os.path.isdir(folder):
        raise NetspecError(f"output folder '{folder}' does not exist", SourceLoc(output))
    inputs = {os.path.realpath(p) for p in (*input_paths, graph.meta.get("source"), graph.meta.get("weights")) if p}
    staging = tempfile.mkdtemp(prefix=".netspec-convert-", dir=folder)
    try:
        staged = os.path.join(staging, os.path.basename(final))
        _write(graph, target, staged, force)
        produced = sorted(os.listdir(staging))
        destinations = [os.path.join(folder, name) for name in produced]
        for path in destinations:  # every check before the first file moves
            if os.path.realpath(path) in inputs:
                raise NetspecError("refusing to overwrite an input file", SourceLoc(path))
            if os.path.exists(path) and not force:
                raise NetspecError("output exists", SourceLoc(path), "pass --force to replace it")
        report = None
        if check:
            written = target.reload(staged, graph)
            label = f"{os.path.basename(final)} ({target.backend if target.backend != 'spec' else 'spec -> torch'})"
            if source.run is not None:
                foreign = {f"source ({source.framework})": source.run, label: written}
                report = check_equivalence(graph, backends=(), foreign=foreign, batch=batch, seed=seed,
                                           dynamic_size=dynamic_size)
            else:
                report = check_equivalence(graph, backends=(_reference(source, target.backend),),
                                           foreign={label: written}, batch=batch, seed=seed,
                                           dynamic_size=dynamic_size)
            if not report.ok:
                raise ConversionFailed(report, output)
        for name, path in zip(produced, destinations):
            usual_mode(os.path.join(staging, name))
            os.replace(os.path.join(staging, name), path)
        return Conversion(graph, destinations, report)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write(graph, target, staged: str, force: bool) -> None:
    if target.backend == "spec":
        from .spec_writer import write_spec
        # rename: a graph whose names show its blocks keeps them; an import's names
        # (conv1_Conv, ...) give way to block instances found from the structure
        write_spec(graph, staged, weights=True, force=True, rename=True)
        return
    from netspec.backends import get_backend
    backend = get_backend(target.backend)
    model = backend.build(graph)
    backend.save(model, graph, staged, final_path=staged, force=True)
