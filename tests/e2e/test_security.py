"""Issue 8 (security): the host firewall and fail2ban, under real scans and real password guessing.

"sec" is the mail server, deployed once for the module with firewall_extra_ports = [12340] and a low
fail2ban_maxretry; decoy listeners on ports mailforge must never expose (LMTP's 24, ManageSieve's 4190,
OpenDKIM's 8891, PHP-FPM's 9000, postgrey's 10023, memcached's 11211) listen on every address of it, so
only the firewall stands between them and the network. "sec-att" is the attacker: it scans every TCP port
and guesses passwords (lab/peers/attacker.py, stdlib only). This machine, at the host-side address of
sec's veth (10.213.N.1), is the legitimate user at another address.
"""

from __future__ import annotations

import imaplib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploys.fail2ban import BANNED_PORTS
from lab import peers
from lab.mail import DEPLOY_ENV, Server, fetch, message, passwords_of, server_of, submit
from lab.mail import server_data as mail_server_data
from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.settings import FIREWALL_PORTS
from mailforge.testhost import Host, StateDir
from tests.e2e.conftest import infra

FQDN = "sec.example.test"
EXTRA_PORT = 12340
DECOYS = [24, 4190, 8891, 9000, 10023, 11211]
MAXRETRY = 3
ATTACKER = peers.ATTACKER
# Run on both supported releases by default (tests/e2e/conftest.py).
RELEASES = ("trixie", "bookworm")


def sec_data() -> dict[str, Any]:
    return {
        **mail_server_data(FQDN, {}),
        "firewall_extra_ports": [EXTRA_PORT],
        "fail2ban_maxretry": MAXRETRY,
    }


@pytest.fixture(scope="module")
def sec(make_host) -> Host:  # type: ignore[no-untyped-def]
    return make_host("sec")


@pytest.fixture(scope="module")
def attacker(make_host) -> Host:  # type: ignore[no-untyped-def]
    host = make_host("sec-att")
    host.run(f"cat > /root/{ATTACKER.name} <<'EOF'\n{ATTACKER.read_text()}\nEOF")
    return host


@pytest.fixture(scope="module")
def inventory(sec: Host, module_tmp: Path, state: StateDir) -> Path:
    return write_inventory(module_tmp / "sec_inventory.py", [(sec.name, sec.address, sec_data())], state.ssh_key)


