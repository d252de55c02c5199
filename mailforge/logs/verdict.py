"""Explain a trace: from Postfix's status, DSN code and the remote server's words to a cause in plain
words and the next thing an administrator should do.

Enhanced status codes (the ``dsn=`` field) are defined in RFC 3463 and the IANA registry
(https://www.iana.org/assignments/smtp-enhanced-status-codes/); the first digit says 2 = success,
4 = temporary (Postfix retries), 5 = permanent (bounce). The rules below are tried in order; the first
whose pattern matches the reply text (or whose DSN matches) names the cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailforge.logs.events import POSTFIX_FINAL_LOCAL, parse_host_ip
from mailforge.logs.model import SEVERITY, Hop, Message, Outcome, Rejection, Session, Verdict

RETRY = (
    "Postfix retries on its own (see `postconf minimal_backoff_time maximal_queue_lifetime`); "
    "after fixing the cause, `mailforge queue flush {qid}` retries now."
)


@dataclass(frozen=True)
class Rule:
    cause: str
    pattern: re.Pattern[str] | None
    dsn: re.Pattern[str] | None
    reason: str
    next_step: str


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


# Failures reported for a queued message (smtp/lmtp/local status=deferred|bounced).
DELIVERY_RULES: tuple[Rule, ...] = (
    Rule(
        "deferred_transport",
        _r(r"^deferred transport$"),
        None,
        "this server is configured to hold mail for that transport until someone flushes the queue (defer_transports)",
        "Flush when the link is up: `mailforge queue flush` (postqueue -f); or remove the transport from "
        "`postconf defer_transports`.",
    ),
    Rule(
        "relay_auth_required",
        _r(
            r"authentication required|SASL authentication failed|must authenticate|no mechanism available"
            r"|no worthy mech|530[ -]5\.7\.0|5\.7\.8|cannot authenticate"
        ),
        None,
        "the relay host {peer} requires SMTP authentication and Postfix did not (or could not) log in",
        "Configure credentials for the relay: `smtp_sasl_auth_enable = yes`, `smtp_sasl_password_maps` with "
        "`[relay]:587 user:password` (then `postmap`), `smtp_tls_security_level = encrypt`; then "
        "`mailforge queue flush`.",
    ),
    Rule(
        "tls_failure",
        _r(
            r"TLS is required, but|certificate not verified|TLS handshake|Cannot start TLS|STARTTLS"
            r"|tls.*(fail|error)|untrusted issuer"
        ),
        None,
        "the TLS handshake with {peer} failed or the server's certificate did not satisfy the TLS policy",
        "Check `smtp_tls_security_level` / `smtp_tls_policy_maps` for that destination and test with "
        "`openssl s_client -starttls smtp -connect HOST:25`.",
    ),
    Rule(
        "greylisted",
        _r(r"greylist|grey-list|graylist|try again later|temporarily deferred|please retry"),
        None,
        "the receiving server greylisted the message: a deliberate temporary refusal of first-time senders",
        "Nothing to fix: Postfix retries and greylisting servers accept the retry, usually within 5 to 30 "
        "minutes. " + RETRY,
    ),
    Rule(
        "dns_failure",
        _r(
            r"Host or domain name not found|Name service error|no MX host|MX host .* not found"
            r"|Host not found"
        ),
        None,
        "the destination domain could not be resolved in DNS ({detail})",
        "Check the recipient domain with `dig MX DOMAIN` and `dig A DOMAIN` from this server, and this "
        "server's resolver (/etc/resolv.conf). A typo in the domain bounces; a DNS outage defers.",
    ),
    Rule(
        "connection_refused",
        _r(r"Connection refused"),
        None,
        "{peer} refused the connection: nothing listens on its SMTP port, or a firewall rejects it",
        "Check that the destination (its MX host, or the relayhost if one is set: `postconf relayhost`) "
        "accepts SMTP on that port: `nc -vz HOST PORT` from this server. " + RETRY,
    ),
    Rule(
        "connection_timeout",
        _r(
            r"Connection timed out|timed out while|conversation with .* timed out|Network is unreachable"
            r"|No route to host"
        ),
        None,
        "the connection to {peer} timed out: the host is down, or something drops the packets on the way",
        "Test `nc -vz HOST 25` from this server; if every remote server times out, outbound port 25 is "
        "blocked (ask the provider, or send through a smarthost on port 587). " + RETRY,
    ),
    Rule(
        "connection_lost",
        _r(r"lost connection with"),
        None,
        "{peer} dropped the connection in the middle of the conversation",
        "Usually transient; if it repeats, the remote server may dislike this server's IP or message. " + RETRY,
    ),
    Rule(
        "unknown_user",
        _r(
            r"user unknown|unknown user|no such user|mailbox unavailable|does not exist|invalid recipient"
            r"|address rejected: User unknown|unknown in (virtual|local) (mailbox|recipient) table"
        ),
        _r(r"^5\.1\.[16]$"),
        "the recipient mailbox {to} does not exist at the destination",
        "Check the address for a typo. For a domain this server hosts, create the mailbox or an alias "
        "(PostfixAdmin) and ask the sender to resend.",
    ),
    Rule(
        "dmarc",
        _r(r"DMARC"),
        _r(r"^5\.7\.26$"),
        "the receiving server refused the message because it failed the sender domain's DMARC policy "
        "(neither SPF nor DKIM aligned with the From: domain)",
        "Check that SPF lists this server and that outgoing mail is DKIM-signed for the From: domain: "
        "`mailforge dns audit DOMAIN`.",
    ),
    Rule(
        "too_big",
        _r(r"message size exceeds|too (big|large)|message file too big|size limit"),
        _r(r"^5\.(3\.4|2\.3)$"),
        "the message is larger than the receiving side accepts",
        "Send the attachment another way (a link), or raise the limit if the receiving side is ours "
        "(`postfix_message_size_limit`).",
    ),
    Rule(
        "mailbox_full",
        _r(r"quota|mailbox (is )?full|over quota|insufficient (system )?storage"),
        _r(r"^[45]\.2\.2$"),
        "the recipient's mailbox is full",
        "The recipient must delete mail, or an administrator must raise the quota.",
    ),
    Rule(
        "relay_denied",
        _r(r"relay access denied|relaying denied|not permitted to relay|relay not permitted"),
        None,
        "{peer} refused to relay the message: it is not the destination for that domain and does not trust this server",
        "Check the MX records of the recipient domain and this server's `relayhost`.",
    ),
    Rule(
        "policy_block",
        _r(r"block|blacklist|blocklist|spamhaus|listed|spam|reputation|policy|rejected|denied|5\.7\.1"),
        _r(r"^5\.7\.\d+$"),
        "the receiving server refused the message by policy (blocklist, spam or reputation rule)",
        "Read the server's text above; check this server's IP on the named blocklist, and its PTR, SPF and "
        "DKIM (`mailforge dns audit DOMAIN`).",
    ),
    Rule(
        "loop",
        _r(r"loops back to myself|mail forwarding loop|too many hops"),
        None,
        "a mail loop: the destination points back at this server",
        "Check `mydestination`, `virtual_mailbox_domains` and the MX records of the recipient domain.",
    ),
)

# Refusals before queueing (smtpd / postscreen "NOQUEUE: reject: ..." and cleanup/milter rejects).
REJECT_RULES: tuple[Rule, ...] = (
    Rule(
        "relay_access_denied",
        _r(r"Relay access denied"),
        None,
        "this server refused to relay to {to}: the client {client} did not authenticate and is not in "
        "mynetworks, and the recipient's domain is not hosted here",
        "The sender must authenticate on the submission port (587, STARTTLS + SASL); or, if the domain "
        "should be hosted here, add it to the virtual mailbox domains.",
    ),
    Rule(
        "sender_login_mismatch",
        _r(r"not owned by user|Sender address rejected: not logged in"),
        None,
        "the authenticated user is not allowed to send as {sender} (smtpd_sender_login_maps)",
        "Send from an address the account owns, or grant it (an alias / sender login map entry).",
    ),
    Rule(
        "rbl",
        _r(r"blocked using|listed (on|at|in) |DNSBL"),
        None,
        "the client {client} is listed on a DNS blocklist ({detail})",
        "If the client is legitimate, ask it to get delisted (the URL in the message), or whitelist it in "
        "postscreen_access / smtpd client access.",
    ),
    Rule(
        "greylisted",
        _r(r"greylist"),
        None,
        "the message was greylisted: a temporary refusal the sending server will retry",
        "Nothing to do; a proper mail server retries within minutes.",
    ),
    Rule(
        "blacklisted_sender",
        _r(r"Sender address rejected"),
        None,
        "the sender address {sender} is refused by this server's sender access policy ({detail})",
        "Check smtpd_sender_restrictions and the sender access map (postmap -q ADDRESS MAP).",
    ),
    Rule(
        "unknown_user",
        _r(r"User unknown|unknown user"),
        None,
        "the recipient {to} does not exist on this server",
        "Check the address for a typo, or create the mailbox / alias.",
    ),
    Rule(
        "blacklisted_recipient",
        _r(r"Recipient address rejected"),
        None,
        "the recipient {to} is refused by this server's recipient policy ({detail})",
        "Check smtpd_recipient_restrictions and the recipient access map (postmap -q ADDRESS MAP).",
    ),
    Rule(
        "client_rejected",
        _r(r"Client host rejected|Helo command rejected"),
        None,
        "the client {client} was refused by this server's client/HELO policy ({detail})",
        "Check smtpd_client_restrictions / smtpd_helo_restrictions and the client's reverse DNS.",
    ),
    Rule(
        "dmarc",
        _r(r"DMARC"),
        None,
        "the message failed the sender domain's DMARC policy and was refused",
        "The sending domain's SPF/DKIM does not align; nothing to fix here unless the domain is ours.",
    ),
    Rule(
        "too_big",
        _r(r"size exceeds|too (big|large)"),
        None,
        "the message is larger than this server accepts (message_size_limit)",
        "Send the file another way, or raise `postfix_message_size_limit`.",
    ),
    Rule(
        "content_rejected",
        _r(r"."),
        None,
        "this server refused the message: {detail}",
        "Read the reason above and check the restriction or filter that produced it.",
    ),
)


def _fmt(text: str, **values: str) -> str:
    for k, v in values.items():
        text = text.replace("{" + k + "}", v or "?")
    return text


def _peer_of(hop: Hop) -> str:
    m = re.search(r"(?:connect to|host) (\S+?\[[^\]]*\](?::\d+)?)", hop.detail)
    if m:
        return m.group(1)
    return hop.relay if hop.relay != "none" else "the destination"


def _match(rules: tuple[Rule, ...], text: str, dsn: str) -> Rule | None:
    for rule in rules:
        if rule.pattern is not None and rule.pattern.search(text):
            return rule
        if rule.dsn is not None and dsn and rule.dsn.match(dsn):
            return rule
    return None


def port25_blocked(hop: Hop) -> bool:
    """Every attempt went to a different host's port 25 and each timed out or found no route."""
    attempts = [*hop.connect_failures, hop.detail]
    peers = set()
    for a in attempts:
        m = re.search(r"connect to (\S+?):25: (.*)", a)
        if m is None:
            continue
        if not re.search(r"timed out|unreachable|no route", m.group(2), re.I):
            return False
        peers.add(parse_host_ip(m.group(1))[1] or m.group(1))
    return len(peers) >= 2


