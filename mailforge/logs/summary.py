"""Daily statistics, counted the way pflogsumm counts them so the two can be compared line for line:

- received: smtpd ``client=`` lines + pickup lines (a content filter's re-injection counts again);
- delivered: ``status=sent`` lines (one per recipient, filter hand-offs included), minus "forwarded as";
- deferred: distinct queue IDs with a deferral; deferrals: ``status=deferred`` lines;
- bounced: ``status=bounced`` lines; rejected: smtpd/postscreen/cleanup ``reject`` lines.

This module holds the ``Summary`` and the general route, one ``Record`` at a time (any log format).
Files and streams of lines are counted by the fast route (mailforge/logs/fastcount.py), which sends the
lines it does not take apart itself through this one; the per-queue-ID state both share is
mailforge/logs/queues.py.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from mailforge.logs.events import Kind, classify, parse_host_ip
from mailforge.logs.queues import Queues
from mailforge.logs.records import MONTHS, LineParser, ParseStats, Record

_ADDR = re.compile(r"<[^>]*>")
_SAID = re.compile(r"^host \S+ said: ")
_IN_REPLY = re.compile(r"\s*\(in reply to [^)]*\)\)?$")
LOCAL_SERVICES = frozenset({"lmtp", "local", "virtual", "pipe"})
_MONTH_NAMES = {i: m for m, i in MONTHS.items()}


def domain(addr: str) -> str:
    return addr.rsplit("@", 1)[1].lower() if "@" in addr else addr.lower()


def short_reason(text: str) -> str:
    """Group replies by their gist: no addresses, no remote host name, no trailing details."""
    text = _IN_REPLY.sub("", _SAID.sub("", text))
    text = _ADDR.sub("<>", text)
    text = re.sub(r"\[[0-9a-fA-F.:]+\](:\d+)?", "[ip]", text)
    if (m := re.search(r"blocked using (\S+?);?(\s|$)", text)) is not None:
        return f"client blocked using {m.group(1)}"  # the list matters, not the client's address
    return text.split("; ")[0][:100]


def top_items(c: Counter[str], n: int) -> list[tuple[str, int]]:
    """The ``n`` largest counts; ties in key order, so the list does not depend on the order lines were read."""
    return heapq.nsmallest(n, c.items(), key=lambda kv: (-kv[1], kv[0]))


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

    def merge(self, other: Summary) -> None:
        """Add ``other``'s counts (a later piece of the same logs) to these; the period is the caller's."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, int):
                setattr(self, f.name, mine + theirs)
            elif isinstance(mine, Counter):
                mine.update(theirs)
        for key, hours in other.hourly.items():
            self.hourly[key] = [a + b for a, b in zip(self.hourly[key], hours, strict=True)]
        st, ot = self.stats, other.stats
        st.lines, st.parsed, st.unparsed = st.lines + ot.lines, st.parsed + ot.parsed, st.unparsed + ot.unparsed
        st.unrecognised += ot.unrecognised
        st.unparsed_samples = (st.unparsed_samples + ot.unparsed_samples)[:5]

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        def lst(c: Counter[str]) -> list[dict[str, Any]]:
            return [{"key": k, "count": n} for k, n in top_items(c, top)]

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


def day_key(rec: Record) -> str:
    """The day of a record as the log wrote it: ``Jul  5`` for a year-less syslog stamp, else ISO."""
    assert rec.ts is not None
    if rec.raw[:1].isdigit() or rec.raw[:1] == "{":  # RFC 3339 or journald: the year is in the record
        return rec.ts.date().isoformat()
    return f"{_MONTH_NAMES[rec.ts.month]} {rec.ts.day:2d}"


def resolve_days(days: dict[str, int], reference: datetime | None) -> Counter[str]:
    """Year-less day keys -> ISO dates, the year inferred as the parser does, in order of first appearance."""
    years = LineParser(reference)
    out: Counter[str] = Counter()
    for key, n in days.items():
        mon = MONTHS.get(key[:3])
        if mon is None:  # already a date (RFC 3339, journald), or "?" for a record without a time
            out[key] += n
            continue
        out[f"{years._infer_year(mon):04d}-{mon:02d}-{int(key[4:]):02d}"] += n
    return out


