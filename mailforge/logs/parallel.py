"""`logs summary` on two cores: a plain log file is cut in two at a line boundary, a child process counts
the second piece while this one counts the first, and the two are joined into exactly the summary one
process would give.

What crosses the cut, and how the join settles it:

- messages in flight: their state (received here? size? deferred already?) is in the first piece, some
  of their lines in the second. The child keeps such lines as pending operations (ChunkQueues in
  mailforge/logs/queues.py) and replay() completes them against the first piece's final state;
- the days, in order of first appearance (the year of a syslog stamp is inferred in that order), and the
  period: the first piece's first record, the second's last;
- everything else is a sum (counts, top lists, per hour, line statistics).

The second piece is read again here, after the first, whenever the join could differ from reading the
file in one go: the child failed or kept too much pending state; the queue IDs open at once could exceed
the limit (the oldest are forgotten, queues.py); or a queue ID still open after the first piece arrives
again in the second before its pending lines (a reused queue ID whose end was not logged), which the
child cannot tell from a new message. Compressed files and stdin cannot be cut: one process reads them.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import stat
from dataclasses import dataclass
from datetime import datetime

from mailforge.logs import fastcount
from mailforge.logs.fastcount import BLOCK, TAIL, FastCounter, blocks
from mailforge.logs.queues import ChunkQueues, Pending, replay
from mailforge.logs.sources import GZIP_MAGIC
from mailforge.logs.summary import Summary, domain

MIN_SPLIT = 8 << 20  # smaller files are counted in one process: the fork would cost more than it saves
ARRIVALS = (b"client=", b"uid=", b"sender=")  # what an arrival's line has after its queue ID (events.py)


@dataclass
class Part:
    """What the child hands back: its counts, and what the join needs from the second piece."""

    summary: Summary
    days: dict[str, int]
    first: str | None
    tail: bytes
    open: dict[bytes, int]
    lists: list[Pending]  # pending operations: the ended lists in order, then the still open ones
    peak: int
    overflow: bool


def cut_point(path: str) -> int | None:
    """Where the second piece starts (a line's start near the middle), or None: read in one go."""
    if path == "-":
        return None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size < MIN_SPLIT:  # a pipe cannot be read twice
            return None
        size = st.st_size
        with open(path, "rb") as fh:
            if fh.read(2) == GZIP_MAGIC:
                return None
            fh.seek(size // 2)
            rest = fh.read(BLOCK)
    except OSError:
        return None
    nl = rest.find(b"\n")
    if nl < 0 or size // 2 + nl + 1 >= size:
        return None
    return size // 2 + nl + 1


def count_range(counter: FastCounter, path: str, start: int, end: int) -> None:
    """Feed ``counter`` the bytes of ``path`` from ``start`` (a line's start) to ``end``."""
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start

        class Limited:
            @staticmethod
            def read(n: int) -> bytes:
                nonlocal left
                data = fh.read(min(n, left))
                left -= len(data)
                return data

        for block in blocks(Limited, fastcount.BLOCK):
            counter.feed(block)


def summarize_file(summary: Summary, path: str, reference: datetime | None, jobs: int) -> bool:
    """Count one plain file into ``summary`` in two processes; False if it cannot be cut (read it in one)."""
    cut = cut_point(path) if jobs > 1 else None
    if cut is None:
        return False
    end = os.stat(path).st_size  # a log being written to: both pieces stop where it ended now
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count the second piece, send it back, leave without cleanups
        status = 1
        try:
            os.close(read_fd)
            counted = count_second(path, reference, cut, end)
            with os.fdopen(write_fd, "wb") as out:
                pickle.dump(counted, out, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    counter = FastCounter(summary, reference)
    reaped = False
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            count_range(counter, path, 0, cut)
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        reaped = True
        part = _unpickle(data) if status == 0 else None
    finally:
        if not reaped:  # interrupted: the child must not outlive us
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    join(counter, part, path, cut, end)
    counter.finish()
    return True


def _unpickle(data: bytes) -> Part | None:
    try:
        part = pickle.loads(data)  # from our own child, through a pipe only it and we hold
    except Exception:  # a child cut short: read its piece here
        return None
    return part if isinstance(part, Part) else None


def join(counter: FastCounter, part: Part | None, path: str, cut: int, end: int) -> None:
    """Add the second piece to ``counter`` (which counted the first): ``part``, or read it here again."""
    if part is not None and _joinable(counter, part, path, cut):
        _join(counter, part)
    else:
        count_range(counter, path, cut, end)  # exactly the one-process result


def count_second(path: str, reference: datetime | None, start: int, end: int) -> Part:
    """What the child does: count the piece from ``start`` to ``end``, not knowing what came before."""
    counter = FastCounter(Summary(), reference, ChunkQueues())
    counter.offset = start
    count_range(counter, path, start, end)
    counter.fold()
    q = counter.q
    assert isinstance(q, ChunkQueues)
    return Part(
        counter.s, counter.days, counter.first, counter.tail, q.open, [*q.closed, *q.pending.values()], q.peak,
        q.overflow,
    )  # fmt: skip


def _joinable(counter: FastCounter, part: Part, path: str, cut: int) -> bool:
    opened = counter.q.open
    if part.overflow or len(opened) + part.peak > counter.q.limit:
        return False
    # A queue ID open after the first piece whose first pending line in the second comes after an
    # arrival of the same ID there: the pending lines belong to a new message, not to the open one.
    first: dict[bytes, int] = {}
    for p in part.lists:
        # Hypothesis found pending lines noted with an empty queue ID (cause not yet traced): searching for
        # b"" never advances and looped forever. Such a piece is read again instead, which is always exact.
        if not p.qid:
            return False
        if p.qid in opened and p.qid not in first:
            first[p.qid] = p.where
    if not first:
        return True
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for qid, where in first.items():
            at = mm.find(qid, cut, where)
            while at >= 0:
                end = mm.find(b"\n", at)
                line = mm[at : end if end >= 0 else where]
                if any(a in line for a in ARRIVALS):
                    return False
                at = mm.find(qid, at + len(qid), where)
    return True


def _join(counter: FastCounter, part: Part) -> None:
    s = counter.s
    s.merge(part.summary)
    for day, n in part.days.items():
        counter.days[day] = counter.days.get(day, 0) + n
    if counter.first is None:
        counter.first = part.first
    counter.tail = (counter.tail + part.tail)[-TAIL:]
    fx = replay(counter.q.open, part.lists)
    for sender in fx.senders:
        v = sender.decode("utf-8", "replace") if isinstance(sender, bytes) else sender
        s.senders[v or "from=<>"] += 1
        s.sender_domains[domain(v) if v else "from=<>"] += 1
    s.bytes_received += fx.bytes_received
    for to, size in fx.delivered_bytes:
        s.bytes_delivered += size
        s.recipient_domain_bytes[domain(to.decode("utf-8", "replace") if isinstance(to, bytes) else to)] += size
    s.deferred += fx.deferred
    counter.q.open.update(part.open)
