"""Issue 7: the pure parts of `mailforge queue`: postqueue -j parsing, filters, plans, SSH command lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailforge.cli import build_parser, main
from mailforge.queue import Filter, QueueEntry, Recipient, parse_duration, parse_postqueue_json, plan
from mailforge.queue_cli import runner_from
from mailforge.remote import SshRunner
from mailforge.testhost.state import STATE_ENV, HostRecord, StateDir

# As printed by Postfix 3.7's `postqueue -j` (one object per line), plus a line that is not JSON.
POSTQUEUE_J = """\
{"queue_name": "deferred", "queue_id": "7BDAF21238B", "arrival_time": 1720000000, "message_size": 268, "forced_expire": false, "sender": "alice@example.test", "recipients": [{"address": "bob1@example.org", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:1: Connection refused"}]}
postqueue: warning: Mail system is down -- accessing queue directly
{"queue_name": "hold", "queue_id": "839C3212413", "arrival_time": 1720003600, "message_size": 300, "forced_expire": false, "sender": "", "recipients": [{"address": "carol@Example.NET"}, {"address": "dave@example.org", "delay_reason": "greylisted"}]}
"""  # noqa: E501

NOW = 1720007200.0  # two hours after the first message arrived


@pytest.fixture
def entries():
    return parse_postqueue_json(POSTQUEUE_J)


def test_parse_postqueue_json(entries):
    assert [(e.queue_id, e.queue_name, len(e.recipients)) for e in entries] == [
        ("7BDAF21238B", "deferred", 1),
        ("839C3212413", "hold", 2),
    ]


def test_parse_keeps_delay_reason(entries):
    assert entries[0].recipients[0].delay_reason.endswith("Connection refused")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("3d", 259200), ("1w", 604800), ("1d12h", 129600)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "2x", "h2"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter(sender="alice@example.test"), ["7BDAF21238B"]),
        (Filter(sender="ALICE@example.test"), ["7BDAF21238B"]),
        (Filter(sender="<>"), ["839C3212413"]),
        (Filter(recipient="@example.net"), ["839C3212413"]),
        (Filter(recipient="bob*@example.org"), ["7BDAF21238B"]),
        (Filter(older_than=3 * 3600), []),
        (Filter(older_than=90 * 60), ["7BDAF21238B"]),
        (Filter(reason="refused"), ["7BDAF21238B"]),
        (Filter(reason="^greylist"), ["839C3212413"]),
        (Filter(queue="hold"), ["839C3212413"]),
        (Filter(ids=("839C3212413",)), ["839C3212413"]),
        (Filter(sender="alice@example.test", queue="hold"), []),
    ],
)
def test_filters(entries, flt, expected):
    assert [e.queue_id for e in flt.select(entries, NOW)] == expected


def test_empty_filter_is_empty():
    assert Filter().is_empty()


def test_release_plan_skips_messages_not_on_hold(entries):
    p = plan("release", entries)
    assert ([e.queue_id for e in p.entries], [e.queue_id for e in p.skipped]) == (["839C3212413"], ["7BDAF21238B"])


def test_plan_commands_pass_ids_on_stdin_one_call_per_queue(entries):
    p = plan("delete", entries)
    assert p.commands(["postsuper", "-c", "/etc/postfix-x"]) == [
        (["postsuper", "-c", "/etc/postfix-x", "-d", "-", "deferred"], "7BDAF21238B\n"),
        (["postsuper", "-c", "/etc/postfix-x", "-d", "-", "hold"], "839C3212413\n"),
    ]


def test_unknown_action_is_refused(entries):
    with pytest.raises(ValueError):
        plan("explode", entries)


def test_entry_age():
    e = QueueEntry("deferred", "X", 100, 1, "", (Recipient("a@b"),))
    assert e.age(160.0) == 60


# -- --testhost NAME: a test host's address and the project's key, from the testhost state directory ------


@pytest.fixture
def testhost_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateDir:
    monkeypatch.setenv(STATE_ENV, str(tmp_path))
    state = StateDir()
    state.write_record(HostRecord("ops", 9, "10.213.9.2", "10.213.9.1", "mf-ops", "ve-ops", 0.0))
    return state


def test_testhost_resolves_to_its_address_and_the_project_key(testhost_state: StateDir) -> None:
    args = build_parser().parse_args(["queue", "list", "--testhost", "ops"])
    runner = runner_from(args)
    assert isinstance(runner, SshRunner)
    argv = runner.argv(["postqueue", "-j"])
    assert (argv[-2], argv[argv.index("-i") + 1]) == ("root@10.213.9.2", str(testhost_state.ssh_key))
    assert "StrictHostKeyChecking=no" in argv


def test_unknown_testhost_fails_with_a_message(testhost_state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "list", "--testhost", "nohost"]) == 2
    assert "no test host named 'nohost'" in capsys.readouterr().err


def test_testhost_and_host_together_are_refused(testhost_state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "delete", "--all", "--testhost", "ops", "--host", "root@10.213.9.2"]) == 2
    assert "--testhost and --host" in capsys.readouterr().err
