"""Where lines come from: plain files, gzip-rotated files (detected by magic, not by name) and stdin.

Everything is streamed line by line, so memory does not grow with the size of the log.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from mailforge.logs.records import LineParser, ParseStats, Record

GZIP_MAGIC = b"\x1f\x8b"
_ROTATION = re.compile(r"\.(\d+)(?:\.gz)?$")
DEFAULT_LOG = Path("/var/log/mail.log")


def chronological(paths: Iterable[str]) -> list[str]:
    """Order logrotate's files oldest first: mail.log.3.gz, mail.log.2.gz, mail.log.1, mail.log.

    A shell glob (``mail.log*``) yields them newest first; a trace must read events in time order.
    """

    def key(p: str) -> tuple[str, int]:
        m = _ROTATION.search(p)
        base = p[: m.start()] if m else p
        return (base, -int(m.group(1)) if m else 0)

    return sorted(paths, key=key)


def open_binary(path: str) -> BinaryIO | gzip.GzipFile:
    if path == "-":
        return sys.stdin.buffer
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, which closes it
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw)
    return raw


def iter_lines(path: str) -> Iterator[str]:
    """Decoded lines of one source; undecodable bytes become U+FFFD instead of an exception."""
    fh = open_binary(path)
    try:
        wrapper = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="\n")
        try:
            yield from wrapper
        except (EOFError, OSError, gzip.BadGzipFile):
            return  # a truncated rotated file: keep what was readable
        finally:
            wrapper.detach()
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def reference_time(path: str) -> datetime:
    """The time a log file was last written: the anchor for year-less syslog timestamps."""
    if path == "-":
        return datetime.now()
    return datetime.fromtimestamp(os.stat(path).st_mtime)


def default_sources() -> list[str]:
    if not sys.stdin.isatty():
        return ["-"]
    return [str(DEFAULT_LOG)]


def read_records(paths: Iterable[str], stats: ParseStats | None = None) -> Iterator[Record]:
    stats = stats if stats is not None else ParseStats()
    for path in paths:
        parser = LineParser(reference_time(path), stats)
        parse = parser.parse
        for line in iter_lines(path):
            rec = parse(line)
            if rec is not None:
                yield rec


def parse_lines(
    lines: Iterable[str], stats: ParseStats | None = None, reference: datetime | None = None
) -> Iterator[Record]:
    """Records from lines already in memory or streamed from elsewhere (e.g. ``ssh host cat mail.log``)."""
    parser = LineParser(reference, stats)
    for line in lines:
        rec = parser.parse(line)
        if rec is not None:
            yield rec
