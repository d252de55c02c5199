"""The fault harness of issue 8, shared by tests/e2e/test_faults.py and bench/faults.py.

Messages in flight: an `Injector` sends N messages, each with its own Message-ID, to port 25 of a deployed
host from a few threads, retrying every message until the server accepts it, as a sending MTA does on a 4xx
reply or a failed connection. A `Fault` breaks the host while that stream runs (Dovecot stopped, MariaDB
stopped, a reboot, a full disk) and repairs it; `run_fault` then waits until every accepted message is in
the mailbox and the queue is empty, and counts: delivered, duplicated, lost, bounced, and the time from the
repair to full recovery. Nothing here asserts: the test and the bench decide what the figures mean.

The sender is bob@example.test, a mailbox on the same host: a bounce or a delay notice for any message
would land in bob's Maildir, and is counted from there and from mail.log.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

from lab.provision import ENTRY, ROOT, DeployResult, run_deploy
from mailforge.testhost import Host, TesthostError
from mailforge.testhost.hosts import wait_for_ssh

RECIPIENT = "alice@example.test"
SENDER = "bob@example.test"
MAILDIRS = {"alice": "/var/vmail/example.test/alice", "bob": "/var/vmail/example.test/bob"}
# The control machine's name as the host sees it, from /etc/hosts (and the copy in Postfix's chroot, made
# when Postfix starts): smtpd's reverse lookup of the client then asks no DNS server outside.
CLIENT_NAME = "fault-client.example.test"
THREADS = 6
# Messages per second: a paced stream, so that a fault lands in the middle of it (unpaced, a deployed host
# takes 500 messages in a few seconds, before a fault could be put in place).
RATE = 25.0
RETRY_SECONDS = 1.0
SERVICES = ("postfix", "dovecot", "mariadb", "opendkim")


def name_the_client(host: Host) -> None:
    gateway = host.address.rsplit(".", 1)[0] + ".1"
    host.run(
        f"grep -q '{CLIENT_NAME}' /etc/hosts || echo '{gateway} {CLIENT_NAME}' >> /etc/hosts; "
        "if [ -d /var/spool/postfix/etc ]; then cp /etc/hosts /var/spool/postfix/etc/hosts; fi"
    )


# --- messages in flight ----------------------------------------------------------------------------


def message_id(run: str, index: int) -> str:
    return f"<{run}.{index}@fault.example.test>"


def _message(run: str, index: int) -> bytes:
    body = ("fault harness line\r\n" * 40).encode()
    head = (
        f"From: <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: fault {run} {index}\r\n"
        f"Date: {formatdate()}\r\nMessage-ID: {message_id(run, index)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Injection:
    """What the client saw: accepted messages, every reply that was not 250, and ambiguous transactions."""

    n: int
    accepted: dict[int, float] = field(default_factory=dict)  # index -> when the 250 came
    tempfails: Counter[str] = field(default_factory=Counter)  # "451 4.3.0" -> how often
    permfails: dict[int, str] = field(default_factory=dict)  # index -> the 5xx reply (never retried)
    connection_errors: int = 0
    # The connection broke after the message was sent, before the reply: the client cannot know whether
    # the server kept it, and sends it again (RFC 5321 section 6.1's duplicate window).
    ambiguous: set[int] = field(default_factory=set)
    gave_up: set[int] = field(default_factory=set)


class _Refused(Exception):
    def __init__(self, code: int, reply: bytes) -> None:
        super().__init__(code)
        self.code = code
        self.text = f"{code} {reply.decode(errors='replace').split(' ', 1)[0]}"


class Injector:
    """Sends messages run.0 .. run.(n-1) from `threads` sessions until each is accepted or `deadline` passes."""

    def __init__(
        self, address: str, run: str, n: int, *, threads: int = THREADS, rate: float = RATE, deadline: float = 900
    ) -> None:
        self.address = address
        self.run = run
        self.result = Injection(n)
        self._next = 0
        self._lock = threading.Lock()
        self._interval = 1 / rate
        self._started = time.monotonic()
        self._deadline = time.monotonic() + deadline
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]

    def start(self) -> Injector:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float | None = None) -> Injection:
        end = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if end is None else max(0.0, end - time.monotonic()))
        return self.result

    @property
    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def wait_accepted(self, count: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.done:
            if len(self.result.accepted) >= count:
                return True
            time.sleep(0.1)
        return len(self.result.accepted) >= count

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.result.n:
                return None
            self._next += 1
            index = self._next - 1
        time.sleep(max(0.0, self._started + index * self._interval - time.monotonic()))
        return index

    def _work(self) -> None:
        client: smtplib.SMTP | None = None
        while (index := self._take()) is not None:
            while True:
                if time.monotonic() > self._deadline:
                    with self._lock:
                        self.result.gave_up.add(index)
                    break
                try:
                    if client is None:
                        client = smtplib.SMTP(self.address, 25, timeout=30, local_hostname=CLIENT_NAME)
                    self._send(client, index)
                    with self._lock:
                        self.result.accepted[index] = time.time()
                    break
                except _Refused as refused:
                    with self._lock:
                        if refused.code >= 500:
                            self.result.permfails[index] = refused.text
                        else:
                            self.result.tempfails[refused.text] += 1
                    if refused.code >= 500:
                        break
                    with contextlib.suppress(smtplib.SMTPException, OSError):
                        client.rset()  # type: ignore[union-attr]
                except (smtplib.SMTPException, OSError):
                    with self._lock:
                        self.result.connection_errors += 1
                    _close(client)
                    client = None  # the next attempt opens a new session
                time.sleep(RETRY_SECONDS)
        _close(client)

    def _send(self, client: smtplib.SMTP, index: int) -> None:
        client.ehlo_or_helo_if_needed()
        code, reply = client.mail(SENDER)
        if code != 250:
            raise _Refused(code, reply)
        code, reply = client.rcpt(RECIPIENT)
        if code not in (250, 251):
            raise _Refused(code, reply)
        try:
            code, reply = client.data(_message(self.run, index))
        except smtplib.SMTPDataError as refused:  # the reply to DATA itself: nothing was sent yet
            raise _Refused(refused.smtp_code, refused.smtp_error) from None
        except (smtplib.SMTPException, OSError):
            with self._lock:
                self.result.ambiguous.add(index)
            raise
        if code != 250:
            raise _Refused(code, reply)


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.close()


# --- reading the host ------------------------------------------------------------------------------


def delivered(host: Host, run: str, mailbox: str = "alice") -> Counter[int]:
    """How many copies of each message of this run are in the mailbox's Maildir (new/ and cur/).

    A copy is a distinct Maildir file name (the part before ":2,"): a file that an IMAP or doveadm session
    moves from new/ to cur/ while `find` walks the two directories is one delivery, seen twice.
    https://cr.yp.to/proto/maildir.html
    """
    return Counter(index for index, _ in _delivered_files(host, run, mailbox).values())


def _delivered_files(host: Host, run: str, mailbox: str = "alice") -> dict[str, tuple[int, str]]:
    """Maildir unique name -> (message index, path) for every message of this run in the mailbox."""
    maildir = MAILDIRS[mailbox]
    pattern = shlex.quote(f"^Message-ID: <{run}\\.")
    out = host.run(
        f"find {maildir}/new {maildir}/cur -type f -exec grep -H -i -m1 {pattern} {{}} + 2>/dev/null; true"
    ).stdout
    files: dict[str, tuple[int, str]] = {}
    for line in out.splitlines():
        found = re.match(r"(?P<path>.*?):Message-ID: <[^.]+\.(?P<index>\d+)@", line, re.I)
        if found:
            unique = found["path"].rsplit("/", 1)[-1].split(":", 1)[0]
            files[unique] = (int(found["index"]), found["path"])
    return files


def queue_size(host: Host) -> int:
    """Messages in Postfix's queue (all of incoming, active, deferred, hold)."""
    out = host.run("postqueue -j 2>/dev/null | wc -l", check=False).stdout.strip()
    return int(out or 0)


