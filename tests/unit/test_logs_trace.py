"""Issue 7: `logs trace` follows a message through Postfix and explains the outcome.

Log lines in data/logs/scenarios.log are written from Postfix's, Dovecot's and amavis's documented
formats, one scenario per outcome class (what the e2e tests cannot produce on a test host).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from mailforge.logs import Outcome, trace, trace_files
from mailforge.logs.records import ParseStats
from mailforge.logs.render import trace_text

LOG = Path(__file__).parent / "data" / "logs" / "scenarios.log"
LINES = LOG.read_text().splitlines()

CASES = [
    ("3F2A1C0B7D", Outcome.DELIVERED, "delivered"),
    ("5A6B7C8D9E", Outcome.RELAYED, "relayed"),
    ("6B7C8D9E0F", Outcome.DEFERRED, "connection_refused"),
    ("7C8D9E0F1A", Outcome.DEFERRED, "port25_blocked"),
    ("8D9E0F1A2B", Outcome.DEFERRED, "dns_failure"),
    ("9E0F1A2B3C", Outcome.DEFERRED, "greylisted"),
    ("A0F1A2B3C4", Outcome.DEFERRED, "relay_auth_required"),
    ("B1A2B3C4D5", Outcome.BOUNCED, "unknown_user"),
    ("D3C4D5E6F7", Outcome.BOUNCED, "dmarc"),
    ("E4D5E6F7A8", Outcome.BOUNCED, "policy_block"),
    ("F5E6F7A8B9", Outcome.BOUNCED, "too_big"),
    ("3C4D5E6F7A", Outcome.BOUNCED, "expired"),
    ("1A2B3C4D5E", Outcome.REJECTED, "dmarc"),
    ("2B3C4D5E6F", Outcome.HELD, "held"),
    ("victim@example.org", Outcome.REJECTED, "relay_access_denied"),
    ("bulk@example.com", Outcome.REJECTED, "blacklisted_sender"),
    ("closed@example.test", Outcome.REJECTED, "blacklisted_recipient"),
    ("10.213.9.4", Outcome.REJECTED, "rbl"),
    ("ceo@example.test", Outcome.REJECTED, "sender_login_mismatch"),
    ("10.213.7.7", Outcome.AUTH_FAILED, "auth_failed"),
    ("mallory@example.test", Outcome.AUTH_FAILED, "auth_failed"),
    ("10.213.8.8", Outcome.TLS_FAILED, "tls_old_protocol"),
]


@pytest.mark.parametrize(("query", "outcome", "cause"), CASES)
def test_verdict_from_lines(query, outcome, cause):
    [t] = trace(query, LINES)
    assert (t.verdict.outcome, t.verdict.cause) == (outcome, cause)


@pytest.mark.parametrize(("query", "outcome", "cause"), CASES)
def test_verdict_from_mapped_file_matches(query, outcome, cause):
    [t] = trace_files(query, [str(LOG)])
    assert (t.verdict.outcome, t.verdict.cause) == (outcome, cause)


@pytest.mark.parametrize("query", ["3F2A1C0B7D", "8C1D2E3F4A", "20240705175708.1@example.test"])
def test_requeued_id_is_followed_to_final_delivery(query):
    [t] = trace(query, LINES)
    assert t.queue_ids == ["3F2A1C0B7D", "8C1D2E3F4A"]


def test_message_id_query_with_angle_brackets():
    [t] = trace("<20240705180100.2@example.test>", LINES)
    assert t.queue_ids == ["5A6B7C8D9E"]


def test_client_tls_and_auth_user_come_from_the_session():
    [t] = trace("3F2A1C0B7D", LINES)
    root = t.messages[0]
    assert (root.instance, root.sasl_username, root.tls) == (
        "submission",
        "alice@example.test",
        "TLSv1.3 TLS_AES_256_GCM_SHA384 (Anonymous)",
    )


def test_dovecot_mailbox_line_is_attached():
    [t] = trace("3F2A1C0B7D", LINES)
    assert [n.text for n in t.messages[-1].mailbox] == ["saved mail to INBOX"]


def test_filter_notes_are_attached():
    [t] = trace("3F2A1C0B7D", LINES)
    assert [n.source for n in t.messages[0].notes] == ["opendkim", "amavis"]


def test_hop_keeps_relay_delays_and_dsn():
    [t] = trace("6B7C8D9E0F", LINES)
    hop = t.messages[0].hops[0]
    assert (hop.relay, hop.delays, hop.dsn) == ("none", "0.1/0/0.2/0", "4.4.1")


def test_connect_failures_before_a_deferral_belong_to_it():
    [t] = trace("7C8D9E0F1A", LINES)
    assert len(t.messages[0].hops[0].connect_failures) == 2


def test_bounce_notification_is_recorded():
    [t] = trace("B1A2B3C4D5", LINES)
    assert t.messages[0].notifications == ["C2B3C4D5E6"]


def test_address_matches_every_message_of_the_sender():
    # carol sent ten messages (pickup), all traced; the expired one names her as sender too.
    assert len(trace("carol@example.test", LINES)) == 11


def test_address_query_is_case_insensitive():
    assert next(t.queue_ids for t in trace("Bob@Example.Test", LINES)) == ["3F2A1C0B7D", "8C1D2E3F4A"]


def test_no_match_returns_nothing():
    assert trace("0000000000", LINES) == []


def test_deferred_then_delivered_ends_delivered():
    later = [
        "Jul  5 18:35:00 mx postfix/smtp[2301]: 6B7C8D9E0F: to=<erin@example.net>, relay=mx.example.net"
        "[10.213.3.3]:25, delay=1800, delays=1799/0/0.2/0.3, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        "Jul  5 18:35:00 mx postfix/qmgr[900]: 6B7C8D9E0F: removed",
    ]
    [t] = trace("6B7C8D9E0F", LINES + later)
    assert t.verdict.outcome is Outcome.RELAYED


# Real lines (tests/e2e/test_operations.py on a provisioned test host, Postfix 3.7 maillog_file): a message
# deferred once, then handled by an administrator with `mailforge queue hold|release|delete`.
DEFERRED_THEN = [
    "Nov 22 23:23:19 ops postfix/submission/smtpd[14342]: 2AB78278E38: client=unknown[10.213.6.1], "
    "sasl_method=PLAIN, sasl_username=alice@example.test",
    "Nov 22 23:23:19 ops postfix/cleanup[14335]: 2AB78278E38: "
    "message-id=<f823a243a1664a8292cf7326864ef058@example.test>",
    "Nov 22 23:23:19 ops postfix/qmgr[13533]: 2AB78278E38: from=<alice@example.test>, size=688, nrcpt=1 (queue active)",
    "Nov 22 23:23:19 ops postfix/smtp[14352]: 2AB78278E38: to=<held-90f778b10b@down.test>, relay=none, delay=0.01, "
    "delays=0.01/0/0/0, dsn=4.4.1, status=deferred (connect to 10.213.7.2[10.213.7.2]:2525: Connection refused)",
]
HOLD = "Nov 22 23:23:19 ops postfix/postsuper[14368]: 2AB78278E38: placed on hold"
RELEASE = "Nov 22 23:23:40 ops postfix/postsuper[14401]: 2AB78278E38: released from hold"
DELETE = "Nov 22 23:23:50 ops postfix/postsuper[14420]: 2AB78278E38: removed"


@pytest.mark.parametrize(
    ("after", "outcome", "cause"),
    [
        ([], Outcome.DEFERRED, "connection_refused"),
        ([HOLD], Outcome.HELD, "held"),
        ([HOLD, RELEASE], Outcome.DEFERRED, "connection_refused"),
        ([DELETE], Outcome.UNKNOWN, "removed"),
        ([HOLD, DELETE], Outcome.UNKNOWN, "removed"),
    ],
    ids=["deferred", "held", "released", "deleted", "held-then-deleted"],
)
def test_what_an_administrator_did_after_a_deferral_decides(after: list[str], outcome: Outcome, cause: str) -> None:
    [t] = trace("2AB78278E38", DEFERRED_THEN + after)
    assert (t.verdict.outcome, t.verdict.cause) == (outcome, cause)


def test_a_held_message_still_says_why_its_last_attempt_failed() -> None:
    [t] = trace("2AB78278E38", [*DEFERRED_THEN, HOLD])
    assert "10.213.7.2[10.213.7.2]:2525 refused the connection" in t.verdict.reason
    assert t.verdict.dsn == "4.4.1"


def test_mixed_recipients_verdict_is_the_worst():
    lines = [
        "Jul  5 19:00:00 mx postfix/pickup[1]: ABCDEF0123: uid=0 from=<root@example.test>",
        "Jul  5 19:00:01 mx postfix/lmtp[2]: ABCDEF0123: to=<bob@example.test>, relay=mx[private/dovecot-lmtp], "
        "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Saved)",
        "Jul  5 19:00:01 mx postfix/smtp[3]: ABCDEF0123: to=<x@example.org>, relay=none, delay=1, "
        "delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org[10.213.2.2]:25: Connection refused)",
    ]
    [t] = trace("ABCDEF0123", lines)
    assert (t.verdict.outcome, sorted(v.outcome for v in t.recipients)) == (
        Outcome.DEFERRED,
        [Outcome.DEFERRED, Outcome.DELIVERED],
    )


def test_reused_short_queue_id_starts_a_new_message():
    lines = [
        "Jul  5 19:00:00 mx postfix/pickup[1]: ABCDEF0123: uid=0 from=<a@example.test>",
        "Jul  5 19:00:00 mx postfix/qmgr[1]: ABCDEF0123: removed",
        "Jul  6 19:00:00 mx postfix/pickup[1]: ABCDEF0123: uid=0 from=<b@example.test>",
    ]
    assert [t.messages[0].sender for t in trace("ABCDEF0123", lines)] == ["a@example.test", "b@example.test"]


def test_long_queue_ids_are_recognised():
    qid = "4Z9mT35PdGz9sX3"
    lines = [
        f"Jul  5 19:00:00 mx postfix/pickup[1]: {qid}: uid=0 from=<a@example.test>",
        f"Jul  5 19:00:01 mx postfix/local[2]: {qid}: to=<root@mx.example.test>, relay=local, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
    ]
    [t] = trace(qid, lines)
    assert t.verdict.outcome is Outcome.DELIVERED


def test_journald_json_lines_are_traced():
    lines = [
        json.dumps({"__REALTIME_TIMESTAMP": "1720195028000000", "SYSLOG_IDENTIFIER": ident, "_PID": "9", "MESSAGE": m})
        for ident, m in (
            ("postfix/pickup", "ABCDEF0123: uid=0 from=<a@example.test>"),
            (
                "postfix/smtp",
                "ABCDEF0123: to=<x@example.org>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.3, "
                "status=deferred (Host or domain name not found. Name service error for name=example.org type=MX: "
                "Host not found, try again)",
            ),
        )
    ]
    [t] = trace("ABCDEF0123", lines)
    assert t.verdict.cause == "dns_failure"


def test_gzip_file_is_traced(tmp_path: Path):
    path = tmp_path / "mail.log.1.gz"
    with open(LOG, "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    [t] = trace_files("9E0F1A2B3C", [str(path)])
    assert t.verdict.cause == "greylisted"


def test_journey_across_rotated_files(tmp_path: Path):
    old, new = tmp_path / "mail.log.1", tmp_path / "mail.log"
    old.write_text("\n".join(LINES[:12]) + "\n")
    new.write_text("\n".join(LINES[12:]) + "\n")
    [t] = trace_files("3F2A1C0B7D", [str(old), str(new)])
    assert (t.queue_ids, t.verdict.outcome) == (["3F2A1C0B7D", "8C1D2E3F4A"], Outcome.DELIVERED)


def test_unknown_lines_are_counted_during_a_trace():
    stats = ParseStats()
    trace("3F2A1C0B7D", LINES, stats)
    assert stats.unparsed == 1


def test_mapped_scan_skips_unrelated_sessions(tmp_path: Path):
    # The scanner keeps only the session of the traced message, not other clients of the same process.
    [t] = trace_files("3F2A1C0B7D", [str(LOG)])
    assert all("10.213.7.7" not in line for line in t.lines)


# Issue 14: lines a private Postfix 3.7 (Debian 12, OpenSSL 3.0) logged for clients that failed the TLS
# handshake on its implicit-TLS port (addresses rewritten to the test range).
TLS_LOG = Path(__file__).parent / "data" / "logs" / "tls-failures.log"
TLS_CASES = [
    ("10.213.9.11", "tls_plaintext_client"),  # EHLO sent where a ClientHello was due
    ("10.213.9.12", "tls_http_client"),  # a browser
    ("10.213.9.13", "tls_old_protocol"),  # a TLS 1.1-only client
    ("10.213.9.14", "tls_no_handshake"),  # waited for a greeting until the server's timeout
    ("10.213.9.15", "tls_certificate_refused"),  # the client does not trust the issuer
    ("10.213.9.16", "tls_aborted"),  # connected and left
]


@pytest.mark.parametrize(("ip", "cause"), TLS_CASES)
def test_tls_failure_says_what_happened(ip, cause):
    [t] = trace_files(ip, [str(TLS_LOG)])
    assert (t.verdict.outcome, t.verdict.cause) == (Outcome.TLS_FAILED, cause)


def test_plaintext_on_465_is_not_told_to_support_tls_1_2():
    [t] = trace_files("10.213.9.11", [str(TLS_LOG)])
    advice = f"{t.verdict.reason} {t.verdict.next_step}"
    assert ("TLS 1.2" in advice, "plain text" in advice, "port 465" in advice) == (False, True, True)


@pytest.mark.parametrize(("ip", "failed_at"), [("10.213.9.14", "Dec 04 19:22:06"), ("10.213.9.16", "Dec 04 19:22:19")])
def test_tls_failure_shows_when_it_failed_not_when_the_client_connected(ip, failed_at):
    [t] = trace_files(ip, [str(TLS_LOG)])
    [line] = [row for row in trace_text(t).splitlines() if "TLS failure:" in row]
    assert line.split("  TLS failure:")[0].strip() == failed_at


@pytest.mark.parametrize("instance", ["submission", ""])
def test_plain_text_after_starttls_is_not_called_a_port_465_mistake(instance):
    lines = [
        line.replace("postfix/submissions/smtpd", f"postfix/{instance}/smtpd" if instance else "postfix/smtpd")
        for line in TLS_LOG.read_text().splitlines()
    ]
    [t] = trace("10.213.9.11", lines)
    assert t.verdict.cause == "tls_plaintext_after_starttls"
