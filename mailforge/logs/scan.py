"""Trace in big plain-text logs without parsing every line.

``mmap`` + ``bytes.find`` looks for the query in the file at memory speed (faster than reading it line by
line); only the lines found, and the lines they lead to, are parsed and fed to the ``Tracer``:

1. lines containing the query;
2. lines of every queue ID those lines name, and of the IDs a content filter re-queued them as
   (searched again, a little before the first sighting: the new ID's first lines come before the old
   ID's "queued as NEW" line);
3. the smtpd session around each ``client=`` / ``NOQUEUE`` line (connect, TLS, auth: lines keyed by
   process ID, not by queue ID), the smtp client's ``connect to ...`` failures just before a delivery
   attempt, and Dovecot's delivery lines (keyed by Message-ID).

Steps 1 and 2 read the whole file (or its rest) for a few fixed strings: that is exactly what ``grep -F``
does best, so when GNU grep is installed one ``grep -F -a -b`` per file and round, with every token of the
round, does the reading (faster than ``bytes.find`` on the map, and one pass for any number of tokens,
where the Python scan makes one per token). Its output, line offsets and lines, is checked against the
mapped file; without grep, or if its output does not match, the same search runs in Python. Step 3 looks
at small windows of the mapped file only.

Compressed files and stdin cannot be mapped: they go through the streaming parser instead.
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from mailforge.logs.events import Event, Kind, classify
from mailforge.logs.model import Trace
from mailforge.logs.records import LineParser, ParseStats
from mailforge.logs.sources import GZIP_MAGIC, read_records, reference_time
from mailforge.logs.trace import Query, Tracer, trace_records

BACK = 64 * 1024 * 1024  # how far before a sighting a related queue ID's first lines may be
SESSION_WINDOW = 1024 * 1024  # smtpd/smtp process lines around a sighting
MAX_ROUNDS = 6
MANY_TOKENS = 8  # above this, one regular-expression pass beats one find() pass per token


def mappable(path: str) -> bool:
    if path == "-" or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return False
    with open(path, "rb") as fh:
        return fh.read(2) != GZIP_MAGIC


@dataclass
class _File:
    path: str
    mm: mmap.mmap
    lines: dict[int, bytes] = field(default_factory=dict)  # line start offset -> line (a cache)
    keep: set[int] = field(default_factory=set)  # offsets of the lines that go to the tracer

    def line_at(self, pos: int) -> int:
        start = self.mm.rfind(b"\n", 0, pos) + 1
        if start not in self.lines:
            end = self.mm.find(b"\n", pos)
            self.lines[start] = self.mm[start : end if end != -1 else len(self.mm)]
        return start

    def find_all(self, token: bytes, start: int = 0, end: int | None = None) -> list[int]:
        mm, out = self.mm, []
        stop = len(mm) if end is None else min(end, len(mm))
        pos = mm.find(token, max(start, 0), stop)
        while pos != -1:
            ls = self.line_at(pos)
            out.append(ls)
            nl = mm.find(b"\n", pos)
            if nl == -1:
                break
            pos = mm.find(token, nl, stop)
        return out

    def find_any(self, tokens: list[bytes], start: int) -> list[int]:
        pattern = re.compile(b"|".join(re.escape(t) for t in tokens))
        out = []
        for m in pattern.finditer(self.mm, max(start, 0)):
            out.append(self.line_at(m.start()))
        return out

    def search(self, starts: dict[bytes, int]) -> list[int]:
        """Line offsets of the occurrences of each token at or after its start offset (a few tokens), or of
        any token after the earliest start (many tokens): grep's reading when possible, else Python's."""
        tokens = list(starts)
        many = len(tokens) > MANY_TOKENS
        lowest = max(min(starts.values()), 0)
        hits = self.grep(tokens, lowest)
        if hits is None:
            if many:
                return self.find_any(tokens, lowest)
            return [h for t in tokens for h in self.find_all(t, starts[t])]
        out = []
        for ls, line in hits:
            # The same lines as find_all(): an occurrence of a token at or after that token's own start.
            if many or any(line.find(t, max(starts[t] - ls, 0)) != -1 for t in tokens):
                self.lines.setdefault(ls, line)
                out.append(ls)
        return out

    def grep(self, tokens: list[bytes], start: int) -> list[tuple[int, bytes]] | None:
        """(line offset, line) of every line from the one holding ``start`` on that contains a token, read
        by ``grep -F``; None when grep cannot be used (absent, failed, or output that is not this file's)."""
        exe = _grep()
        if exe is None or not all(tokens) or any(b"\n" in t or b"\0" in t for t in tokens):
            return None
        begin = self.mm.rfind(b"\n", 0, start) + 1 if start > 0 else 0
        argv: list[str | bytes] = [exe, "-F", "-a", "-b", *(a for t in tokens for a in (b"-e", t))]
        try:
            with open(self.path, "rb") as fh:
                fh.seek(begin)
                proc = subprocess.run(argv, stdin=fh, capture_output=True, env={**os.environ, "LC_ALL": "C"})
        except OSError:
            return None
        if proc.returncode not in (0, 1):
            return None
        out: list[tuple[int, bytes]] = []
        mm, size = self.mm, len(self.mm)
        for row in proc.stdout.split(b"\n")[:-1]:
            off, sep, line = row.partition(b":")
            if not sep or not off.isdigit():
                return None
            ls = begin + int(off)
            end = ls + len(line)
            # grep's offsets count from where it began reading: check each line against the mapped file.
            if end > size or mm[ls:end] != line or (end < size and mm[end] != 0x0A):
                return None
            out.append((ls, line))
        return out


_GREP: list[str | None] = []


def _grep() -> str | None:
    """GNU grep's path (its -b and -a options are needed), looked up once."""
    if not _GREP:
        exe = shutil.which("grep")
        try:
            ok = exe is not None and b"GNU" in subprocess.run([exe, "--version"], capture_output=True).stdout
        except OSError:
            ok = False
        _GREP.append(exe if ok else None)
    return _GREP[0]


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _message(line: bytes) -> str:
    """A line's message as the parser reads it (runs of spaces made one); "" for a line it cannot read."""
    rec = LineParser(stats=ParseStats()).parse(_decode(line))
    return rec.message if rec is not None else ""


class _Scanner:
    def __init__(self, query: Query, files: list[_File], stats: ParseStats) -> None:
        self.query, self.files, self.stats = query, files, stats
        self.searched: set[bytes] = set()
        self.windows_done: set[tuple[int, int, bytes]] = set()
        self.parsed: set[tuple[int, int]] = set()

    def run(self) -> None:
        todo: dict[bytes, tuple[int, int]] = {t.encode(): (0, 0) for t in self.query.tokens()}
        for _ in range(MAX_ROUNDS):
            todo = {t: at for t, at in todo.items() if t not in self.searched}
            if not todo:
                return
            fresh: list[tuple[int, int]] = []
            self.searched.update(todo)
            for fi, f in enumerate(self.files):
                tokens = [t for t, (tfi, _) in todo.items() if tfi <= fi]
                if not tokens:
                    continue
                starts = {t: (todo[t][1] - BACK if todo[t][0] == fi else 0) for t in tokens}
                hits = f.search(starts)
                f.keep.update(hits)
                fresh.extend((fi, h) for h in hits)
            todo = self._follow(sorted(set(fresh)))

    def _follow(self, hits: list[tuple[int, int]]) -> dict[bytes, tuple[int, int]]:
        """Parse newly found lines; return the tokens they lead to, with where they were seen."""
        todo: dict[bytes, tuple[int, int]] = {}
        for fi, pos in hits:
            if (fi, pos) in self.parsed:
                continue
            self.parsed.add((fi, pos))
            f = self.files[fi]
            rec = LineParser(stats=ParseStats()).parse(_decode(f.lines[pos]))
            if rec is None:
                continue
            ev = classify(rec)
            if ev is None:
                continue
            for qid in self._related_ids(ev):
                todo.setdefault(qid.encode(), (fi, pos))
            self._windows(f, fi, pos, ev)
        return todo

    def _related_ids(self, ev: Event) -> list[str]:
        ids = [ev.qid] if ev.qid else []
        if "queued_as" in ev.fields:
            ids.append(ev.fields["queued_as"])
        return ids

    def _windows(self, f: _File, fi: int, pos: int, ev: Event) -> None:
        rec = ev.record
        # No space after the colon: a line copied from a wrapped terminal may have a run of them there.
        marker = f"{rec.program}[{rec.pid}]:".encode()
        if ev.kind in (Kind.CLIENT, Kind.REJECT, Kind.SASL_FAIL, Kind.TLS_FAIL) and ev.service in (
            "smtpd",
            "postscreen",
        ):
            self._session(f, pos, marker)
        elif ev.kind is Kind.DELIVERY and ev.service == "smtp":
            self._connect_failures(f, pos, marker)
        elif ev.kind is Kind.MESSAGE_ID:
            token = f"msgid=<{ev.fields['message_id']}>".encode()
            key = (fi, pos // SESSION_WINDOW, token)
            if key not in self.windows_done:
                self.windows_done.add(key)
                f.keep.update(f.find_all(token, pos, pos + 16 * SESSION_WINDOW))

    def _session(self, f: _File, pos: int, marker: bytes) -> None:
        """The lines of one smtpd process from its last 'connect from' before pos to its next disconnect."""
        lines = f.find_all(marker, pos - SESSION_WINDOW, pos + SESSION_WINDOW)
        keep_from = None
        for ls in lines:
            message = _message(f.lines[ls])
            if ls <= pos and message.startswith("connect from "):
                keep_from = ls
            if ls > pos and message.startswith("disconnect from "):
                end = ls
                break
        else:
            end = pos
        if keep_from is not None:  # lines outside this session are another client's: not evidence
            f.keep.update(ls for ls in lines if keep_from <= ls <= end)

    def _connect_failures(self, f: _File, pos: int, marker: bytes) -> None:
        lines = [ls for ls in f.find_all(marker, pos - SESSION_WINDOW, pos) if ls < pos]
        for ls in reversed(lines):  # only the attempts right before this delivery line are its own
            message = _message(f.lines[ls])
            if message.startswith("connect to ") or "TLS connection established to" in message:
                f.keep.add(ls)
            else:
                break


def trace_files(query: str | Query, paths: Iterable[str], stats: ParseStats | None = None) -> list[Trace]:
    """Like ``trace()``, reading files: mapped and searched when they are plain files, streamed if not."""
    q = query if isinstance(query, Query) else Query(query)
    stats = stats if stats is not None else ParseStats()
    paths = list(paths)
    if not paths or not all(mappable(p) for p in paths):
        return trace_records(q, read_records([p for p in paths if p == "-" or os.path.getsize(p) > 0], stats), stats)
    files: list[_File] = []
    handles = []
    try:
        for p in paths:
            fh = open(p, "rb")  # noqa: SIM115 - closed in finally
            handles.append(fh)
            files.append(_File(p, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)))
        _Scanner(q, files, stats).run()
        tracer = Tracer(q)
        for f in files:
            parser = LineParser(reference_time(f.path), stats)
            for pos in sorted(f.keep):
                rec = parser.parse(_decode(f.lines[pos]))
                if rec is not None and (ev := classify(rec, stats)) is not None:
                    tracer.feed(ev)
        return tracer.traces()
    finally:
        for f in files:
            f.mm.close()
        for fh in handles:
            fh.close()
