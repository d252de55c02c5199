"""Issue 16: a Debian 12 mail server upgraded in place to Debian 13, following docs/upgrade-debian13.md
(lab/upgrade.py runs its commands), with mail arriving all along.

A bookworm host is deployed (domains, mailboxes with a password from the environment and generated ones,
aliases, an alias domain, a catch-all), given messages in folders with flags; then, while a client that
retries as an MTA does sends a stream of messages to port 25, Dovecot is held, the OS is upgraded, the host
rebooted and the deploy re-run (Dovecot 2.4's configuration). Afterwards every message is there once with
its UID and flags, every login works with its old password, keys and CA are the same, and a second deploy
changes nothing.
"""

from __future__ import annotations

import imaplib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import faults, upgrade
from lab.mail import (
    DEPLOY_ENV,
    Folder,
    Server,
    can_log_in,
    message,
    passwords_of,
    server_data,
    server_of,
    smtp,
    snapshot,
)
from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.testhost import Host, StateDir

MAILFORGE = Path(sys.executable).with_name("mailforge")
FQDN = "upg.example.test"
# Mailboxes whose content is compared (alice receives the stream of messages sent during the upgrade).
KEPT = ("bob@example.test", "carol@example.test")
USERS = ("alice@example.test", *KEPT)
STREAM = "upg"
# Sent at 0.5 per second: the stream runs through the whole upgrade (about 7 minutes here) and the deploy.
STREAM_MESSAGES = 360
STREAM_RATE = 0.5
# Files whose content must not change: the CA, the server's TLS key, the DKIM keys.
KEYS = "find /etc/mailforge/ca /etc/mailforge/tls /etc/opendkim/keys -type f | sort | xargs sha256sum"
HASHES = "mysql -N -e 'SELECT username, password FROM postfixadmin.mailbox ORDER BY username'"


@dataclass(frozen=True)
class State:
    mailboxes: dict[str, dict[str, Folder]]
    keys: str
    password_hashes: str


@dataclass(frozen=True)
class Upgraded:
    # `mailforge upgrade-check --json` before and after Dovecot is held: (exit code, its verdict).
    check_unprepared: tuple[int, dict[str, object]]
    check_prepared: tuple[int, dict[str, object]]
    before: State
    after: State
    apt: int
    deploy: DeployResult
    second: DeployResult
    stream: faults.Injection
    delivered: dict[int, int]
    bounced: list[str]
    queue_left: int


@pytest.fixture(scope="module")
def host(make_host: Callable[..., Host]) -> Host:
    return make_host("upg", release="bookworm")


@pytest.fixture(scope="module")
def inventory(host: Host, module_tmp: Path, state: StateDir) -> Path:
    return write_inventory(
        module_tmp / "inventory.py", [(host.name, host.address, server_data(FQDN, {}))], state.ssh_key
    )