def log_offset(host: Host) -> int:
    # postlogd creates mail.log with its first line: a host that has logged no mail yet has none.
    return int(host.run("stat -c %s /var/log/mail.log 2>/dev/null || echo 0").stdout.strip())


def log_since(host: Host, offset: int) -> str:
    return host.run(f"tail -c +{offset + 1} /var/log/mail.log 2>/dev/null; true").stdout


def integrity(host: Host, run: str, log: str, since: float) -> list[str]:
    """What a fault may have damaged: messages of this run cut short, files left in the Maildir's tmp/ (a
    delivery that died half-written), queue files Postfix set aside as corrupt, and corruption or a panic
    in mail.log (`log`, this exercise's part) or in Dovecot's journal since `since`."""
    maildir = MAILDIRS["alice"]
    pattern = shlex.quote(f"^Message-ID: <{run}\\.")
    body_lines = _message(run, 0).count(b"fault harness line")
    script = "; ".join(
        [
            f"grep -l -i -r {pattern} {maildir}/new {maildir}/cur | xargs -r grep -c -H 'fault harness line' "
            f"| grep -v ':{body_lines}$' | sed 's/^/cut short: /'",
            f"find {maildir}/tmp -type f | sed 's/^/left in tmp: /'",
            "find /var/spool/postfix/corrupt -type f | sed 's/^/corrupt queue file: /'",
            f"journalctl -q -u dovecot --since=@{int(since)} | grep -iE 'corrupt|panic' | sed 's/^/dovecot: /'",
            "true",
        ]
    )
    found = [line for line in host.run(script, check=False).stdout.splitlines() if line.strip()]
    return found + [f"mail.log: {line}" for line in log.splitlines() if re.search(r"corrupt|panic", line, re.I)]


