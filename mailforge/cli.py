"""`mailforge ...`: one entry point; each area registers its own sub-commands.

Every area module exposes ``register(subparsers)``, which adds one top-level command whose parser sets
``func`` (taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Area modules, in the order their commands are listed by `mailforge --help`.
AREAS = (
    "mailforge.testhost.cli",
    "mailforge.dns.cli",
    "mailforge.logs.cli",
    "mailforge.queue_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailforge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside an existing area must surface
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Inside the try: area imports take a moment, and Ctrl-C then must not print a traceback either.
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mailforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
