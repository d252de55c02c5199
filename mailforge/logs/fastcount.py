"""The fast route of `logs summary`: blocks of raw log bytes, counted without parsing every line.

A busy log is mostly lines the counts do not need (connect, TLS, message-id, filters, IMAP). One regular
expression, anchored on the syslog tag of a Postfix program (a literal the regex engine skips to), finds
the lines that can count and takes the common kinds apart (client=, from=, to=, removed, pickup, rejects,
failed SMTP AUTH): one matcher per kind (_MATCHERS) counts them from the captured bytes, and addresses and
reasons become text once per distinct value, in fold().
Every other candidate, and any line whose timestamp or layout is not the plain one, goes the general
way (Record -> Event -> Summarizer.add), in log order. Two rare kinds of line are found by a plain byte
search instead (Dovecot's failed logins, TLS handshake failures). tests/unit/test_logs_summary.py checks
that both routes give the same summary.

Line statistics: a line that does not start like a record is unparsed; one the general route reads is
parsed if the parser takes it, else unparsed (never dropped in silence); the others, lines the counts do not
need, are parsed by their start. A block with runs of spaces between fields (a wrapped terminal's copy) is
read single-spaced, as the parser reads it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal, Protocol

from mailforge.logs.events import QID, parse_host_ip, parse_reply
from mailforge.logs.queues import ChunkQueues, Queues
from mailforge.logs.records import MONTHS, LineParser, ParseStats
from mailforge.logs.summary import LOCAL_SERVICES, Summarizer, Summary, domain, resolve_days, short_reason

BLOCK = 1 << 18  # bytes read at a time: small enough for the CPU cache between passes, and for memory
TAIL = 1 << 16  # the end of the log kept for its last record (the period's end)
# Distinct raw values kept before they are folded into the summary's text keys: addresses (as many once
# folded), and the replies that fold into a few reasons, or clients (so those are not kept twice).
FOLD_AT = 50_000
FOLD_REPLIES_AT = 1_000

_ACTIONS = rb"reject|reject_warning|milter-reject|hold|discard"
# events.QID with its short (hex) form possessive: the same matches, less backtracking on other text.
_QID = QID.encode().replace(rb"[0-9A-F]{6,12}|", rb"[0-9A-F]{6,12}+|", 1)
assert QID.encode() != _QID, "events.QID changed: update _QID"
_NAME = rb"[^\s\x1c-\x1f]"  # what \S is to the parser's text regexes, for ASCII
# Anchored on " postfix", the start of a Postfix program's syslog tag (a literal the regex engine skips
# to). Groups: 1 the program; 2 the queue ID (None for NOQUEUE); then client= (3), removed (4), from= (5
# sender, 6 size), to= (7 address, 8 status, 9 detail), pickup's uid=/sender= (10), a reject, hold or
# discard (11 action, 12 reply), a failed SMTP AUTH (13 client). A match with none of 3-13 is a line for
# the general route, and so is a Postfix program's name without a well-formed tag after it. The forms
# follow events.py, which has the last word (tests compare the two routes).
_CANDIDATE = re.compile(
    # Possessive quantifiers and "(?:x|)" rather than "(?:x)?": the regex engine backtracks less and does
    # not run its general repeat machinery on every Postfix line (that alone cost three times the rest).
    rb" (postfix[^\s\x1c-\x1f\[:]*+)(?:(?:\[\d++\]: |: )(?:\[ID \d+ [^\]\n]+\] |)"
    rb"(?:(?:(" + _QID + rb")|NOQUEUE): (?:"
    rb"(client=)[^,\s\x1c-\x1f\x80-\xff]"
    rb"|(removed)"
    rb"|from=<([^>\n]*+)>, size=(\d++), nrcpt=\d++(?: \(queue active\)|)$"
    rb"|to=<([^>\n]*+)>, (?:orig_to=<[^>\n]*+>, |)relay=[^,\n]++, (?:conn_use=\d++, |)delay=[\d.]++, "
    rb"(?:delays=[\d./]++, |)(?:dsn=[\d.]++, |)status=(sent|deferred|bounced)(?: \((.*)\)|)$"
    rb"|(uid=|sender=)"
    rb"|(" + _ACTIONS + rb"): (?!header |body )" + _NAME + rb"++ from " + _NAME + rb"+?: "
    rb"([^;\n\r]*+(?:;(?! from=<)[^;\n\r]*+)*+)(?:; from=<.*|)$"
    rb"|(?:" + _ACTIONS + rb"): |from=<|to=<|client=)"
    rb"|warning: (" + _NAME + rb"+?): SASL " + _NAME + rb"++ authentication failed:"
    rb"|SSL_accept error from |SSL_connect error to )"
    # A Postfix program's name not followed by a well-formed "[pid]: " or ": ": the parser decides, so that
    # a line it cannot read is counted as unparsed rather than passed over as one the counts do not need.
    rb"|(?!\[\d++\]: |: ))",
    re.M,
)
# What a candidate's tag must follow, exactly: a syslog or RFC 3339 stamp, the host name, one space each.
# The stamp's day and hour ("Jul  5 17", "2024-07-05T17") are checked once per block by _day_hour(); the
# rest of it and the host, on every candidate line, by these.
_SYSLOG_REST = re.compile(rb":[0-5]\d:[0-5]\d(?:\.\d{1,6}+|) " + _NAME + rb"++")
_RFC3339_REST = re.compile(rb":[0-5]\d:[0-5]\d(?:\.\d++|)(?:Z|[+-](?:[01]\d|2[0-3]):?\d\d|) " + _NAME + rb"++")
_SYSLOG_DAY_HOUR = re.compile(rb"([A-Z][a-z]{2}) ([ \d]\d) ([01]\d|2[0-3])")
_DAYS_IN = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
# Line statistics: a line that does not start like a record (syslog, RFC 3339) is not parsed; "{" is a
# journald line, which sends its block the general way.
_RECORD_START = re.compile(rb"[A-Z][a-z]{2} [ \d]?\d |\d{4}-\d\d-\d\dT")
_NOT_RECORD = re.compile(rb"\n(?![A-Z][a-z]{2} [ \d]?\d |\d{4}-\d\d-\d\dT)")
_DAY_PREFIX = re.compile(rb"[A-Z][a-z]{2} [ \d]\d |\d{4}-\d\d-\d\dT")
_PADDED_DAY = re.compile(rb"^[A-Z][a-z]{2}  \d ", re.M)
_SPACE_RUN = re.compile(rb" {2,}")
_UNPADDED_DAY = re.compile(rb"^([A-Z][a-z]{2}) (\d) ", re.M)
Stamp = tuple[str, int]  # a line's day as written ("Jul  5", "2024-07-05") and its hour


def _day_hour(key: bytes) -> Stamp | Literal[False]:
    """(day as written, hour) of a stamp's start ("Jul  5 17", "2024-07-05T17"); False: not a valid one,
    and its line goes the general way (an unpadded day, "Feb 30", hour 24: the parser decides)."""
    if len(key) == 13:
        try:
            datetime(int(key[:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]))
        except ValueError:
            return False
        if key[4:5] + key[7:8] + key[10:11] != b"--T" or not key.replace(b"-", b"").replace(b"T", b"").isdigit():
            return False
        return key[:10].decode(), int(key[11:13])
    m = _SYSLOG_DAY_HOUR.fullmatch(key)
    mon = MONTHS.get(m[1].decode()) if m is not None else None
    if m is None or mon is None or not 1 <= int(m[2]) <= _DAYS_IN[mon]:
        return False
    return f"{m[1].decode()} {int(m[2]):2d}", int(m[3])


class FastCounter:
    """Counts one log (a file or a stream) block by block into ``summary``; finish() settles it."""

    def __init__(self, summary: Summary, reference: datetime | None = None, queues: Queues | None = None) -> None:
        self.s = summary
        self.reference = reference
        self.days: dict[str, int] = {}  # arrivals per day as written ("Jul  5"), in order of appearance
        self.q = queues if queues is not None else Queues()
        self.general = Summarizer(summary, self.q, self.days)
        # A piece after the log's start (parallel.py): where in the file each block ends, for ChunkQueues.
        self.chunk = self.q if isinstance(self.q, ChunkQueues) else None
        self.offset = 0
        # The general route's parser keeps its own line counts: feed() counts every line itself.
        self.parser = LineParser(reference, ParseStats())
        self.first: str | None = None  # the log's first record line, and the end of its last block
        self.tail = b""
        self.senders: Counter[bytes] = Counter()
        self.rcpts: Counter[bytes] = Counter()
        self.rcpt_bytes: Counter[bytes] = Counter()
        self.services: Counter[bytes] = Counter()  # deliveries per program
        self.deferral_details: Counter[bytes] = Counter()
        self.bounce_details: Counter[bytes] = Counter()
        self.reject_replies: Counter[bytes] = Counter()
        self.sasl_clients: Counter[bytes] = Counter()

    def _general(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        rec = self.parser.parse(text)
        if rec is not None:
            self.general.add(rec)
        elif _RECORD_START.match(line):
            # feed() counted the line as parsed by its start; the parser, which read all of it, did not
            # understand it: it is counted and shown as unparsed, never dropped in silence.
            st = self.s.stats
            st.parsed -= 1
            st.note_unparsed(text.rstrip("\r\n"))

    def feed(self, data: bytes) -> None:
        """Count ``data``: whole lines (it ends with a newline, or at the end of the log)."""
        if not data:
            return
        self.offset += len(data)
        if self.chunk is not None:
            self.chunk.where = self.offset
        ends = len(data) - 1 if data.endswith(b"\n") else len(data)
        # The number of lines; deleting the newlines is quicker than counting them (memchr inside).
        n = len(data) - len(data.replace(b"\n", b"")) + 1 - (ends < len(data))
        bad, padded = self._not_records(data, ends, n)
        if _odd_spacing(data, ends, padded):
            data = _single_spaced(data)
            ends = len(data) - 1 if data.endswith(b"\n") else len(data)
            bad, _ = self._not_records(data, ends, n)
        self.tail = data[-TAIL:] if len(data) >= TAIL else (self.tail + data)[-TAIL:]
        if self.first is None:
            self.first = self._first_record(data, bad)
        if any(data[i : i + 1] == b"{" for i in bad):
            self._journal(data)
            return
        st = self.s.stats
        st.lines += n
        st.parsed += n - len(bad)
        for i in bad:
            st.unparsed += 1
            if len(st.unparsed_samples) < 5:
                end = data.find(b"\n", i)
                st.unparsed_samples.append(data[i : end if end >= 0 else None].decode("utf-8", "replace")[:200])
        self._candidates(data)
        self._rare(data)
        if max(map(len, (self.senders, self.rcpts, self.rcpt_bytes))) > FOLD_AT:
            self.fold()
        elif max(map(len, (self.deferral_details, self.bounce_details, self.reject_replies, self.sasl_clients))) > (
            FOLD_REPLIES_AT
        ):
            self.fold_replies()

    @staticmethod
    def _not_records(data: bytes, ends: int, n: int) -> tuple[list[int], int | None]:
        """Where the lines that do not start like a record start: few or none, so counted first; and how
        many lines start with a padded day ("Jul  5 "), when that came with the count (else None)."""
        # A block's lines share one or two days: if the lines starting with the first's or the last's
        # day are all of them, none is odd (a byte count each, much cheaper than a regex at every line).
        first = _DAY_PREFIX.match(data)
        if first is not None:
            last = _DAY_PREFIX.match(data, data.rfind(b"\n", 0, ends) + 1)
            days = {first[0]} | ({last[0]} if last is not None else set())
            lines = {day: (day == first[0]) + data.count(b"\n" + day, 0, ends) for day in days}
            if sum(lines.values()) == n:
                return [], sum(count for day, count in lines.items() if day[3:5] == b"  ")
        bad = [] if _RECORD_START.match(data) else [0]
        return bad + [m.end() for m in _NOT_RECORD.finditer(data, 0, ends)], None

    def _candidates(self, data: bytes) -> None:
        """Count the lines the candidate regex finds: each by the matcher of its kind (_MATCHERS), or, when
        none takes it, the general way."""
        t = _Tally(self, data)
        matchers = _MATCHERS
        day_hours: dict[bytes, Stamp | Literal[False]] = {}  # per block, so memory stays flat
        syslog_rest = _SYSLOG_REST.fullmatch
        rfind = data.rfind
        last = -1
        width = 0  # from a line's start to its tag, as in the line before: the host and stamp rarely change
        stamp: Stamp | Literal[False]
        # Per candidate as few calls as can be (each costs about as much as the regex spends on a line): the
        # line's start and stamp are found here, then one call of its kind's matcher.
        for m in _CANDIDATE.finditer(data):
            at = m.start()
            # The line starts where the line before's did relative to its tag, if that passes the checks
            # below (a valid stamp and host, no newline: then it is the line's start); else look for it.
            start = at - width
            if start < 0 or (start and data[start - 1] != 10):
                stamp = False
            elif data[start] > 57:  # a month name: self._stamp(), inline, as this is the common case
                cached = day_hours.get(key := data[start : start + 9])
                if cached is None:
                    cached = day_hours[key] = _day_hour(key)
                stamp = cached
                if stamp is not False and syslog_rest(data, start + 9, at) is None:
                    stamp = False
            else:
                stamp = self._stamp(data, start, at, day_hours)
            if stamp is False:
                start = rfind(b"\n", 0, at) + 1
                if start == last:
                    continue  # a second match in a line already counted
                width = at - start
                stamp = self._stamp(data, start, at, day_hours)
            last = start
            if stamp is False:  # not the line's own tag, or an odd stamp: the general route decides
                self._general_at(data, start, at)
                continue
            match = matchers[m.lastindex or 0]
            if match is not None and match(t, m, stamp):
                continue
            self._general_at(data, start, at)  # the rare kinds, and the common ones in an unusual form
        t.settle()

    @staticmethod
    def _stamp(
        data: bytes, start: int, at: int, day_hours: dict[bytes, Stamp | Literal[False]]
    ) -> Stamp | Literal[False]:
        """(day, hour) when the line from ``start`` to the tag at ``at`` is exactly "stamp host", else False."""
        n, rest = (9, _SYSLOG_REST) if data[start] > 57 else (13, _RFC3339_REST)  # a month name, or a year
        stamp = day_hours.get(key := data[start : start + n])
        if stamp is None:
            stamp = day_hours[key] = _day_hour(key)
        if stamp is False or rest.fullmatch(data, start + n, at) is None:
            return False
        return stamp

    def _general_at(self, data: bytes, start: int, at: int) -> None:
        end = data.find(b"\n", at)
        self._general(data[start : end if end >= 0 else len(data)])

    def _rare(self, data: bytes) -> None:
        """Lines the candidate regex does not find: Dovecot's "auth failed", TLS handshake failures."""
        rfind, find = data.rfind, data.find
        starts: set[int] = set()
        # events.py also looks for "tls_handshake" in the lowercased message; its spellings in lower or upper
        # case, or capitalised, are found here ("TLS handshake failed" too), not other mixes of case.
        for needle in (b"auth failed", b"andshake", b"ANDSHAKE"):
            for at in _positions(data, needle):
                start = rfind(b"\n", 0, at) + 1
                end = find(b"\n", at)
                line = data[start : end if end >= 0 else len(data)]
                if b"auth failed" in line or b"TLS handshake failed" in line or b"tls_handshake" in line.lower():
                    starts.add(start)
        for start in sorted(starts):
            end = find(b"\n", start)
            end = end if end >= 0 else len(data)
            if not _counted(data, start, end):
                self._general(data[start:end])

    def _journal(self, data: bytes) -> None:
        """A block with `journalctl -o json` lines: every line the general route, counted by the parser."""
        parser = LineParser(self.reference, self.s.stats)
        lines = data.decode("utf-8", "replace").split("\n")
        for line in lines[:-1] if data.endswith(b"\n") else lines:
            rec = parser.parse(line)
            if rec is not None:
                self.general.add(rec)

    def _first_record(self, data: bytes, bad: list[int]) -> str | None:
        """The first line in ``data`` that is a record with a time (the lines in ``bad`` are not)."""
        parser, skip, start = LineParser(self.reference), set(bad), 0
        while start < len(data):
            end = data.find(b"\n", start)
            end = end if end >= 0 else len(data)
            if start not in skip or data[start : start + 1] == b"{":
                line = data[start:end].decode("utf-8", "replace")
                rec = parser.parse(line)
                if rec is not None and rec.ts is not None:
                    return line
            start = end + 1
        return None

    def fold(self) -> None:
        """Raw values -> the summary's text keys, once per distinct value."""
        s = self.s
        for raw, n in self.senders.items():
            v = raw.decode("utf-8", "replace")
            s.senders[v or "from=<>"] += n
            s.sender_domains[domain(v) if v else "from=<>"] += n
        for raw, n in self.rcpts.items():
            v = raw.decode("utf-8", "replace")
            s.recipients[v.lower()] += n
            s.recipient_domains[domain(v)] += n
        for raw, n in self.rcpt_bytes.items():
            s.recipient_domain_bytes[domain(raw.decode("utf-8", "replace"))] += n
        for raw, n in self.services.items():
            s.delivered += n
            if raw.rsplit(b"/", 1)[-1].decode() in LOCAL_SERVICES:
                s.delivered_local += n
            else:
                s.delivered_remote += n
        for raw_counts in (self.senders, self.rcpts, self.rcpt_bytes, self.services):
            raw_counts.clear()
        self.fold_replies()

    def fold_replies(self) -> None:
        """Deferral, bounce and reject replies -> their reasons (mostly distinct texts, a few reasons);
        failed SMTP AUTH clients -> their addresses."""
        s = self.s
        for raw, n in self.deferral_details.items():
            s.deferral_reasons[short_reason(raw.decode("utf-8", "replace"))] += n
        for raw, n in self.bounce_details.items():
            s.bounce_reasons[short_reason(raw.decode("utf-8", "replace"))] += n
        for raw, n in self.reject_replies.items():
            s.reject_reasons[short_reason(parse_reply(raw.decode("utf-8", "replace"))[2])] += n
        for raw, n in self.sasl_clients.items():
            client = raw.decode("utf-8", "replace")
            s.sasl_failures_by_client[parse_host_ip(client)[1] or client] += n
        for details in (self.deferral_details, self.bounce_details, self.reject_replies, self.sasl_clients):
            details.clear()

    def finish(self) -> Summary:
        """Fold what is left, settle the years of the days, and the period: first and last record."""
        s = self.s
        self.fold()
        s.daily.update(resolve_days(self.days, self.reference))
        self.days.clear()
        if self.first is not None and not s.first:
            rec = LineParser(self.reference).parse(self.first)
            s.first = rec.ts.isoformat() if rec is not None and rec.ts is not None else ""
        lines = self.tail.decode("utf-8", "replace").split("\n")
        for line in reversed(lines[1:] if len(self.tail) == TAIL else lines):
            rec = LineParser(self.reference).parse(line)
            if rec is not None and rec.ts is not None:
                if rec.ts.isoformat() > s.last:
                    s.last = rec.ts.isoformat()
                break
        return s


