"""A ``Record`` from a mail program -> an ``Event``: what happened, to which queue ID, with which fields.

Formats follow Postfix's logging (https://www.postfix.org/postconf.5.html#smtp_tls_loglevel,
https://www.postfix.org/DEBUG_README.html) and the companion daemons a mail server runs beside it:
postscreen, anvil, amavis, Dovecot (imap-login, lmtp, lda, auth), OpenDKIM/OpenDMARC and policy servers.

Postfix services run under custom syslog names (``postfix/submission/smtpd``, ``postfix/10025/smtpd``,
``postfix-out/smtp``): the service is the last path component, the instance what is in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from mailforge.logs.records import ParseStats, Record


class Kind(StrEnum):
    CONNECT = "connect"  # smtpd: connect from host[ip]
    DISCONNECT = "disconnect"  # smtpd: disconnect from host[ip] ... / lost connection after X
    CLIENT = "client"  # smtpd: QID: client=host[ip][, sasl_username=...]
    PICKUP = "pickup"  # pickup: QID: uid=0 from=<root>
    MESSAGE_ID = "message-id"  # cleanup: QID: message-id=<...>
    QUEUED = "queued"  # qmgr: QID: from=<a>, size=N, nrcpt=M (queue active)
    DELIVERY = "delivery"  # smtp/lmtp/local/virtual/pipe/error: QID: to=<b>, relay=..., status=...
    REMOVED = "removed"  # qmgr: QID: removed
    EXPIRED = "expired"  # qmgr: QID: from=<a>, status=expired, returned to sender
    NOTIFICATION = "notification"  # bounce: QID: sender non-delivery notification: NEWQID
    REJECT = "reject"  # smtpd/cleanup/postscreen: [QID|NOQUEUE]: reject|milter-reject: ...
    HOLD = "hold"  # cleanup: QID: hold: ...; postsuper: QID: placed on hold
    RELEASE = "release"  # postsuper: QID: released from hold
    DISCARD = "discard"
    TLS_IN = "tls-in"  # smtpd: ... TLS connection established from host[ip]: TLSv1.3 with cipher ...
    TLS_OUT = "tls-out"  # smtp: ... TLS connection established to host[ip]:25: ...
    TLS_FAIL = "tls-fail"  # SSL_accept error / TLS library problem / handshake failed
    SASL_FAIL = "sasl-fail"  # smtpd: warning: host[ip]: SASL LOGIN authentication failed: ...
    CONNECT_FAIL = "connect-fail"  # smtp: connect to host[ip]:25: Connection refused
    REMOTE_SAID = "remote-said"  # smtp: QID: host X said: 450 ... (not final by itself)
    FILTER = "filter"  # opendkim/opendmarc/amavis verdicts attached to a queue ID
    REQUEUED = "requeued"  # amavis: Queue-ID: OLD ... queued_as: NEW
    MAILBOX = "mailbox"  # dovecot lmtp/lda: msgid=<...>: saved mail to INBOX
    LOGIN = "login"  # dovecot: imap-login: Login: user=<...>
    LOGIN_FAIL = "login-fail"  # dovecot: imap-login: Disconnected (auth failed ...) / auth: ... mismatch
    POSTSCREEN = "postscreen"
    ANVIL = "anvil"
    POLICY = "policy"
    WARNING = "warning"
    OTHER = "other"  # recognised mail program, line with nothing to correlate


@dataclass(slots=True)
class Event:
    kind: Kind
    record: Record
    daemon: str  # "postfix", "amavis", "dovecot", "opendkim", ...
    service: str  # postfix: smtpd, cleanup, qmgr, smtp, lmtp, ...; dovecot: imap-login, lmtp, auth
    instance: str  # postfix syslog name middle part: "submission", "10025", "" for the default
    qid: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""  # the message without its queue ID prefix


# Short queue IDs are hex; long ones (enable_long_queue_ids) use a base-52 alphabet and contain a 'z'.
QID = r"[0-9A-F]{6,12}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{8,20}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]{1,12}"
_QID_PREFIX = re.compile(rf"({QID}|NOQUEUE): (.*)", re.S)
QID_RE = re.compile(rf"(?:{QID})")

_CLIENT = re.compile(r"client=(?P<client>[^,\s]+)(?P<rest>.*)")
_HOST_IP = re.compile(r"(?P<name>[^\[\s]*)\[(?P<ip>[^\]]*)\](?::(?P<port>\d+))?")
_KV = re.compile(r"(\w+)=(<[^>]*>|[^,\s]*)")
_DELIVERY = re.compile(
    r"to=<(?P<to>[^>]*)>, (?:orig_to=<(?P<orig_to>[^>]*)>, )?relay=(?P<relay>[^,]+), (?:conn_use=\d+, )?"
    r"delay=(?P<delay>[\d.]+), (?:delays=(?P<delays>[\d./]+), )?(?:dsn=(?P<dsn>[\d.]+), )?"
    r"status=(?P<status>\w+)(?: \((?P<detail>.*)\))?",
    re.S,
)
_LOOPBACK_RELAY = re.compile(r"[^\[]*\[(?:127\.\d+\.\d+\.\d+|::1|private/[^\]]*|public/[^\]]*)\]")
_QUEUED_AS = re.compile(r"queued as (\S+?)\)?$|queued_as: (\S+?),")
_REJECT = re.compile(
    r"(?P<action>reject|milter-reject|reject_warning|hold|discard): (?P<stage>\S+) from (?P<client>\S+?): "
    r"(?P<reply>.*?)(?:; (?P<tail>from=<.*))?$",
    re.S,
)
# cleanup header_checks/body_checks actions: "hold: header Subject: x from host[ip]; from=<a> to=<b> ...: text"
_CHECK_ACTION = re.compile(
    r"(?P<action>reject|hold|discard|warning|redirect|filter): (?P<stage>header|body) (?P<what>.*?)"
    r"(?: from (?P<client>\S+?))?; (?P<tail>from=<.*?)(?:: (?P<reply>[^:]*))?$",
    re.S,
)
_REPLY_CODE = re.compile(r"(?P<code>[245]\d\d)?\s*(?P<dsn>[245]\.\d{1,3}\.\d{1,3})?\s*(?P<text>.*)", re.S)
_TLS_EST = re.compile(
    r"(?P<trust>\w+) TLS connection established (?P<dir>from|to) (?P<peer>\S+?): (?P<proto>\S+) with cipher "
    r"(?P<cipher>\S+)"
)
_SASL_FAIL = re.compile(
    r"warning: (?P<client>\S+?): SASL (?P<method>\S+) authentication failed: ?(?P<why>[^,]*)"
    r"(?:, sasl_username=(?P<user>\S+))?"
)
_CONNECT_FAIL = re.compile(r"connect to (?P<peer>\S+?): (?P<why>.*)")
_SAID = re.compile(r"host (?P<peer>\S+) said: (?P<reply>.*)", re.S)
_NOTIFY = re.compile(r"sender (?P<what>non-delivery|delivery status|delay status) notification: (?P<new>\S+)")
_AMAVIS = re.compile(
    r"(?:\([\w-]+\) )?(?P<verdict>Passed|Blocked|Not-Delivered)\s+(?P<class>[A-Z-]+(?: \([^)]*\))?)"
    r".*?(?:<(?P<from>[^>]*)> -> (?P<to>[^,]+),)?.*?Queue-ID: (?P<qid>\w+)"
    r"(?:.*?Message-ID: <(?P<mid>[^>]*)>)?(?:.*?queued_as: (?P<new>\w+))?",
    re.S,
)
_DOVECOT_SVC = re.compile(r"(?P<svc>[\w-]+)(?:\((?P<who>[^)]*)\))?(?:<[^>]*>)*: (?P<rest>.*)", re.S)
_MSGID = re.compile(r"msgid=<?(?P<mid>[^>:\s]+)>?")
_DOVECOT_USER = re.compile(r"user=<(?P<user>[^>]*)>")
_DOVECOT_RIP = re.compile(r"rip=(?P<rip>[\w.:]+)")

POSTFIX_FINAL_LOCAL = frozenset({"lmtp", "local", "virtual", "pipe"})


def split_program(program: str) -> tuple[str, str, str]:
    """``postfix/submission/smtpd`` -> ("postfix", "smtpd", "submission")."""
    parts = program.split("/")
    if len(parts) == 1:
        return parts[0], parts[0], ""
    return parts[0], parts[-1], "/".join(parts[1:-1])


def parse_host_ip(text: str) -> tuple[str, str, str]:
    """``mx.example.org[10.213.2.2]:25`` -> (name, ip, port); anything else -> (text, "", "")."""
    m = _HOST_IP.match(text)
    if m is None:
        return text, "", ""
    return m["name"], m["ip"], m["port"] or ""


def parse_reply(reply: str) -> tuple[str, str, str]:
    """``554 5.7.1 <x@y>: Relay access denied`` -> ("554", "5.7.1", "<x@y>: Relay access denied")."""
    m = _REPLY_CODE.match(reply)
    assert m is not None  # the pattern matches any string
    return m["code"] or "", m["dsn"] or "", m["text"]


def _addresses(tail: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if tail:
        for k, v in _KV.findall(tail):
            out[k] = v.strip("<>")
    return out


def classify(rec: Record, stats: ParseStats | None = None) -> Event | None:
    """The event a record describes, or None when the program is not a mail program."""
    daemon, service, instance = split_program(rec.program)
    try:
        if daemon.startswith("postfix"):
            ev = _postfix(rec, daemon, service, instance)
        elif daemon in ("amavis", "amavisd", "amavisd-new") or daemon.endswith("amavisd"):
            ev = _amavis(rec, daemon)
        elif daemon == "dovecot":
            ev = _dovecot(rec)
        elif daemon in ("opendkim", "opendmarc"):
            ev = _milter(rec, daemon)
        elif daemon in ("postgrey", "policyd-spf", "policyd", "policy-spf", "postfix-policyd-spf-python"):
            ev = Event(Kind.POLICY, rec, daemon, daemon, "", text=rec.message, fields=_addresses(rec.message))
        else:
            return None
    except (IndexError, ValueError, AttributeError):
        ev = None
    if ev is None:
        if stats is not None:
            stats.unrecognised += 1
        return Event(Kind.OTHER, rec, daemon, service, instance, text=rec.message)
    return ev


def _postfix(rec: Record, daemon: str, service: str, instance: str) -> Event | None:
    msg = rec.message
    m = _QID_PREFIX.match(msg)
    if m is not None:
        qid, text = m.group(1), m.group(2)
        if qid == "NOQUEUE":
            qid = None
        return _postfix_qid(rec, daemon, service, instance, qid, text)
    ev = Event(Kind.OTHER, rec, daemon, service, instance, text=msg)
    if service == "postscreen":
        ev.kind = Kind.POSTSCREEN
        hm = _HOST_IP.search(msg)
        if hm:
            ev.fields["ip"] = hm["ip"]
        return ev
    if service == "anvil":
        ev.kind = Kind.ANVIL
        return ev
    if msg.startswith("connect from "):
        ev.kind = Kind.CONNECT
        ev.fields["client"] = msg[13:].split()[0]
    elif msg.startswith("disconnect from ") or msg.startswith("lost connection after "):
        ev.kind = Kind.DISCONNECT
        ev.fields["client"] = msg.split(" from ", 1)[1].split()[0] if " from " in msg else ""
    elif (t := _TLS_EST.search(msg)) is not None:
        ev.kind = Kind.TLS_IN if t["dir"] == "from" else Kind.TLS_OUT
        ev.fields.update(peer=t["peer"], trust=t["trust"], protocol=t["proto"], cipher=t["cipher"])
    elif (s := _SASL_FAIL.match(msg)) is not None:
        ev.kind = Kind.SASL_FAIL
        ev.fields.update(client=s["client"], method=s["method"], why=s["why"].strip())
        if s["user"]:
            ev.fields["sasl_username"] = s["user"]
    elif msg.startswith("SSL_accept error from ") or msg.startswith("SSL_connect error to "):
        ev.kind = Kind.TLS_FAIL
        ev.fields["client"] = msg.split(" ", 3)[3].split(":")[0] if msg.count(" ") >= 3 else ""
    elif "TLS library problem" in msg or "TLS handshake failed" in msg or "tls_handshake" in msg.lower():
        ev.kind = Kind.TLS_FAIL
    elif (c := _CONNECT_FAIL.match(msg)) is not None and service != "smtpd":
        ev.kind = Kind.CONNECT_FAIL
        ev.fields.update(peer=c["peer"], why=c["why"])
    elif msg.startswith("warning:"):
        ev.kind = Kind.WARNING
    return ev


def _postfix_qid(rec: Record, daemon: str, service: str, instance: str, qid: str | None, text: str) -> Event | None:
    ev = Event(Kind.OTHER, rec, daemon, service, instance, qid=qid, text=text)
    f = ev.fields
    if text.startswith("to=<"):
        d = _DELIVERY.match(text)
        if d is None:
            return None
        ev.kind = Kind.DELIVERY
        f.update({k: v for k, v in d.groupdict().items() if v is not None})
        # "queued as NEWID" is followed only for a hand-off to a content filter on this host (amavis on
        # 127.0.0.1:10024): a remote server's queue ID never appears in this server's log.
        if _LOOPBACK_RELAY.match(f["relay"]) and (q := _QUEUED_AS.search(f.get("detail", ""))) is not None:
            f["queued_as"] = q.group(1) or q.group(2)
    elif text.startswith("client="):
        c = _CLIENT.match(text)
        if c is None:
            return None
        ev.kind = Kind.CLIENT
        f["client"] = c["client"]
        f.update(_addresses(c["rest"]))
    elif text.startswith("message-id="):
        ev.kind = Kind.MESSAGE_ID
        f["message_id"] = text[11:].strip().strip("<>")
    elif text.startswith("resent-message-id="):
        ev.kind = Kind.OTHER
    elif text == "removed" or text.startswith("removed"):
        ev.kind = Kind.REMOVED
    elif text.startswith("from=<"):
        f.update(_addresses(text))
        if "status=expired" in text:
            ev.kind = Kind.EXPIRED
        else:
            ev.kind = Kind.QUEUED
    elif service == "pickup" and ("uid=" in text or "sender=" in text):
        ev.kind = Kind.PICKUP
        f.update(_addresses(text))
    elif (r := _CHECK_ACTION.match(text)) is not None:
        action = r["action"]
        kinds = {"hold": Kind.HOLD, "discard": Kind.DISCARD, "reject": Kind.REJECT}
        ev.kind = kinds.get(action, Kind.WARNING)
        code, dsn, reason = parse_reply(r["reply"] or "")
        f.update(action=action, stage=r["stage"], client=r["client"] or "", code=code, dsn=dsn)
        f["reason"] = reason or f"{r['stage']} {r['what']}"
        f.update(_addresses(r["tail"]))
    elif (r := _REJECT.match(text)) is not None:
        action = r["action"]
        ev.kind = {"hold": Kind.HOLD, "discard": Kind.DISCARD}.get(action, Kind.REJECT)
        code, dsn, reason = parse_reply(r["reply"])
        f.update(action=action, stage=r["stage"], client=r["client"], code=code, dsn=dsn, reason=reason)
        f.update(_addresses(r["tail"]))
    elif (n := _NOTIFY.match(text)) is not None:
        ev.kind = Kind.NOTIFICATION
        f.update(what=n["what"], new_qid=n["new"])
    elif (s := _SAID.match(text)) is not None:
        ev.kind = Kind.REMOTE_SAID
        f.update(peer=s["peer"], reply=s["reply"])
    elif text.startswith("placed on hold"):
        ev.kind = Kind.HOLD
        f["action"] = "postsuper"
    elif text.startswith("released from hold"):
        ev.kind = Kind.RELEASE
    elif text.startswith(("lost connection with", "conversation with")):
        ev.kind = Kind.REMOTE_SAID
        f["reply"] = text
    elif text.startswith("filter:") or text.startswith("warning:") or text.startswith("redirect:"):
        ev.kind = Kind.WARNING
    return ev


def _amavis(rec: Record, daemon: str) -> Event | None:
    msg = rec.message
    m = _AMAVIS.search(msg) if "Queue-ID:" in msg else None
    if m is None:
        return Event(Kind.OTHER, rec, "amavis", "amavis", "", text=msg)
    ev = Event(Kind.FILTER, rec, "amavis", "amavis", "", qid=m["qid"], text=msg)
    ev.fields.update(verdict=m["verdict"], category=m["class"])
    if m["mid"]:
        ev.fields["message_id"] = m["mid"]
    if m["new"]:
        ev.kind = Kind.REQUEUED
        ev.fields["queued_as"] = m["new"]
    return ev


def _dovecot(rec: Record) -> Event | None:
    msg = rec.message
    m = _DOVECOT_SVC.match(msg)
    if m is None:
        return None
    svc, who, rest = m["svc"], m["who"] or "", m["rest"]
    ev = Event(Kind.OTHER, rec, "dovecot", svc, "", text=rest)
    f = ev.fields
    if (u := _DOVECOT_USER.search(rest)) is not None:
        f["user"] = u["user"]
    if (ip := _DOVECOT_RIP.search(rest)) is not None:
        f["ip"] = ip["rip"]
    if svc in ("lmtp", "lda") and (mid := _MSGID.search(rest)) is not None:
        ev.kind = Kind.MAILBOX
        f.update(user=who, message_id=mid["mid"], result=rest[mid.end() :].lstrip(": "))
    elif svc.endswith("-login") and rest.startswith("Login:"):
        ev.kind = Kind.LOGIN
    elif svc.endswith("-login") and "auth failed" in rest:
        ev.kind = Kind.LOGIN_FAIL
    elif svc.startswith("auth") and ("mismatch" in rest or "unknown user" in rest or "failed" in rest):
        ev.kind = Kind.LOGIN_FAIL
        # passwd-file(user@example.test,10.213.1.1): unknown user
        inner = re.search(r"\w[\w-]*\((?P<u>[^,)]*),(?P<ip>[^,)]*)", rest)
        if inner is not None:
            f.setdefault("user", inner["u"])
            f.setdefault("ip", inner["ip"])
    return ev


def _milter(rec: Record, daemon: str) -> Event | None:
    m = _QID_PREFIX.match(rec.message)
    if m is None or m.group(1) == "NOQUEUE":
        return Event(Kind.OTHER, rec, daemon, daemon, "", text=rec.message)
    return Event(Kind.FILTER, rec, daemon, daemon, "", qid=m.group(1), text=m.group(2))
