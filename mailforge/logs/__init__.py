"""Mail log analysis: parse (syslog, RFC 3339, maillog_file, journald JSON), trace, summarise.

Entry points for other code and tests:

- ``trace(query, lines) -> list[Trace]``: any iterable of log lines (e.g. from ``ssh host cat ...``);
- ``trace_files(query, paths)``: files, searched with mmap when they are plain text;
- ``summarize(read_records(paths))`` / ``summarize(parse_lines(lines))``.
"""

from mailforge.logs.model import Hop, Message, Outcome, Rejection, Session, Trace, Verdict
from mailforge.logs.records import LineParser, ParseStats, Record
from mailforge.logs.scan import trace_files
from mailforge.logs.sources import parse_lines, read_records
from mailforge.logs.summary import Summary, summarize, summarize_files, summarize_lines, summary_text
from mailforge.logs.trace import Query, Tracer, trace

__all__ = [
    "Hop",
    "LineParser",
    "Message",
    "Outcome",
    "ParseStats",
    "Query",
    "Record",
    "Rejection",
    "Session",
    "Summary",
    "Trace",
    "Tracer",
    "Verdict",
    "parse_lines",
    "read_records",
    "summarize",
    "summarize_files",
    "summarize_lines",
    "summary_text",
    "trace",
    "trace_files",
]