def hop_verdict(hop: Hop, qid: str) -> Verdict:
    status = hop.status
    values = {"to": hop.to, "peer": _peer_of(hop), "detail": hop.detail, "qid": qid}
    if status == "sent":
        if hop.service in POSTFIX_FINAL_LOCAL:
            return Verdict(
                Outcome.DELIVERED,
                "delivered",
                _fmt("delivered to the mailbox of {to} by " + hop.service + " ({peer})", **values),
                "Nothing to do. If the recipient cannot find it, look in their Junk folder or Sieve rules.",
                hop.dsn,
                hop.to,
            )
        return Verdict(
            Outcome.RELAYED,
            "relayed",
            _fmt("accepted by the remote server {peer} ({detail})", **values),
            "It left this server. If it never arrived, ask the recipient's administrator to look up the "
            "remote queue ID quoted in the reply, and the recipient to check their spam folder.",
            hop.dsn,
            hop.to,
        )
    outcome = {"deferred": Outcome.DEFERRED, "bounced": Outcome.BOUNCED, "expired": Outcome.BOUNCED}.get(
        status, Outcome.UNKNOWN
    )
    if status == "deferred" and port25_blocked(hop):
        return Verdict(
            outcome,
            "port25_blocked",
            "every remote server timed out on port 25: outbound SMTP (port 25) from this server is most "
            "likely blocked by the provider or a firewall",
            "Confirm with `nc -vz <mx-host> 25`; ask the provider to open port 25, or relay through a "
            "smarthost on port 587 (`relayhost` + SASL credentials).",
            hop.dsn,
            hop.to,
        )
    rule = _match(DELIVERY_RULES, hop.detail, hop.dsn)
    if rule is None:
        return Verdict(
            outcome,
            "other",
            _fmt("delivery to {to} failed: {detail}", **values),
            ("Postfix will retry; " if outcome is Outcome.DEFERRED else "")
            + "read the reply above and the destination's documentation.",
            hop.dsn,
            hop.to,
        )
    reason = _fmt(rule.reason, **values)
    if outcome is Outcome.BOUNCED:
        reason += "; a non-delivery report went back to the sender"
    return Verdict(outcome, rule.cause, reason, _fmt(rule.next_step, **values), hop.dsn, hop.to)


