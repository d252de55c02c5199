"""Correlate events into journeys: queue IDs, their smtpd sessions and the IDs they were re-queued as.

``trace(query, lines)`` is the whole API: give it the query (queue ID, Message-ID, address or client IP)
and any iterable of log lines (a file, ``ssh host journalctl -o json``, a list in a test); it returns one
``Trace`` per matching journey, each with a ``Verdict``.

State is bounded: open sessions and queued messages are kept until Postfix logs their end (disconnect,
``removed``), finished messages only in a fixed-size recent window (a content filter's new queue ID can
be announced after the old one is gone), so memory does not grow with the log's size.
"""

from __future__ import annotations

import base64
import ipaddress
from collections import OrderedDict
from collections.abc import Iterable

from mailforge.logs.events import QID_RE, Event, Kind, classify, parse_host_ip
from mailforge.logs.model import Hop, Message, Note, Rejection, Session, Trace
from mailforge.logs.records import ParseStats, Record
from mailforge.logs.sources import parse_lines
from mailforge.logs.verdict import message_verdicts, rejection_verdict, session_verdict

RECENT_LIMIT = 20_000
ACTIVE_LIMIT = 500_000
SMTPD_SERVICES = frozenset({"smtpd", "postscreen"})


class Query:
    """What the user asked for. An ``@`` means an address or a Message-ID (both are tried)."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        bare = self.text.strip("<>")
        self.bare = bare
        self.lower = bare.lower()
        if "@" in bare:
            self.kind = "address"
        else:
            try:
                ipaddress.ip_address(bare)
                self.kind = "ip"
            except ValueError:
                self.kind = "qid" if QID_RE.fullmatch(bare) else "message-id"

    def tokens(self) -> list[str]:
        """Substrings at least one line of every matching journey contains (for fast pre-filtering)."""
        if self.kind == "address":
            return list(dict.fromkeys([self.bare, self.lower]))
        return [self.bare]

    def message(self, m: Message) -> bool:
        k = self.kind
        if k == "qid":
            return m.qid == self.bare
        if k == "ip":
            return m.client_ip == self.bare or any(self.bare in h.relay for h in m.hops)
        if m.message_id and m.message_id == self.bare:
            return True
        if k == "message-id":
            return False
        if (m.sender or "").lower() == self.lower or m.sasl_username.lower() == self.lower:
            return True
        return any(h.to.lower() == self.lower or h.orig_to.lower() == self.lower for h in m.hops) or any(
            r.recipient.lower() == self.lower for r in m.rejects
        )

    def rejection(self, rej: Rejection) -> bool:
        if self.kind == "ip":
            return parse_host_ip(rej.client)[1] == self.bare
        if self.kind == "address":
            return self.lower in (rej.sender.lower(), rej.recipient.lower())
        return False

    def session(self, s: Session) -> bool:
        if self.kind == "ip":
            return s.ip == self.bare
        if self.kind == "address":
            return any(u.lower() == self.lower for u in s.sasl_users)
        return False


class Tracer:
    def __init__(self, query: Query | str) -> None:
        self.query = query if isinstance(query, Query) else Query(query)
        self.active: OrderedDict[str, Message] = OrderedDict()
        self.recent: OrderedDict[str, Message] = OrderedDict()
        self.by_message_id: OrderedDict[str, Message] = OrderedDict()
        self.selected: dict[int, Message] = {}
        self.sessions: dict[tuple[str, str, int | None], Session] = {}
        self.pending: dict[tuple[str, int | None], list[str]] = {}  # smtp "connect to" failures per process
        self.other: list[Trace] = []
        # Dovecot's auth process says why (unknown user / password mismatch); the login process says who.
        self.auth_reasons: OrderedDict[tuple[str, str], str] = OrderedDict()

    # -- message bookkeeping ---------------------------------------------------------------------

    def _get(self, qid: str) -> Message | None:
        return self.active.get(qid) or self.recent.get(qid)

    def _new(self, qid: str) -> Message:
        old = self.active.pop(qid, None)
        if old is not None:
            self._retire(old)
        msg = Message(qid)
        self.active[qid] = msg
        if len(self.active) > ACTIVE_LIMIT:  # a message whose end is not in this log: forget the oldest
            self._retire(self.active.popitem(last=False)[1])
        if self.query.kind == "qid" and qid == self.query.bare:
            self._select(msg)
        return msg

    def _msg(self, qid: str) -> Message:
        return self._get(qid) or self._new(qid)

    def _retire(self, msg: Message) -> None:
        self.recent[msg.qid] = msg
        self.recent.move_to_end(msg.qid)
        if len(self.recent) > RECENT_LIMIT:
            self.recent.popitem(last=False)

    def _select(self, msg: Message) -> None:
        if id(msg) in self.selected:
            return
        self.selected[id(msg)] = msg
        for qid in [msg.parent, *msg.children]:
            rel = self._get(qid) if qid else None
            if rel is not None:
                self._select(rel)

    def _check(self, msg: Message) -> None:
        if id(msg) not in self.selected and self.query.message(msg):
            self._select(msg)

    def _link(self, parent: Message, child_qid: str) -> None:
        child = self._get(child_qid)
        if child is None or child is parent:
            return
        if child_qid not in parent.children:
            parent.children.append(child_qid)
        child.parent = parent.qid
        if id(parent) in self.selected or id(child) in self.selected:
            self._select(parent)
            self._select(child)

    # -- events ------------------------------------------------------------------------------------

    def feed(self, ev: Event) -> None:
        rec = ev.record
        key = (rec.host, rec.program, rec.pid)
        if ev.qid is None:
            self._sessionless(ev, key)
            return
        kind = ev.kind
        f = ev.fields
        # A client= / pickup line starts a message: a short queue ID seen before belongs to an older one.
        msg = self._new(ev.qid) if kind in (Kind.CLIENT, Kind.PICKUP) else self._msg(ev.qid)
        if msg.first_seen is None:
            msg.first_seen = rec.ts
        msg.last_seen = rec.ts
        if kind is Kind.CLIENT:
            msg.received_by, msg.instance = ev.service, ev.instance
            msg.client = f.get("client", "")
            msg.client_ip = parse_host_ip(msg.client)[1]
            msg.sasl_method = f.get("sasl_method", "")
            msg.sasl_username = f.get("sasl_username", "")
            session = self.sessions.get(key)
            if session is not None:
                msg.tls = session.tls
                for line in session.lines:
                    msg.add_line(line)
        elif kind is Kind.PICKUP:
            msg.received_by = "pickup"
            msg.sender = f.get("from", msg.sender)
        elif kind is Kind.MESSAGE_ID:
            msg.message_id = f["message_id"]
            self.by_message_id[msg.message_id] = msg
            if len(self.by_message_id) > RECENT_LIMIT:
                self.by_message_id.popitem(last=False)
        elif kind is Kind.QUEUED:
            msg.sender = f.get("from", "")
            if f.get("size", "").isdigit():
                msg.size = int(f["size"])
            if f.get("nrcpt", "").isdigit():
                msg.nrcpt = int(f["nrcpt"])
        elif kind is Kind.DELIVERY:
            failures = self.pending.pop((rec.host + rec.program, rec.pid), [])
            hop = Hop(
                rec.ts,
                ev.service,
                f.get("to", ""),
                f.get("orig_to", ""),
                f.get("relay", ""),
                f.get("delay", ""),
                f.get("delays", ""),
                f.get("dsn", ""),
                f.get("status", ""),
                f.get("detail", ""),
                f.get("queued_as", ""),
                failures,
            )
            msg.hops.append(hop)
            if hop.queued_as:
                self._link(msg, hop.queued_as)
        elif kind is Kind.REMOVED:
            msg.removed = True
        elif kind is Kind.EXPIRED:
            msg.expired = True
            msg.sender = f.get("from", msg.sender)
        elif kind is Kind.NOTIFICATION:
            msg.notifications.append(f["new_qid"])
        elif kind is Kind.REJECT:
            msg.rejects.append(self._rejection(ev))
        elif kind is Kind.HOLD:
            msg.held = True
            msg.notes.append(Note(rec.ts, ev.service, ev.text))
        elif kind is Kind.RELEASE:
            msg.held = False
        elif kind is Kind.DISCARD:
            msg.discarded = True
            msg.notes.append(Note(rec.ts, ev.service, ev.text))
        elif kind in (Kind.FILTER, Kind.REQUEUED):
            msg.notes.append(Note(rec.ts, ev.daemon, ev.text))
            if "message_id" in f and not msg.message_id:
                msg.message_id = f["message_id"]
            if ev.daemon == "amavis" and f.get("verdict") == "Blocked":
                msg.discarded = True
            if kind is Kind.REQUEUED:
                self._link(msg, f["queued_as"])
        elif kind is Kind.REMOTE_SAID:
            msg.notes.append(Note(rec.ts, ev.service, ev.text))
        if ev.service in ("smtp", "lmtp") and kind is not Kind.DELIVERY:
            self.pending.pop((rec.host + rec.program, rec.pid), None)
        msg.add_line(rec.raw)
        self._check(msg)
        if msg.removed and kind is Kind.REMOVED and self.active.get(msg.qid) is msg:
            del self.active[msg.qid]
            self._retire(msg)

    def _rejection(self, ev: Event) -> Rejection:
        f = ev.fields
        return Rejection(
            ev.record.ts,
            ev.service,
            f.get("stage", ""),
            f.get("client", ""),
            f.get("code", ""),
            f.get("dsn", ""),
            f.get("reason", ""),
            f.get("from", ""),
            f.get("to", ""),
            f.get("helo", ""),
        )

    def _sessionless(self, ev: Event, key: tuple[str, str, int | None]) -> None:
        rec, kind, f = ev.record, ev.kind, ev.fields
        if kind is Kind.CONNECT and ev.service in SMTPD_SERVICES:
            client = f.get("client", "")
            self.sessions[key] = Session(
                client, parse_host_ip(client)[1], ev.service, ev.instance, rec.ts, lines=[rec.raw]
            )
            return
        if kind is Kind.CONNECT_FAIL or kind is Kind.TLS_OUT:
            lst = self.pending.setdefault((rec.host + rec.program, rec.pid), [])
            if kind is Kind.CONNECT_FAIL and len(lst) < 20:
                lst.append(f"connect to {f['peer']}: {f['why']}")
            return
        if kind is Kind.LOGIN_FAIL:
            self._login_failure(ev)
            return
        if kind is Kind.MAILBOX:
            msg = self.by_message_id.get(f.get("message_id", ""))
            if msg is not None:
                msg.mailbox.append(Note(rec.ts, f"dovecot/{ev.service}", f.get("result", ev.text)))
                msg.add_line(rec.raw)
            return
        session = self.sessions.get(key)
        if session is None:
            if kind not in (Kind.SASL_FAIL, Kind.TLS_FAIL, Kind.REJECT, Kind.TLS_IN):
                return
            client = f.get("client", "")
            session = Session(client, parse_host_ip(client)[1], ev.service, ev.instance)
            if kind is not Kind.REJECT:  # a connect line outside the log window: still a session
                self.sessions[key] = session
        if len(session.lines) < 200:
            session.lines.append(rec.raw)
        if kind is Kind.TLS_IN:
            session.tls = f"{f['protocol']} {f['cipher']} ({f['trust']})"
        elif kind is Kind.SASL_FAIL:
            session.sasl_failures.append(f"SASL {f['method']}: {_sasl_why(f['why'])}")
            if f.get("sasl_username"):
                session.sasl_users.append(f["sasl_username"])
        elif kind is Kind.TLS_FAIL:
            # "SSL_accept error from CLIENT: -1" comes first; OpenSSL's reason, when it has one, follows.
            if not session.tls_failure or not session.tls_failure.startswith("warning: TLS library problem"):
                session.tls_failure = ev.text
            session.tls_failed_at = rec.ts
        elif kind is Kind.REJECT:
            rej = self._rejection(ev)
            if self.query.rejection(rej):
                snap = Session(**{**session.__dict__, "lines": list(session.lines)})
                verdict = rejection_verdict(rej)
                self.other.append(Trace("rejection", [], verdict, [verdict], rejection=rej, session=snap))
        elif kind is Kind.DISCONNECT:
            self.sessions.pop(key, None)
            if (session.sasl_failures or session.tls_failure) and self.query.session(session):
                verdict = session_verdict(session, next(iter(session.sasl_users), ""))
                self.other.append(
                    Trace("auth" if session.sasl_failures else "tls", [], verdict, [verdict], session=session)
                )

    def _login_failure(self, ev: Event) -> None:
        f = ev.fields
        user, ip = f.get("user", ""), f.get("ip", "")
        if ev.service.startswith("auth"):
            self.auth_reasons[(user.lower(), ip)] = ev.text.split(": ", 1)[-1]
            if len(self.auth_reasons) > 1000:
                self.auth_reasons.popitem(last=False)
            return
        q = self.query
        hit = (q.kind == "address" and user.lower() == q.lower) or (q.kind == "ip" and ip == q.bare)
        if not hit:
            return
        session = Session(
            client=f"{ev.service} {ip}",
            ip=ip,
            service=f"dovecot/{ev.service}",
            connected=ev.record.ts,
            sasl_failures=[self.auth_reasons.get((user.lower(), ip), ev.text.split(":", 1)[0])],
            sasl_users=[user] if user else [],
            lines=[ev.record.raw],
        )
        verdict = session_verdict(session, user)
        self.other.append(Trace("auth", [], verdict, [verdict], session=session))

    # -- results -------------------------------------------------------------------------------------

    def traces(self) -> list[Trace]:
        chosen = list(self.selected.values())
        chosen_ids = {id(m) for m in chosen}
        by_qid: dict[str, Message] = {m.qid: m for m in chosen}
        out: list[Trace] = []
        for msg in chosen:
            parent = by_qid.get(msg.parent) if msg.parent else None
            if parent is not None and id(parent) in chosen_ids and parent is not msg:
                continue  # not a root: it appears in its parent's chain
            chain: list[Message] = []
            stack = [msg]
            while stack:
                m = stack.pop(0)
                if any(m is c for c in chain):
                    continue
                chain.append(m)
                stack.extend(by_qid[c] for c in m.children if c in by_qid)
            verdict, recipients = message_verdicts(chain)
            out.append(Trace("message", chain, verdict, recipients))
        out.extend(self.other)
        out.sort(key=lambda t: _first_ts(t))
        return out


def _sasl_why(why: str) -> str:
    """Postfix logs the last server challenge, base64-encoded: "UGFzc3dvcmQ6" is "Password:"."""
    try:
        decoded = base64.b64decode(why, validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return why or "failed"
    if decoded in ("Password:", "Username:"):
        return f"rejected after the {decoded[:-1].lower()} step (wrong user name or password)"
    return why


def _first_ts(t: Trace) -> str:
    ts = (
        t.messages[0].first_seen
        if t.messages
        else (t.rejection.ts if t.rejection else t.session and t.session.connected)
    )
    return ts.isoformat() if ts else ""


def trace_records(query: Query | str, records: Iterable[Record], stats: ParseStats | None = None) -> list[Trace]:
    tracer = Tracer(query)
    feed = tracer.feed
    for rec in records:
        ev = classify(rec, stats)
        if ev is not None:
            feed(ev)
    return tracer.traces()


def trace(query: str, lines: Iterable[str], stats: ParseStats | None = None) -> list[Trace]:
    """Every journey matching ``query`` in ``lines`` (any of the supported log formats, in time order)."""
    return trace_records(query, parse_lines(lines, stats), stats)