def duplicate_trail(host: Host, run: str, copies: Counter[int], log: str, since: float) -> dict[int, list[str]]:
    """For each duplicated message: its Maildir files, mail.log's lines for its queue files, and Dovecot's
    journal lines naming it."""
    duplicated = [i for i, c in copies.items() if c > 1][:5]
    if not duplicated:
        return {}
    files = _delivered_files(host, run)
    trail: dict[int, list[str]] = {}
    for index in duplicated:
        mid = message_id(run, index)
        queue_ids = {line.split(": message-id=")[0].rsplit(" ", 1)[-1] for line in log.splitlines() if mid in line}
        lines = [line for line in log.splitlines() if any(f" {q}: " in line for q in queue_ids)]
        journal = host.run(
            f"journalctl -q -u dovecot --since=@{int(since)} | grep -F {shlex.quote(mid[1:-1])}", check=False
        ).stdout.splitlines()
        paths = [f"file: {path}" for i, path in files.values() if i == index]
        trail[index] = paths + lines + journal
    return trail


def reset(host: Host) -> None:
    """Empty both mailboxes and the queue, and check the services run: the state every fault starts from."""
    host.run(
        "postsuper -d ALL >/dev/null 2>&1; "
        + "; ".join(f"doveadm expunge -u {u}@example.test mailbox INBOX all" for u in MAILDIRS)
    )
    wait_services(host, 60)


def services_active(host: Host) -> bool:
    probe = host.run(f"systemctl is-active {' '.join(SERVICES)}", check=False, timeout=30)
    return probe.returncode == 0