@pytest.fixture(scope="module")
def deployed(inventory: Path, sec: Host) -> DeployResult:
    result = run_deploy(inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    peers.start(sec, peers.TCP_LISTENER, "decoys", *map(str, [*DECOYS, EXTRA_PORT]))
    return result


@pytest.fixture(scope="module")
def host(deployed: DeployResult, sec: Host):  # type: ignore[no-untyped-def]
    return infra(sec)


@pytest.fixture(scope="module")
def server(deployed: DeployResult, sec: Host, module_tmp: Path) -> Server:
    return server_of(sec, FQDN, module_tmp)


@pytest.fixture(scope="module")
def passwords(deployed: DeployResult, sec: Host) -> dict[str, str]:
    return passwords_of(sec)


def attack(attacker: Host, *args: object) -> list[str]:
    return attacker.run(f"python3 /root/{ATTACKER.name} {' '.join(map(str, args))}").stdout.splitlines()


def probe(attacker: Host, sec: Host, port: int) -> str:
    """open | refused | silent | reset, as the attacker sees a connection to sec's port."""
    return attack(attacker, "probe", sec.address, port)[0]


# --- the firewall ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["nftables", "fail2ban"])
def test_service_runs_and_starts_at_boot(host, service: str) -> None:  # type: ignore[no-untyped-def]
    assert host.service(service).is_running
    assert host.service(service).is_enabled


@pytest.mark.parametrize("port", [*DECOYS, EXTRA_PORT])
def test_decoy_listens_on_every_address(host, port: int) -> None:  # type: ignore[no-untyped-def]
    # Without the firewall each decoy would answer from outside: what the scan finds is the firewall's doing.
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening


@pytest.fixture(scope="module")
def scan(deployed: DeployResult, sec: Host, attacker: Host) -> dict[str, Any]:
    """Every TCP port of sec, from the attacker: which answered, which refused, how many stayed silent.

    What the firewall alone decides: bans fail2ban set on the attacker in this module's other tests (their order
    differs when the module runs on a second release) would answer the banned ports with resets."""
    sec.run("fail2ban-client unban --all")
    return json.loads(attack(attacker, "scan", sec.address, 1, 65535)[0])  # type: ignore[no-any-return]


def test_scan_finds_exactly_the_allowed_ports_open(scan: dict[str, Any]) -> None:
    assert scan["open"] == sorted([*FIREWALL_PORTS, EXTRA_PORT])


def test_scan_gets_no_refusal_only_silence(scan: dict[str, Any]) -> None:
    # A closed port without a firewall answers with a reset; dropped packets get no answer at all.
    assert scan["refused"] == []
    assert scan["silent"] == 65535 - len(FIREWALL_PORTS) - 1


@pytest.mark.parametrize("port", [3306, *DECOYS])
def test_internal_port_is_dropped(sec: Host, attacker: Host, deployed: DeployResult, port: int) -> None:
    assert probe(attacker, sec, port) == "silent"


def test_mariadb_answers_on_loopback(host) -> None:  # type: ignore[no-untyped-def]
    assert host.socket("tcp://127.0.0.1:3306").is_listening


def test_reloading_the_firewall_keeps_fail2ban_bans(host) -> None:  # type: ignore[no-untyped-def]
    documentation_address = "192.0.2.7"  # RFC 5737: never a real peer
    host.check_output(f"fail2ban-client set sshd banip {documentation_address}")
    try:
        host.check_output("systemctl reload nftables")
        banned = host.check_output("nft list set inet f2b-table addr-set-sshd")
        ours = host.run("nft list table inet mailforge_filter")
    finally:
        host.run(f"fail2ban-client set sshd unbanip {documentation_address}")
    assert documentation_address in banned
    assert ours.rc == 0


# --- fail2ban -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    jail: str
    command: str  # attacker.py's subcommand
    name: str  # the login's user, after the web app's host name where there is one
    failure: str  # how attacker.py reports a refused guess

    def args(self, sec: Host) -> list[str]:
        return [self.command, sec.address, *self.name.split()]


ATTACKS = [
    Attack("postfix-sasl", "smtp-auth", "alice@example.test", "smtp 535"),
    Attack("dovecot", "imap", "alice@example.test", "imap refused: b'[AUTHENTICATIONFAILED]"),
    Attack("postfixadmin-auth", "postfixadmin", "postfixadmin.example.test admin@example.test", "http 200"),
    Attack("roundcube-auth", "roundcube", "webmail.example.test alice@example.test", "http 401"),
]


def _wait_banned(attacker: Host, sec: Host, timeout: float = 60) -> None:
    """fail2ban bans asynchronously (it reads the log line, then runs nft): wait until 587 stops answering."""
    deadline = time.monotonic() + timeout
    while probe(attacker, sec, 587) == "open":
        if time.monotonic() > deadline:
            pytest.fail(f"{attacker.address} was not banned within {timeout:.0f} s")
        time.sleep(1)


@pytest.fixture(scope="module", params=ATTACKS, ids=[a.jail for a in ATTACKS])
def banned(request: pytest.FixtureRequest, deployed: DeployResult, sec: Host, attacker: Host) -> Iterator[Attack]:
    """The attacker guessed wrong MAXRETRY times (and more, until cut off) through one service."""
    current: Attack = request.param
    sec.run("fail2ban-client unban --all")
    outcomes = attack(attacker, *current.args(sec), MAXRETRY + 3)
    assert all(o.startswith(current.failure) for o in outcomes[:MAXRETRY]), outcomes
    _wait_banned(attacker, sec)
    yield current
    sec.run("fail2ban-client unban --all")


@pytest.mark.parametrize("port", BANNED_PORTS)
def test_banned_attacker_is_cut_off(banned: Attack, sec: Host, attacker: Host, port: int) -> None:
    assert probe(attacker, sec, port) in ("refused", "silent")


def test_banned_attacker_keeps_ssh(banned: Attack, sec: Host, attacker: Host) -> None:
    # Only the sshd jail bans port 22: a mail password guessed wrong never locks anyone out of SSH.
    assert probe(attacker, sec, 22) == "open"


def test_jail_lists_the_attacker(banned: Attack, sec: Host, attacker: Host) -> None:
    status = sec.run(f"fail2ban-client status {banned.jail}").stdout
    assert attacker.address in status.split("Banned IP list:")[1].split()


def test_right_password_from_another_address_works(banned: Attack, server: Server, passwords: dict[str, str]) -> None:
    msg = message("alice@example.test", "bob@example.test")
    submit(server, "alice@example.test", passwords["alice@example.test"], msg, port=587)
    assert fetch(server, "bob@example.test", passwords["bob@example.test"], msg["Subject"]) is not None


def test_right_password_logs_in_over_imap_from_another_address(
    banned: Attack, server: Server, passwords: dict[str, str]
) -> None:
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        status, _ = imap.login("alice@example.test", passwords["alice@example.test"])
    assert status == "OK"


@pytest.mark.parametrize(("status", "counted"), [(200, True), (302, False)], ids=["form-again", "redirect"])
def test_postfixadmin_filter_counts_failed_logins_only(host, status: int, counted: bool) -> None:  # type: ignore[no-untyped-def]
    line = f'192.0.2.9 - - [23/Nov/2026:01:43:10 +0000] "POST /login.php HTTP/2.0" {status} 5454 "-" "x"'
    out = host.check_output(f"fail2ban-regex '{line}' postfixadmin-auth")
    assert ("Lines: 1 lines, 0 ignored, 1 matched" in out) is counted, out


# --- the deploy and the host's life ---------------------------------------------------------------


def test_second_deploy_changes_nothing(deployed: DeployResult, inventory: Path) -> None:
    again = run_deploy(inventory, env=DEPLOY_ENV)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()


def test_firewall_and_jails_return_after_a_reboot(deployed: DeployResult, sec: Host) -> None:
    sec.run("touch /run/before-reboot")
    sec.run("systemctl reboot", check=False)
    deadline = time.monotonic() + 180
    jails = ""
    while "Jail list" not in jails:  # /run is a fresh tmpfs after a real reboot
        if time.monotonic() > deadline:
            pytest.fail("the host or its fail2ban did not come back within 180 s")
        time.sleep(2)
        jails = sec.run("test ! -e /run/before-reboot && fail2ban-client status", check=False).stdout
    assert "dovecot, postfix-sasl, postfixadmin-auth, roundcube-auth, sshd" in jails
    assert sec.run("nft list table inet mailforge_filter", check=False).returncode == 0
