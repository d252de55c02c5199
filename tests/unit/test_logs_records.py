"""Issue 7: the log parser reads every supported format and never dies on a line."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import pytest

from mailforge.logs.events import split_program
from mailforge.logs.records import LineParser, ParseStats
from mailforge.logs.sources import chronological, read_records

REF = datetime(2024, 7, 10, 12, 0, 0)


def parse(line: str, reference: datetime = REF):
    return LineParser(reference).parse(line)


def test_traditional_syslog_timestamp():
    rec = parse("Jul  5 17:57:08 mx postfix/smtpd[123]: connect from a[10.213.1.1]")
    assert rec is not None
    assert rec.ts == datetime(2024, 7, 5, 17, 57, 8)


def test_traditional_syslog_fields():
    rec = parse("Jul  5 17:57:08 mx postfix/submission/smtpd[123]: connect from a[10.213.1.1]")
    assert (rec.host, rec.program, rec.pid, rec.message) == (
        "mx",
        "postfix/submission/smtpd",
        123,
        "connect from a[10.213.1.1]",
    )


def test_maillog_file_microseconds():
    # Postfix's own maillog_file (postlogd) adds microseconds to the traditional timestamp.
    rec = parse("Jul  5 17:57:08.123456 mx postfix/qmgr[900]: 3F2A1C0B7D: removed")
    assert rec.ts == datetime(2024, 7, 5, 17, 57, 8, 123456)


def test_rfc3339_timestamp_keeps_offset():
    rec = parse("2024-07-05T17:57:08.250000+02:00 mx postfix/qmgr[900]: 3F2A1C0B7D: removed")
    assert rec.ts.isoformat() == "2024-07-05T17:57:08.250000+02:00"


def test_journald_json_line():
    obj = {
        "__REALTIME_TIMESTAMP": "1720195028000000",
        "_HOSTNAME": "mx",
        "SYSLOG_IDENTIFIER": "postfix/qmgr",
        "_PID": "900",
        "MESSAGE": "3F2A1C0B7D: removed",
    }
    rec = parse(json.dumps(obj))
    assert (rec.program, rec.pid, rec.message, int(rec.ts.timestamp())) == (
        "postfix/qmgr",
        900,
        "3F2A1C0B7D: removed",
        1720195028,
    )


def test_journald_binary_message_is_decoded():
    # journald exports a message that is not valid UTF-8 as an array of byte values.
    obj = {"SYSLOG_IDENTIFIER": "postfix/smtpd", "MESSAGE": [104, 105, 255]}
    rec = parse(json.dumps(obj))
    assert rec.message == "hi\ufffd"


def test_year_inferred_before_reference_month():
    # A December line read in January belongs to last year.
    rec = parse("Dec 31 23:59:59 mx postfix/qmgr[1]: X: removed", reference=datetime(2025, 1, 1, 0, 10))
    assert rec.ts.year == 2024


def test_year_rolls_over_across_boundary():
    parser = LineParser(datetime(2025, 1, 1, 0, 10))
    parser.parse("Dec 31 23:59:59 mx postfix/qmgr[1]: A: removed")
    rec = parser.parse("Jan  1 00:00:01 mx postfix/qmgr[1]: B: removed")
    assert rec is not None and rec.ts == datetime(2025, 1, 1, 0, 0, 1)


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("postfix/smtpd", ("postfix", "smtpd", "")),
        ("postfix/submission/smtpd", ("postfix", "smtpd", "submission")),
        ("postfix/smtps/smtpd", ("postfix", "smtpd", "smtps")),
        ("postfix/10025/smtpd", ("postfix", "smtpd", "10025")),
        ("postfix/amavis/smtp", ("postfix", "smtp", "amavis")),
        ("postfix-out/smtp", ("postfix-out", "smtp", "")),
    ],
)
def test_custom_syslog_names(program, expected):
    assert split_program(program) == expected


@pytest.mark.parametrize("line", ["", "garbage", "Foo  5 17:57:08 mx x: y", "{not json", "[1,2]", "2024-13-99T99 x"])
def test_unknown_lines_are_counted_not_fatal(line):
    stats = ParseStats()
    assert LineParser(REF, stats).parse(line) is None
    assert stats.unparsed == 1


def test_gzip_rotated_file_is_read(tmp_path: Path):
    path = tmp_path / "mail.log.2.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("Jul  5 17:57:08 mx postfix/qmgr[900]: 3F2A1C0B7D: removed\n")
    assert [r.message for r in read_records([str(path)])] == ["3F2A1C0B7D: removed"]


def test_truncated_gzip_keeps_readable_lines(tmp_path: Path):
    path = tmp_path / "mail.log.1.gz"
    data = gzip.compress(b"".join(b"Jul  5 17:57:08 mx postfix/qmgr[900]: %06X: removed\n" % i for i in range(5000)))
    path.write_bytes(data[: len(data) // 2])
    records = list(read_records([str(path)]))
    assert 0 < len(records) < 5000


def test_rotated_files_are_read_oldest_first():
    assert chronological(["mail.log", "mail.log.1", "mail.log.3.gz", "mail.log.2.gz"]) == [
        "mail.log.3.gz",
        "mail.log.2.gz",
        "mail.log.1",
        "mail.log",
    ]


# Issue 14: a copy of a wrapped terminal sets fields apart by runs of spaces; such a line reads as the file's.
SINGLE = (
    "Jul  5 17:57:09 mx postfix/lmtp[2115]: 8C1D2E3F4A: to=<bob@example.test>, relay=mx[private/dovecot-lmtp], "
    "status=sent (250 2.0.0 Saved)"
)
SPACED = [
    SINGLE.replace("Jul  5", "Jul     5"),
    SINGLE.replace("17:57:09 mx", "17:57:09    mx"),
    SINGLE.replace("mx postfix", "mx   postfix"),
    SINGLE.replace("]: 8C1D", "]:    8C1D"),
    SINGLE.replace(", ", ",    "),
    SINGLE + "     ",
    "2024-07-05T17:57:09.000001+02:00   mx  postfix/lmtp[2115]:  8C1D2E3F4A:  to=<bob@example.test>",
]


@pytest.mark.parametrize("line", SPACED)
def test_runs_of_spaces_read_as_one(line):
    rec, plain = parse(line), parse(" ".join(line.split()).replace("Jul 5", "Jul  5"))
    assert (rec.ts, rec.host, rec.program, rec.pid, rec.message) == (
        plain.ts,
        plain.host,
        plain.program,
        plain.pid,
        plain.message,
    )


def test_a_spaced_line_keeps_its_raw_text():
    assert parse(SPACED[2]).raw == SPACED[2]
