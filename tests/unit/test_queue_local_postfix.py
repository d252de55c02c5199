"""Issue 7: `mailforge queue` on real Postfix queue files, made by a private Postfix instance.

The instance lives in a temporary directory (its own config_directory, queue_directory, data_directory
and maillog_file) and is started with `postfix -c DIR start`, so it neither needs nor disturbs a
system-wide Postfix. It cannot send mail anywhere: master.cf has no inet service (nothing listens),
`defer_transports = smtp` keeps mail queued, and a flush can only try `relayhost = [127.0.0.1]:1`, a
closed loopback port. Needs root (postfix start), like the rest of the test suite's bootstrap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailforge.cli import main
from mailforge.logs import Outcome, summarize_files, trace_files
from mailforge.queue import Queue
from mailforge.remote import SshRunner

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = queue-test.example.test
mydomain = example.test
myorigin = $myhostname
# Nothing is local and nothing may leave: mail to the smtp transport stays queued until flushed, and a
# flush can only reach a closed port on loopback.
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:1
defer_transports = smtp
smtp_connect_timeout = 2s
# Postfix's own log file (postlogd), so the test reads real Postfix logs without a syslog daemon.
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = no
biff = no
"""

# No "inet" line: this instance listens on no network socket at all.
MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MESSAGES = [
    ("alice@example.test", "bob1@example.org"),
    ("alice@example.test", "bob2@example.org"),
    ("alice@example.test", "bob3@example.org"),
    ("carol@example.test", "dave@example.net"),
]


@dataclass
class Instance:
    root: Path

    @property
    def etc(self) -> str:
        return str(self.root / "etc")

    @property
    def maillog(self) -> str:
        return str(self.root / "maillog")

    def queue(self) -> Queue:
        return Queue(config_dir=self.etc)

    def cli(self, *args: str) -> int:
        return main(["queue", *args, "--config-dir", self.etc])


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for Postfix")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def instance() -> Iterator[Instance]:
    assert shutil.which("postfix"), "postfix missing: run scripts/bootstrap.sh (apt-packages.txt)"
    assert os.geteuid() == 0, "starting a Postfix instance needs root"
    # Not pytest's tmp_path: its parents are mode 0700, and Postfix's daemons run as the postfix user.
    root = Path(tempfile.mkdtemp(prefix="mailforge-postfix-", dir="/tmp"))
    root.chmod(0o755)
    for sub in ("etc", "spool", "data"):
        (root / sub).mkdir()
    shutil.chown(root / "data", "postfix")
    (root / "etc" / "main.cf").write_text(MAIN_CF.format(d=root))
    (root / "etc" / "master.cf").write_text(MASTER_CF)
    inst = Instance(root)
    started = subprocess.run(["postfix", "-c", inst.etc, "start"], capture_output=True, text=True, check=False)
    try:
        assert started.returncode == 0, started.stderr
        yield inst
    finally:
        subprocess.run(["postfix", "-c", inst.etc, "stop"], capture_output=True, check=False)
        pid_file = root / "spool" / "pid" / "master.pid"
        wait_for(lambda: not pid_file.exists() or not _alive(pid_file), timeout=15)
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@pytest.fixture
def queued(instance: Instance) -> dict[str, str]:
    """A fresh queue holding MESSAGES, all deferred; returns recipient -> queue ID."""
    subprocess.run(["postsuper", "-c", instance.etc, "-d", "ALL"], capture_output=True, check=True)
    for i, (sender, rcpt) in enumerate(MESSAGES):
        mid = f"<q{i}.{time.time()}@example.test>"
        body = f"From: {sender}\nTo: {rcpt}\nSubject: queue test {i}\nMessage-ID: {mid}\n\nhi\n"
        subprocess.run(["sendmail", "-C", instance.etc, "-f", sender, rcpt], input=body, text=True, check=True)
    q = instance.queue()
    wait_for(lambda: [e.queue_name for e in q.list()] == ["deferred"] * len(MESSAGES))
    return {e.recipients[0].address: e.queue_id for e in q.list()}


def queue_state(instance: Instance) -> dict[str, str]:
    return {e.queue_id: e.queue_name for e in instance.queue().list()}


def test_list_shows_every_queued_message(instance, queued):
    assert {e.queue_id for e in instance.queue().list()} == set(queued.values())


