"""One log line -> one ``Record`` (timestamp, host, program, pid, message), whatever the log's format.

Formats understood:

- traditional syslog (RFC 3164): ``Jul  5 17:57:08 mx postfix/smtpd[123]: ...``; the year is not in the
  line, so it is inferred from a reference time (the file's mtime) and carried across a Dec -> Jan boundary;
- Postfix's own ``maillog_file`` (postlogd, https://www.postfix.org/MAILLOG_README.html): the same layout
  with microseconds, ``Jul  5 17:57:08.123456 mx postfix/smtpd[123]: ...``;
- RFC 3339 (rsyslog's ``RSYSLOG_FileFormat``, Debian 12+): ``2024-07-05T17:57:08.123456+02:00 mx ...``;
- ``journalctl -o json``: one JSON object per line (``__REALTIME_TIMESTAMP``, ``SYSLOG_IDENTIFIER``, ...).

Runs of spaces between fields read as one space. Anything else is counted in ``ParseStats.unparsed`` and
skipped (and shown: `logs summary` and `logs trace` print examples): a log reader must never die on a line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MONTHS = {
    m: i
    for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)
}

# Fields are separated by one space in a log file, but by runs of spaces in a copy of a wrapped terminal (or
# a log re-indented by hand): " +" between the header's fields, and runs in the message become one space
# (normalise_spaces), so such a line reads exactly as the file's own would.
_TRADITIONAL = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d?\d) +(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d{1,6}))?"
    r" +(?P<rest>.*)"
)
_RFC3339 = re.compile(r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) +(?P<rest>.*)")
# After the timestamp: "host tag[pid]: message". The tag may contain slashes (postfix/submission/smtpd);
# Solaris-style "[ID 123456 mail.info]" markers are tolerated after the colon.
_HOST_TAG = re.compile(
    r"(?P<host>\S+) +(?P<tag>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: +(?:\[ID \d+ [^\]]+\] +)?(?P<msg>.*)", re.S
)
_SPACES = re.compile(r" {2,}")


def normalise_spaces(message: str) -> str:
    """A message with its runs of spaces made one (and none at its end): the form the event patterns read."""
    return _SPACES.sub(" ", message).rstrip(" ") if "  " in message or message.endswith(" ") else message


@dataclass(slots=True)
class Record:
    """A parsed log line; ``raw`` is kept so traces can show the evidence verbatim."""

    ts: datetime | None
    host: str
    program: str
    pid: int | None
    message: str
    raw: str


@dataclass
class ParseStats:
    lines: int = 0
    parsed: int = 0
    unparsed: int = 0
    # Records from a mail program whose message matched no known pattern (filled by the event layer).
    unrecognised: int = 0
    unparsed_samples: list[str] = field(default_factory=list)

    def note_unparsed(self, line: str) -> None:
        self.unparsed += 1
        if len(self.unparsed_samples) < 5:  # a few examples help debugging; never an unbounded list
            self.unparsed_samples.append(line[:200])


class LineParser:
    """Stateful (only for year inference) parser of one stream of lines, in file order."""

    def __init__(self, reference: datetime | None = None, stats: ParseStats | None = None) -> None:
        self.reference = reference or datetime.now()
        self.stats = stats if stats is not None else ParseStats()
        self._year: int | None = None
        self._last_month = 0
        # Consecutive lines usually share a timestamp: building datetimes is the costly part.
        self._last_ts_key: tuple[str, ...] | None = None
        self._last_ts: datetime | None = None

    def parse(self, line: str) -> Record | None:
        self.stats.lines += 1
        line = line.rstrip("\r\n")
        rec: Record | None = None
        try:
            if line.startswith("{"):
                rec = self._journal(line)
            elif line[:1].isdigit():
                rec = self._rfc3339(line)
            else:
                rec = self._traditional(line)
        except (ValueError, KeyError, TypeError, OverflowError):
            rec = None
        if rec is None:
            self.stats.note_unparsed(line)
        else:
            self.stats.parsed += 1
        return rec

    # -- formats -------------------------------------------------------------------------------------

    def _traditional(self, line: str) -> Record | None:
        m = _TRADITIONAL.match(line)
        if m is None:
            return None
        mon = MONTHS.get(m["mon"])
        if mon is None:
            return None
        key = (m["mon"], m["day"], m["h"], m["m"], m["s"], m["frac"] or "")
        if key == self._last_ts_key:
            ts = self._last_ts
        else:
            year = self._infer_year(mon)
            frac = m["frac"] or ""
            ts = datetime(year, mon, int(m["day"]), int(m["h"]), int(m["m"]), int(m["s"]), int(frac.ljust(6, "0") or 0))
            self._last_ts_key, self._last_ts = key, ts
        return self._host_tag(m["rest"], ts, line)

    def _infer_year(self, month: int) -> int:
        if self._year is None:
            # A log is read after it was written: a month later than the reference's is last year's.
            self._year = self.reference.year - (1 if month > self.reference.month else 0)
        elif month < self._last_month and self._last_month - month >= 6:
            self._year += 1  # Dec -> Jan: the log crossed a year boundary
        self._last_month = month
        return self._year

    def _rfc3339(self, line: str) -> Record | None:
        m = _RFC3339.match(line)
        if m is None:
            return None
        ts = datetime.fromisoformat(m["ts"])
        return self._host_tag(m["rest"], ts, line)

    def _host_tag(self, rest: str, ts: datetime | None, line: str) -> Record | None:
        m = _HOST_TAG.match(rest)
        if m is None:
            return None
        pid = m["pid"]
        return Record(ts, m["host"], m["tag"], int(pid) if pid else None, normalise_spaces(m["msg"]), line)

    def _journal(self, line: str) -> Record | None:
        obj = json.loads(line)
        if not isinstance(obj, dict):
            return None
        msg = obj.get("MESSAGE")
        if isinstance(msg, list):  # journald exports non-UTF-8 messages as a byte array
            msg = bytes(b & 0xFF for b in msg if isinstance(b, int)).decode("utf-8", "replace")
        if not isinstance(msg, str):
            return None
        program = obj.get("SYSLOG_IDENTIFIER") or obj.get("_COMM") or ""
        pid = obj.get("SYSLOG_PID") or obj.get("_PID")
        us = obj.get("__REALTIME_TIMESTAMP")
        ts = (
            (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))).astimezone()
            if us is not None
            else None
        )
        return Record(
            ts,
            str(obj.get("_HOSTNAME", "")),
            str(program),
            int(pid) if isinstance(pid, str | int) and str(pid).isdigit() else None,
            normalise_spaces(msg),
            line,
        )
