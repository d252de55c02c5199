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
from typing import Any

from mailforge.logs.events import Kind, classify, parse_host_ip
from mailforge.logs.records import ParseStats, Record

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


class Summarizer:
    def __init__(self) -> None:
        self.s = Summary()
        self.open: OrderedDict[str, _Open] = OrderedDict()

    def _state(self, qid: str) -> _Open:
        st = self.open.get(qid)
        if st is None:
            st = self.open[qid] = _Open()
            if len(self.open) > OPEN_LIMIT:
                self.open.popitem(last=False)
        return st

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
            s.last = rec.ts.isoformat()
        else:
            day = "?"
        if kind is Kind.CLIENT or kind is Kind.PICKUP:
            s.received += 1
            s.hourly["received"][hour] += 1
            s.daily[day] += 1
            assert ev.qid is not None
            self.open.pop(ev.qid, None)  # a reused short queue ID starts afresh
            self._state(ev.qid).received = True
        elif kind is Kind.QUEUED:
            st = self._state(ev.qid or "")
            if st.sender is None:
                st.sender = f.get("from", "")
                st.size = int(f["size"]) if f.get("size", "").isdigit() else 0
                if st.received:
                    sender = st.sender or "from=<>"
                    s.senders[sender] += 1
                    s.sender_domains[_domain(st.sender) if st.sender else "from=<>"] += 1
                    s.bytes_received += st.size
        elif kind is Kind.DELIVERY:
            status = f.get("status")
            to = f.get("to", "")
            if status == "sent":
                if "forwarded as " in f.get("detail", ""):
                    s.forwarded += 1
                    return
                s.delivered += 1
                s.hourly["delivered"][hour] += 1
                st = self.open.get(ev.qid or "")
                size = st.size if st else 0
                s.bytes_delivered += size
                s.recipients[to.lower()] += 1
                dom = _domain(to)
                s.recipient_domains[dom] += 1
                s.recipient_domain_bytes[dom] += size
                if ev.service in ("lmtp", "local", "virtual", "pipe"):
                    s.delivered_local += 1
                else:
                    s.delivered_remote += 1
            elif status == "deferred":
                s.deferrals += 1
                s.hourly["deferred"][hour] += 1
                st = self._state(ev.qid or "")
                if not st.deferred:
                    st.deferred = True
                    s.deferred += 1
                s.deferral_reasons[_short_reason(f.get("detail", ""))] += 1
            elif status == "bounced":
                s.bounced += 1
                s.hourly["bounced"][hour] += 1
                s.bounce_reasons[_short_reason(f.get("detail", ""))] += 1
        elif kind is Kind.REMOVED:
            self.open.pop(ev.qid or "", None)
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
    """Summary of log files (plain, gzip, '-' for stdin), with their line statistics."""
    from mailforge.logs.sources import read_records

    stats = ParseStats()
    return summarize(read_records(paths, stats), stats)


def summarize_lines(lines: Iterable[str]) -> Summary:
    """Summary of lines from anywhere (e.g. ``ssh host cat /var/log/mail.log``)."""
    from mailforge.logs.sources import parse_lines

    stats = ParseStats()
    return summarize(parse_lines(lines, stats), stats)
