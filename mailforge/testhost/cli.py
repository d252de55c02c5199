"""`mailforge testhost up|down|list|ssh`: disposable systemd-nspawn test hosts."""

from __future__ import annotations

import argparse
import os
import sys

from mailforge import releases
from mailforge.testhost import hosts
from mailforge.testhost.errors import TesthostError
from mailforge.testhost.state import StateDir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("testhost", help="disposable systemd-nspawn test hosts on this machine")
    state_help = "where hosts, images and the SSH key live (default: $MAILFORGE_STATE_DIR or /var/lib/mailforge)"
    parser.add_argument("--state-dir", help=state_help)
    # Also accepted after the verb (`down --all --state-dir X`), where people type it; SUPPRESS keeps a
    # value given before the verb when none is given after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=argparse.SUPPRESS, help=state_help)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p_up = verbs.add_parser("up", parents=[common], help="create and boot a host; prints its address when SSH answers")
    p_up.add_argument("name", help="2-12 characters: a-z, 0-9, '-'")
    p_up.add_argument("--index", type=int, help="N in the address 10.213.N.2 (default: first free)")
    # Checked by hosts.up, not argparse `choices`: a refusal is one line, like every other.
    p_up.add_argument(
        "--release",
        default=releases.TEST_HOST_DEFAULT,
        help=f"the Debian release it runs: {releases.known()} (default: {releases.TEST_HOST_DEFAULT})",
    )
    p_up.set_defaults(func=_up)

    p_down = verbs.add_parser("down", parents=[common], help="stop a host and delete everything it made")
    target = p_down.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?")
    target.add_argument("--all", action="store_true", help="every host, and any leftovers of killed runs")
    p_down.set_defaults(func=_down)

    p_list = verbs.add_parser("list", parents=[common], help="name, address, state, uptime, release")
    p_list.set_defaults(func=_list)

    p_ssh = verbs.add_parser("ssh", parents=[common], help="log in to a host, or run a command on it")
    p_ssh.add_argument("name")
    p_ssh.add_argument("cmd", nargs=argparse.REMAINDER, help="command to run instead of a login shell")
    p_ssh.set_defaults(func=_ssh)


def _guard(func):
    """Operator errors are one clear line and exit 1, never a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except TesthostError as exc:
            print(f"mailforge testhost: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            # `up` removes what it half-made before this point; `down` can simply be run again.
            done = "what was half-made has been removed" if args.verb == "up" else f"run `{args.verb}` again"
            print(f"mailforge testhost: interrupted; {done}", file=sys.stderr)
            return 130

    return wrapper


@_guard
def _up(args: argparse.Namespace) -> int:
    state = StateDir(args.state_dir)
    host = hosts.up(
        args.name, release=args.release, index=args.index, state=state, log=lambda m: print(m, file=sys.stderr)
    )
    print(f"{host.name} {host.address} up ({host.release}); log in with: {state.command('ssh ' + host.name)}")
    return 0


@_guard
def _down(args: argparse.Namespace) -> int:
    state = StateDir(args.state_dir)
    hosts.check_prerequisites(hosts.DOWN_TOOLS)
    if args.all:
        removed = hosts.down_all(state)
        print(f"removed: {', '.join(removed) if removed else 'nothing'}")
        return 0
    hosts.check_name(args.name)
    if not hosts.down(args.name, state=state):
        raise TesthostError(f"no test host named {args.name!r}; see `{state.command('list')}`")
    print(f"{args.name} removed")
    return 0


def _format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@_guard
def _list(args: argparse.Namespace) -> int:
    # RELEASE last: scripts that read the first four columns keep working.
    rows = [("NAME", "ADDRESS", "STATE", "UPTIME", "RELEASE")]
    rows += [
        (h.name, h.address, h.state, _format_uptime(h.uptime), h.release if h.state != "incomplete" else "-")
        for h in hosts.list_hosts(StateDir(args.state_dir))
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


@_guard
def _ssh(args: argparse.Namespace) -> int:
    host = hosts.get(args.name, StateDir(args.state_dir))
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    argv = host.ssh_argv(" ".join(cmd) if cmd else None)
    if not cmd and sys.stdin.isatty():
        argv.insert(1, "-t")
    os.execvp(argv[0], argv)
    return 0  # not reached
