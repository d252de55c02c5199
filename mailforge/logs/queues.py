"""What the summary remembers per queue ID between its log lines, and nothing else.

Three counts need an earlier line of the same message: a sender counts once, and only for a message
received here (``client=`` or pickup before ``from=``); a delivery's bytes are the size ``from=`` logged;
a message counts as deferred once however often it is retried. The state is one int per open queue ID
(flags and size), dropped at ``removed``; queue IDs whose end is not in the log are forgotten oldest first
once more than ``limit`` are open, so memory stays flat in the size of the log.

``ChunkQueues`` is the same for a piece of a log that does not start it (mailforge/logs/parallel.py): a
queue ID first seen there without its arrival may be a message from before, whose state the piece cannot
know. The lines that depend on it are kept as ``Pending`` operations, and replay() completes them, in
order, once the state at the piece's start is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

RECEIVED, QUEUED, DEFERRED = 1, 2, 4
SIZE_SHIFT = 3  # the size is stored above the three flags
OPEN_LIMIT = 500_000
# A pending operation (see Pending.ops): its kind, then its values.
Op = tuple[Any, ...]


class Queues:
    __slots__ = ("limit", "open")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit if limit is not None else OPEN_LIMIT
        self.open: dict[bytes, int] = {}

    def received(self, qid: bytes) -> None:
        """A message arrived (smtpd ``client=``, pickup): a reused short queue ID starts afresh."""
        self.open.pop(qid, None)
        self._add(qid, RECEIVED)

    def queued(self, qid: bytes, size: int, sender: bytes | str) -> bool:
        """qmgr ``from=``: True when this line counts (the message's first, for a message received here)."""
        st = self.open.get(qid)
        if st is None:
            self._add(qid, QUEUED | size << SIZE_SHIFT)
            return False
        if st & QUEUED:
            return False
        self.open[qid] = st | QUEUED | size << SIZE_SHIFT
        return bool(st & RECEIVED)

    def size(self, qid: bytes, to: bytes | str) -> int:
        """The size ``from=`` logged, for a delivery to ``to`` (0 if the message's start is not in the log)."""
        return self.open.get(qid, 0) >> SIZE_SHIFT

    def deferred(self, qid: bytes) -> bool:
        """A deferral: True for the message's first one."""
        st = self.open.get(qid)
        if st is None:
            self._add(qid, DEFERRED)
            return True
        if st & DEFERRED:
            return False
        self.open[qid] = st | DEFERRED
        return True

    def removed(self, qid: bytes) -> None:
        self.open.pop(qid, None)

    def _add(self, qid: bytes, st: int) -> None:
        self.open[qid] = st
        if len(self.open) > self.limit:
            self._forget()

    def _forget(self) -> None:
        # The oldest tenth at once: a dict keeps insertion order, and one pass over its start is cheap
        # where evicting one key per new message would walk the deleted slots again each time.
        for old in list(islice(self.open, max(1, self.limit // 10))):
            del self.open[old]


@dataclass
class Pending:
    """The operations on one queue ID whose effect depends on its state before the piece, in order:
    ("Q", size, sender), ("S", recipient), ("D",), ("X",) removed, ("R",) arrived again (which ends it)."""

    qid: bytes
    where: int  # the end of the block where it started (parallel.py looks for arrivals before it)
    ops: list[Op] = field(default_factory=list)


@dataclass
class Effects:
    """What replayed pending operations add to the counts."""

    senders: list[bytes | str] = field(default_factory=list)  # each a counted sender
    bytes_received: int = 0
    delivered_bytes: list[tuple[bytes | str, int]] = field(default_factory=list)  # (recipient, size)
    deferred: int = 0


class ChunkQueues(Queues):
    """Queues for a piece of a log after its start: unknown queue IDs collect Pending operations."""

    __slots__ = ("closed", "overflow", "peak", "pending", "where")
    MAX_PENDING = 100_000  # more than this and parallel.py reads the piece again after the one before

    def __init__(self, limit: int | None = None) -> None:
        super().__init__(limit)
        self.pending: dict[bytes, Pending] = {}
        self.closed: list[Pending] = []  # in the order they ended
        self.where = 0
        self.peak = 0  # the most queue IDs open or pending at once
        self.overflow = False

    def _pending(self, qid: bytes) -> Pending:
        p = self.pending.get(qid)
        if p is None:
            p = self.pending[qid] = Pending(qid, self.where)
            if len(self.pending) + len(self.closed) > self.MAX_PENDING:
                self.overflow = True
            self.peak = max(self.peak, len(self.open) + len(self.pending))
        return p

    def _close(self, qid: bytes, op: Op) -> None:
        p = self.pending.pop(qid)
        p.ops.append(op)
        self.closed.append(p)

    def received(self, qid: bytes) -> None:
        if qid in self.pending:
            self._close(qid, ("R",))
        super().received(qid)

    def queued(self, qid: bytes, size: int, sender: bytes | str) -> bool:
        if qid in self.open:
            return super().queued(qid, size, sender)
        self._pending(qid).ops.append(("Q", size, sender))
        return False

    def size(self, qid: bytes, to: bytes | str) -> int:
        if qid in self.open:
            return self.open[qid] >> SIZE_SHIFT
        self._pending(qid).ops.append(("S", to))
        return 0

    def deferred(self, qid: bytes) -> bool:
        if qid in self.open:
            return super().deferred(qid)
        self._pending(qid).ops.append(("D",))
        return False

    def removed(self, qid: bytes) -> None:
        if qid in self.open:
            del self.open[qid]
            return
        self._pending(qid)
        self._close(qid, ("X",))

    def _add(self, qid: bytes, st: int) -> None:
        self.open[qid] = st
        if len(self.open) + len(self.pending) > self.peak:  # counted before any is forgotten
            self.peak = len(self.open) + len(self.pending)
        if len(self.open) > self.limit:
            self._forget()


def replay(opened: dict[bytes, int], lists: list[Pending]) -> Effects:
    """Complete pending operations against the state at the piece's start (``opened``, which this
    updates): lists in order, the first one of a queue ID starting from its state there."""
    fx = Effects()
    for p in lists:
        st = opened.pop(p.qid, None)  # a later list of the same ID finds it gone (its list before ended it)
        for op in p.ops:
            kind = op[0]
            if kind == "Q":
                if st is None:
                    st = QUEUED | op[1] << SIZE_SHIFT
                elif not st & QUEUED:
                    if st & RECEIVED:
                        fx.senders.append(op[2])
                        fx.bytes_received += op[1]
                    st |= QUEUED | op[1] << SIZE_SHIFT
            elif kind == "S":
                fx.delivered_bytes.append((op[1], st >> SIZE_SHIFT if st else 0))
            elif kind == "D":
                if st is None:
                    st = DEFERRED
                    fx.deferred += 1
                elif not st & DEFERRED:
                    st |= DEFERRED
                    fx.deferred += 1
            else:  # "X" removed, "R" arrived again: what follows is the piece's own
                st = None
        if st is not None and p.ops[-1][0] not in ("X", "R"):
            opened[p.qid] = st
    return fx
