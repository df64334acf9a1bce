"""Arguments and output helpers shared by several commands."""
from __future__ import annotations

import json
import os
import sys
import tempfile

from rich.console import Console

from ..errors import NetspecError, SourceLoc

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def add_spec_options(parser, many=False):
    parser.add_argument("spec", nargs="+" if many else None,
                        help="spec file(s), or zoo model name(s) (see 'netspec zoo')")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a spec parameter (repeatable)")


def load_graph(args, spec=None, seed=None):
    from ..spec import load_spec, parse_overrides
    return load_spec(spec or args.spec, parse_overrides(args.set), seed=seed)


def write_atomic(path: str, write, force: bool = False, inputs: tuple = ()) -> None:
    """Write through ``write(tmp_path)`` into a temporary file beside ``path``, then rename.

    An input file is never overwritten; an existing output only with ``force``; a failed
    write leaves nothing behind.
    """
    target = os.path.abspath(path)
    if any(src and os.path.realpath(src) == os.path.realpath(target) for src in inputs):
        raise NetspecError("refusing to overwrite the input file", SourceLoc(path))
    if os.path.exists(target) and not force:
        raise NetspecError("output exists", SourceLoc(path), "pass --force to replace it")
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        raise NetspecError(f"output folder '{directory}' does not exist", SourceLoc(path))
    suffix = "".join(os.path.basename(target).partition(".")[1:])
    handle, tmp = tempfile.mkstemp(prefix=".netspec-", suffix=suffix, dir=directory)
    os.close(handle)
    try:
        write(tmp)
        usual_mode(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def usual_mode(path: str) -> None:
    """Give a file the mode a plain ``open(path, "w")`` would (mkstemp, and some writers
    such as safetensors', create 0600 files that other users and tools cannot read)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def dump_json(data, path=None, force=True):
    text = json.dumps(data, indent=2, default=str)
    if path in (None, "-"):
        print(text)
    else:
        write_atomic(path, lambda tmp: open(tmp, "w").write(text + "\n"), force=force)
