"""`mailforge logs trace QUERY [FILES...]` and `mailforge logs summary [FILES...]`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from mailforge.logs.sources import chronological, default_sources


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = subparsers.add_parser("logs", help="trace messages through mail logs; daily summaries")
    sub = logs.add_subparsers(dest="logs_command", required=True, metavar="SUBCOMMAND")

    t = sub.add_parser(
        "trace",
        help="follow a message (queue ID, Message-ID, address or client IP) and explain its outcome",
        description="Files may be plain, gzip-rotated, Postfix maillog_file or `journalctl -o json` output; "
        "'-' or no file with a pipe reads stdin; no file at all reads /var/log/mail.log.",
    )
    t.add_argument("query", help="queue ID, Message-ID, email address or client IP address")
    t.add_argument("files", nargs="*", metavar="FILE")
    t.add_argument("--json", action="store_true", help="machine-readable output")
    t.add_argument("--raw", action="store_true", help="also print the log lines each journey is built from")
    t.add_argument("--limit", type=int, default=20, help="show at most the last N journeys (default 20)")
    t.set_defaults(func=cmd_trace)

    s = sub.add_parser("summary", help="counts, top lists, reject/deferral reasons, per-hour traffic")
    s.add_argument("files", nargs="*", metavar="FILE")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--top", type=int, default=10, help="entries per top list (default 10)")
    s.add_argument(
        "--jobs",
        type=int,
        choices=(1, 2),
        default=2 if (os.cpu_count() or 1) > 1 else 1,
        help="processes per large plain file: 2 counts its halves at once, with the same result "
        "(default: 2 on a machine with more than one CPU)",
    )
    s.set_defaults(func=cmd_summary)


def _sources(files: list[str]) -> list[str]:
    return chronological(files) if files else default_sources()


def cmd_trace(args: argparse.Namespace) -> int:
    # Each command imports what it uses: the other's modules would only add to its start-up time.
    from mailforge.logs.records import ParseStats
    from mailforge.logs.render import trace_text, traces_json
    from mailforge.logs.scan import trace_files

    stats = ParseStats()
    try:
        traces = trace_files(args.query, _sources(args.files), stats)
    except OSError as exc:
        print(f"mailforge logs trace: {exc}", file=sys.stderr)
        return 2
    shown = traces[-args.limit :] if args.limit > 0 else traces
    if stats.unparsed:
        # A line it could not read may be the one that explains the journey: never skip it in silence.
        print(
            f"mailforge logs trace: {stats.unparsed} line(s) read for this trace are not in a known log format "
            f"and were skipped, e.g.: {stats.unparsed_samples[0]}",
            file=sys.stderr,
        )
    if args.json:
        print(traces_json(shown, args.query))
    elif not traces:
        print(f"No message, rejection or login matching {args.query!r} in these logs.")
    else:
        if len(traces) > len(shown):
            print(f"({len(traces)} journeys match; showing the last {len(shown)}; use --limit)\n")
        print("\n\n".join(trace_text(t, raw=args.raw) for t in shown))
    return 0 if traces else 1


def cmd_summary(args: argparse.Namespace) -> int:
    from mailforge.logs.count import summarize_files
    from mailforge.logs.summary import summary_text

    try:
        summary = summarize_files(_sources(args.files), jobs=args.jobs)
    except OSError as exc:
        print(f"mailforge logs summary: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.to_dict(args.top), indent=2))
    else:
        sys.stdout.write(summary_text(summary, args.top))
    return 0
