"""The Postfix queue: list it (``postqueue -j``), show a message (``postcat -q``), flush it (``postqueue -f``
/ ``-i``), hold / release / requeue / delete messages (``postsuper -h|-H|-r|-d``), locally or over SSH.

Pure parts (parsing, filters, plans) are separate from execution: a ``Runner`` (mailforge/remote.py) runs an
argv list, locally or through the system ``ssh`` binary, so the same code drives this machine, a test host or a
server.

References: https://www.postfix.org/postqueue.1.html (JSON object format),
https://www.postfix.org/postsuper.1.html, https://www.postfix.org/postcat.1.html.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailforge.remote import LocalRunner, Runner

QUEUE_NAMES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")


# -- parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    address: str
    delay_reason: str = ""


@dataclass(frozen=True)
class QueueEntry:
    queue_name: str
    queue_id: str
    arrival_time: int
    message_size: int
    sender: str
    recipients: tuple[Recipient, ...]
    forced_expire: bool = False

    def age(self, now: float) -> float:
        return now - self.arrival_time


def parse_postqueue_json(text: str) -> list[QueueEntry]:
    """``postqueue -j`` prints one JSON object per line. Lines that are not objects are skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
            out.append(
                QueueEntry(
                    queue_name=str(obj["queue_name"]),
                    queue_id=str(obj["queue_id"]),
                    arrival_time=int(obj.get("arrival_time", 0)),
                    message_size=int(obj.get("message_size", 0)),
                    sender=str(obj.get("sender", "")),
                    recipients=tuple(
                        Recipient(str(r.get("address", "")), str(r.get("delay_reason", "")))
                        for r in obj.get("recipients", [])
                    ),
                    forced_expire=bool(obj.get("forced_expire", False)),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``3d``, ``1w``, or combinations such as ``1d12h``."""
    text = text.strip().lower()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 30m, 2h, 3d)")
    return total


# -- filters ----------------------------------------------------------------------------------------


def _address_matches(pattern: str, address: str) -> bool:
    """``user@example.org`` exact, ``@example.org`` a whole domain, ``*`` / ``?`` shell-style wildcards;
    ``<>`` is the null sender (bounces). Case-insensitive, like mail domains."""
    p, a = pattern.lower(), address.lower()
    if p in ("<>", ""):
        return a == ""
    if any(c in p for c in "*?["):
        return fnmatch.fnmatchcase(a, p)
    if p.startswith("@"):
        return a.endswith(p)
    return a == p


@dataclass(frozen=True)
class Filter:
    ids: tuple[str, ...] = ()
    sender: str | None = None
    recipient: str | None = None
    older_than: float | None = None  # seconds
    reason: str | None = None  # regular expression searched in the recipients' delay reasons
    queue: str | None = None  # deferred, hold, active, incoming, maildrop

    def is_empty(self) -> bool:
        return not (
            self.ids or self.sender or self.recipient or self.older_than is not None or self.reason or self.queue
        )

    def matches(self, e: QueueEntry, now: float) -> bool:
        if self.ids and e.queue_id not in self.ids:
            return False
        if self.queue and e.queue_name != self.queue:
            return False
        if self.sender is not None and not _address_matches(self.sender, e.sender):
            return False
        if self.recipient is not None and not any(_address_matches(self.recipient, r.address) for r in e.recipients):
            return False
        if self.older_than is not None and e.age(now) < self.older_than:
            return False
        if self.reason is not None:
            rx = re.compile(self.reason, re.I)
            if not any(rx.search(r.delay_reason) for r in e.recipients):
                return False
        return True

    def select(self, entries: Iterable[QueueEntry], now: float | None = None) -> list[QueueEntry]:
        t = time.time() if now is None else now
        return [e for e in entries if self.matches(e, t)]


# -- plans ------------------------------------------------------------------------------------------

# postsuper flag per action, and which queues an action makes sense for.
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "delete": ("-d", QUEUE_NAMES),
    "hold": ("-h", ("maildrop", "incoming", "active", "deferred")),
    "release": ("-H", ("hold",)),
    "requeue": ("-r", QUEUE_NAMES),
}


@dataclass(frozen=True)
class Plan:
    """What an action will touch: the entries, and one postsuper call per queue (IDs go on stdin)."""

    action: str
    entries: tuple[QueueEntry, ...]
    skipped: tuple[QueueEntry, ...] = ()  # matched, but the action does not apply (e.g. release of a non-held)

    def commands(self, postsuper: Sequence[str] = ("postsuper",)) -> list[tuple[list[str], str]]:
        """(argv, stdin) pairs. ``postsuper -d - deferred`` reads IDs from stdin and only touches files in
        the named queue, so an ID reused in another queue since the listing is left alone."""
        flag = ACTIONS[self.action][0]
        by_queue: dict[str, list[str]] = {}
        for e in self.entries:
            by_queue.setdefault(e.queue_name, []).append(e.queue_id)
        return [([*postsuper, flag, "-", q], "".join(f"{i}\n" for i in ids)) for q, ids in sorted(by_queue.items())]


def plan(action: str, entries: Iterable[QueueEntry]) -> Plan:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    ok_queues = ACTIONS[action][1]
    chosen, skipped = [], []
    for e in entries:
        (chosen if e.queue_name in ok_queues else skipped).append(e)
    return Plan(action, tuple(chosen), tuple(skipped))


# -- execution --------------------------------------------------------------------------------------


class QueueError(RuntimeError):
    pass


@dataclass
class Queue:
    """The queue of one Postfix instance (``config_dir`` selects a non-default one, as ``-c`` does)."""

    runner: Runner = field(default_factory=LocalRunner)
    config_dir: str | None = None

    def _cmd(self, program: str, *args: str) -> list[str]:
        return [program, *(["-c", self.config_dir] if self.config_dir else []), *args]

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        proc = self.runner.run(argv, stdin)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise QueueError(f"{shlex.join(argv)} failed on {self.runner.describe()}: {detail}")
        return proc.stdout

    def list(self) -> list[QueueEntry]:
        return parse_postqueue_json(self._run(self._cmd("postqueue", "-j")))

    def show(self, queue_id: str, *, headers_only: bool = False) -> str:
        # postcat -q finds the file in any queue; -h headers only, -e envelope, -b body (default: all).
        return self._run(self._cmd("postcat", *(["-h"] if headers_only else []), "-q", queue_id))

    def flush(self, queue_ids: Sequence[str] = ()) -> None:
        if not queue_ids:
            self._run(self._cmd("postqueue", "-f"))
        for qid in queue_ids:
            self._run(self._cmd("postqueue", "-i", qid))

    def apply(self, p: Plan) -> int:
        """Carry out a plan; returns how many messages postsuper reports it touched."""
        postsuper = self._cmd("postsuper")
        touched = 0
        for argv, stdin in p.commands(postsuper):
            proc = self.runner.run(argv, stdin)
            if proc.returncode != 0:
                raise QueueError(f"{shlex.join(argv)} failed on {self.runner.describe()}: {proc.stderr.strip()}")
            # "postsuper: Deleted: 3 messages" / "Placed on hold: 2 messages" / "Released ..." / "Requeued ..."
            for m in re.finditer(r"postsuper: [A-Za-z ]+: (\d+) messages?", proc.stderr):
                touched += int(m.group(1))
        return touched