def rejection_verdict(rej: Rejection) -> Verdict:
    text = f"{rej.reason}"
    values = {"to": rej.recipient, "sender": rej.sender or "<>", "client": rej.client, "detail": rej.reason}
    rule = _match(REJECT_RULES, text, rej.dsn)
    assert rule is not None  # the last rule matches anything
    temp = " (temporary: the client may retry)" if rej.code.startswith("4") else ""
    return Verdict(
        Outcome.REJECTED,
        rule.cause,
        _fmt(rule.reason, **values) + temp,
        _fmt(rule.next_step, **values),
        rej.dsn,
        rej.recipient,
    )


# Why a TLS handshake a client started with this server failed, from Postfix's "SSL_accept error" line and
# OpenSSL's reason after it (https://www.postfix.org/TLS_README.html#server_tls; the texts are OpenSSL 3's,
# recorded from Debian's Postfix). {client} is the client, {port} what it connected to. Tried in order.
TLS_RULES: tuple[Rule, ...] = (
    Rule(
        "tls_plaintext_client",
        _r(r"wrong version number"),
        None,
        "{client} sent plain text to {port}, which expects a TLS handshake from the first byte: the client "
        "is set up for STARTTLS or for no encryption",
        "Set the mail client to SSL/TLS (implicit TLS) on port 465, or to STARTTLS on port 587; "
        "`openssl s_client -connect HOST:465` shows what it should see (a TLS handshake, then the greeting).",
    ),
    Rule(
        "tls_http_client",
        _r(r"http request"),
        None,
        "{client} spoke HTTP to {port}: a web browser or a web client, not a mail client",
        "Nothing to fix on the server if it is a scanner; a user should point the mail client, not a browser, "
        "at this port (webmail is on HTTPS).",
    ),
    Rule(
        "tls_old_protocol",
        _r(r"unsupported protocol|no protocols available|version too low|alert protocol version"),
        None,
        "{client} offered only TLS versions older than this server accepts (TLS 1.2 or later)",
        "Update the client (or its operating system) to one that speaks TLS 1.2 or 1.3; the server's minimum "
        "is `postconf smtpd_tls_mandatory_protocols smtpd_tls_protocols`.",
    ),
    Rule(
        "tls_no_shared_cipher",
        _r(r"no shared cipher|no suitable signature algorithm|no suitable key share|handshake failure"),
        None,
        "{client} and this server have no cipher suite (or key exchange group) in common",
        "Update the client; compare its offer with `postconf smtpd_tls_mandatory_ciphers tls_high_cipherlist` "
        "(`openssl s_client -connect HOST:465 -brief` from the client's machine shows what it can agree on).",
    ),
    Rule(
        "tls_certificate_refused",
        _r(r"alert (?:unknown ca|bad certificate|certificate unknown|certificate expired|decrypt error)"),
        None,
        "{client} refused this server's certificate (it does not trust its issuer, or finds it expired or "
        "not for the name it asked for)",
        "Check the certificate the client sees: `openssl s_client -connect HOST:465 -servername NAME`; with "
        "the local CA, clients must import it (or switch to Certbot for a publicly trusted certificate).",
    ),
    Rule(
        "tls_no_handshake",
        _r(r"SSL_accept error from \S+: (?:Connection timed out|timeout)"),
        None,
        "{client} connected to {port} but never started a TLS handshake: a client set up for STARTTLS or "
        "plain text waits for a greeting, which {port} sends only after the handshake",
        "Set the mail client to SSL/TLS on port 465 or to STARTTLS on port 587.",
    ),
    Rule(
        "tls_aborted",
        _r(r"SSL_accept error from \S+: (?:lost connection|-1$)|unexpected eof"),
        None,
        "{client} closed the connection during the TLS handshake, without saying why (a port scanner, or a "
        "client that refuses the certificate without an alert)",
        "If a real user's client does this, check the certificate it sees: "
        "`openssl s_client -connect HOST:465 -servername NAME`.",
    ),
)
TLS_FIRST_INSTANCES = ("smtps", "submissions")  # Postfix's syslog names for port 465 (Debian's, ours)