@pytest.fixture(scope="module")
def server(host: Host, inventory: Path, module_tmp: Path) -> Server:
    result = run_deploy(inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    return server_of(host, FQDN, module_tmp)


@pytest.fixture(scope="module")
def passwords(host: Host, server: Server) -> dict[str, str]:
    return passwords_of(host)


def _fill(server: Server, user: str, password: str, count: int = 8) -> None:
    """Messages in INBOX and in a folder of the user's own, with system flags and a keyword."""
    with smtp(server) as client:
        for _ in range(count):
            client.send_message(message("someone@remote.test", user))
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login(user, password)
        imap.create("Projects")
        imap.subscribe("Projects")
        imap.select("INBOX")
        deadline = time.monotonic() + 60
        while int(imap.select("INBOX")[1][0] or 0) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        imap.uid("COPY", "1:3", "Projects")
        imap.uid("STORE", "1:3", "+FLAGS", "(\\Deleted)")
        imap.expunge()
        imap.uid("STORE", "4:6", "+FLAGS", "(\\Seen)")
        imap.uid("STORE", "5", "+FLAGS", "(\\Flagged $Important)")
        imap.select("Projects")
        imap.uid("STORE", "1:2", "+FLAGS", "(\\Seen \\Answered)")


def _state(host: Host, server: Server, passwords: dict[str, str]) -> State:
    return State(
        {user: snapshot(server, user, passwords[user]) for user in KEPT},
        host.run(KEYS).stdout,
        host.run(HASHES).stdout,
    )


def _upgrade_check(host: Host) -> tuple[int, dict[str, object]]:
    proc = subprocess.run(
        [str(MAILFORGE), "upgrade-check", "--testhost", host.name, "--json"], capture_output=True, text=True
    )
    return proc.returncode, json.loads(proc.stdout or "{}")


def _wait_delivered(host: Host, accepted: set[int], timeout: float = 600) -> dict[int, int]:
    end = time.monotonic() + timeout
    while True:
        faults.flush(host)
        copies = faults.delivered(host, STREAM)
        if (set(copies) >= accepted and faults.queue_size(host) == 0) or time.monotonic() > end:
            return dict(copies)
        time.sleep(5)


@pytest.fixture(scope="module")
def upgraded(host: Host, server: Server, inventory: Path, passwords: dict[str, str]) -> Upgraded:
    for user in KEPT:
        _fill(server, user, passwords[user])
    before = _state(host, server, passwords)
    log_start = faults.log_offset(host)
    faults.name_the_client(host)
    stream = faults.Injector(host.address, STREAM, STREAM_MESSAGES, threads=2, rate=STREAM_RATE, deadline=3600)
    stream.start()
    assert stream.wait_accepted(10, timeout=120), "the stream did not start"

    unprepared = _upgrade_check(host)
    upgrade.hold_dovecot(host)
    prepared = _upgrade_check(host)
    upgrade.switch_sources(host)
    apt = upgrade.upgrade(host)
    upgrade.reboot(host)
    upgrade.release_dovecot(host)
    deploy = run_deploy(inventory, env=DEPLOY_ENV)
    second = run_deploy(inventory, env=DEPLOY_ENV)

    injection = stream.join(timeout=3600)
    delivered = _wait_delivered(host, set(injection.accepted))
    # mail.log may have been rotated meanwhile (the upgrade's logrotate): then all of the current file.
    rotated = faults.log_offset(host) < log_start
    log = host.run("cat /var/log/mail.log").stdout if rotated else faults.log_since(host, log_start)
    bounced = [line for line in log.splitlines() if "status=bounced" in line]
    after = _state(host, server_of(host, FQDN, Path(server.cafile).parent), passwords)
    return Upgraded(
        unprepared,
        prepared,
        before,
        after,
        apt.returncode,
        deploy,
        second,
        injection,
        delivered,
        bounced,
        faults.queue_size(host),
    )


# --- the upgrade itself ----------------------------------------------------------------------------


def test_upgrade_check_names_the_step_left_before_the_os_upgrade(upgraded: Upgraded) -> None:
    code, verdict = upgraded.check_unprepared
    failing = [check["name"] for check in verdict["checks"] if not check["ok"]]  # type: ignore[attr-defined]
    assert (code, verdict["ready"], failing) == (1, False, ["Dovecot held"])


def test_upgrade_check_passes_once_dovecot_is_held(upgraded: Upgraded) -> None:
    assert upgraded.check_prepared[0] == 0 and upgraded.check_prepared[1]["ready"] is True


def test_host_runs_trixie(host: Host, upgraded: Upgraded) -> None:
    assert "VERSION_CODENAME=trixie" in host.run("cat /etc/os-release").stdout.splitlines()


def test_full_upgrade_succeeds(upgraded: Upgraded) -> None:
    assert upgraded.apt == 0


def test_deploy_converges_after_the_upgrade(upgraded: Upgraded) -> None:
    assert upgraded.deploy.ok, upgraded.deploy.explain()


def test_second_deploy_changes_nothing(upgraded: Upgraded) -> None:
    assert upgraded.second.ok and upgraded.second.changed == 0, upgraded.second.explain()


def test_dovecot_2_4_runs_its_own_configuration(host: Host, upgraded: Upgraded) -> None:
    assert host.run("dovecot --version").stdout.startswith("2.4")
    settings = [line for line in host.run("doveconf -n").stdout.splitlines() if not line.startswith("#")]
    assert settings[0].startswith("dovecot_config_version = 2.4")
    assert host.run("systemctl is-active dovecot", check=False).stdout.strip() == "active"


def test_no_unit_failed(host: Host, upgraded: Upgraded) -> None:
    assert host.run("systemctl --failed --no-legend --plain", check=False).stdout.strip() == ""


def test_apache_never_installed(host: Host, upgraded: Upgraded) -> None:
    assert "ii" not in host.run("dpkg -l 'apache2*' 2>/dev/null || true").stdout.split()


@pytest.mark.parametrize(
    ("table", "newest"),
    [
        # Roundcube: the newest schema file of the installed package, recorded in its system table.
        (
            "SELECT value FROM roundcube.system WHERE name = 'roundcube-version'",
            "ls /usr/share/roundcube/SQL/mysql | sed -n 's/\\.sql$//p' | sort -n | tail -1",
        ),
        # PostfixAdmin: the newest upgrade_NNNN step of the installed upgrade.php, recorded in its config table.
        (
            "SELECT value FROM postfixadmin.config WHERE name = 'version'",
            "grep -o 'function upgrade_[0-9]*' /usr/share/postfixadmin/public/upgrade.php | grep -o '[0-9]*$' "
            "| sort -n | tail -1",
        ),
    ],
    ids=["roundcube", "postfixadmin"],
)
def test_web_schemas_migrated(host: Host, upgraded: Upgraded, table: str, newest: str) -> None:
    assert host.run(f'mysql -N -e "{table}"').stdout.strip() == host.run(newest).stdout.strip()


# --- nothing lost ----------------------------------------------------------------------------------


@pytest.mark.parametrize("user", KEPT)
def test_messages_uids_and_flags_kept(upgraded: Upgraded, user: str) -> None:
    before, after = upgraded.before.mailboxes[user], upgraded.after.mailboxes[user]
    assert sum(len(f.messages) for f in before.values()) >= 8
    assert after == before


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("protocol", ["imaps", "submission"])
def test_old_password_still_logs_in(
    host: Host, server: Server, passwords: dict[str, str], upgraded: Upgraded, user: str, protocol: str
) -> None:
    assert can_log_in(server, user, passwords[user], protocol)


def test_password_hashes_unchanged(upgraded: Upgraded) -> None:
    assert upgraded.before.password_hashes and upgraded.after.password_hashes == upgraded.before.password_hashes


def test_keys_and_ca_unchanged(upgraded: Upgraded) -> None:
    assert upgraded.before.keys.count("\n") >= 3 and upgraded.after.keys == upgraded.before.keys


def test_stream_was_accepted_in_full(upgraded: Upgraded) -> None:
    stream = upgraded.stream
    assert (len(stream.accepted), stream.permfails, stream.gave_up) == (STREAM_MESSAGES, {}, set())


def test_mail_sent_during_the_upgrade_arrived_exactly_once(upgraded: Upgraded) -> None:
    wrong = {i: upgraded.delivered.get(i, 0) for i in range(STREAM_MESSAGES) if upgraded.delivered.get(i, 0) != 1}
    assert wrong == {}, f"{len(wrong)} messages not delivered exactly once: {dict(list(wrong.items())[:10])}"


def test_nothing_bounced_and_queue_empty(upgraded: Upgraded) -> None:
    assert (upgraded.bounced, upgraded.queue_left) == ([], 0)
