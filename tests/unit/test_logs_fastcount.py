"""Issue 7: the summary's fast route (mailforge/logs/fastcount.py) counts exactly what the general route
(each line parsed, classified by events.py, counted by Summarizer.add) counts, on any mix of lines: the
kinds it takes apart itself, the kinds it hands on, odd stamps, queue IDs reused, look-alike text inside
other lines' messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailforge.logs import fastcount, parse_lines, summarize, summarize_lines

QIDS = ["0A1B2C3D4E", "0A1B2C3D4F", "5F6E7D8C9B", "B2C3D4E5F6"]
ADDRS = ["alice@example.test", "Bob@Example.ORG", "", "carol@example.net", "status=expired@example.test"]

STAMPS = st.sampled_from(
    [
        "Jul  5 17:57:{s:02d}",
        "Jul 15 18:07:{s:02d}",
        "Jul  6 09:00:{s:02d}.123456",  # Postfix's maillog_file
        "2024-07-05T17:57:{s:02d}.000001+02:00",  # RFC 3339 (rsyslog)
        "2024-07-06T23:59:{s:02d}Z",
        "Jul 5 17:57:{s:02d}",  # an unpadded day: the parser takes it, the fast route hands it on
        "Jul  5 24:57:{s:02d}",  # no such hour
        "Jul  5 17:61:{s:02d}",  # no such minute
        "Feb 30 10:00:{s:02d}",  # no such day
        "Foo  5 17:57:{s:02d}",  # no such month
        "garbage",
    ]
)
PROGRAMS = st.sampled_from(
    [
        "postfix/smtpd[100]",
        "postfix/submission/smtpd[101]",
        "postfix/10025/smtpd[102]",
        "postfix/qmgr[900]",
        "postfix/smtp[103]",
        "postfix/lmtp[104]",
        "postfix/local[105]",
        "postfix/pickup[901]",
        "postfix/cleanup[106]",
        "postfix/postscreen[600]",
        "postfix/anvil[601]",
        "postfix-out/smtp[107]",
        "postfix/smtpd",  # no pid
        "postfix/smtpd[x]",  # not a pid: the parser refuses the tag
        "CRON[99]",
        "opendkim[800]",
        "dovecot",
    ]
)


@st.composite
def messages(draw: st.DrawFn) -> str:
    qid = draw(st.sampled_from([*QIDS, "NOQUEUE"]))
    addr = draw(st.sampled_from(ADDRS))
    status = draw(st.sampled_from(["sent", "deferred", "bounced", "expired"]))
    detail = draw(
        st.sampled_from(
            [
                "",
                " (250 2.0.0 Ok: queued as 1A2B3C4D5E)",
                " (250 2.0.0 from MTA: forwarded as 9F8E7D6C5B)",
                " (connect to mx.example.org[10.213.3.3]:25: Connection refused)",
                " (host mx.example.org[10.213.3.3] said: 550 5.1.1 <x@example.org>: unknown user "
                "(in reply to RCPT TO command))",
                " (a) (b)",
            ]
        )
    )
    action = draw(st.sampled_from(["reject", "reject_warning", "milter-reject", "hold", "discard"]))
    stage = draw(st.sampled_from(["RCPT", "END-OF-MESSAGE", "header", "body", "CONNECT"]))
    forms = [
        f"{qid}: client=mail.example.org[10.213.1.2]",
        f"{qid}: client=",
        f"{qid}: removed",
        f"{qid}: from=<{addr}>, size={draw(st.integers(0, 99999))}, nrcpt=1 (queue active)",
        f"{qid}: from=<{addr}>, size=12, nrcpt=1",
        f"{qid}: from=<{addr}>, status=expired, returned to sender",
        f"{qid}: to=<{addr}>, relay=mx.example.org[10.213.3.3]:25, delay=1.2, delays=0.1/0/0.4/0.7, "
        f"dsn=2.0.0, status={status}{detail}",
        f"{qid}: to=<{addr}>, orig_to=<x@example.test>, relay=local, conn_use=2, delay=0.1, status={status}{detail}",
        f"{qid}: to=<{addr}>, relay=none, delay=1, status={status} (unterminated",
        f"{qid}: uid=0 from=<root>",
        f"{qid}: sender=<root>",
        f"{qid}: message-id=<20240705.1@example.test>",
        f"{qid}: {action}: {stage} from mail.example.org[10.213.1.2]: 554 5.7.1 <{addr}>: Relay access denied; "
        f"from=<{addr}> to=<u@example.test> proto=ESMTP helo=<x>",
        f"{qid}: {action}: {stage} from unknown[10.213.9.9]: 550 5.7.1 Service unavailable; client [10.213.9.9] "
        "blocked using zen.spamhaus.org",
        f"{qid}: {action}: header Subject: spam from x[10.213.1.1]; from=<a@example.org> to=<b@example.test> "
        "proto=ESMTP helo=<x>: 5.7.1 no spam",
        "warning: unknown[10.213.7.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        "warning: unknown[10.213.7.7]: SASL PLAIN authentication failed: , sasl_username=eve@example.test",
        "warning: x[1.2.3.4]: SASL LOGIN authentication failed: Anonymous TLS connection established from "
        "a[1.2.3.4]: TLSv1.3 with cipher X",
        "SSL_accept error from unknown[10.213.8.8]: -1",
        "SSL_connect error to mx.example.org[10.213.3.3]:25: lost connection",
        "warning: TLS library problem: error:0A000126:SSL routines::unexpected eof",
        "TLS handshake failed for mx.example.org",
        "some TLS_HANDSHAKE trouble",
        "connect from mail.example.org[10.213.1.2]",
        "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<a@example.test>, rip=10.213.5.5",
        # Text that looks like another program's candidate line, inside this line's message.
        f"echo Jul  5 17:57:08 mx postfix/smtpd[1]: {qid}: client=x[10.213.1.1]",
        f"x]: {qid}: client=y[10.213.1.1]",
    ]
    return draw(st.sampled_from(forms))


@st.composite
def log_lines(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:  # a short line that is no record at all
        return draw(st.text(alphabet="xyz ", max_size=40))
    stamp = draw(STAMPS).format(s=draw(st.integers(0, 59)))
    host = draw(st.sampled_from(["mx", "mail.example.test", "mx\tbad"]))
    line = f"{stamp} {host} {draw(PROGRAMS)}: {draw(messages())}"
    return line + draw(st.sampled_from(["", "", "", "\r"]))


def _comparable(d: dict) -> dict:
    # The line statistics are not the same figures (the fast route does not parse every line) and the
    # period comes from the first and last lines there; everything counted must be equal.
    return {k: v for k, v in d.items() if k not in ("lines", "period")}


@settings(max_examples=400, deadline=None)
@given(st.lists(log_lines(), max_size=60))
def test_fast_route_counts_what_the_general_route_counts(lines):
    fast = summarize_lines(lines).to_dict(top=50)
    general = summarize(parse_lines(lines)).to_dict(top=50)
    assert _comparable(fast) == _comparable(general)


@settings(max_examples=100, deadline=None)
@given(st.lists(log_lines(), min_size=1, max_size=60), st.integers(1, 7))
def test_batches_do_not_change_the_counts(lines, batch):
    # summarize_lines() feeds the fast route in batches: block boundaries must not matter.
    whole = summarize_lines(lines).to_dict(top=50)
    assert summarize_lines(lines, batch=batch).to_dict(top=50) == whole


def test_a_line_start_guessed_from_the_line_before_is_checked():
    # The fast route guesses where a line starts from the line before (the same host, the same stamp
    # width); a short line between a long host's and a short host's lines makes that guess land on the
    # short line's start: it must be seen to be wrong, and the line read from its real start.
    lines = [
        "Jul  5 17:57:00 mail.example.test postfix/smtpd[1]: 0A1B2C3D4E: client=a[10.213.1.1]",
        "x" * 14,
        "Jul  5 17:57:01 mx postfix/qmgr[2]: 0A1B2C3D4E: from=<a@example.org>, size=5, nrcpt=1 (queue active)",
    ]
    s = summarize_lines(lines)
    assert (s.received, s.bytes_received, dict(s.senders)) == (1, 5, {"a@example.org": 1})


# One case per matcher of the fast route (fastcount._MATCHERS): the line it takes apart, the lines before it
# that it depends on, and what it counts. Each must be counted by its own matcher (the general route never
# sees it) and give what the general route gives.
_AT = "Jul  5 17:57:01 mx "
_CLIENT = f"{_AT}postfix/smtpd[100]: 0A1B2C3D4E: client=mail.example.org[10.213.1.2]"
_FROM = f"{_AT}postfix/qmgr[900]: 0A1B2C3D4E: from=<alice@example.test>, size=285, nrcpt=1 (queue active)"
_TO = (
    f"{_AT}postfix/smtp[103]: 0A1B2C3D4E: to=<bob@example.org>, relay=mx.example.org[10.213.3.3]:25, delay=1.2, "
    "delays=0.1/0/0.4/0.7, dsn=2.0.0, status=sent"
)
MATCHER_CASES = {
    "client": ([], _CLIENT, "_client", {"received": 1}),
    "pickup": ([], f"{_AT}postfix/pickup[901]: 0A1B2C3D4E: uid=0 from=<root>", "_pickup", {"received": 1}),
    "queued": ([_CLIENT], _FROM, "_queued", {"received": 1, "bytes_received": 285}),
    # removed drops the queue ID's state: the delivery after it has no size to count.
    "removed": ([_CLIENT, _FROM], f"{_AT}postfix/qmgr[900]: 0A1B2C3D4E: removed", "_removed", {"bytes_delivered": 0}),
    "delivery": ([_CLIENT, _FROM], _TO, "_delivery", {"delivered": 1, "bytes_delivered": 285}),
    "delivery with a detail": (
        [_CLIENT, _FROM],
        _TO.replace("status=sent", "status=deferred (connect to mx.example.org[10.213.3.3]:25: Connection refused)"),
        "_delivery",
        {"deferred": 1, "deferrals": 1},
    ),
    "refusal": (
        [],
        f"{_AT}postfix/smtpd[100]: NOQUEUE: reject: RCPT from unknown[10.213.9.9]: 554 5.7.1 <b@example.test>: "
        "Relay access denied; from=<a@example.org> to=<b@example.test> proto=ESMTP helo=<x>",
        "_refusal",
        {"rejected": 1},
    ),
    "sasl failure": (
        [],
        f"{_AT}postfix/smtpd[100]: warning: unknown[10.213.7.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        "_sasl_failure",
        {"sasl_failures": 1},
    ),
}


def _count(lines: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list[str]]:
    """The fast route's summary of ``lines``, and the lines it handed to the general route."""
    handed: list[str] = []
    general = fastcount.FastCounter._general

    def record(self: fastcount.FastCounter, line: bytes) -> None:
        handed.append(line.decode())
        general(self, line)

    monkeypatch.setattr(fastcount.FastCounter, "_general", record)
    return summarize_lines(lines).to_dict(top=50), handed