class _Tally:
    """What one block's lines that the matchers take add to the counts: plain numbers, and lists of the most
    frequent values, counted at the end in one call each (Counter.update, in C); settle() adds them up.
    Matchers call methods as ``t.q.received()``, not through attributes holding bound methods: CPython 3.11
    specialises the former, and looks the latter up the slow way on every call."""

    __slots__ = (
        *("counter", "data", "q", "days"),
        *("h_received", "h_delivered", "h_deferred", "h_bounced", "h_rejected"),
        *("sent_to", "sent_by", "queued_from", "rcpt_bytes"),
        *("deferral_details", "bounce_details", "reject_replies", "sasl_clients"),
        *("received", "deferred", "deferrals", "bounced", "forwarded", "bytes_received", "bytes_delivered"),
        *("rejected", "reject_warnings", "held", "discarded", "sasl_failures"),
    )

    def __init__(self, counter: FastCounter, data: bytes) -> None:
        self.counter, self.data = counter, data
        self.q, hourly = counter.q, counter.s.hourly
        self.days = counter.days
        self.h_received, self.h_delivered = hourly["received"], hourly["delivered"]
        self.h_deferred, self.h_bounced, self.h_rejected = hourly["deferred"], hourly["bounced"], hourly["rejected"]
        self.sent_to: list[bytes] = []
        self.sent_by: list[bytes] = []
        self.queued_from: list[bytes] = []
        self.rcpt_bytes = counter.rcpt_bytes
        self.deferral_details, self.bounce_details = counter.deferral_details, counter.bounce_details
        self.reject_replies, self.sasl_clients = counter.reject_replies, counter.sasl_clients
        self.received = self.deferred = self.deferrals = self.bounced = self.forwarded = 0
        self.bytes_received = self.bytes_delivered = 0
        self.rejected = self.reject_warnings = self.held = self.discarded = self.sasl_failures = 0

    def settle(self) -> None:
        c = self.counter
        c.rcpts.update(self.sent_to)
        c.services.update(self.sent_by)
        c.senders.update(self.queued_from)
        s = c.s
        s.received += self.received
        s.deferred += self.deferred
        s.deferrals += self.deferrals
        s.bounced += self.bounced
        s.forwarded += self.forwarded
        s.bytes_received += self.bytes_received
        s.bytes_delivered += self.bytes_delivered
        s.rejected += self.rejected
        s.reject_warnings += self.reject_warnings
        s.held += self.held
        s.discarded += self.discarded
        s.sasl_failures += self.sasl_failures