def tls_verdict(session: Session) -> Verdict:
    client = session.client or session.ip or "the client"
    implicit = session.instance in TLS_FIRST_INSTANCES
    port = "port 465" if implicit else f"the {session.instance or 'smtp'} port"
    rule = _match(TLS_RULES, session.tls_failure, "")
    if rule is None or (rule.cause == "tls_no_handshake" and not implicit):
        return Verdict(
            Outcome.TLS_FAILED,
            "tls_handshake",
            f"the TLS handshake with {client} failed ({session.tls_failure})",
            "Check that the client supports TLS 1.2 or later and trusts this server's certificate: "
            "`openssl s_client -starttls smtp -connect HOST:587` (or -connect HOST:465 / :993).",
        )
    if rule.cause == "tls_plaintext_client" and not implicit:
        # After STARTTLS: the client said it would start TLS, then sent something else.
        return Verdict(
            Outcome.TLS_FAILED,
            "tls_plaintext_after_starttls",
            f"{client} asked for STARTTLS on {port}, then sent plain text instead of a TLS handshake",
            "The client's STARTTLS support is broken (or a middlebox strips it): update the client, or "
            "use implicit TLS on port 465.",
        )
    return Verdict(
        Outcome.TLS_FAILED,
        rule.cause,
        _fmt(rule.reason, client=client, port=port) + f" ({session.tls_failure})",
        rule.next_step,
    )


