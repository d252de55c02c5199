"""Traces as text for a person (the journey, then a verdict) or as JSON for a machine."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from mailforge.logs.model import Hop, Message, Trace

# The four numbers of delays=a/b/c/d (https://www.postfix.org/postconf.5.html#delay_logging_resolution_limit
# and the "delays=" paragraph of https://www.postfix.org/DEBUG_README.html).
DELAY_PARTS = ("before queue manager", "in queue manager", "connection setup", "transmission")


def _ts(ts: datetime | None) -> str:
    return ts.strftime("%b %d %H:%M:%S") if ts else "?"


def _delays(hop: Hop) -> str:
    parts = hop.delays.split("/")
    if len(parts) != 4:
        return f"delay {hop.delay}s" if hop.delay else ""
    named = ", ".join(f"{label} {v}s" for label, v in zip(DELAY_PARTS, parts, strict=True))
    return f"delay {hop.delay}s ({named})"


def _message_lines(msg: Message, chain: list[Message]) -> list[str]:
    out = []
    via = msg.received_by + (f" ({msg.instance})" if msg.instance else "")
    head = f"Queue ID {msg.qid}"
    if msg.parent:
        head += f"  (re-queued from {msg.parent})"
    out.append(head)
    if msg.received_by == "pickup":
        out.append(f"  {_ts(msg.first_seen)}  submitted locally (sendmail/pickup)")
    elif msg.client:
        extra = []
        if msg.tls:
            extra.append(f"TLS {msg.tls}")
        else:
            extra.append("no TLS")
        if msg.sasl_username:
            extra.append(f"SASL {msg.sasl_method} user {msg.sasl_username}")
        out.append(f"  {_ts(msg.first_seen)}  received from {msg.client} via {via}; {'; '.join(extra)}")
    if msg.message_id:
        out.append(f"  {' ' * 15}  Message-ID <{msg.message_id}>")
    if msg.sender is not None:
        size = f", {msg.size} bytes" if msg.size is not None else ""
        n = f", {msg.nrcpt} recipient(s)" if msg.nrcpt is not None else ""
        out.append(f"  {' ' * 15}  envelope sender <{msg.sender}>{size}{n}")
    for note in msg.notes:
        out.append(f"  {_ts(note.ts)}  {note.source}: {note.text}")
    for rej in msg.rejects:
        out.append(f"  {_ts(rej.ts)}  {rej.service} refused it at {rej.stage}: {rej.code} {rej.dsn} {rej.reason}")
    for hop in msg.hops:
        for failure in hop.connect_failures:
            out.append(f"  {_ts(hop.ts)}  {hop.service}: {failure}")
        status = hop.status.upper()
        nxt = f" -> re-queued as {hop.queued_as}" if any(m.qid == hop.queued_as for m in chain) else ""
        out.append(
            f"  {_ts(hop.ts)}  {status} to <{hop.to}>"
            + (f" (originally <{hop.orig_to}>)" if hop.orig_to and hop.orig_to != hop.to else "")
            + f" via {hop.service}, relay {hop.relay}, dsn {hop.dsn or '-'}{nxt}"
        )
        if hop.detail:
            out.append(f"  {' ' * 15}    {hop.detail}")
        d = _delays(hop)
        if d:
            out.append(f"  {' ' * 15}    {d}")
    for note in msg.mailbox:
        out.append(f"  {_ts(note.ts)}  {note.source}: {note.text}")
    if msg.notifications:
        out.append(f"  {' ' * 15}  notice to the sender queued as {', '.join(msg.notifications)}")
    if msg.expired:
        out.append(f"  {_ts(msg.last_seen)}  expired: returned to sender")
    if msg.removed:
        out.append(f"  {_ts(msg.last_seen)}  removed from the queue")
    return out


def trace_text(t: Trace, raw: bool = False) -> str:
    out: list[str] = []
    if t.kind == "message":
        for msg in t.messages:
            out.extend(_message_lines(msg, t.messages))
    else:
        s = t.session
        if t.rejection is not None:
            r = t.rejection
            out.append(f"Refused before queueing ({r.service}, at {r.stage})")
            out.append(f"  {_ts(r.ts)}  client {r.client}; from <{r.sender}> to <{r.recipient}>; helo {r.helo}")
            out.append(f"  {' ' * 15}  reply: {r.code} {r.dsn} {r.reason}")
        if s is not None:
            if t.rejection is None:
                via = s.service + (f" ({s.instance})" if s.instance else "")
                out.append(f"Session of {s.client or s.ip} ({via})")
            if s.tls:
                out.append(f"  {' ' * 15}  TLS {s.tls}")
            for failure in s.sasl_failures:
                out.append(f"  {_ts(s.connected)}  authentication failed: {failure}")
            if s.tls_failure:
                if s.connected and s.tls_failed_at and s.connected != s.tls_failed_at:
                    out.append(f"  {_ts(s.connected)}  connected")
                out.append(f"  {_ts(s.tls_failed_at or s.connected)}  TLS failure: {s.tls_failure}")
    v = t.verdict
    out.append(f"Verdict: {v.outcome.upper()} ({v.cause}): {v.reason}.")
    others = [other for other in t.recipients if other is not v and other.recipient]
    for other in others:
        out.append(f"  <{other.recipient}>: {other.outcome} ({other.cause})")
    out.append(f"Next step: {v.next_step}")
    if raw:
        out.append("Log lines:")
        out.extend(f"  {line}" for line in t.lines)
    return "\n".join(out)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return obj


def traces_json(traces: list[Trace], query: str) -> str:
    return json.dumps(
        {"query": query, "traces": [{**_jsonable(t), "queue_ids": t.queue_ids} for t in traces]}, indent=2
    )