def test_list_filter_from(instance, queued, capsys):
    instance.cli("list", "--from", "carol@example.test")
    out = capsys.readouterr().out
    assert (queued["dave@example.net"] in out, queued["bob1@example.org"] in out) == (True, False)


def test_hold_by_filter_holds_only_matching(instance, queued):
    instance.cli("hold", "--from", "alice@example.test", "--yes")
    state = queue_state(instance)
    assert sorted(state.values()) == ["deferred", "hold", "hold", "hold"]


def test_hold_leaves_other_sender_deferred(instance, queued):
    instance.cli("hold", "--from", "alice@example.test", "--yes")
    assert queue_state(instance)[queued["dave@example.net"]] == "deferred"


def test_release_returns_held_message(instance, queued):
    qid = queued["bob2@example.org"]
    instance.cli("hold", qid, "--yes")
    instance.cli("release", qid, "--yes")
    assert queue_state(instance)[qid] != "hold"


def test_delete_by_recipient_filter(instance, queued):
    instance.cli("delete", "--to", "bob1@example.org", "--yes")
    assert sorted(queue_state(instance)) == sorted(q for r, q in queued.items() if r != "bob1@example.org")


def test_delete_by_reason_filter(instance, queued):
    instance.cli("delete", "--reason", "^deferred transport$", "--to", "@example.net", "--yes")
    assert queued["dave@example.net"] not in queue_state(instance)


def test_filter_matching_nothing_deletes_nothing(instance, queued):
    rc = instance.cli("delete", "--older-than", "1d", "--yes")
    assert (rc, sorted(queue_state(instance))) == (1, sorted(queued.values()))


def test_dry_run_touches_nothing(instance, queued):
    before = queue_state(instance)
    instance.cli("delete", "--all", "--yes", "--dry-run")
    assert queue_state(instance) == before


def test_delete_without_yes_touches_nothing(instance, queued):
    before = queue_state(instance)
    rc = instance.cli("delete", "--from", "alice@example.test")
    assert (rc, queue_state(instance)) == (1, before)


def test_delete_without_ids_or_filter_is_refused(instance, queued):
    assert instance.cli("delete", "--yes") == 2


def test_requeue_keeps_every_message(instance, queued, capsys):
    # postsuper -r moves the files to maildrop, where pickup finds them again (its next wake-up).
    instance.cli("requeue", "--all", "--yes")
    out = capsys.readouterr().out
    assert (f"reports {len(MESSAGES)} message(s)" in out, len(queue_state(instance))) == (True, len(MESSAGES))


def test_show_prints_the_queued_message(instance, queued, capsys):
    instance.cli("show", queued["dave@example.net"], "--headers")
    assert "Subject: queue test 3" in capsys.readouterr().out


def test_trace_explains_deferred_transport_from_real_log(instance, queued):
    qid = queued["bob3@example.org"]
    wait_for(lambda: qid in Path(instance.maillog).read_text())
    [t] = trace_files(qid, [instance.maillog])
    assert (t.verdict.outcome, t.verdict.cause) == (Outcome.DEFERRED, "deferred_transport")


def _refused(instance: Instance) -> str:
    return "".join(line for line in open(instance.maillog) if "Connection refused" in line)


def test_flush_retries_and_trace_explains_refused_connection(instance, queued):
    qid = queued["dave@example.net"]
    instance.cli("flush", qid)
    wait_for(lambda: f"{qid}: to=<dave@example.net>, relay=none" in _refused(instance))
    [t] = trace_files(qid, [instance.maillog])
    assert (t.verdict.outcome, t.verdict.cause) == (Outcome.DEFERRED, "connection_refused")


def test_summary_of_real_log_counts_pickups(instance, queued):
    assert summarize_files([instance.maillog]).received >= len(MESSAGES)


def test_queue_over_ssh_command_line(instance, queued, tmp_path):
    # A stand-in for the ssh binary: runs the remote command string through a shell, exactly as sshd
    # would, so the quoting of SshRunner is exercised end to end without any network.
    fake = tmp_path / "ssh"
    fake.write_text(
        textwrap.dedent(
            """\
            #!/bin/sh
            while [ "$1" != "--" ]; do shift; done
            shift 2
            exec sh -c "$1"
            """
        )
    )
    fake.chmod(0o755)
    q = Queue(SshRunner("root@127.0.0.1", ssh=str(fake)), config_dir=instance.etc)
    assert {e.queue_id for e in q.list()} == set(queued.values())