def session_verdict(session: Session, user: str = "") -> Verdict:
    if session.tls_failure and not session.sasl_failures:
        return tls_verdict(session)
    n = len(session.sasl_failures)
    who = f" as {user}" if user else ""
    return Verdict(
        Outcome.AUTH_FAILED,
        "auth_failed",
        f"{session.client or session.ip} failed to log in{who} {n} time{'s' if n != 1 else ''} "
        f"({'; '.join(dict.fromkeys(session.sasl_failures)) or 'wrong user name or password'})",
        "Check the account's user name (the full address) and password in the mail client; on the server "
        "`doveadm auth test USER`. Many failures from unknown addresses are password guessing: fail2ban "
        "should ban them.",
    )


def message_verdicts(chain: list[Message]) -> tuple[Verdict, list[Verdict]]:
    """Per-recipient verdicts of a re-queue chain, and the worst of them as the overall verdict."""
    by_qid = {m.qid: m for m in chain}
    finals: dict[str, Verdict] = {}
    for msg in chain:
        last: dict[str, Hop] = {}
        for hop in msg.hops:
            last[hop.to.lower()] = hop
        for rcpt, hop in last.items():
            if hop.status == "sent" and hop.queued_as and hop.queued_as in by_qid:
                continue  # handed to a content filter: the journey continues under the new queue ID
            finals[rcpt] = hop_verdict(hop, msg.qid)
    for msg in chain:
        for rej in msg.rejects:
            v = rejection_verdict(rej)
            finals[rej.recipient.lower() or "*"] = v
    last_msg = chain[-1]
    # A deferral is not the end of the story when the message has since been put on hold or deleted: the
    # queue's state after the last attempt decides (a retry, if any, would have logged a newer attempt).
    if last_msg.held or (last_msg.removed and not last_msg.expired):
        after = _removed() if last_msg.removed else _held(last_msg)
        finals = {
            rcpt: (_after_deferral(after, v) if v.outcome is Outcome.DEFERRED else v) for rcpt, v in finals.items()
        }
    recipients = list(finals.values())
    if recipients:
        worst = min(recipients, key=lambda v: SEVERITY.index(v.outcome))
        return worst, recipients
    if any(m.expired for m in chain):
        v = Verdict(
            Outcome.BOUNCED,
            "expired",
            "Postfix gave up after the maximal queue lifetime and returned the message to the sender",
            "Look at the deferral reasons above: they are why it never went through.",
        )
    elif last_msg.held and not last_msg.removed:
        v = _held(last_msg)
    elif any(m.discarded for m in chain):
        v = Verdict(
            Outcome.DISCARDED,
            "discarded",
            "the message was discarded on purpose (a content filter or access rule); the sender was not told",
            "Check the amavis/filter notes above and the discard rule that matched.",
        )
    elif last_msg.removed:
        v = _removed()
    else:
        v = Verdict(
            Outcome.QUEUED,
            "in_queue",
            "accepted and queued; these logs show no delivery attempt yet",
            f"Check `mailforge queue show {last_msg.qid}` and read later logs.",
        )
    return v, [v]


def _held(msg: Message) -> Verdict:
    return Verdict(
        Outcome.HELD,
        "held",
        "the message is in the hold queue (a header/body check, a policy, or an administrator put it there)",
        f"Inspect it with `mailforge queue show {msg.qid}`; `mailforge queue release {msg.qid}` "
        "to let it go, or delete it.",
    )


def _removed() -> Verdict:
    return Verdict(
        Outcome.UNKNOWN,
        "removed",
        "the message was removed from the queue without a delivery in these logs (deleted by an "
        "administrator, or delivered by a filter that logs elsewhere)",
        "Look at the content filter's log and at `postsuper -d` activity.",
    )


def _after_deferral(after: Verdict, deferred: Verdict) -> Verdict:
    """A recipient that was deferred, then held or deleted: the later state, and why the last attempt failed."""
    return Verdict(
        after.outcome,
        after.cause,
        f"{after.reason}; its last delivery attempt had failed: {deferred.reason}",
        after.next_step,
        deferred.dsn,
        deferred.recipient,
    )
