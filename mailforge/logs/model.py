"""What a trace is made of: messages (one per queue ID), their delivery attempts, client sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# A message's raw lines are kept for display; a runaway message (a loop) must not eat the memory.
MAX_LINES_PER_MESSAGE = 400


class Outcome(StrEnum):
    DELIVERED = "delivered"  # stored in a mailbox on this server (LMTP, local, virtual, pipe)
    RELAYED = "relayed"  # a remote server accepted it (2xx)
    DEFERRED = "deferred"  # temporary failure; Postfix keeps retrying
    BOUNCED = "bounced"  # permanent failure after queueing; a non-delivery report goes to the sender
    REJECTED = "rejected"  # refused during the SMTP conversation; never queued (or dropped by cleanup)
    AUTH_FAILED = "auth_failed"  # the client failed SASL / IMAP authentication
    TLS_FAILED = "tls_failed"  # the TLS handshake failed
    HELD = "held"  # in the hold queue, waiting for an administrator
    DISCARDED = "discarded"  # silently dropped by policy or content filter
    QUEUED = "queued"  # accepted, no final status in these logs yet
    UNKNOWN = "unknown"


# Worst first: a trace's overall verdict is its worst recipient's.
SEVERITY = [
    Outcome.REJECTED,
    Outcome.BOUNCED,
    Outcome.AUTH_FAILED,
    Outcome.TLS_FAILED,
    Outcome.DISCARDED,
    Outcome.DEFERRED,
    Outcome.HELD,
    Outcome.QUEUED,
    Outcome.UNKNOWN,
    Outcome.RELAYED,
    Outcome.DELIVERED,
]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    cause: str  # a stable slug for machines and tests: "connection_refused", "unknown_user", ...
    reason: str  # plain words
    next_step: str
    dsn: str = ""
    recipient: str = ""


@dataclass
class Hop:
    """One delivery attempt for one recipient (a ``to=<...>, relay=..., status=...`` line)."""

    ts: datetime | None
    service: str
    to: str
    orig_to: str
    relay: str
    delay: str
    delays: str
    dsn: str
    status: str
    detail: str
    queued_as: str = ""  # the next queue ID when handed to a content filter that re-queues
    connect_failures: list[str] = field(default_factory=list)  # "connect to X: why" before this hop


@dataclass
class Note:
    ts: datetime | None
    source: str  # "opendkim", "amavis", "cleanup", "dovecot/lmtp", ...
    text: str


@dataclass
class Session:
    """An smtpd conversation (connect .. disconnect), keyed by syslog name and pid while it is open."""

    client: str = ""
    ip: str = ""
    service: str = "smtpd"
    instance: str = ""
    connected: datetime | None = None
    tls: str = ""  # "TLSv1.3 TLS_AES_256_GCM_SHA384 (Anonymous)"
    sasl_failures: list[str] = field(default_factory=list)
    sasl_users: list[str] = field(default_factory=list)
    tls_failure: str = ""
    tls_failed_at: datetime | None = None  # the failure's own time: a client may wait long before it
    lines: list[str] = field(default_factory=list)


@dataclass
class Rejection:
    """A refusal before the message was queued: NOQUEUE reject (smtpd, postscreen)."""

    ts: datetime | None
    service: str
    stage: str  # RCPT, MAIL, DATA, CONNECT, END-OF-MESSAGE, ...
    client: str
    code: str
    dsn: str
    reason: str
    sender: str
    recipient: str
    helo: str


@dataclass
class Message:
    qid: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    received_by: str = ""  # smtpd, pickup, ...
    instance: str = ""  # submission, smtps, 10025, ...
    client: str = ""
    client_ip: str = ""
    sasl_method: str = ""
    sasl_username: str = ""
    tls: str = ""
    message_id: str = ""
    sender: str | None = None
    size: int | None = None
    nrcpt: int | None = None
    hops: list[Hop] = field(default_factory=list)
    rejects: list[Rejection] = field(default_factory=list)  # cleanup/milter rejects of a queued message
    notes: list[Note] = field(default_factory=list)
    parent: str = ""  # the queue ID this message was re-queued from (content filter)
    children: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)  # queue IDs of bounce/delay notices
    held: bool = False
    discarded: bool = False
    expired: bool = False
    removed: bool = False
    mailbox: list[Note] = field(default_factory=list)  # Dovecot's account of the final delivery
    lines: list[str] = field(default_factory=list)

    def add_line(self, raw: str) -> None:
        if len(self.lines) < MAX_LINES_PER_MESSAGE:
            self.lines.append(raw)

    def recipients(self) -> list[str]:
        seen: dict[str, None] = {}
        for h in self.hops:
            seen.setdefault(h.to, None)
        return list(seen)


@dataclass
class Trace:
    """One journey: a message and the messages it was re-queued as, or a refused/failed session."""

    kind: str  # "message" | "rejection" | "auth" | "tls"
    messages: list[Message]
    verdict: Verdict
    recipients: list[Verdict] = field(default_factory=list)
    rejection: Rejection | None = None
    session: Session | None = None

    @property
    def queue_ids(self) -> list[str]:
        return [m.qid for m in self.messages]

    @property
    def lines(self) -> list[str]:
        if self.messages:
            return [line for m in self.messages for line in m.lines]
        return self.session.lines if self.session else []
