"""Issue 7: `logs summary` reports what pflogsumm reports, counted the same way."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mailforge.logs import read_records, summarize, summarize_files, summary_text
from mailforge.logs.synthetic import write

LOG = Path(__file__).parent / "data" / "logs" / "scenarios.log"


@pytest.fixture(scope="module")
def summary():
    return summarize_files([str(LOG)])


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        # 13 smtpd/pickup arrivals + amavis's re-injection through postfix/10025/smtpd
        ("received", 14),
        ("delivered", 3),
        ("deferred", 5),
        ("deferrals", 5),
        ("bounced", 4),
        ("rejected", 6),
        ("held", 1),
        ("expired", 1),
        ("sasl_failures", 1),
        ("login_failures", 1),
        ("tls_failures", 1),
        ("delivered_local", 1),
    ],
)
def test_counts(summary, field, expected):
    assert getattr(summary, field) == expected


def test_top_sender(summary):
    assert summary.senders.most_common(1) == [("carol@example.test", 10)]


def test_reject_reason_groups_rbl_by_list(summary):
    assert summary.reject_reasons["client blocked using zen.spamhaus.org"] == 1


def test_sasl_failures_by_client(summary):
    assert dict(summary.sasl_failures_by_client) == {"10.213.7.7": 1}


def test_hourly_received(summary):
    assert (summary.hourly["received"][17], summary.hourly["received"][18]) == (2, 12)


def test_unknown_lines_counted(summary):
    assert summary.stats.unparsed == 1


def test_text_report_has_every_section(summary):
    text = summary_text(summary)
    titles = ["Messages", "Top senders", "Reject reasons", "Deferral reasons", "Bounce reasons", "Per hour"]
    assert [t for t in titles if t not in text] == []


def test_json_shape(summary):
    d = summary.to_dict(top=3)
    assert (d["counts"]["bounced"], len(d["top_senders"]) <= 3) == (4, True)


def _pflogsumm_counts(path: Path) -> dict[str, int]:
    out = subprocess.run(["pflogsumm", str(path)], capture_output=True, text=True, check=True).stdout
    counts = {}
    for label in ("received", "delivered", "deferred", "bounced", "rejected"):
        m = re.search(rf"^\s+(\d+)\s+{label}\b", out, re.M)
        assert m is not None, label
        counts[label] = int(m.group(1))
    return counts


def test_main_counts_agree_with_pflogsumm(tmp_path: Path):
    # pflogsumm is in apt-packages.txt; its counts are the reference the bench also compares.
    assert shutil.which("pflogsumm"), "pflogsumm missing: run scripts/bootstrap.sh"
    path = tmp_path / "mail.log"
    write(str(path), 5000, seed=3)
    s = summarize_files([str(path)])
    ours = {k: getattr(s, k) for k in ("received", "delivered", "deferred", "bounced", "rejected")}
    assert ours == _pflogsumm_counts(path)


def _as_journal_json(line: str) -> str:
    """The same record as `journalctl -o json` would export it."""
    import json

    from mailforge.logs.records import LineParser

    rec = LineParser().parse(line)
    if rec is None:
        return line
    assert rec.ts is not None
    return json.dumps(
        {
            "__REALTIME_TIMESTAMP": str(int(rec.ts.timestamp() * 1_000_000)),
            "_HOSTNAME": rec.host,
            "SYSLOG_IDENTIFIER": rec.program,
            **({"_PID": str(rec.pid)} if rec.pid is not None else {}),
            "MESSAGE": rec.message,
        }
    )


COUNT_KEYS = ("received", "delivered", "deferred", "deferrals", "bounced", "rejected", "held", "bytes_received")


@pytest.mark.parametrize("path", [LOG, "synthetic"])
def test_fast_route_agrees_with_general_route(path, tmp_path: Path):
    # summarize_files counts common lines straight from the text; summarize() parses every line.
    if path == "synthetic":
        path = tmp_path / "mail.log"
        write(str(path), 3000, seed=5)
    fast = summarize_files([str(path)]).to_dict()
    general = summarize(read_records([str(path)])).to_dict()
    assert {k: v for k, v in fast.items() if k != "lines"} == {k: v for k, v in general.items() if k != "lines"}


def test_journald_json_counts_match_syslog(tmp_path: Path):
    path = tmp_path / "journal.json"
    path.write_text("\n".join(_as_journal_json(line) for line in LOG.read_text().splitlines()) + "\n")
    ours = summarize_files([str(path)]).to_dict()["counts"]
    reference = summarize_files([str(LOG)]).to_dict()["counts"]
    assert {k: ours[k] for k in COUNT_KEYS} == {k: reference[k] for k in COUNT_KEYS}


def test_summary_of_lines_matches_files():
    from mailforge.logs import summarize_lines

    assert summarize_lines(LOG.read_text().splitlines()).to_dict() == summarize_files([str(LOG)]).to_dict()


ODD_LINES = [
    # Candidate-looking text in the message of a program that is not Postfix: not a record to count.
    "Jul  5 17:57:08 mx CRON[99]: echo x]: 0A1B2C3D4E: client=a[10.213.1.1]",
    "Jul  5 17:57:09 mx postfix/smtpd[100]: 0A1B2C3D4F: client=b.example.org[10.213.1.2]\r",
    "Jul  5 17:57:10 mx postfix/qmgr[101]: 0A1B2C3D4F: from=<a@example.org>, size=12, nrcpt=1 (queue active)",
    "Jul  5 17:57:11 mx postfix/smtp[102]: 0A1B2C3D4F: to=<b@example.net>, relay=none, delay=1, "
    "delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.net[10.213.3.3]:25: Connection refused)\r",
    "Jul  5 17:57:12 mx postfix/smtp[102]: 0A1B2C3D4F: to=<b@example.net>, relay=mx.example.net[10.213.3.3]:25, "
    "delay=2, status=sent (250 ok (id 5))",
    "Jul  5 17:57:13 mx postfix/qmgr[101]: 0A1B2C3D4F: from=<a@example.org>, status=expired, returned to sender",
    "garbage ]: 0A1B2C3D50: client=c[10.213.1.3]",
    "Jul  5 1x:57:14 mx postfix/smtpd[100]: 0A1B2C3D51: client=d[10.213.1.4]",
    "Jul  5 17:57:15 mx postfix/pickup[103]: 0A1B2C3D52: uid=0 from=<root>",
    "Jul  5 17:57:15 mx postfix/qmgr[101]: 0A1B2C3D52: from=<root@example.test>, size=700, nrcpt=1 (queue active)",
    "Jul  5 17:57:16 mx postfix/local[104]: 0A1B2C3D52: to=<root@example.test>, relay=local, delay=0.1, "
    "delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)",
    "Jul  5 17:57:17 mx postfix/qmgr[101]: 0A1B2C3D52: removed",
    "2024-07-05T17:57:18.000001+02:00 mx postfix/smtpd[105]: 0A1B2C3D53: client=e[10.213.1.5]",
    "2024-07-05T17:57:19.000001+02:00 mx postfix/qmgr[101]: 0A1B2C3D53: from=<>, size=3, nrcpt=1 (queue active)",
]


def test_fast_route_agrees_with_general_route_on_odd_lines(tmp_path: Path):
    path = tmp_path / "odd.log"
    path.write_bytes(("\n".join(ODD_LINES) + "\n").encode())
    fast = summarize_files([str(path)]).to_dict()
    general = summarize(read_records([str(path)])).to_dict()
    # The period is not compared: the fast route takes it from the first and last lines, whatever they are.
    skip = ("lines", "period")
    assert {k: v for k, v in fast.items() if k not in skip} == {k: v for k, v in general.items() if k not in skip}