# One matcher per kind of line the candidate regex takes apart. Each gets the block's tally, the match and
# the line's stamp; it counts the line and returns True, or returns False and leaves it to the general
# route (events.py reads it, or reads this form of it, another way).


def _client(t: _Tally, m: re.Match[bytes], stamp: Stamp) -> bool:
    """smtpd's QID: client=...: a message received over SMTP."""
    qid = m[2]
    if qid is None:  # NOQUEUE
        return False
    day, hour = stamp
    days = t.days
    t.received += 1
    t.h_received[hour] += 1
    days[day] = days.get(day, 0) + 1
    t.q.received(qid)
    return True


def _pickup(t: _Tally, m: re.Match[bytes], stamp: Stamp) -> bool:
    """pickup's QID: uid=N from=<a> (or sender=<a>): a message submitted locally."""
    if not m[1].endswith(b"/pickup"):
        return False
    return _client(t, m, stamp)  # counted as a message received, as client= is


def _removed(t: _Tally, m: re.Match[bytes], stamp: Stamp) -> bool:
    """qmgr's QID: removed: the message left the queue (its state is dropped)."""
    qid = m[2]
    if qid is None:
        return False
    t.q.removed(qid)
    return True


def _queued(t: _Tally, m: re.Match[bytes], stamp: Stamp) -> bool:
    """qmgr's QID: from=<sender>, size=N, nrcpt=N: the sender and the bytes of a message received here."""
    qid, sender, size = m.group(2, 5, 6)
    if qid is None or b"status=expired" in sender:  # NOQUEUE, or qmgr's "expired" line
        return False
    n = int(size)
    if t.q.queued(qid, n, sender):
        t.queued_from.append(sender)
        t.bytes_received += n
    return True


