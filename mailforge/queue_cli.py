"""`mailforge queue list|show|flush|hold|release|requeue|delete`: the Postfix queue, here or over SSH
(mailforge/remote.py chooses the host and runs the commands).

Destructive actions print what they will touch and do nothing without ``--yes``; ``--dry-run`` never
touches anything; a filter that matches nothing does nothing (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime

from mailforge import remote
from mailforge.queue import Filter, Queue, QueueEntry, QueueError, parse_duration, plan

DESTRUCTIVE = ("hold", "release", "requeue", "delete")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = remote.add_arguments(
        p,
        "where",
        inventory="option",
        host_help="run on this host over SSH (default: this machine)",
        testhost_help="run on this mailforge test host (`mailforge testhost list`): its address and the project's key",
        inventory_help="run on HOST of this pyinfra inventory, over SSH as pyinfra reaches it (its ssh_* data)",
        sudo_help="prefix the Postfix commands with sudo -n",
    )
    g.add_argument("--config-dir", metavar="DIR", help="a non-default Postfix instance (postqueue -c DIR)")
    return p


def _filters() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("filters (all must match)")
    g.add_argument("--from", dest="sender", metavar="ADDR", help="sender: user@dom, @dom, wildcards, <> (bounces)")
    g.add_argument("--to", dest="recipient", metavar="ADDR", help="any recipient: user@dom, @dom, wildcards")
    g.add_argument("--older-than", metavar="AGE", help="arrived longer ago than AGE (90s, 30m, 2h, 3d)")
    g.add_argument("--reason", metavar="REGEX", help="a recipient's delay reason matches REGEX")
    g.add_argument("--queue", choices=("deferred", "hold", "active", "incoming", "maildrop"))
    return p


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    q = subparsers.add_parser("queue", help="list, show, flush, hold, release, requeue, delete queued mail")
    sub = q.add_subparsers(dest="queue_command", required=True, metavar="SUBCOMMAND")
    common, filters = _common(), _filters()

    ls = sub.add_parser("list", parents=[common, filters], help="queued messages (postqueue -j)")
    ls.add_argument("ids", nargs="*", metavar="ID")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    show = sub.add_parser("show", parents=[common], help="a queued message (postcat -q)")
    show.add_argument("id", metavar="ID")
    show.add_argument("--headers", action="store_true", help="headers only")
    show.set_defaults(func=cmd_show)

    flush = sub.add_parser("flush", parents=[common], help="retry now: all (postqueue -f) or IDs (postqueue -i)")
    flush.add_argument("ids", nargs="*", metavar="ID")
    flush.add_argument("--dry-run", action="store_true")
    flush.set_defaults(func=cmd_flush)

    helps = {
        "hold": "put messages on hold (postsuper -h)",
        "release": "release held messages (postsuper -H)",
        "requeue": "requeue messages, re-running address rewriting (postsuper -r)",
        "delete": "delete messages (postsuper -d)",
    }
    for action in DESTRUCTIVE:
        a = sub.add_parser(action, parents=[common, filters], help=helps[action])
        a.add_argument("ids", nargs="*", metavar="ID")
        a.add_argument("--all", action="store_true", help="every message in the queue (no filter needed)")
        a.add_argument("--yes", action="store_true", help="really do it")
        a.add_argument("--dry-run", action="store_true", help="only print what would be touched")
        a.set_defaults(func=cmd_action, action=action)


def runner_from(args: argparse.Namespace) -> remote.Runner:
    return remote.runner_for(remote.target_from(args, inventory="option"), args)


def queue_from(args: argparse.Namespace) -> Queue:
    return Queue(runner_from(args), args.config_dir)


def filter_from(args: argparse.Namespace) -> Filter:
    return Filter(
        ids=tuple(args.ids),
        sender=args.sender,
        recipient=args.recipient,
        older_than=parse_duration(args.older_than) if args.older_than else None,
        reason=args.reason,
        queue=args.queue,
    )


def _age(seconds: float) -> str:
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def entry_lines(entries: list[QueueEntry], now: float) -> list[str]:
    out = []
    for e in entries:
        when = datetime.fromtimestamp(e.arrival_time).strftime("%b %d %H:%M")
        out.append(f"{e.queue_id:<16} {e.queue_name:<9} {e.message_size:>9}  {when} ({_age(e.age(now))})  <{e.sender}>")
        for r in e.recipients:
            reason = f"  ({r.delay_reason})" if r.delay_reason else ""
            out.append(f"{'':>16}   -> <{r.address}>{reason}")
    return out


def _fail(msg: str) -> int:
    print(f"mailforge queue: {msg}", file=sys.stderr)
    return 2


def cmd_list(args: argparse.Namespace) -> int:
    try:
        flt = filter_from(args)
        entries = flt.select(queue_from(args).list())
    except (QueueError, ValueError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps([{**e.__dict__, "recipients": [r.__dict__ for r in e.recipients]} for e in entries], indent=2))
    else:
        print("\n".join(entry_lines(entries, time.time())) or "The queue is empty (or nothing matches).")
        print(f"-- {len(entries)} message(s), {sum(e.message_size for e in entries)} bytes")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(queue_from(args).show(args.id, headers_only=args.headers))
    except (QueueError, ValueError) as exc:
        return _fail(str(exc))
    return 0


def cmd_flush(args: argparse.Namespace) -> int:
    what = ", ".join(args.ids) if args.ids else "the whole queue"
    if args.dry_run:
        print(f"Would ask Postfix to retry {what} now (dry run: nothing done).")
        return 0
    try:
        queue_from(args).flush(args.ids)
    except (QueueError, ValueError) as exc:
        return _fail(str(exc))
    print(f"Asked Postfix to retry {what} now; follow it with `mailforge logs trace ID`.")
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    action: str = args.action
    try:
        flt = filter_from(args)
        if flt.is_empty() and not args.all:
            return _fail(f"{action} needs queue IDs, a filter (--from/--to/--older-than/--reason/--queue) or --all")
        queue = queue_from(args)
        p = plan(action, flt.select(queue.list()))
    except (QueueError, ValueError) as exc:
        return _fail(str(exc))
    now = time.time()
    if p.skipped:
        print(f"Not applicable to {len(p.skipped)} matching message(s) (wrong queue for {action}):")
        print("\n".join(entry_lines(list(p.skipped), now)))
    if not p.entries:
        print(f"Nothing matches: nothing to {action}.")
        return 1
    print(f"Will {action} {len(p.entries)} message(s) on {queue.runner.describe()}:")
    print("\n".join(entry_lines(list(p.entries), now)))
    if args.dry_run:
        print("Dry run: nothing done.")
        return 0
    if not args.yes:
        print(f"Not done: re-run with --yes to {action} them.")
        return 1
    try:
        touched = queue.apply(p)
    except QueueError as exc:
        return _fail(str(exc))
    print(f"Done: postsuper reports {touched} message(s) affected.")
    return 0
