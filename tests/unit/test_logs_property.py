"""Issues 7 and 14: arbitrary bytes and truncated lines never crash the parser, the tracer or the summary;
every line is parsed or counted as unparsed, whichever route reads it; runs of spaces change nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailforge.logs import parse_lines, summarize, summarize_files, summarize_lines, trace
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


@st.composite
def spaced(draw: st.DrawFn, line: str) -> str:
    """``line`` with each space widened to a run of one to four, as a wrapped terminal's copy leaves it."""
    return "".join(c * draw(st.sampled_from([1, 1, 2, 4])) if c == " " else c for c in line)


ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=120)
ANY_LINE = st.one_of(
    ANY_TEXT,
    st.sampled_from(LINES),
    st.sampled_from(LINES).flatmap(spaced),
    st.tuples(st.sampled_from(LINES), st.integers(0, 120)).map(lambda lc: lc[0][: lc[1]]),
    ANY_TEXT.map(lambda t: f"Jul  5 17:57:08 {t}"),
)


def _line_counts(stats: ParseStats) -> tuple[int, int]:
    return stats.lines, stats.parsed + stats.unparsed


@settings(max_examples=150, deadline=None)
@given(st.lists(ANY_LINE, max_size=40), st.integers(1, 7))
def test_every_line_is_parsed_or_counted_as_unparsed(lines, batch):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mail.log"
        path.write_bytes("".join(f"{line}\n" for line in lines).encode())
        routes = {
            "general": summarize(parse_lines(lines, stats := ParseStats()), stats).stats,
            "fast": summarize_lines(lines).stats,
            "fast-batches": summarize_lines(lines, batch=batch).stats,
            "file": summarize_files([str(path)], jobs=1).stats,
            "file-2-jobs": summarize_files([str(path)], jobs=2).stats,
        }
    assert {route: _line_counts(s) for route, s in routes.items()} == dict.fromkeys(routes, (len(lines),) * 2)


@pytest.mark.parametrize(
    "line",
    [
        "Jul  5 24:57:08 mx postfix/smtpd[100]: 0A1B2C3D4E: client=a.example.org[10.213.1.2]",  # no hour 24
        "Feb 30 10:00:00 mx postfix/qmgr[900]: 0A1B2C3D4E: removed",  # no such day
        "Jul  5 17:57:08 mx postfix/smtpd[x]: 0A1B2C3D4E: client=a.example.org[10.213.1.2]",  # no such pid
    ],
)
@pytest.mark.parametrize("route", ["lines", "file"])
def test_a_line_the_counts_need_but_the_parser_cannot_read_is_shown_as_unparsed(line, route, tmp_path):
    # The fast route counts most lines by their time stamp alone; one that it hands to the parser, and the
    # parser refuses, must not stay counted as parsed.
    lines = [LINES[0], line, LINES[1]]
    path = tmp_path / "mail.log"
    path.write_text("".join(f"{x}\n" for x in lines))
    stats = summarize_lines(lines).stats if route == "lines" else summarize_files([str(path)]).stats
    assert (stats.parsed, stats.unparsed, stats.unparsed_samples) == (2, 1, [line])


WIDE_LOGS = st.tuples(*(spaced(line) for line in LINES)).map(list)


@settings(max_examples=60, deadline=None)
@given(WIDE_LOGS)
def test_runs_of_spaces_do_not_change_the_summary(wide):
    assert summarize_lines(wide).to_dict() == summarize_lines(LINES).to_dict()


@settings(max_examples=60, deadline=None)
@given(
    WIDE_LOGS,
    st.sampled_from(["3F2A1C0B7D", "8C1D2E3F4A", "6B7C8D9E0F", "bob@example.test", "10.213.7.7", "10.213.8.8"]),
)
def test_runs_of_spaces_do_not_change_the_trace(wide, query):
    def verdicts(lines: list[str]) -> list[tuple[str, str, list[str]]]:
        return [(t.verdict.outcome, t.verdict.cause, t.queue_ids) for t in trace(query, lines)]

    assert verdicts(wide) == verdicts(LINES)
