"""Daily statistics, counted the way pflogsumm counts them so the two can be compared line for line:

- received: smtpd ``client=`` lines + pickup lines (a content filter's re-injection counts again);
- delivered: ``status=sent`` lines (one per recipient, filter hand-offs included), minus "forwarded as";
- deferred: distinct queue IDs with a deferral; deferrals: ``status=deferred`` lines;
- bounced: ``status=bounced`` lines; rejected: smtpd/postscreen/cleanup ``reject`` lines.

State per queue ID (size, sender, "received here") lives only until Postfix logs ``removed``.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailforge.logs.events import Kind, classify, parse_host_ip
from mailforge.logs.records import LineParser, ParseStats, Record

OPEN_LIMIT = 500_000  # queue IDs whose end is not in the log are forgotten oldest first

_ADDR = re.compile(r"<[^>]*>")
_SAID = re.compile(r"^host \S+ said: ")
_IN_REPLY = re.compile(r"\s*\(in reply to [^)]*\)\)?$")


def _domain(addr: str) -> str:
    return addr.rsplit("@", 1)[1].lower() if "@" in addr else addr.lower()


def _short_reason(text: str) -> str:
    """Group replies by their gist: no addresses, no remote host name, no trailing details."""
    text = _IN_REPLY.sub("", _SAID.sub("", text))
    text = _ADDR.sub("<>", text)
    text = re.sub(r"\[[0-9a-fA-F.:]+\](:\d+)?", "[ip]", text)
    if (m := re.search(r"blocked using (\S+?);?(\s|$)", text)) is not None:
        return f"client blocked using {m.group(1)}"  # the list matters, not the client's address
    return text.split("; ")[0][:100]


@dataclass
class _Open:
    size: int = 0
    sender: str | None = None
    received: bool = False
    deferred: bool = False


@dataclass
class Summary:
    received: int = 0
    delivered: int = 0
    forwarded: int = 0
    deferred: int = 0
    deferrals: int = 0
    bounced: int = 0
    rejected: int = 0
    reject_warnings: int = 0
    held: int = 0
    discarded: int = 0
    expired: int = 0
    bytes_received: int = 0
    bytes_delivered: int = 0
    sasl_failures: int = 0
    login_failures: int = 0
    tls_failures: int = 0
    delivered_local: int = 0
    delivered_remote: int = 0
    senders: Counter[str] = field(default_factory=Counter)
    sender_domains: Counter[str] = field(default_factory=Counter)
    recipients: Counter[str] = field(default_factory=Counter)
    recipient_domains: Counter[str] = field(default_factory=Counter)
    recipient_domain_bytes: Counter[str] = field(default_factory=Counter)
    reject_reasons: Counter[str] = field(default_factory=Counter)
    deferral_reasons: Counter[str] = field(default_factory=Counter)
    bounce_reasons: Counter[str] = field(default_factory=Counter)
    sasl_failures_by_client: Counter[str] = field(default_factory=Counter)
    login_failures_by_ip: Counter[str] = field(default_factory=Counter)
    hourly: dict[str, list[int]] = field(
        default_factory=lambda: {k: [0] * 24 for k in ("received", "delivered", "deferred", "bounced", "rejected")}
    )
    daily: Counter[str] = field(default_factory=Counter)
    first: str = ""
    last: str = ""
    stats: ParseStats = field(default_factory=ParseStats)

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        def lst(c: Counter[str]) -> list[dict[str, Any]]:
            return [{"key": k, "count": n} for k, n in c.most_common(top)]

        counts = {
            k: getattr(self, k)
            for k in [
                "received",
                "delivered",
                "forwarded",
                "deferred",
                "deferrals",
                "bounced",
                "rejected",
                "reject_warnings",
                "held",
                "discarded",
                "expired",
                "bytes_received",
                "bytes_delivered",
                "delivered_local",
                "delivered_remote",
                "sasl_failures",
                "login_failures",
                "tls_failures",
            ]
        }
        return {
            "period": {"first": self.first, "last": self.last},
            "counts": counts,
            "top_senders": lst(self.senders),
            "top_sender_domains": lst(self.sender_domains),
            "top_recipients": lst(self.recipients),
            "top_recipient_domains": lst(self.recipient_domains),
            "reject_reasons": lst(self.reject_reasons),
            "deferral_reasons": lst(self.deferral_reasons),
            "bounce_reasons": lst(self.bounce_reasons),
            "sasl_failures_by_client": lst(self.sasl_failures_by_client),
            "login_failures_by_ip": lst(self.login_failures_by_ip),
            "hourly": self.hourly,
            "daily": dict(sorted(self.daily.items())),
            "lines": {
                "total": self.stats.lines,
                "parsed": self.stats.parsed,
                "unparsed": self.stats.unparsed,
                "unrecognised": self.stats.unrecognised,
            },
        }


# -- the counting ------------------------------------------------------------------------------------
# A busy log is mostly lines the counts do not need (connect, TLS, message-id, filters, IMAP). One regular
# expression pass over a chunk of text finds the candidates by what follows the syslog tag ("]: ") and, in
# the same pass, takes apart the four common kinds (client=, from=, to=, removed), which are counted straight
# from the captured fields; the rare rest (rejects, SASL, pickup, odd lines, ...) goes the general way
# (Record -> Event). Both go through the same counting methods, in log order (the per-queue-ID state needs
# it). tests/unit/test_logs_summary.py checks both ways give the same summary.
_CANDIDATE_KIND = (
    r"(?:[0-9A-Za-z]+: (?:client=|from=<|to=<|removed|reject: |milter-reject: |hold: |discard: |uid=|sender=)"
    r"|warning: \S+: SASL|SSL_accept error)"
)
# Per line whose first "]" (the end of the syslog tag's process ID) is followed by ": " and a candidate: the
# text before it (timestamp, host, program), the rest of the line, and for the common kinds their fields.
# Searched in "\n" + text.
_FAST = re.compile(
    rf"\n([^\n\]]*+)\]: (?={_CANDIDATE_KIND})("
    r"(?:([0-9A-Za-z]+): (?:(client=)|(removed)|from=<([^>\n]*)>, size=(\d+), nrcpt="
    r"|to=<([^>\n]*)>, (?:orig_to=<[^>\n]*>, )?relay=[^,\n]+, (?:conn_use=\d+, )?delay=[\d.]+, "
    r"(?:delays=[\d./]+, )?(?:dsn=[\d.]+, )?status=(sent|deferred|bounced)(?: \(([^\n]*)\))?(?=\n|\Z)))?"
    r"[^\n]*)"
)
_LOCAL_SERVICES = frozenset({"lmtp", "local", "virtual", "pipe"})
# A line that does not start like a record: not a month name, not an RFC 3339 date, not a JSON object.
_NOT_RECORD = re.compile(r"\n(?=[^\n])(?![A-Z][a-z]{2} [ \d]\d |\d{4}-\d\d-\d\dT|\{)")
CHUNK = 8 * 1024 * 1024


class Summarizer:
    def __init__(self, reference: datetime | None = None, stats: ParseStats | None = None) -> None:
        self.s = Summary()
        if stats is not None:
            self.s.stats = stats
        self.open: OrderedDict[str, _Open] = OrderedDict()
        self._parser = LineParser(reference, self.s.stats)  # also the year inference of the fast route
        self._days: dict[str, str] = {}
        self._last_line: str | None = None

    def _state(self, qid: str) -> _Open:
        st = self.open.get(qid)
        if st is None:
            st = self.open[qid] = _Open()
            if len(self.open) > OPEN_LIMIT:
                self.open.popitem(last=False)
        return st

    # -- what each kind of line counts (shared by both routes) ----------------------------------------

    def _received(self, qid: str, hour: int, day: str) -> None:
        s = self.s
        s.received += 1
        s.hourly["received"][hour] += 1
        s.daily[day] += 1
        self.open.pop(qid, None)  # a reused short queue ID starts afresh
        self._state(qid).received = True

    def _queued(self, qid: str, sender: str, size: int) -> None:
        st = self._state(qid)
        if st.sender is None:
            st.sender, st.size = sender, size
            if st.received:
                s = self.s
                s.senders[sender or "from=<>"] += 1
                s.sender_domains[_domain(sender) if sender else "from=<>"] += 1
                s.bytes_received += size

    def _delivery(self, qid: str, service: str, to: str, status: str, detail: str, hour: int) -> None:
        s = self.s
        if status == "sent":
            if "forwarded as " in detail:
                s.forwarded += 1
                return
            s.delivered += 1
            s.hourly["delivered"][hour] += 1
            st = self.open.get(qid)
            size = st.size if st else 0
            s.bytes_delivered += size
            s.recipients[to.lower()] += 1
            dom = _domain(to)
            s.recipient_domains[dom] += 1
            s.recipient_domain_bytes[dom] += size
            if service in _LOCAL_SERVICES:
                s.delivered_local += 1
            else:
                s.delivered_remote += 1
        elif status == "deferred":
            s.deferrals += 1
            s.hourly["deferred"][hour] += 1
            st = self._state(qid)
            if not st.deferred:
                st.deferred = True
                s.deferred += 1
            s.deferral_reasons[_short_reason(detail)] += 1
        elif status == "bounced":
            s.bounced += 1
            s.hourly["bounced"][hour] += 1
            s.bounce_reasons[_short_reason(detail)] += 1

    # -- fast route --------------------------------------------------------------------------------------

    def _day(self, key: str, line: str) -> str:
        day = self._days.get(key)
        if day is None:
            rec = self._parser.parse(line)  # infers the year; the line itself is counted later
            day = rec.ts.date().isoformat() if rec is not None and rec.ts is not None else "?"
            self._days[key] = day
        return day

    def add_chunk(self, text: str) -> None:
        """Count the whole lines in ``text`` (it must end at a line boundary, or at the end of the log)."""
        st = self.s.stats
        if text.startswith("{") or "\n{" in text:
            for line in text.splitlines():  # journald JSON: the general route, line by line
                self._general(line)
            return
        lines0, parsed0, unparsed0 = st.lines, st.parsed, st.unparsed
        find, rfind = text.find, text.rfind
        # The period: from the log's first record to its last, whatever their kind.
        if not self.s.first:
            for line in text[:4096].splitlines()[:-1] or text.splitlines()[:1]:
                rec = LineParser(self._parser.reference).parse(line)
                if rec is not None and rec.ts is not None:
                    self.s.first = rec.ts.isoformat()
                    break
        tail = text.rstrip("\n")
        self._last_line = tail[tail.rfind("\n") + 1 :]
        # Dovecot logs without a pid ("dovecot: imap-login: ..."): its failed logins are found apart.
        pos = find("auth failed")
        while pos != -1:
            ls = rfind("\n", 0, pos) + 1
            le = find("\n", pos)
            self._general(text[ls : le if le != -1 else len(text)])
            pos = find("auth failed", le) if le != -1 else -1
        days, pop = self._days, self.open.pop
        received, queued, delivery = self._received, self._queued, self._delivery
        lined = "\n" + text
        for pre, rest, qid, client, removed, sender, size, to, status, detail in _FAST.findall(lined):
            first = pre[:1]
            if first.isdigit():  # RFC 3339: 2024-07-05T17:57:08...
                key, hour = pre[:10], pre[11:13]
            else:  # Jul  5 17:57:08
                key, hour = pre[:6], pre[7:9]
            if first == "{" or not hour.isdigit():
                self._general(f"{pre}]: {rest}")
            elif removed:
                pop(qid, None)
            elif client:
                day = days.get(key)
                received(qid, int(hour), day if day is not None else self._day(key, f"{pre}]: {rest}"))
            elif size:
                queued(qid, sender, int(size))
            elif status:
                prog = pre[pre.rfind(" ", 0, br := pre.rfind("[")) + 1 : br]
                delivery(qid, prog[prog.rfind("/") + 1 :], to, status, detail, int(hour))
            else:  # the rare kinds, and common ones in an unusual form (e.g. status=expired)
                self._general(f"{pre}]: {rest}")
        # Line statistics for every line, not only the candidates: lines, and lines that start like a record.
        n = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        good = n - sum(1 for _ in _NOT_RECORD.finditer(lined))
        st.lines, st.parsed, st.unparsed = lines0 + n, parsed0 + good, unparsed0 + n - good

    def _general(self, line: str) -> None:
        rec = self._parser.parse(line)
        if rec is not None:
            self.add(rec)

    def finish(self) -> Summary:
        """Settle what the fast route leaves implicit: the end of the period."""
        if self._last_line is not None:
            rec = LineParser(self._parser.reference).parse(self._last_line)
            if rec is not None and rec.ts is not None and rec.ts.isoformat() > self.s.last:
                self.s.last = rec.ts.isoformat()
        return self.s

    # -- general route ---------------------------------------------------------------------------------

    def add(self, rec: Record) -> None:
        ev = classify(rec, self.s.stats)
        if ev is None:
            return
        s, kind, f = self.s, ev.kind, ev.fields
        hour = rec.ts.hour if rec.ts else 0
        if rec.ts is not None:
            day = rec.ts.date().isoformat()
            if not s.first:
                s.first = rec.ts.isoformat()
            if rec.ts.isoformat() > s.last:
                s.last = rec.ts.isoformat()
        else:
            day = "?"
        qid = ev.qid or ""
        if kind is Kind.CLIENT or kind is Kind.PICKUP:
            self._received(qid, hour, day)
        elif kind is Kind.QUEUED:
            self._queued(qid, f.get("from", ""), int(f["size"]) if f.get("size", "").isdigit() else 0)
        elif kind is Kind.DELIVERY:
            self._delivery(qid, ev.service, f.get("to", ""), f.get("status", ""), f.get("detail", ""), hour)
        elif kind is Kind.REMOVED:
            self.open.pop(qid, None)
        elif kind is Kind.REJECT:
            if f.get("action") == "reject_warning":
                s.reject_warnings += 1
                return
            s.rejected += 1
            s.hourly["rejected"][hour] += 1
            s.reject_reasons[_short_reason(f.get("reason", ""))] += 1
        elif kind is Kind.HOLD:
            if f.get("action") == "hold":
                s.held += 1
        elif kind is Kind.DISCARD:
            s.discarded += 1
        elif kind is Kind.EXPIRED:
            s.expired += 1
        elif kind is Kind.SASL_FAIL:
            s.sasl_failures += 1
            client = f.get("client", "")
            s.sasl_failures_by_client[parse_host_ip(client)[1] or client] += 1
        elif kind is Kind.LOGIN_FAIL and ev.service.endswith("-login"):
            s.login_failures += 1
            s.login_failures_by_ip[f.get("ip", "?")] += 1
        elif kind is Kind.TLS_FAIL and "library problem" not in ev.text:
            s.tls_failures += 1  # one per failed handshake; the library's detail line is not another


def summarize(records: Iterable[Record], stats: ParseStats | None = None) -> Summary:
    z = Summarizer()
    if stats is not None:
        z.s.stats = stats
    add = z.add
    for rec in records:
        add(rec)
    return z.s


def summary_text(s: Summary, top: int = 10) -> str:
    """A plain-text report, fixed-width, fit for a daily email."""
    d = s.to_dict(top)
    c = d["counts"]
    out = [f"Mail summary {s.first[:19] or '?'} .. {s.last[:19] or '?'}", ""]
    out.append("Messages")
    for label, key in (
        ("received", "received"),
        ("delivered", "delivered"),
        ("  into local mailboxes", "delivered_local"),
        ("  to other servers / filters", "delivered_remote"),
        ("forwarded", "forwarded"),
        ("deferred", "deferred"),
        ("deferrals", "deferrals"),
        ("bounced", "bounced"),
        ("rejected", "rejected"),
        ("reject warnings", "reject_warnings"),
        ("held", "held"),
        ("discarded", "discarded"),
        ("expired", "expired"),
        ("bytes received", "bytes_received"),
        ("bytes delivered", "bytes_delivered"),
        ("SMTP AUTH failures", "sasl_failures"),
        ("IMAP/POP login failures", "login_failures"),
        ("TLS failures", "tls_failures"),
    ):
        out.append(f"  {c[key]:>12}  {label}")
    sections = (
        ("Top senders", "top_senders"),
        ("Top sending domains", "top_sender_domains"),
        ("Top recipients", "top_recipients"),
        ("Top recipient domains", "top_recipient_domains"),
        ("Reject reasons", "reject_reasons"),
        ("Deferral reasons", "deferral_reasons"),
        ("Bounce reasons", "bounce_reasons"),
        ("SMTP AUTH failures by client", "sasl_failures_by_client"),
        ("Login failures by IP", "login_failures_by_ip"),
    )
    for title, key in sections:
        rows = d[key]
        out.append("")
        out.append(title)
        if not rows:
            out.append("  none")
        out.extend(f"  {r['count']:>12}  {r['key']}" for r in rows)
    out.append("")
    out.append("Per hour    received delivered  deferred   bounced  rejected")
    h = d["hourly"]
    for hour in range(24):
        row = [h[k][hour] for k in ("received", "delivered", "deferred", "bounced", "rejected")]
        out.append(f"  {hour:02d}:00  " + "".join(f"{n:>10}" for n in row))
    lines = d["lines"]
    out.append("")
    out.append(
        f"{lines['total']} log lines read, {lines['unparsed']} not in a known log format, "
        f"{lines['unrecognised']} from mail programs not understood."
    )
    return "\n".join(out) + "\n"


def summarize_files(paths: Iterable[str]) -> Summary:
    """Summary of log files (plain, gzip, '-' for stdin), read in chunks of whole lines."""
    from mailforge.logs.sources import open_binary, reference_time

    stats = ParseStats()
    summary: Summary | None = None
    for path in paths:
        z = Summarizer(reference_time(path), stats)
        if summary is not None:
            z.s = summary  # one summary across files; each file has its own year reference
        fh = open_binary(path)
        try:
            rest = b""
            while True:
                try:
                    block = fh.read(CHUNK)
                except (EOFError, OSError):
                    block = b""  # a truncated rotated file: keep what was readable
                if not block:
                    break
                block = rest + block
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    rest = block
                    continue
                rest = block[cut:]
                z.add_chunk(block[:cut].decode("utf-8", "replace"))
            if rest:
                z.add_chunk(rest.decode("utf-8", "replace"))
        finally:
            if path != "-":
                fh.close()
        summary = z.finish()
    return summary if summary is not None else Summary(stats=stats)


def summarize_lines(lines: Iterable[str]) -> Summary:
    """Summary of lines from anywhere (e.g. ``ssh host cat /var/log/mail.log``), counted in chunks."""
    z = Summarizer()
    batch: list[str] = []
    for line in lines:
        batch.append(line.rstrip("\r\n"))
        if len(batch) >= 50_000:
            z.add_chunk("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        z.add_chunk("\n".join(batch) + "\n")
    return z.finish()
