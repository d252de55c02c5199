"""What the summary remembers per queue ID between its log lines, and nothing else.

Three counts need an earlier line of the same message: a sender counts once, and only for a message
received here (``client=`` or pickup before ``from=``); a delivery's bytes are the size ``from=`` logged;
a message counts as deferred once however often it is retried. The state is one int per open queue ID
(flags and size), dropped at ``removed``; queue IDs whose end is not in the log are forgotten oldest first
once more than ``limit`` are open, so memory stays flat in the size of the log.
"""

from __future__ import annotations

from itertools import islice

RECEIVED, QUEUED, DEFERRED = 1, 2, 4
SIZE_SHIFT = 3  # the size is stored above the three flags
OPEN_LIMIT = 500_000


class Queues:
    __slots__ = ("limit", "open")

    def __init__(self, limit: int = OPEN_LIMIT) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    def received(self, qid: str) -> None:
        """A message arrived (smtpd ``client=``, pickup): a reused short queue ID starts afresh."""
        self.open.pop(qid, None)
        self._add(qid, RECEIVED)

    def queued(self, qid: str, size: int) -> bool:
        """qmgr ``from=``: True when this line counts (the message's first, for a message received here)."""
        st = self.open.get(qid)
        if st is None:
            self._add(qid, QUEUED | size << SIZE_SHIFT)
            return False
        if st & QUEUED:
            return False
        self.open[qid] = st | QUEUED | size << SIZE_SHIFT
        return bool(st & RECEIVED)

    def size(self, qid: str) -> int:
        """The size ``from=`` logged for a message being delivered (0 if its start is not in the log)."""
        return self.open.get(qid, 0) >> SIZE_SHIFT

    def deferred(self, qid: str) -> bool:
        """A deferral: True for the message's first one."""
        st = self.open.get(qid)
        if st is None:
            self._add(qid, DEFERRED)
            return True
        if st & DEFERRED:
            return False
        self.open[qid] = st | DEFERRED
        return True

    def removed(self, qid: str) -> None:
        self.open.pop(qid, None)

    def _add(self, qid: str, st: int) -> None:
        self.open[qid] = st
        if len(self.open) > self.limit:
            # Forget the oldest tenth at once: a dict keeps insertion order, and one pass over its start is
            # cheap where evicting one key per new message would walk the deleted slots again each time.
            for old in list(islice(self.open, max(1, self.limit // 10))):
                del self.open[old]
