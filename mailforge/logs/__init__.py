"""Mail log analysis: parse (syslog, RFC 3339, maillog_file, journald JSON), trace, summarise.

Entry points for other code and tests:

- ``trace(query, lines) -> list[Trace]``: any iterable of log lines (e.g. from ``ssh host cat ...``);
- ``trace_files(query, paths)``: files, searched with mmap when they are plain text;
- ``summarize(read_records(paths))`` / ``summarize(parse_lines(lines))``.

Names are imported on first use (PEP 562), so `mailforge logs summary` does not load the tracer, nor
`logs trace` the summary.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Hop": "model",
    "Message": "model",
    "Outcome": "model",
    "Rejection": "model",
    "Session": "model",
    "Trace": "model",
    "Verdict": "model",
    "LineParser": "records",
    "ParseStats": "records",
    "Record": "records",
    "trace_files": "scan",
    "parse_lines": "sources",
    "read_records": "sources",
    "Summary": "summary",
    "summarize": "summary",
    "summarize_files": "count",
    "summarize_lines": "count",
    "summary_text": "summary",
    "Query": "trace",
    "Tracer": "trace",
    "trace": "trace",
}

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

if TYPE_CHECKING:
    from mailforge.logs.count import summarize_files, summarize_lines
    from mailforge.logs.model import Hop, Message, Outcome, Rejection, Session, Trace, Verdict
    from mailforge.logs.records import LineParser, ParseStats, Record
    from mailforge.logs.scan import trace_files
    from mailforge.logs.sources import parse_lines, read_records
    from mailforge.logs.summary import Summary, summarize, summary_text
    from mailforge.logs.trace import Query, Tracer, trace


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