def wait_services(host: Host, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not services_active(host):
        if time.monotonic() > end:
            state = host.run(f"systemctl is-active {' '.join(SERVICES)}", check=False).stdout.split()
            states = ", ".join(f"{s} {a}" for s, a in zip(SERVICES, state, strict=False))
            raise TesthostError(f"{host.name}: services not all active after {timeout:.0f}s: {states}")
        time.sleep(1)


def flush(host: Host) -> None:
    """Retry the deferred mail now, as an operator does after a repair (not after Postfix's backoff)."""
    host.run("postqueue -f", check=False)


# --- faults ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A fault: how to break the host while mail flows, how to repair it, and what proves it took effect.

    `prepare` and `restore` run before and after the whole exercise (to mount a small filesystem, say);
    `blocks` says whether the fault stops the server accepting mail (then it is held for `hold` seconds
    instead of until two thirds of the stream went through).
    """

    name: str
    breaks: Callable[[Host], None]
    repair: Callable[[Host], None]
    blocks: bool = False
    prepare: Callable[[Host], None] = lambda host: None
    restore: Callable[[Host], None] = lambda host: None
    hold: float = 10.0


def _ssh_quietly(host: Host, command: str) -> None:
    # The command may take the SSH session down with it (reboot): its exit status means nothing.
    with contextlib.suppress(TesthostError, OSError, subprocess.TimeoutExpired):
        host.run(command, check=False, timeout=30)


def _stop(service: str) -> Callable[[Host], None]:
    def breaks(host: Host) -> None:
        host.run(f"systemctl stop {service}")

    return breaks


def _start(service: str) -> Callable[[Host], None]:
    def repair(host: Host) -> None:
        host.run(f"systemctl start {service}")
        flush(host)

    return repair


def _reboot(host: Host) -> None:
    # /run is a tmpfs: the marker's absence afterwards proves the host really went through a boot.
    host.run("touch /run/mailforge-fault-marker")
    _ssh_quietly(host, "systemctl reboot")


def _after_reboot(host: Host) -> None:
    wait_for_ssh(host, timeout=180)
    wait_services(host, 180)
    if host.run("test -e /run/mailforge-fault-marker", check=False).returncode == 0:
        raise TesthostError(f"{host.name} did not reboot")
    flush(host)


# Small filesystems for the disk-full faults: tmpfs inside the host (root in an nspawn container may mount
# it), big enough for the data already there and the messages, then filled to leave less than
# the free space Postfix needs.
FILLER = "mailforge-fault-filler"
SPOOL_MB = 160


def _free_bytes(host: Host, path: str) -> int:
    return int(host.run(f"df --output=avail -B1 {path} | tail -1").stdout.strip())


def _fill(path: str, leave_bytes: int) -> Callable[[Host], None]:
    def breaks(host: Host) -> None:
        # Deliveries go on meanwhile: running out of space before the filler is complete is the fault too.
        size = max(0, _free_bytes(host, path) - leave_bytes)
        host.run(f"fallocate -l {size} {path}/{FILLER} 2>/dev/null || head -c {size} /dev/zero > {path}/{FILLER}; true")
        free = _free_bytes(host, path)
        if free > leave_bytes + 64 * 1024:  # df counts in blocks: some slack
            raise TesthostError(f"{host.name}: {path} still has {free} bytes free after filling it")

    return breaks


def _unfill(path: str) -> Callable[[Host], None]:
    def repair(host: Host) -> None:
        host.run(f"rm -f {path}/{FILLER}")
        flush(host)

    return repair


# Daemons with a socket in Postfix's queue directory: Dovecot (LMTP, SASL) and OpenDKIM.
SPOOL_USERS = "postfix dovecot opendkim"


def _queue_on_tmpfs(host: Host) -> None:
    """Postfix's queue directory onto a small tmpfs, with its contents; the daemons with sockets in it restart."""
    host.run(
        f"set -e; systemctl stop {SPOOL_USERS}; cp -a /var/spool/postfix /var/tmp/postfix-spool; "
        f"mount -t tmpfs -o size={SPOOL_MB}m,mode=0755 tmpfs /var/spool/postfix; "
        f"cp -a /var/tmp/postfix-spool/. /var/spool/postfix/; systemctl start {SPOOL_USERS}"
    )


def _queue_back(host: Host) -> None:
    host.run(
        f"set -e; systemctl stop {SPOOL_USERS}; umount /var/spool/postfix; rm -rf /var/tmp/postfix-spool; "
        f"systemctl start {SPOOL_USERS}"
    )


def _vmail_on_tmpfs(host: Host) -> None:
    host.run(
        "set -e; cp -a /var/vmail /var/tmp/vmail; "
        f"mount -t tmpfs -o size={SPOOL_MB}m,mode=0770,uid=$(stat -c %u /var/vmail),gid=$(stat -c %g /var/vmail) "
        "tmpfs /var/vmail; cp -a /var/tmp/vmail/. /var/vmail/"
    )


def _vmail_back(host: Host) -> None:
    host.run("set -e; umount /var/vmail; rm -rf /var/tmp/vmail")


def _nothing(host: Host) -> None:
    """No fault: the baseline the bench compares recovery times with."""


BASELINE = Fault("none (baseline)", _nothing, _nothing)
# smtpd wants 1.5 x message_size_limit free in the queue filesystem before it takes a message.
# https://www.postfix.org/postconf.5.html#queue_minfree
QUEUE_LEFT = 8 * 1024 * 1024
FAULTS = {
    "dovecot-stopped": Fault("dovecot-stopped", _stop("dovecot"), _start("dovecot")),
    "mariadb-stopped": Fault("mariadb-stopped", _stop("mariadb"), _start("mariadb"), blocks=True),
    "reboot": Fault("reboot", _reboot, _after_reboot, blocks=True, hold=0.0),
    "queue-disk-full": Fault(
        "queue-disk-full",
        _fill("/var/spool/postfix", QUEUE_LEFT),
        _unfill("/var/spool/postfix"),
        blocks=True,
        prepare=_queue_on_tmpfs,
        restore=_queue_back,
    ),
    "maildir-disk-full": Fault(
        "maildir-disk-full",
        _fill("/var/vmail", 64 * 1024),
        _unfill("/var/vmail"),
        prepare=_vmail_on_tmpfs,
        restore=_vmail_back,
    ),
}


# --- one exercise ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    fault: str
    injection: Injection
    copies: Counter[int]  # message index -> copies in alice's Maildir
    notices: int  # messages of this run's sender's bounces/delay notices in bob's Maildir
    bounced_lines: int  # "status=bounced" in mail.log during the exercise
    log: str  # mail.log written during the exercise
    queue_left: int
    recovery_s: float  # from the start of the repair to every accepted message delivered, queue empty
    recovered: bool
    damage: list[str]  # integrity(): messages cut short, index disagreement, corrupt queue files...
    fault_s: float  # how long the host was broken (from breaking it to the end of the repair)
    # For each message delivered more than once: its lines in mail.log and in Dovecot's journal (the
    # host may be gone by the time a test reports the duplicate).
    duplicate_trail: dict[int, list[str]] = field(default_factory=dict)

    @property
    def injected(self) -> int:
        return self.injection.n

    @property
    def delivered(self) -> int:
        return len(self.copies)

    @property
    def duplicated(self) -> int:
        return sum(c - 1 for c in self.copies.values())

    @property
    def lost(self) -> int:
        """Messages the server accepted (250) that never reached the mailbox."""
        return len(set(self.injection.accepted) - set(self.copies))

    @property
    def not_accepted(self) -> int:
        return self.injection.n - len(self.injection.accepted)

    def row(self) -> str:
        return (
            f"{self.fault:<18}{self.injected:>9}{self.delivered:>10}{self.duplicated:>11}{self.lost:>6}"
            f"{self.not_accepted:>10}{self.recovery_s:>14.1f}"
        )


HEADER = (
    f"{'fault':<18}{'injected':>9}{'delivered':>10}{'duplicated':>11}{'lost':>6}{'refused':>10}{'recovery (s)':>14}"
)


def run_fault(host: Host, fault: Fault, run: str, n: int, *, settle: float = 600) -> Outcome:
    """Inject n messages, break the host a third of the way in, repair it, wait for full recovery, count."""
    fault.prepare(host)
    try:
        reset(host)
        offset = log_offset(host)
        injector = Injector(host.address, run, n).start()
        since = time.time()
        injector.wait_accepted(n // 3, timeout=300)
        broken = time.monotonic()
        fault.breaks(host)
        if fault.blocks:
            time.sleep(fault.hold)
        else:
            injector.wait_accepted(2 * n // 3, timeout=120)
        repair_started = time.monotonic()
        fault.repair(host)
        fault_s = time.monotonic() - broken
        recovered, copies = _wait_recovered(host, injector, run, settle)
        recovery_s = time.monotonic() - repair_started
        log = log_since(host, offset)
        outcome = Outcome(
            fault=fault.name,
            injection=injector.result,
            copies=copies,
            notices=mailbox_files(host, "bob"),
            bounced_lines=log.count("status=bounced"),
            log=log,
            queue_left=queue_size(host),
            recovery_s=recovery_s,
            recovered=recovered,
            damage=integrity(host, run, log, since),
            fault_s=fault_s,
            duplicate_trail=duplicate_trail(host, run, copies, log, since),
        )
    finally:
        fault.restore(host)
    return outcome


def mailbox_files(host: Host, mailbox: str) -> int:
    """Every message in a mailbox (the sender's: bounces and delay notices that should never come)."""
    maildir = MAILDIRS[mailbox]
    return int(host.run(f"find {maildir}/new {maildir}/cur -type f 2>/dev/null | wc -l").stdout.strip() or 0)


def _wait_recovered(host: Host, injector: Injector, run: str, settle: float) -> tuple[bool, Counter[int]]:
    """Until the injector is done, every accepted message is delivered and the queue is empty."""
    end = time.monotonic() + settle
    last_flush = time.monotonic()
    while True:
        copies = delivered(host, run)
        if injector.done and set(injector.result.accepted) <= set(copies) and queue_size(host) == 0:
            return True, copies
        if time.monotonic() > end:
            return False, copies
        if time.monotonic() - last_flush > 30:
            flush(host)  # what was deferred while the repair settled (a service still starting)
            last_flush = time.monotonic()
        time.sleep(1)


# --- a deploy killed half-way ----------------------------------------------------------------------


# Where the killed deploy dies: (operation, seconds after it started), inside apt-get's install of
# PostfixAdmin and PHP, mid-dpkg; the apt-get goes on running on the host, holding dpkg's lock.
KILL_AT = ("PostfixAdmin | Install PostfixAdmin", 8.0)


@dataclass(frozen=True)
class KilledDeploy:
    """Where a deploy was killed: the operation that had started last, and when."""

    operation: str
    seconds: float
    output: str


def deploy_killed_at(
    inventory: Path, trigger: str, delay: float, env: Mapping[str, str], timeout: float = 1800
) -> KilledDeploy:
    """Run the deploy as run_deploy does, and SIGKILL pyinfra `delay` seconds after `trigger` (an operation's
    name) appears in its output: an operator's Ctrl-\\, an OOM kill, a lost laptop lid."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.Popen(
        [str(pyinfra), "-y", "--no-wait", str(inventory), ENTRY],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    started = time.monotonic()
    lines: list[str] = []
    fired: list[float] = []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if not fired and trigger in line and "Starting operation" in line:
                fired.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    end = started + timeout
    while proc.poll() is None and time.monotonic() < end:
        if fired and time.monotonic() >= fired[0] + delay:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        reader.join(5)
        raise TesthostError(f"the deploy ended (exit {proc.returncode}) before it could be killed at {trigger!r}")
    proc.kill()
    proc.wait()
    reader.join(5)
    seconds = time.monotonic() - started
    operations = [line.split("Starting operation:", 1)[1].strip() for line in lines if "Starting operation:" in line]
    return KilledDeploy(operations[-1] if operations else "(none)", seconds, "".join(lines))


def run_killed_deploy(
    host: Host,
    inventory: Path,
    env: Mapping[str, str],
    kill_at: tuple[str, float],
    run: str,
    n: int,
    settle: float = 600,
) -> tuple[KilledDeploy, DeployResult, Outcome]:
    """A fresh host's first deploy killed at `kill_at` (operation, seconds), then re-run while n messages
    stream in: the client retries until the re-run has brought Postfix up. Recovery counts from the kill."""
    killed = deploy_killed_at(inventory, *kill_at, env=env)
    since, stopped = time.time(), time.monotonic()
    name_the_client(host)
    # Until the re-run has Postfix up, every attempt is refused: the client waits as long as a deploy may take.
    injector = Injector(host.address, run, n, deadline=settle + 1800).start()
    rerun = run_deploy(inventory, env=env)
    recovered, copies = _wait_recovered(host, injector, run, settle) if rerun.ok else (False, delivered(host, run))
    recovery_s = time.monotonic() - stopped
    injector.join(0)
    log = host.run("cat /var/log/mail.log", check=False).stdout
    outcome = Outcome(
        fault="deploy-killed",
        injection=injector.result,
        copies=copies,
        notices=mailbox_files(host, "bob"),
        bounced_lines=log.count("status=bounced"),
        log=log,
        queue_left=queue_size(host),
        recovery_s=recovery_s,
        recovered=recovered,
        damage=integrity(host, run, log, since),
        fault_s=recovery_s,
        duplicate_trail=duplicate_trail(host, run, copies, log, since),
    )
    return killed, rerun, outcome