def _delivery(t: _Tally, m: re.Match[bytes], stamp: Stamp) -> bool:
    """A delivery agent's QID: to=<rcpt>, ..., status=sent|deferred|bounced (detail)."""
    prog, qid, to, status, detail = m.group(1, 2, 7, 8, 9)
    if qid is None:
        return False
    hour = stamp[1]
    if status == b"sent":
        if detail is not None and b"forwarded as " in detail:
            t.forwarded += 1
            return True
        t.h_delivered[hour] += 1
        t.sent_by.append(prog)
        t.sent_to.append(to)
        if n := t.q.size(qid, to):
            t.bytes_delivered += n
            t.rcpt_bytes[to] += n
    elif status == b"deferred":
        t.deferrals += 1
        t.h_deferred[hour] += 1
        if t.q.deferred(qid):
            t.deferred += 1
        t.deferral_details[detail or b""] += 1
    else:
        t.bounced += 1
        t.h_bounced[hour] += 1
        t.bounce_details[detail or b""] += 1
    return True


def _refusal(t: _Tally, m: re.Match[bytes], stamp: Stamp) -> bool:
    """reject, reject_warning, milter-reject, hold or discard, before queueing or in cleanup."""
    prog, action, reply = m.group(1, 11, 12)
    if prog.endswith(b"/pickup"):  # pickup's lines are read another way (events.py)
        return False
    if action == b"reject" or action == b"milter-reject":
        t.rejected += 1
        t.h_rejected[stamp[1]] += 1
        t.reject_replies[reply] += 1
    elif action == b"reject_warning":
        t.reject_warnings += 1
    elif action == b"hold":
        t.held += 1
    else:
        t.discarded += 1
    return True


