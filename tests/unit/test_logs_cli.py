"""Issue 7: the `mailforge logs` commands."""

from __future__ import annotations

import json
from pathlib import Path

from mailforge.cli import main

LOG = str(Path(__file__).parent / "data" / "logs" / "scenarios.log")


def test_trace_prints_verdict_and_next_step(capsys):
    main(["logs", "trace", "6B7C8D9E0F", LOG])
    out = capsys.readouterr().out
    assert ("Verdict: DEFERRED (connection_refused)" in out, "Next step:" in out) == (True, True)


def test_trace_exit_code_without_match():
    assert main(["logs", "trace", "0000000000", LOG]) == 1


def test_trace_json(capsys):
    main(["logs", "trace", "--json", "3F2A1C0B7D", LOG])
    data = json.loads(capsys.readouterr().out)
    assert (data["traces"][0]["verdict"]["outcome"], data["traces"][0]["queue_ids"]) == (
        "delivered",
        ["3F2A1C0B7D", "8C1D2E3F4A"],
    )


def test_trace_raw_shows_log_lines(capsys):
    main(["logs", "trace", "--raw", "6B7C8D9E0F", LOG])
    assert "status=deferred (connect to mx.example.net" in capsys.readouterr().out


def test_trace_reads_stdin(monkeypatch, capsys):
    import io
    import sys

    data = Path(LOG).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    main(["logs", "trace", "9E0F1A2B3C", "-"])
    assert "greylisted" in capsys.readouterr().out


def test_summary_json(capsys):
    main(["logs", "summary", "--json", LOG])
    assert json.loads(capsys.readouterr().out)["counts"]["rejected"] == 6


def test_missing_file_is_an_error_not_a_traceback(capsys):
    assert main(["logs", "summary", "/nonexistent/mail.log"]) == 2
