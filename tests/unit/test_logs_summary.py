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