def _sasl_failure(t: _Tally, m: re.Match[bytes], stamp: Stamp) -> bool:
    """warning: client: SASL mechanism authentication failed: a failed SMTP AUTH."""
    prog, client = m.group(1, 13)
    data, at = t.data, m.start()
    end = data.find(b"\n", at)
    if prog.rsplit(b"/", 1)[-1] in (b"postscreen", b"anvil") or (
        b"TLS connection established " in data[at : end if end >= 0 else len(data)]
    ):
        return False  # events.py reads these lines as something else
    t.sasl_failures += 1
    t.sasl_clients[client] += 1
    return True


Matcher = Callable[[_Tally, re.Match[bytes], Stamp], bool]
# The matcher of each kind of candidate line, by the number of its last group in _CANDIDATE (m.lastindex):
# none for a match of the program (1) or the queue ID (2) alone, the generic forms the general route reads.
_BY_LAST_GROUP: dict[int, Matcher] = {
    3: _client,
    4: _removed,
    6: _queued,
    8: _delivery,  # without a detail in parentheses
    9: _delivery,
    10: _pickup,
    12: _refusal,
    13: _sasl_failure,
}
_MATCHERS: tuple[Matcher | None, ...] = tuple(_BY_LAST_GROUP.get(i) for i in range(_CANDIDATE.groups + 1))


