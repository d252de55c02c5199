"""Summaries of whole logs: files (plain, gzip-rotated, stdin) and lines from anywhere.

The top of the summary's modules: ``summary`` (what is counted, and the general route) <- ``fastcount``
(the fast route over blocks) <- ``parallel`` (a large file in two processes) <- here.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailforge.logs.fastcount import FastCounter, blocks
from mailforge.logs.parallel import summarize_file
from mailforge.logs.sources import open_binary, reference_time
from mailforge.logs.summary import Summary


def summarize_files(paths: Iterable[str], jobs: int = 1) -> Summary:
    """Summary of log files (plain, gzip, '-' for stdin), each counted from its first line on its own.

    ``jobs`` 2 counts a large plain file in two processes (mailforge/logs/parallel.py), with the same result.
    """
    summary = Summary()
    for path in paths:
        reference = reference_time(path)
        if jobs > 1 and summarize_file(summary, path, reference, jobs):
            continue
        counter = FastCounter(summary, reference)
        fh = open_binary(path)
        try:
            for block in blocks(fh):
                counter.feed(block)
        finally:
            if path != "-":
                fh.close()
        counter.finish()
    return summary


def summarize_lines(lines: Iterable[str], batch: int = 20_000) -> Summary:
    """Summary of lines from anywhere (e.g. ``ssh host cat /var/log/mail.log``), counted in batches."""
    counter = FastCounter(Summary())
    chunk: list[str] = []
    for line in lines:
        chunk.append(line.rstrip("\r\n"))
        if len(chunk) >= batch:
            counter.feed(("\n".join(chunk) + "\n").encode("utf-8", "surrogatepass"))
            chunk.clear()
    if chunk:
        counter.feed(("\n".join(chunk) + "\n").encode("utf-8", "surrogatepass"))
    return counter.finish()
