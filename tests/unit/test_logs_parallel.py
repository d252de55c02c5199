"""Issue 7: `logs summary` in two processes (mailforge/logs/parallel.py) gives exactly the one-process
summary, wherever the file is cut: messages in flight across the cut, the days' order, the period, and
the cases where the second piece must be read again (reused queue IDs, too much state, a failed child).
Compressed files and stdin are read by one process."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailforge.logs import fastcount, parallel, queues
from mailforge.logs.count import summarize_files
from mailforge.logs.fastcount import FastCounter
from mailforge.logs.sources import reference_time
from mailforge.logs.summary import Summary
from mailforge.logs.synthetic import write
from tests.unit.test_logs_fastcount import log_lines

SCENARIOS = Path(__file__).parent / "data" / "logs" / "scenarios.log"


def _starts(data: bytes) -> list[int]:
    """Every line's start, and the end: every place the file can be cut."""
    return [0, *(i + 1 for i, b in enumerate(data) if b == 10 and i + 1 < len(data)), len(data)]


def _whole(path: Path) -> dict:
    return summarize_files([str(path)]).to_dict(top=1000)


def _in_two(path: Path, cut: int) -> dict:
    """The two pieces counted as the two processes count them (here, one after the other), then joined."""
    reference, end = reference_time(str(path)), path.stat().st_size
    summary = Summary()
    counter = FastCounter(summary, reference)
    parallel.count_range(counter, str(path), 0, cut)
    part = pickle.loads(pickle.dumps(parallel.count_second(str(path), reference, cut, end)))
    parallel.join(counter, part, str(path), cut, end)
    counter.finish()
    return summary.to_dict(top=1000)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    paths = []
    for seed in (1, 2, 3):
        path = tmp_path_factory.mktemp("parallel") / f"mail{seed}.log"
        write(str(path), 3000, seed=seed)
        paths.append(path)
    return paths


@pytest.mark.parametrize("line", range(len(SCENARIOS.read_bytes().splitlines()) + 1))
def test_cut_before_every_line_of_the_scenarios(line):
    cut = _starts(SCENARIOS.read_bytes())[line]
    assert _in_two(SCENARIOS, cut) == _whole(SCENARIOS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2), st.floats(0, 1))
def test_cut_anywhere_in_a_synthetic_log(synthetic, which, where):
    path = synthetic[which]
    starts = _starts(path.read_bytes())
    assert _in_two(path, starts[int(where * (len(starts) - 1))]) == _whole(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(log_lines(), min_size=1, max_size=50), st.floats(0, 1), st.sampled_from([1 << 20, 64]))
def test_cut_anywhere_in_any_mix_of_lines(tmp_path, monkeypatch, lines, where, block):
    # Generated lines reuse a few queue IDs in any order, so queue IDs open at the cut arrive again after
    # it: the join must notice those and read the second piece again. Small blocks make the child note
    # where its pending lines start line by line, so the join replays more of them instead.
    monkeypatch.setattr(fastcount, "BLOCK", block)
    path = tmp_path / "mix.log"
    path.write_bytes("\n".join(lines).encode() + b"\n")
    starts = _starts(path.read_bytes())
    assert _in_two(path, starts[int(where * (len(starts) - 1))]) == _whole(path)


REUSED = [
    "Jul  5 17:00:00 mx postfix/smtpd[1]: 0A1B2C3D4E: client=a[10.213.1.1]",
    "Jul  5 17:00:01 mx postfix/qmgr[2]: 0A1B2C3D4E: from=<a@example.org>, size=100, nrcpt=1 (queue active)",
    # the cut; the removal of the message above was never logged, and its queue ID is used again:
    "Jul  5 17:00:02 mx postfix/smtpd[1]: 0A1B2C3D4E: client=b[10.213.1.2]",
    "Jul  5 17:00:03 mx postfix/qmgr[2]: 0A1B2C3D4E: removed",
    "Jul  5 17:00:04 mx postfix/qmgr[2]: 0A1B2C3D4E: from=<c@example.org>, size=7, nrcpt=1 (queue active)",
    "Jul  5 17:00:05 mx postfix/smtp[3]: 0A1B2C3D4E: to=<d@example.net>, relay=none, delay=1, "
    "status=deferred (connect to mx.example.net[10.213.3.3]:25: Connection refused)",
]


IN_FLIGHT = [
    "Jul  5 17:00:00 mx postfix/smtpd[1]: 0A1B2C3D4E: client=a[10.213.1.1]",
    "Jul  5 17:00:01 mx postfix/qmgr[2]: 0A1B2C3D4E: from=<a@example.org>, size=100, nrcpt=1 (queue active)",
    # the cut: the rest of the message is in the second piece
    "Jul  5 17:00:02 mx postfix/smtp[3]: 0A1B2C3D4E: to=<d@example.net>, relay=none, delay=1, "
    "status=deferred (connect to mx.example.net[10.213.3.3]:25: Connection refused)",
    "Jul  5 17:05:02 mx postfix/smtp[3]: 0A1B2C3D4E: to=<d@example.net>, relay=none, delay=301, "
    "status=deferred (connect to mx.example.net[10.213.3.3]:25: Connection refused)",
    "Jul  5 17:10:02 mx postfix/smtp[3]: 0A1B2C3D4E: to=<d@example.net>, relay=mx.example.net[10.213.3.3]:25, "
    "delay=601, status=sent (250 ok)",
    "Jul  5 17:10:02 mx postfix/qmgr[2]: 0A1B2C3D4E: removed",
]
# A queue ID used again (its removal never logged) after the line that continues the message from before.
REUSED_LATER = [
    *IN_FLIGHT[:2],
    IN_FLIGHT[4],
    "Jul  5 17:20:00 mx postfix/smtpd[1]: 0A1B2C3D4E: client=b[10.213.1.2]",
    "Jul  5 17:20:01 mx postfix/qmgr[2]: 0A1B2C3D4E: from=<c@example.org>, size=7, nrcpt=1 (queue active)",
]


