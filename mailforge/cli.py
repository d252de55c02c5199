"""`mailforge ...`: one entry point; each area registers its own sub-commands.

Every area module exposes ``register(subparsers)``, which adds one top-level command whose parser sets
``func`` (taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Area modules and the top-level command each registers, in the order `mailforge --help` lists them.
AREAS = {
    "testhost": "mailforge.testhost.cli",
    "dns": "mailforge.dns.cli",
    "logs": "mailforge.logs.cli",
    "queue": "mailforge.queue_cli",
    "backup": "mailforge.backup.cli",
    "restore": "mailforge.backup.cli",
    "upgrade-check": "mailforge.upgrade_check",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every area, or only of ``command``'s area when that names one.

    Importing an area costs time (the DNS auditor alone pulls in dnspython's async and HTTP stack, about
    0.4 s): `mailforge logs trace ...` imports the logs area only. Parsing is the same either way, since
    argparse consults only the chosen sub-command's parser; `mailforge --help`, an unknown command or
    none at all builds every area, so the listing and the error messages are unchanged.
    """
    parser = argparse.ArgumentParser(prog="mailforge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [AREAS[command]] if command in AREAS else list(dict.fromkeys(AREAS.values()))  # one module, two commands
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside an existing area must surface
                raise
            continue
        module.register(sub)
    if command in AREAS and command not in sub.choices:  # that area is not installed: list the others
        return build_parser()
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # Inside the try: area imports take a moment, and Ctrl-C then must not print a traceback either.
        args = build_parser(argv[0] if argv else None).parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mailforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
