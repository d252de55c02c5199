"""Issue 7: tracing real mail and fixing the real queue on a provisioned server.

"ops" is deployed once for the module. "ops-mx" plays the remote world: on port 25 a receiver that refuses
``nouser*`` recipients with 5.1.1 and ``dmarc*`` ones with 5.7.26 (lab.peers.SMTP_BOUNCER); nothing listens on
its port 2525. Static routes (``postfix_transport_maps``) send remote.test to the receiver and down.test
to the closed port, so mail for down.test stays deferred ("Connection refused") in the real queue.

Each outcome class that can be produced locally is produced once through real clients, then the trace of
Postfix's real log (``maillog_file``, read over SSH) must give the right verdict. The queue commands run
through the real CLI over SSH against real queue files.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import peers
from lab.mail import (
    DEPLOY_ENV,
    Server,
    message,
    passwords_of,
    server_data,
    server_of,
    smtp,
    submit,
)
from lab.provision import run_deploy, write_inventory
from mailforge.logs import Outcome, Trace, summarize_lines, trace
from mailforge.queue import Filter, Queue, QueueEntry, plan
from mailforge.remote import SshRunner
from mailforge.testhost import Host, StateDir

FQDN = "ops.example.test"
CLOSED_PORT = 2525  # nothing listens there on ops-mx: connection refused
MAILFORGE = str(Path(sys.executable).with_name("mailforge"))
SSH_OPTIONS = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")


def tag() -> str:
    return uuid.uuid4().hex[:10]


# --- the hosts -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hosts_pair(make_host: Callable[..., Host]) -> tuple[Host, Host]:
    return make_host("ops"), make_host("ops-mx")


@pytest.fixture(scope="module")
def ops(hosts_pair: tuple[Host, Host], module_tmp: Path, state: StateDir) -> Host:
    """The deployed server."""
    core, mx = hosts_pair
    peers.start(mx, peers.SMTP_BOUNCER, "bouncer", "25", listens_on=25)
    routes = {"remote.test": f"smtp:[{mx.address}]:25", "down.test": f"smtp:[{mx.address}]:{CLOSED_PORT}"}
    inventory = write_inventory(
        module_tmp / "ops_inventory.py", [(core.name, core.address, server_data(FQDN, routes))], state.ssh_key
    )
    result = run_deploy(inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    return core


@pytest.fixture(scope="module")
def server(ops: Host, module_tmp: Path) -> Server:
    return server_of(ops, FQDN, module_tmp)


@pytest.fixture(scope="module")
def passwords(ops: Host) -> dict[str, str]:
    return passwords_of(ops)


@pytest.fixture(scope="module")
def queue(ops: Host) -> Queue:
    return Queue(SshRunner(f"root@{ops.address}", key=str(ops.ssh_key), options=SSH_OPTIONS))


def mail_log(host: Host) -> list[str]:
    return host.run("cat /var/log/mail.log").stdout.splitlines()


def wait_queued(queue: Queue, flt: Filter, count: int, timeout: float = 30) -> list[QueueEntry]:
    """The ``count`` messages matching ``flt``, once Postfix has tried and deferred each of them."""
    deadline = time.monotonic() + timeout
    while True:
        entries = flt.select(queue.list())
        settled = [e for e in entries if e.queue_name == "deferred" and all(r.delay_reason for r in e.recipients)]
        if len(settled) == count or time.monotonic() > deadline:
            assert len(settled) == count, f"expected {count} deferred messages for {flt}, queue has {entries}"
            return settled
        time.sleep(0.3)


# --- producing each outcome through real clients ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    query: str  # what an administrator would trace: a Message-ID or an address
    outcome: Outcome
    cause: str


def _send_inbound(server: Server) -> str:
    msg = message("sender@remote.test", "alice@example.test")
    with smtp(server) as client:
        client.send_message(msg)
    return msg["Message-ID"]


def _refused_rcpt(server: Server, sender: str, recipient: str) -> str:
    with smtp(server) as client:
        client.ehlo("client.example.test")
        client.mail(sender)
        code, reply = client.rcpt(recipient)
    assert code >= 500, reply
    return recipient


def _submit(server: Server, passwords: dict[str, str], recipient: str) -> str:
    msg = message("alice@example.test", recipient)
    submit(server, "alice@example.test", passwords["alice@example.test"], msg)
    return msg["Message-ID"]


def _login_mismatch(server: Server, passwords: dict[str, str]) -> str:
    recipient = f"someone-{tag()}@remote.test"
    with smtp(server, 587) as client:
        client.starttls(context=server.tls())
        client.login("alice@example.test", passwords["alice@example.test"])
        client.mail("bob@example.test")
        code, reply = client.rcpt(recipient)
    assert code == 553, reply
    return recipient


def _held(server: Server, passwords: dict[str, str], queue: Queue) -> str:
    recipient = f"held-{tag()}@down.test"
    message_id = _submit(server, passwords, recipient)
    deferred = wait_queued(queue, Filter(recipient=recipient), 1)
    queue.apply(plan("hold", deferred))
    return message_id


@pytest.fixture(scope="module")
def cases(server: Server, passwords: dict[str, str], queue: Queue) -> dict[str, Case]:
    """Every outcome produced once, up front, so that the log is read while the tests poll it."""
    return {
        "delivered": Case(_send_inbound(server), Outcome.DELIVERED, "delivered"),
        "unknown-user": Case(
            _refused_rcpt(server, "sender@remote.test", f"nobody-{tag()}@example.test"),
            Outcome.REJECTED,
            "unknown_user",
        ),
        "relay-denied": Case(
            _refused_rcpt(server, "spammer@remote.test", f"victim-{tag()}@remote.test"),
            Outcome.REJECTED,
            "relay_access_denied",
        ),
        "sender-login-mismatch": Case(_login_mismatch(server, passwords), Outcome.REJECTED, "sender_login_mismatch"),
        "deferred-refused": Case(
            _submit(server, passwords, f"later-{tag()}@down.test"), Outcome.DEFERRED, "connection_refused"
        ),
        "held": Case(_held(server, passwords, queue), Outcome.HELD, "held"),
        "bounced-dmarc": Case(_submit(server, passwords, f"dmarc-{tag()}@remote.test"), Outcome.BOUNCED, "dmarc"),
        "bounced-unknown-user": Case(
            _submit(server, passwords, f"nouser-{tag()}@remote.test"), Outcome.BOUNCED, "unknown_user"
        ),
    }


def traced(host: Host, query: str, done: Callable[[Trace], bool], timeout: float = 30) -> list[Trace]:
    """The traces of ``query`` in the real mail log, polled until ``done`` holds for the last (or timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = trace(query, mail_log(host))
        if (found and done(found[-1])) or time.monotonic() > deadline:
            return found


@pytest.mark.parametrize(
    "case",
    [
        "delivered",
        "unknown-user",
        "relay-denied",
        "sender-login-mismatch",
        "deferred-refused",
        "held",
        "bounced-dmarc",
        "bounced-unknown-user",
    ],
)
def test_trace_verdict_on_the_real_log(ops: Host, cases: dict[str, Case], case: str) -> None:
    c = cases[case]
    found = traced(ops, c.query, lambda t: (t.verdict.outcome, t.verdict.cause) == (c.outcome, c.cause))
    assert len(found) == 1, [t.verdict for t in found]
    got = found[0].verdict
    assert (got.outcome, got.cause) == (c.outcome, c.cause), "\n".join([str(got), *found[0].lines])


# What clients that do not speak TLS first send to port 465 (implicit TLS): the trace must say which it was.
NOT_TLS = {
    "plaintext": b"EHLO client.example.test\r\n",
    "http": b"GET / HTTP/1.1\r\nHost: ops.example.test\r\n\r\n",
}


@pytest.mark.parametrize(("client", "cause"), [("plaintext", "tls_plaintext_client"), ("http", "tls_http_client")])
def test_trace_says_what_a_client_that_does_not_speak_tls_did_on_465(
    ops: Host, server: Server, client: str, cause: str
) -> None:
    with socket.create_connection((server.address, 465), timeout=30) as sock:
        ip = sock.getsockname()[0]
        sock.sendall(NOT_TLS[client])
        with contextlib.suppress(OSError):
            sock.recv(100)  # Postfix drops the connection once OpenSSL gives up on the handshake

    deadline = time.monotonic() + 30
    while True:  # until Postfix has logged the session's end, which closes it in the trace
        found = [t for t in trace(ip, mail_log(ops)) if t.kind == "tls" and t.verdict.cause == cause]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert [(t.verdict.outcome, t.verdict.cause) for t in found] == [(Outcome.TLS_FAILED, cause)]


def test_trace_finds_the_message_by_its_queue_id(ops: Host, cases: dict[str, Case]) -> None:
    c = cases["bounced-dmarc"]
    [by_message_id] = traced(ops, c.query, lambda t: t.verdict.outcome is Outcome.BOUNCED)
    [by_qid] = trace(by_message_id.queue_ids[0], mail_log(ops))
    assert (by_qid.queue_ids, by_qid.verdict.cause) == (by_message_id.queue_ids, "dmarc")


@pytest.mark.parametrize(
    ("figure", "marker"),
    [("bounced", " status=bounced "), ("rejected", "NOQUEUE: reject: "), ("deferrals", " status=deferred ")],
)
def test_summary_counts_what_the_real_log_says(ops: Host, cases: dict[str, Case], figure: str, marker: str) -> None:
    for name in ("bounced-dmarc", "bounced-unknown-user"):
        traced(ops, cases[name].query, lambda t: t.verdict.outcome is Outcome.BOUNCED)
    log = mail_log(ops)
    expected = sum(marker in line for line in log)
    assert expected >= 2  # the cases above produced at least two of each
    assert getattr(summarize_lines(log), figure) == expected


# --- the queue through the real CLI, over SSH -------------------------------------------------------


@pytest.fixture(scope="module")
def ssh_config(module_tmp: Path) -> Path:
    path = module_tmp / "ssh_config"
    path.write_text("".join(f"{o.replace('=', ' ', 1)}\n" for o in SSH_OPTIONS))
    return path


@pytest.fixture(scope="module")
def cli(ops: Host, ssh_config: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def _run(*args: str) -> subprocess.CompletedProcess[str]:
        where = ["--host", f"root@{ops.address}", "--ssh-key", str(ops.ssh_key), "--ssh-config", str(ssh_config)]
        return subprocess.run(
            [MAILFORGE, "queue", *args, *where], capture_output=True, text=True, timeout=120, check=False
        )

    return _run


def inject(ops: Host, sender: str, recipient: str) -> None:
    """A message into the real queue through sendmail(1) on the server (postdrop -> pickup -> cleanup)."""
    ops.run(f"printf 'Subject: queue test\\n\\nbody\\n' | sendmail -f {sender} {recipient}")


@dataclass(frozen=True)
class Batch:
    """Deferred messages of one test: ``sender_a`` sent two to ``rcpt_y``, ``sender_b`` one to ``rcpt_z``."""

    tag: str

    @property
    def sender_a(self) -> str:
        return f"a-{self.tag}@example.test"

    @property
    def sender_b(self) -> str:
        return f"b-{self.tag}@example.test"

    @property
    def rcpt_y(self) -> str:
        return f"y-{self.tag}@down.test"

    @property
    def rcpt_z(self) -> str:
        return f"z-{self.tag}@down.test"

    @property
    def mine(self) -> Filter:
        return Filter(recipient=f"*-{self.tag}@down.test")

    def state(self, queue: Queue) -> dict[str, tuple[str, str, str]]:
        """queue ID -> (queue name, sender, recipient) of this batch's messages still in the queue."""
        return {e.queue_id: (e.queue_name, e.sender, e.recipients[0].address) for e in self.mine.select(queue.list())}


@pytest.fixture
def batch(ops: Host, queue: Queue) -> Batch:
    b = Batch(tag())
    for sender, recipient in ((b.sender_a, b.rcpt_y), (b.sender_a, b.rcpt_y), (b.sender_b, b.rcpt_z)):
        inject(ops, sender, recipient)
    wait_queued(queue, b.mine, 3)
    return b


def queues_of(state: dict[str, tuple[str, str, str]], sender: str) -> list[str]:
    return sorted(q for q, s, _ in state.values() if s == sender)


def test_list_shows_the_deferred_messages_with_their_reason(cli, batch: Batch, queue: Queue) -> None:  # type: ignore[no-untyped-def]
    result = cli("list", "--from", batch.sender_a)
    assert result.returncode == 0, result.stderr
    ids = [q for q, (_, s, _) in batch.state(queue).items() if s == batch.sender_a]
    assert all(i in result.stdout for i in ids), result.stdout
    assert "Connection refused" in result.stdout
    assert "-- 2 message(s)" in result.stdout


def test_hold_by_sender_holds_exactly_the_matching_messages(cli, batch: Batch, queue: Queue) -> None:  # type: ignore[no-untyped-def]
    result = cli("hold", "--from", batch.sender_a, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    state = batch.state(queue)
    assert (queues_of(state, batch.sender_a), queues_of(state, batch.sender_b)) == (["hold", "hold"], ["deferred"])


def test_release_by_sender_releases_only_the_matching_messages(cli, batch: Batch, queue: Queue) -> None:  # type: ignore[no-untyped-def]
    queue.apply(plan("hold", batch.mine.select(queue.list())))
    result = cli("release", "--from", batch.sender_a, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    state = batch.state(queue)
    assert "hold" not in queues_of(state, batch.sender_a)
    assert len(queues_of(state, batch.sender_a)) == 2
    assert queues_of(state, batch.sender_b) == ["hold"]


def test_delete_by_recipient_deletes_only_the_matching_messages(cli, batch: Batch, queue: Queue) -> None:  # type: ignore[no-untyped-def]
    result = cli("delete", "--to", batch.rcpt_y, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r for _, _, r in batch.state(queue).values()] == [batch.rcpt_z]


@pytest.mark.parametrize("action", ["hold", "delete", "requeue"])
def test_dry_run_touches_nothing(cli, batch: Batch, queue: Queue, action: str) -> None:  # type: ignore[no-untyped-def]
    before = batch.state(queue)
    result = cli(action, "--from", batch.sender_a, "--yes", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert batch.state(queue) == before


@pytest.mark.parametrize("action", ["hold", "delete"])
def test_without_yes_nothing_is_done(cli, batch: Batch, queue: Queue, action: str) -> None:  # type: ignore[no-untyped-def]
    before = batch.state(queue)
    result = cli(action, "--from", batch.sender_a)
    assert result.returncode == 1, result.stdout + result.stderr
    assert batch.state(queue) == before


@pytest.mark.parametrize("action", ["hold", "release", "delete"])
def test_a_filter_matching_nothing_does_nothing_and_fails(cli, batch: Batch, queue: Queue, action: str) -> None:  # type: ignore[no-untyped-def]
    before = batch.state(queue)
    result = cli(action, "--to", f"nobody-{tag()}@down.test", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Nothing matches" in result.stdout
    assert batch.state(queue) == before


def test_a_released_message_is_traced_as_deferred_again(ops: Host, cli, batch: Batch, queue: Queue) -> None:  # type: ignore[no-untyped-def]
    [qid] = [q for q, (_, s, _) in batch.state(queue).items() if s == batch.sender_b]
    assert cli("hold", qid, "--yes").returncode == 0
    assert cli("release", qid, "--yes").returncode == 0
    [t] = traced(ops, qid, lambda t: t.verdict.outcome is Outcome.DEFERRED)
    assert t.verdict.outcome is Outcome.DEFERRED, t.lines


def test_a_deleted_message_is_traced_as_removed(ops: Host, cli, batch: Batch, queue: Queue) -> None:  # type: ignore[no-untyped-def]
    [qid] = [q for q, (_, s, _) in batch.state(queue).items() if s == batch.sender_b]
    assert cli("delete", qid, "--yes").returncode == 0
    [t] = traced(ops, qid, lambda t: t.verdict.cause == "removed")
    assert (t.verdict.outcome, t.verdict.cause) == (Outcome.UNKNOWN, "removed"), t.lines


def test_testhost_option_finds_the_host_and_its_key(batch: Batch, queue: Queue) -> None:
    result = subprocess.run(
        [MAILFORGE, "queue", "hold", "--testhost", "ops", "--from", batch.sender_b, "--yes"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert queues_of(batch.state(queue), batch.sender_b) == ["hold"]


def test_inventory_option_reaches_the_host_as_pyinfra_does(ops: Host, batch: Batch, module_tmp: Path) -> None:
    # The inventory the deploy ran from: its ssh_hostname, ssh_user and ssh_key lead to the same server.
    inventory = module_tmp / "ops_inventory.py"
    result = subprocess.run(
        [MAILFORGE, "queue", "list", "--inventory", str(inventory), ops.name, "--from", batch.sender_b],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert batch.sender_b in result.stdout
    assert "-- 1 message(s)" in result.stdout


# --- log rotation (last: it moves what the tests above read) ------------------------------------------------


def test_logrotate_hands_postfix_a_new_mail_log(ops: Host, server: Server, cases: dict[str, Case]) -> None:
    ops.run("logrotate --force /etc/logrotate.d/postfix-maillog")
    assert ops.run("stat -c '%a %U %G' /var/log/mail.log").stdout.split() == ["640", "root", "adm"]
    assert cases["delivered"].query in ops.run("cat /var/log/mail.log.1").stdout
    after = _send_inbound(server)
    found = traced(ops, after, lambda t: t.verdict.outcome is Outcome.DELIVERED)
    assert [t.verdict.outcome for t in found] == [Outcome.DELIVERED], "\n".join(mail_log(ops))
    assert cases["delivered"].query not in ops.run("cat /var/log/mail.log").stdout
