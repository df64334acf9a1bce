"""The ``netspec`` command line: one module per command, registered in :data:`COMMANDS`.

Every user error is a NetspecError: printed one line per problem, no traceback, exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import NetspecError

# command name -> module (relative to this package) defining add_arguments(parser) and run(args)
COMMANDS = {
    "validate": ".validate",
    "info": ".info",
    "schema": ".schema",
    "ops": ".ops",
    "zoo": ".zoo",
    "build": ".build",
    "check": ".check",
    "convert": ".convert",
    "demo": ".demo",
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netspec", description="Define a network once; run it in "
                                     "PyTorch, Keras and ONNX; convert between them; prove it.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name, __name__)
        module.add_arguments(sub.add_parser(name, help=module.__doc__.strip().splitlines()[0],
                                            description=module.__doc__))
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for users
    args = make_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command], __name__)
    try:
        return int(module.run(args) or 0)
    except NetspecError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return getattr(exc, "exit_status", 2)  # 2: bad input; a failed verification says 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
