"""The fast route of `logs summary`: blocks of raw log bytes, counted without parsing every line.

A busy log is mostly lines the counts do not need (connect, TLS, message-id, filters, IMAP). One regular
expression, anchored on the syslog tag of a Postfix program (a literal the regex engine skips to), finds
the lines that can count and takes the four common kinds apart (client=, from=, to=, removed). Those are
counted from the captured bytes: addresses and reasons become text once per distinct value, in fold().
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
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

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


def _day_hour(key: bytes) -> tuple[str, int] | bool:
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
        s, q = self.s, self.q
        q_received, q_queued, q_size, q_deferred, q_removed = q.received, q.queued, q.size, q.deferred, q.removed
        h_received, h_delivered = s.hourly["received"], s.hourly["delivered"]
        h_deferred, h_bounced, h_rejected = s.hourly["deferred"], s.hourly["bounced"], s.hourly["rejected"]
        days, rcpt_bytes = self.days, self.rcpt_bytes
        deferral_details, bounce_details = self.deferral_details, self.bounce_details
        reject_replies, sasl_clients = self.reject_replies, self.sasl_clients
        # The most frequent values are listed, then counted at the end in one call (Counter.update, in C).
        sent_to: list[bytes] = []
        sent_by: list[bytes] = []
        queued_from: list[bytes] = []
        sent_to_add, sent_by_add, queued_from_add = sent_to.append, sent_by.append, queued_from.append
        received = deferred = deferrals = bounced = forwarded = bytes_received = bytes_delivered = 0
        rejected = reject_warnings = held = discarded = sasl_failures = 0
        day_hours: dict[bytes, tuple[str, int] | bool] = {}  # per block, so memory stays flat
        syslog_rest = _SYSLOG_REST.fullmatch
        rfind = data.rfind
        last = -1
        width = 0  # from a line's start to its tag, as in the line before: the host and stamp rarely change
        # Per candidate as few calls as can be: each costs about as much as the regex spends on a line.
        for m in _CANDIDATE.finditer(data):
            at = m.start()
            # The line starts where the line before's did relative to its tag, if that passes the checks
            # below (a valid stamp and host, no newline: then it is the line's start); else look for it.
            start = at - width
            if start < 0 or (start and data[start - 1] != 10):
                start = -1
            elif data[start] > 57:  # a month name: self._stamp(), inline, as this is the common case
                stamp = day_hours.get(key := data[start : start + 9])
                if stamp is None:
                    stamp = day_hours[key] = _day_hour(key)
                if stamp is not False and syslog_rest(data, start + 9, at) is None:
                    stamp = False
            else:
                stamp = self._stamp(data, start, at, day_hours)
            if start < 0 or stamp is False:
                start = rfind(b"\n", 0, at) + 1
                if start == last:
                    continue  # a second match in a line already counted
                width = at - start
                stamp = self._stamp(data, start, at, day_hours)
            last = start
            if stamp is False:  # not the line's own tag, or an odd stamp: the general route decides
                self._general_at(data, start, at)
                continue
            kind = m.lastindex
            if kind == 4:  # removed
                qid = m[2]
                if qid is None:
                    self._general_at(data, start, at)
                    continue
                q_removed(qid)
            elif kind == 6:  # from=<sender>, size=N
                qid, sender, size = m.group(2, 5, 6)
                if qid is None or b"status=expired" in sender:  # NOQUEUE, or qmgr's "expired" line
                    self._general_at(data, start, at)
                    continue
                n = int(size)
                if q_queued(qid, n, sender):
                    queued_from_add(sender)
                    bytes_received += n
            elif kind == 3:  # client=
                qid = m[2]
                if qid is None:
                    self._general_at(data, start, at)
                    continue
                received += 1
                day, hour = stamp  # type: ignore[misc]
                h_received[hour] += 1
                days[day] = days.get(day, 0) + 1
                q_received(qid)
            elif kind == 8 or kind == 9:  # to=<rcpt>, ..., status=X (detail)
                prog, qid, to, status, detail = m.group(1, 2, 7, 8, 9)
                if qid is None:
                    self._general_at(data, start, at)
                    continue
                hour = stamp[1]  # type: ignore[index]
                if status == b"sent":
                    if detail is not None and b"forwarded as " in detail:
                        forwarded += 1
                        continue
                    h_delivered[hour] += 1
                    sent_by_add(prog)
                    sent_to_add(to)
                    if n := q_size(qid, to):
                        bytes_delivered += n
                        rcpt_bytes[to] += n
                elif status == b"deferred":
                    deferrals += 1
                    h_deferred[hour] += 1
                    if q_deferred(qid):
                        deferred += 1
                    deferral_details[detail or b""] += 1
                else:
                    bounced += 1
                    h_bounced[hour] += 1
                    bounce_details[detail or b""] += 1
            elif kind == 12:  # reject, hold, discard before or in cleanup
                prog, action, reply = m.group(1, 11, 12)
                if prog.endswith(b"/pickup"):  # pickup's lines are read another way (events.py)
                    self._general_at(data, start, at)
                elif action == b"reject" or action == b"milter-reject":
                    rejected += 1
                    h_rejected[stamp[1]] += 1  # type: ignore[index]
                    reject_replies[reply] += 1
                elif action == b"reject_warning":
                    reject_warnings += 1
                elif action == b"hold":
                    held += 1
                else:
                    discarded += 1
            elif kind == 13:  # warning: client: SASL ... authentication failed
                prog, client = m.group(1, 13)
                end = data.find(b"\n", at)
                if prog.rsplit(b"/", 1)[-1] in (b"postscreen", b"anvil") or (
                    b"TLS connection established " in data[at : end if end >= 0 else len(data)]
                ):
                    self._general_at(data, start, at)  # events.py reads these lines as something else
                    continue
                sasl_failures += 1
                sasl_clients[client] += 1
            elif kind == 10 and m[2] is not None and m[1].endswith(b"/pickup"):  # pickup: uid=N from=<a>
                received += 1
                day, hour = stamp  # type: ignore[misc]
                h_received[hour] += 1
                days[day] = days.get(day, 0) + 1
                q_received(m[2])
            else:  # the rare kinds, and common ones in an unusual form
                self._general_at(data, start, at)
        self.rcpts.update(sent_to)
        self.services.update(sent_by)
        self.senders.update(queued_from)
        s.received += received
        s.deferred += deferred
        s.deferrals += deferrals
        s.bounced += bounced
        s.forwarded += forwarded
        s.bytes_received += bytes_received
        s.bytes_delivered += bytes_delivered
        s.rejected += rejected
        s.reject_warnings += reject_warnings
        s.held += held
        s.discarded += discarded
        s.sasl_failures += sasl_failures

    @staticmethod
    def _stamp(
        data: bytes, start: int, at: int, day_hours: dict[bytes, tuple[str, int] | bool]
    ) -> tuple[str, int] | bool:
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