@pytest.mark.parametrize(("before", "line", "matcher", "expected"), MATCHER_CASES.values(), ids=MATCHER_CASES)
def test_each_kind_of_line_is_counted_by_its_matcher(
    before: list[str], line: str, matcher: str, expected: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    m = fastcount._CANDIDATE.search(line.encode())
    assert m is not None and fastcount._MATCHERS[m.lastindex or 0] is getattr(fastcount, matcher)
    fast, handed = _count([*before, line], monkeypatch)
    assert line not in handed
    assert {k: fast["counts"][k] for k in expected} == expected
    assert _comparable(fast) == _comparable(summarize(parse_lines([*before, line])).to_dict(top=50))


def test_every_matcher_has_its_case() -> None:
    assert {case[2] for case in MATCHER_CASES.values()} == {f.__name__ for f in fastcount._BY_LAST_GROUP.values()}


# Forms of those kinds that their matcher leaves to the general route (events.py reads them another way).
HANDED_ON = {
    "client= without a queue ID": (f"{_AT}postfix/smtpd[100]: NOQUEUE: client=mail.example.org[10.213.1.2]", "_client"),
    "uid= from another program": (f"{_AT}postfix/smtpd[100]: 0A1B2C3D4E: uid=0 from=<root>", "_pickup"),
    "removed without a queue ID": (f"{_AT}postfix/qmgr[900]: NOQUEUE: removed", "_removed"),
    "a sender that reads as qmgr's expired line": (
        f"{_AT}postfix/qmgr[900]: 0A1B2C3D4E: from=<status=expired@example.test>, size=12, nrcpt=1",
        "_queued",
    ),
    "a delivery without a queue ID": (_TO.replace("0A1B2C3D4E", "NOQUEUE"), "_delivery"),
    "pickup's own reject": (
        f"{_AT}postfix/pickup[901]: 0A1B2C3D4E: reject: END-OF-MESSAGE from local: 550 5.7.1 no; from=<a@example.test>",
        "_refusal",
    ),
    "a SASL warning from postscreen": (
        f"{_AT}postfix/postscreen[600]: warning: unknown[10.213.7.7]: SASL LOGIN authentication failed: x",
        "_sasl_failure",
    ),
    "a SASL warning that is a TLS line": (
        f"{_AT}postfix/smtpd[100]: warning: x[10.213.1.4]: SASL LOGIN authentication failed: Anonymous TLS "
        "connection established from a[10.213.1.4]: TLSv1.3 with cipher X",
        "_sasl_failure",
    ),
}


@pytest.mark.parametrize(("line", "matcher"), HANDED_ON.values(), ids=HANDED_ON)
def test_forms_a_matcher_declines_go_the_general_way(line: str, matcher: str, monkeypatch: pytest.MonkeyPatch) -> None:
    m = fastcount._CANDIDATE.search(line.encode())
    assert m is not None and fastcount._MATCHERS[m.lastindex or 0] is getattr(fastcount, matcher)
    fast, handed = _count([line], monkeypatch)
    assert handed == [line]
    assert _comparable(fast) == _comparable(summarize(parse_lines([line])).to_dict(top=50))