class Summarizer:
    """The general route: each Record is classified (mailforge/logs/events.py) and counted.

    ``raw_days`` is the fast route's mode: arrivals are counted per day as the log wrote the day (the year
    of a syslog stamp is settled once, in order, by resolve_days), and the period comes from the log's
    first and last lines rather than from the records seen here.
    """

    def __init__(
        self, summary: Summary | None = None, queues: Queues | None = None, days: dict[str, int] | None = None
    ) -> None:
        self.s = summary if summary is not None else Summary()
        self.q = queues if queues is not None else Queues()
        self.days = days  # raw_days mode when given

    def add(self, rec: Record) -> None:
        ev = classify(rec, self.s.stats)
        if ev is None:
            return
        s, kind, f = self.s, ev.kind, ev.fields
        hour = rec.ts.hour if rec.ts else 0
        if self.days is None and rec.ts is not None:
            if not s.first:
                s.first = rec.ts.isoformat()
            if rec.ts.isoformat() > s.last:
                s.last = rec.ts.isoformat()
        qid = (ev.qid or "").encode("utf-8", "surrogatepass")
        if kind is Kind.CLIENT or kind is Kind.PICKUP:
            s.received += 1
            s.hourly["received"][hour] += 1
            if self.days is None:
                s.daily[rec.ts.date().isoformat() if rec.ts else "?"] += 1
            else:
                key = day_key(rec) if rec.ts else "?"
                self.days[key] = self.days.get(key, 0) + 1
            self.q.received(qid)
        elif kind is Kind.QUEUED:
            size = int(f["size"]) if f.get("size", "").isdigit() else 0
            sender = f.get("from", "")
            if self.q.queued(qid, size, sender):
                s.senders[sender or "from=<>"] += 1
                s.sender_domains[domain(sender) if sender else "from=<>"] += 1
                s.bytes_received += size
        elif kind is Kind.DELIVERY:
            self._delivery(qid, ev.service, f.get("to", ""), f.get("status", ""), f.get("detail", ""), hour)
        elif kind is Kind.REMOVED:
            self.q.removed(qid)
        elif kind is Kind.REJECT:
            if f.get("action") == "reject_warning":
                s.reject_warnings += 1
                return
            s.rejected += 1
            s.hourly["rejected"][hour] += 1
            s.reject_reasons[short_reason(f.get("reason", ""))] += 1
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

    def _delivery(self, qid: bytes, service: str, to: str, status: str, detail: str, hour: int) -> None:
        s = self.s
        if status == "sent":
            if "forwarded as " in detail:
                s.forwarded += 1
                return
            s.delivered += 1
            s.hourly["delivered"][hour] += 1
            size = self.q.size(qid, to)
            s.bytes_delivered += size
            s.recipients[to.lower()] += 1
            dom = domain(to)
            s.recipient_domains[dom] += 1
            s.recipient_domain_bytes[dom] += size
            if service in LOCAL_SERVICES:
                s.delivered_local += 1
            else:
                s.delivered_remote += 1
        elif status == "deferred":
            s.deferrals += 1
            s.hourly["deferred"][hour] += 1
            if self.q.deferred(qid):
                s.deferred += 1
            s.deferral_reasons[short_reason(detail)] += 1
        elif status == "bounced":
            s.bounced += 1
            s.hourly["bounced"][hour] += 1
            s.bounce_reasons[short_reason(detail)] += 1


def summarize(records: Iterable[Record], stats: ParseStats | None = None) -> Summary:
    """The general route over parsed records (e.g. ``summarize(read_records(paths))``)."""
    z = Summarizer(Summary(stats=stats) if stats is not None else None)
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
    if s.stats.unparsed_samples:
        out.append("Not in a known log format, e.g.:")
        out.extend(f"  {sample}" for sample in s.stats.unparsed_samples)
    return "\n".join(out) + "\n"
