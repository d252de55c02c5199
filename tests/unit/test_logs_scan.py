"""Issue 7: the mapped-file trace reads the log with `grep -F` when it can; the traces must be the ones the
pure-Python scan and the line-by-line tracer give, re-queued chains included (new IDs found in later
passes, new IDs whose first lines come before the old ID's "queued as", chains across rotated files)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mailforge.logs import scan, trace, trace_files
from mailforge.logs.render import trace_text
from mailforge.logs.synthetic import write

NOISE = "Jul  1 00:{m:02d}:{s:02d} mx CRON[{pid}]: (root) CMD (run-parts /etc/cron.hourly {n})"


def _texts(traces) -> list[str]:
    return [trace_text(t, raw=True) for t in traces]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scan") / "mail.log"
    write(str(path), 20_000, seed=13)
    return path


def _requeued(path: Path) -> list[tuple[str, str]]:
    """(old, new) queue IDs of the amavis hand-offs in a synthetic log, a few spread over the file."""
    pairs = re.findall(
        r"\]: ([0-9A-F]+): to=<[^>]*>, relay=127\.0\.0\.1\[[^\n]*queued as ([0-9A-F]+)\)", path.read_text()
    )
    return [pairs[0], pairs[len(pairs) // 2], pairs[-1]]


def test_grep_is_used_here() -> None:
    # GNU grep is part of every Debian system; without it the tests below would compare Python with itself.
    assert scan._grep() is not None


@pytest.mark.parametrize("back", [scan.BACK, 40_000, 2_000, 200])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_grep_and_python_scans_give_identical_traces(
    synthetic: Path, which: int, back: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small BACK cuts the window in which a re-queued ID is searched through its first lines: the two
    # scans must still agree line for line (same window, same lines kept).
    monkeypatch.setattr(scan, "BACK", back)
    old, new = _requeued(synthetic)[which]
    for query in (old, new):
        by_grep = _texts(trace_files(query, [str(synthetic)]))
        monkeypatch.setattr(scan, "_GREP", [None])
        by_python = _texts(trace_files(query, [str(synthetic)]))
        monkeypatch.undo()
        monkeypatch.setattr(scan, "BACK", back)
        assert (len(by_grep), by_grep) == (1, by_python)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_requeued_chain_in_a_big_file_is_the_line_by_line_trace(synthetic: Path, which: int) -> None:
    old, new = _requeued(synthetic)[which]
    lines = synthetic.read_text().splitlines()
    [t] = trace_files(old, [str(synthetic)])
    assert (t.queue_ids, _texts([t])) == ([old, new], _texts(trace(old, lines)))


@pytest.mark.parametrize("query", ["user7@example.test", "USER7@example.test", "10.213.7.51"])
def test_address_and_ip_queries_agree_with_the_python_scan(
    synthetic: Path, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_grep = _texts(trace_files(query, [str(synthetic)]))
    monkeypatch.setattr(scan, "_GREP", [None])
    assert (len(by_grep) >= 1, by_grep) == (True, _texts(trace_files(query, [str(synthetic)])))


def _chain_log(filler: int) -> list[str]:
    """q1 -> amavis -> q2 -> a second filter -> q3 -> LMTP; each new ID's first lines come before the old
    one's "queued as" line, with ``filler`` unrelated lines between every two steps."""
    n = 0

    def noise() -> list[str]:
        nonlocal n
        out = []
        for _ in range(filler):
            n += 1
            out.append(NOISE.format(m=(n // 60) % 60, s=n % 60, pid=2000 + n % 5000, n=n))
        return out

    def t(s: int) -> str:
        return f"Jul  1 01:00:{s:02d}"

    lo = "relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0"
    return [
        f"{t(1)} mx postfix/smtpd[101]: connect from a.example.org[10.213.5.5]",
        f"{t(1)} mx postfix/smtpd[101]: 1111111111: client=a.example.org[10.213.5.5]",
        f"{t(1)} mx postfix/cleanup[102]: 1111111111: message-id=<chain@example.org>",
        f"{t(1)} mx postfix/qmgr[103]: 1111111111: from=<a@example.org>, size=900, nrcpt=1 (queue active)",
        f"{t(1)} mx postfix/smtpd[101]: disconnect from a.example.org[10.213.5.5] commands=5",
        *noise(),
        f"{t(2)} mx postfix/smtpd[104]: connect from localhost[127.0.0.1]",
        f"{t(2)} mx postfix/smtpd[104]: 2222222222: client=localhost[127.0.0.1]",
        f"{t(2)} mx postfix/cleanup[102]: 2222222222: message-id=<chain@example.org>",
        *noise(),
        f"{t(3)} mx postfix/qmgr[103]: 2222222222: from=<a@example.org>, size=1500, nrcpt=1 (queue active)",
        f"{t(3)} mx postfix/smtp[105]: 1111111111: to=<u1@example.test>, {lo}, status=sent "
        "(250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 2222222222)",
        f"{t(3)} mx postfix/qmgr[103]: 1111111111: removed",
        *noise(),
        f"{t(4)} mx postfix/smtpd[106]: connect from localhost[127.0.0.1]",
        f"{t(4)} mx postfix/smtpd[106]: 3333333333: client=localhost[127.0.0.1]",
        *noise(),
        f"{t(5)} mx postfix/qmgr[103]: 3333333333: from=<a@example.org>, size=1600, nrcpt=1 (queue active)",
        f"{t(5)} mx postfix/smtp[107]: 2222222222: to=<u1@example.test>, {lo}, status=sent "
        "(250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3333333333)",
        f"{t(5)} mx postfix/qmgr[103]: 2222222222: removed",
        *noise(),
        f"{t(6)} mx postfix/lmtp[108]: 3333333333: to=<u1@example.test>, relay=mx.example.test[private/dovecot-lmtp], "
        "delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <u1@example.test> Saved)",
        f"{t(6)} mx postfix/qmgr[103]: 3333333333: removed",
        *noise(),
    ]


@pytest.mark.parametrize("filler", [0, 3, 5_000])
@pytest.mark.parametrize("query", ["1111111111", "2222222222", "3333333333"])
def test_chain_of_three_ids_is_followed_pass_after_pass(tmp_path: Path, filler: int, query: str) -> None:
    lines = _chain_log(filler)
    path = tmp_path / "mail.log"
    path.write_text("\n".join(lines) + "\n")
    expected = _texts(trace(query, lines))
    [t] = trace_files(query, [str(path)])
    assert (t.queue_ids, _texts([t])) == (["1111111111", "2222222222", "3333333333"], expected)


@pytest.mark.parametrize("cut", [3, 8, 12, 15])
def test_chain_across_rotated_files(tmp_path: Path, cut: int) -> None:
    # The re-queued IDs are announced in one file and delivered in the next (logrotate between the two).
    lines = _chain_log(40)
    at = len(lines) * cut // 20
    older, newer = tmp_path / "mail.log.1", tmp_path / "mail.log"
    older.write_text("\n".join(lines[:at]) + "\n")
    newer.write_text("\n".join(lines[at:]) + "\n")
    os.utime(older, (1_720_000_000, 1_720_000_000))
    os.utime(newer, (1_720_000_000, 1_720_000_000))
    [t] = trace_files("1111111111", [str(older), str(newer)])
    assert (t.queue_ids, t.verdict.outcome) == (["1111111111", "2222222222", "3333333333"], "delivered")


def test_grep_output_that_does_not_match_the_file_is_not_trusted(
    synthetic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offsets counted from the start of the file instead of where grep began reading, say: fall back.
    fake = tmp_path / "grep"
    fake.write_text('#!/bin/sh\nexec grep "$@" | sed "s/^[0-9]*:/7:/"\n')
    fake.chmod(0o755)
    old, _ = _requeued(synthetic)[1]
    monkeypatch.setattr(scan, "_GREP", [None])
    by_python = _texts(trace_files(old, [str(synthetic)]))
    monkeypatch.setattr(scan, "_GREP", [str(fake)])
    assert _texts(trace_files(old, [str(synthetic)])) == by_python