def _odd_spacing(data: bytes, ends: int, padded: int | None) -> bool:
    """Whether a line in ``data`` has a run of spaces other than its syslog stamp's padded day ("Jul  5"):
    the fast route's patterns read single spaces only, the general route's parser reads both. ``padded``:
    the number of lines that start with a padded day, if known."""
    # Each padded day holds one run (a month's letters before it, one digit after), so the runs in a block
    # without odd ones are exactly its padded days.
    runs = data.count(b"  ", 0, ends)
    if not runs:
        return False
    return runs != (padded if padded is not None else len(_PADDED_DAY.findall(data, 0, ends)))


def _single_spaced(data: bytes) -> bytes:
    """``data`` with every run of spaces made one, but a stamp's padded day ("Jul  5"): the lines as the
    parser reads them (records.normalise_spaces), in the one layout the fast route's patterns read."""
    return _UNPADDED_DAY.sub(rb"\1  \2 ", _SPACE_RUN.sub(b" ", data))


def _counted(data: bytes, start: int, end: int) -> bool:
    """Whether _candidates() takes the line at ``start``: a candidate match in it (the first one)."""
    return _CANDIDATE.search(data, start, end) is not None


def _positions(data: bytes, needle: bytes) -> Iterator[int]:
    at = data.find(needle)
    while at >= 0:
        yield at
        at = data.find(needle, at + len(needle))


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def blocks(fh: Readable, size: int = BLOCK) -> Iterator[bytes]:
    """Blocks of whole lines from a binary file object; the last may lack its newline."""
    rest = b""
    while True:
        try:
            block = fh.read(size)
        except (EOFError, OSError):
            block = b""  # a truncated rotated file: keep what was readable
        if not block:
            break
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest += block
            continue
        yield rest + block[:cut] if rest else block[:cut]
        rest = block[cut:]
    if rest:
        yield rest