# A message seen first at a deferral (its arrival is in an older log): its sender does not count.
NOT_RECEIVED_HERE = [IN_FLIGHT[2], IN_FLIGHT[1], IN_FLIGHT[4]]


@pytest.mark.parametrize("block", [1 << 20, 64])
@pytest.mark.parametrize(
    ("lines", "cut", "figures"),
    [(IN_FLIGHT, 2, (1, 2, 100, 1)), (REUSED_LATER, 2, (0, 0, 100, 2)), (NOT_RECEIVED_HERE, 1, (1, 1, 100, 0))],
)
def test_pending_lines_are_completed_by_the_join(tmp_path, monkeypatch, block, lines, cut, figures):
    # deferred once however many deferrals, the bytes delivered, the senders that count: all depend on
    # state from the first piece
    monkeypatch.setattr(fastcount, "BLOCK", block)
    path = tmp_path / "pending.log"
    path.write_text("\n".join(lines) + "\n")
    whole = _whole(path)
    c = whole["counts"]
    ours = (c["deferred"], c["deferrals"], c["bytes_delivered"], len(whole["top_senders"]))
    assert (_in_two(path, _starts(path.read_bytes())[cut]), ours) == (whole, figures)


def _spy_rereads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = parallel.count_range

    def count_range(counter, path, start, end):
        if start > 0 and counter.chunk is None:  # the first process reading the second piece
            calls.append(start)
        real(counter, path, start, end)

    monkeypatch.setattr(parallel, "count_range", count_range)
    return calls


def test_a_queue_id_reused_across_the_cut_makes_the_second_piece_read_again(tmp_path, monkeypatch):
    path = tmp_path / "reused.log"
    path.write_text("\n".join(REUSED) + "\n")
    cut = _starts(path.read_bytes())[2]
    rereads = _spy_rereads(monkeypatch)
    assert (_in_two(path, cut), rereads) == (_whole(path), [cut])


def test_messages_in_flight_across_the_cut_are_joined_without_reading_again(tmp_path, monkeypatch):
    path = tmp_path / "inflight.log"
    path.write_text("\n".join([*REUSED[:2], *REUSED[3:]]) + "\n")  # no reuse: the message just goes on
    cut = _starts(path.read_bytes())[2]
    rereads = _spy_rereads(monkeypatch)
    whole = _whole(path)
    assert (_in_two(path, cut), rereads, whole["counts"]["bytes_received"]) == (whole, [], 100)


def test_more_queue_ids_than_the_limit_make_the_second_piece_read_again(synthetic, monkeypatch):
    path = synthetic[0]
    monkeypatch.setattr(queues, "OPEN_LIMIT", 1)
    cut = _starts(path.read_bytes())[1500]
    rereads = _spy_rereads(monkeypatch)
    assert (_in_two(path, cut), rereads) == (_whole(path), [cut])


def test_too_much_pending_state_makes_the_second_piece_read_again(synthetic, monkeypatch):
    path = synthetic[1]
    monkeypatch.setattr(queues.ChunkQueues, "MAX_PENDING", 1)
    cut = _starts(path.read_bytes())[1500]
    rereads = _spy_rereads(monkeypatch)
    assert (_in_two(path, cut), rereads) == (_whole(path), [cut])


def _count_forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    forks: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return forks


def test_two_processes_give_the_one_process_summary(synthetic, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_SPLIT", 0)
    forks = _count_forks(monkeypatch)
    two = summarize_files([str(p) for p in synthetic], jobs=2).to_dict(top=1000)
    one = summarize_files([str(p) for p in synthetic], jobs=1).to_dict(top=1000)
    assert (two, len(forks)) == (one, 3)


def test_a_failed_child_means_the_second_piece_is_read_here(synthetic, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_SPLIT", 0)

    def fail(*args):
        raise RuntimeError("the child fails")

    monkeypatch.setattr(parallel, "count_second", fail)
    assert summarize_files([str(synthetic[2])], jobs=2).to_dict(top=1000) == _whole(synthetic[2])


def test_a_small_file_is_not_cut(synthetic):
    assert parallel.cut_point(str(synthetic[0])) is None  # under MIN_SPLIT


def test_a_large_file_is_cut_at_a_line_start(synthetic, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_SPLIT", 0)
    data, cut = synthetic[0].read_bytes(), parallel.cut_point(str(synthetic[0]))
    assert cut is not None and data[cut - 1 : cut] == b"\n" and len(data) // 2 <= cut < len(data)


def test_gzip_is_read_by_one_process(synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_SPLIT", 0)
    gz = tmp_path / "mail.log.1.gz"
    gz.write_bytes(gzip.compress(synthetic[0].read_bytes()))
    os.utime(gz, (synthetic[0].stat().st_mtime,) * 2)  # the same year reference
    forks = _count_forks(monkeypatch)
    assert (summarize_files([str(gz)], jobs=2).to_dict(top=1000), forks) == (_whole(synthetic[0]), [])


def test_stdin_is_read_by_one_process(synthetic, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_SPLIT", 0)
    forks = _count_forks(monkeypatch)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(synthetic[1].read_bytes())))
    ours = summarize_files(["-"], jobs=2).to_dict()
    assert (ours["counts"], forks) == (_whole(synthetic[1])["counts"], [])
