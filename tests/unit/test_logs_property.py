"""Issue 7: arbitrary bytes and truncated lines never crash the parser, the tracer or the summary."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mailforge.logs import summarize_lines, trace
from mailforge.logs.events import classify
from mailforge.logs.records import LineParser, ParseStats

LINES = (Path(__file__).parent / "data" / "logs" / "scenarios.log").read_text().splitlines()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_parser(data):
    stats = ParseStats()
    rec = LineParser(stats=stats).parse(data.decode("utf-8", "replace"))
    if rec is not None:
        classify(rec, stats)
    assert stats.lines == 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LINES), st.integers(min_value=0, max_value=400))
def test_truncated_lines_never_crash_trace_or_summary(line, cut):
    lines = [*LINES[:5], line[:cut], *LINES[5:10]]
    traces = trace("3F2A1C0B7D", lines)
    summary = summarize_lines(lines)
    assert (isinstance(traces, list), summary.stats.lines) == (True, 11)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=40), st.sampled_from(["3F2A1C0B7D", "bob@example.test", "10.213.7.7"]))
def test_shuffled_lines_never_crash_trace(lines, query):
    assert isinstance(trace(query, lines), list)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_postfix_messages_never_crash(message):
    lines = [f"Jul  5 17:57:08 mx postfix/{svc}[1]: {message}" for svc in ("smtpd", "smtp", "cleanup", "qmgr")]
    lines += [f"Jul  5 17:57:08 mx postfix/smtpd[1]: 3F2A1C0B7D: {message}", f"Jul  5 17:57:08 mx dovecot: {message}"]
    assert isinstance(trace("3F2A1C0B7D", lines), list)
