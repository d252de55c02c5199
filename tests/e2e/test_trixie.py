"""Issue 16: the full deploy converges on Debian 13 (trixie): Dovecot 2.4, Postfix 3.10, PHP 8.4, MariaDB 11.8,
Nginx 1.26, fail2ban 1.1, through real clients.

"tx" is the server (trixie, deployed once for the module); "tx-mx" is another test host that sends it mail over
SMTP and receives what it relays for remote.test (a plain SMTP sink). One behaviour per test.
"""

from __future__ import annotations

import http.client
import imaplib
import json
import re
import shlex
import smtplib
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import peers
from lab.mail import DEPLOY_ENV, Server, fetch, message, passwords_of, server_of, smtp, submit
from lab.mail import server_data as mail_server_data
from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.testhost import Host, StateDir

RELEASE = "trixie"
FQDN = "tx.example.test"
PFA_NAME = "postfixadmin.example.test"
WEBMAIL_NAME = "webmail.example.test"
SINK = "/var/lib/sink"
# Nobody logs into dave's mailbox before the special-use test: its first login happens there.
DAVE = "dave@example.test"
# Created once PostfixAdmin hashes with BLF-CRYPT (the second deploy of the fixture `blowfish`).
ERIN = "erin@example.test"
# Their hashes are replaced by ones Dovecot 2.3.19.1 (Debian 12) made with `doveadm pw -s SCHEME -p PASSWORD`, as
# a server upgraded from Debian 12 has them in PostfixAdmin's table.
HASHED_BY_23 = {
    "ARGON2I": (
        "legacy-argon@example.test",
        "Hashed-Under-2.3-argon",
        "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$X6yTB3rqFofsakfL9zXSCg$MOfAWfyCCbg6EjJpk/7vZV0JAtUMrG9e+fQU9e6C3c4",
    ),
    "BLF-CRYPT": (
        "legacy-blowfish@example.test",
        "Hashed-Under-2.3-blowfish",
        "{BLF-CRYPT}$2y$05$oDtMgxbmSXOYbX0nGTZw8uZlMxEqqJWU4fVkLDoG5sKEZF/FaEZ8u",
    ),
}
SPECIAL_USE = [("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Junk", "\\Junk"), ("Trash", "\\Trash"),
               ("Archive", "\\Archive")]  # fmt: skip


def server_data(mx: Host, *, blowfish: bool = False) -> dict[str, Any]:
    data = mail_server_data(FQDN, {"remote.test": f"smtp:[{mx.address}]:25"})
    mailboxes = data["mail_domains"][0]["mailboxes"]
    mailboxes += [
        {"address": DAVE, "name": "Dave"},
        *({"address": a, "name": "Legacy"} for a, _, _ in HASHED_BY_23.values()),
    ]
    data.update(postfixadmin_hostname=PFA_NAME, webmail_hostname=WEBMAIL_NAME)
    if blowfish:
        mailboxes.append({"address": ERIN, "name": "Erin"})
        data["postfixadmin_password_scheme"] = "BLF-CRYPT"
    return data


@pytest.fixture(scope="module")
def hosts_pair(make_host) -> tuple[Host, Host]:  # type: ignore[no-untyped-def]
    return make_host("tx", release=RELEASE), make_host("tx-mx", release=RELEASE)


@pytest.fixture(scope="module")
def inventory_for(hosts_pair: tuple[Host, Host], module_tmp: Path, state: StateDir):  # type: ignore[no-untyped-def]
    def _write(data: dict[str, Any], name: str) -> Path:
        tx = hosts_pair[0]
        return write_inventory(module_tmp / f"{name}.py", [(tx.name, tx.address, data)], state.ssh_key)

    return _write


@pytest.fixture(scope="module")
def deployed(hosts_pair: tuple[Host, Host], inventory_for) -> DeployResult:  # type: ignore[no-untyped-def]
    mx = hosts_pair[1]
    peers.start(mx, peers.SMTP_SINK, "sink", SINK, listens_on=25)
    result = run_deploy(inventory_for(server_data(mx), "tx_inventory"), env=DEPLOY_ENV)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def blowfish(deployed: DeployResult, hosts_pair: tuple[Host, Host], inventory_for) -> DeployResult:  # type: ignore[no-untyped-def]
    """The same server with postfixadmin_password_scheme = BLF-CRYPT and one more mailbox, hashed so."""
    result = run_deploy(inventory_for(server_data(hosts_pair[1], blowfish=True), "blowfish_inventory"), env=DEPLOY_ENV)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def tx(deployed: DeployResult, hosts_pair: tuple[Host, Host]) -> Host:
    return hosts_pair[0]


@pytest.fixture(scope="module")
def server(tx: Host, module_tmp: Path) -> Server:
    return server_of(tx, FQDN, module_tmp)


@pytest.fixture(scope="module")
def passwords(tx: Host) -> dict[str, str]:
    return passwords_of(tx)


def _sql(host: Host, query: str) -> str:
    return host.run(f"mysql -N postfixadmin -e {shlex.quote(query)}").stdout.strip()


def _imap_login(server: Server, user: str, password: str) -> str:
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        status, _ = imap.login(user, password)
        return status


# --- the host and its daemons --------------------------------------------------------------------------------


def test_host_runs_trixie(tx: Host) -> None:
    assert "VERSION_CODENAME=trixie" in tx.run("cat /etc/os-release").stdout.splitlines()


@pytest.mark.parametrize(
    ("command", "version"),
    [("dovecot --version", "2.4."), ("postconf -h mail_version", "3.10."), ("php -r 'echo PHP_VERSION;'", "8.4."),
     ("mariadb --version", "11.8."), ("nginx -v 2>&1", "nginx/1.26.")],
    ids=["dovecot", "postfix", "php", "mariadb", "nginx"],
)  # fmt: skip
def test_release_brings_its_daemon_versions(tx: Host, command: str, version: str) -> None:
    assert version in tx.run(command).stdout


def test_no_unit_failed(tx: Host) -> None:
    assert tx.run("systemctl --failed --no-legend --plain").stdout.strip() == ""


def test_doveconf_accepts_the_configuration_without_a_word(tx: Host) -> None:
    checked = tx.run("doveconf -n", check=False)
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr


def test_doveconf_shows_the_config_version_first(tx: Host) -> None:
    settings = [line for line in tx.run("doveconf -n").stdout.splitlines() if line and not line.startswith("#")]
    # doveconf lists the rest in its own order.
    assert (settings[0], "dovecot_storage_version = 2.4.0" in settings) == ("dovecot_config_version = 2.4.1", True)


@pytest.mark.parametrize("command", ["postfix check", "nginx -t", "php-fpm8.4 -t", "fail2ban-client -t"])
def test_configuration_check_passes_without_a_warning(tx: Host, command: str) -> None:
    # Postfix 3.10 warns about obsolete settings, Nginx 1.26 about `listen ... http2`: none of that here.
    checked = tx.run(command, check=False)
    said = checked.stdout + checked.stderr
    assert checked.returncode == 0, said
    assert not re.search(r"warn|deprecat|obsolete|error", said, re.I), said


def test_postfixadmin_pool_user_can_hash_with_doveadm(tx: Host) -> None:
    # PostfixAdmin's UI hashes a new password with doveadm as its pool user (config.local.php's dovecotpw), who
    # may read neither Dovecot's private files nor its sockets.
    doveadm = "/usr/bin/doveadm -o stats_writer_socket_path= pw -s ARGON2I -p x-y-z-12345"
    hashed = tx.run(f"runuser -u postfixadmin -- {doveadm}", check=False)
    assert (hashed.returncode, hashed.stderr, hashed.stdout.startswith("{ARGON2I}$")) == (0, "", True), hashed.stderr


@pytest.mark.parametrize("jail", ["sshd", "dovecot", "postfix-sasl", "postfixadmin-auth", "roundcube-auth"])
def test_fail2ban_runs_the_jail(tx: Host, jail: str) -> None:
    assert tx.run(f"fail2ban-client status {jail}", check=False).returncode == 0


# --- mail ----------------------------------------------------------------------------------------------------

# Run on tx-mx with its own python3: a message to alice over SMTP to tx's port 25.
SEND_FROM_MX = """
import smtplib, sys
from email.message import EmailMessage
msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "sender@remote.test", "alice@example.test", sys.argv[2]
msg.set_content("from another test host")
with smtplib.SMTP(sys.argv[1], 25, "mx.remote.test", timeout=30) as client:
    client.send_message(msg)
"""


def test_mail_from_another_host_arrives_over_lmtp(
    tx: Host, hosts_pair: tuple[Host, Host], server: Server, passwords: dict[str, str]
) -> None:
    subject = f"from tx-mx {time.monotonic_ns()}"
    hosts_pair[1].run(f"python3 -c {shlex.quote(SEND_FROM_MX)} {tx.address} {shlex.quote(subject)}")
    got = fetch(server, "alice@example.test", passwords["alice@example.test"], subject)
    assert got is not None
    # Dovecot's LMTP server adds its Received header: "by tx.example.test with LMTP id ...".
    assert any(re.search(r"with LMTPS?\s+id", value) for value in got.get_all("Received", [])), got.get_all("Received")


def test_submission_587_with_sasl(server: Server, passwords: dict[str, str]) -> None:
    msg = message("alice@example.test", "bob@example.test")
    submit(server, "alice@example.test", passwords["alice@example.test"], msg, port=587)
    assert fetch(server, "bob@example.test", passwords["bob@example.test"], msg["Subject"]) is not None


def test_submission_refuses_a_wrong_password(server: Server) -> None:
    with smtp(server, 587) as client:
        client.starttls(context=server.tls())
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("alice@example.test", "not-the-password")
    assert refused.value.smtp_code == 535


def test_submission_relays_to_a_remote_mx(server: Server, passwords: dict[str, str], hosts_pair) -> None:  # type: ignore[no-untyped-def]
    msg = message("alice@example.test", "someone@remote.test")
    submit(server, "alice@example.test", passwords["alice@example.test"], msg)
    deadline = time.monotonic() + 30
    while hosts_pair[1].run(f"grep -rlF '{msg['Subject']}' {SINK}", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the relayed message never reached tx-mx"
        time.sleep(0.5)


def test_imap_login_refused_without_tls(server: Server, passwords: dict[str, str]) -> None:
    # auth_allow_cleartext = no: port 143 offers LOGINDISABLED until STARTTLS.
    with imaplib.IMAP4(server.address, 143, timeout=30) as imap:
        assert "LOGINDISABLED" in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("alice@example.test", passwords["alice@example.test"])


# --- password hashes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "scheme"), [("alice@example.test", "ARGON2I"), (ERIN, "BLF-CRYPT")])
def test_deploy_stores_the_scheme_it_is_set_to(tx: Host, blowfish: DeployResult, user: str, scheme: str) -> None:
    assert _sql(tx, f"SELECT password FROM mailbox WHERE username = '{user}'").startswith(f"{{{scheme}}}$")


@pytest.mark.parametrize(("user", "scheme"), [("alice@example.test", "ARGON2I"), (ERIN, "BLF-CRYPT")])
def test_imaps_login_with_a_hash_the_deploy_made(
    tx: Host, server: Server, blowfish: DeployResult, user: str, scheme: str
) -> None:
    password = passwords_of(tx).get(user) or tx.run(f"cat /etc/mailforge/mailboxes/{user}").stdout.strip()
    assert _imap_login(server, user, password) == "OK"


@pytest.fixture(scope="module")
def hashed_by_23(tx: Host) -> None:
    for user, _, hashed in HASHED_BY_23.values():
        _sql(tx, f"UPDATE mailbox SET password = '{hashed}' WHERE username = '{user}'")


@pytest.mark.parametrize("scheme", sorted(HASHED_BY_23))
def test_imaps_login_with_a_hash_dovecot_23_made(server: Server, hashed_by_23: None, scheme: str) -> None:
    user, password, _ = HASHED_BY_23[scheme]
    assert _imap_login(server, user, password) == "OK"


@pytest.mark.parametrize("scheme", sorted(HASHED_BY_23))
def test_submission_login_with_a_hash_dovecot_23_made(server: Server, hashed_by_23: None, scheme: str) -> None:
    user, password, _ = HASHED_BY_23[scheme]
    with smtp(server, 587) as client:
        client.starttls(context=server.tls())
        code, _ = client.login(user, password)
    assert code == 235


# --- quota from PostfixAdmin (count driver) ------------------------------------------------------------------


def test_imap_reports_the_quota_postfixadmin_holds(server: Server, passwords: dict[str, str]) -> None:
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login("carol@example.test", passwords["carol@example.test"])
        _, (roots, limits) = imap.getquotaroot("INBOX")  # type: ignore[misc]
    # carol's quota_mb = 1: 1048576 bytes in PostfixAdmin's table, 1024 KiB in IMAP's STORAGE unit.
    assert re.search(rb'"User quota" \(STORAGE \d+ 1024\)', limits[0]), (roots, limits)


def test_full_mailbox_defers_not_bounces(tx: Host, server: Server, passwords: dict[str, str]) -> None:
    first = message("sender@remote.test", "carol@example.test", size=700 * 1024)  # carol's quota: 1 MiB
    second = message("sender@remote.test", "carol@example.test", size=700 * 1024)
    with smtp(server) as client:
        client.send_message(first)
    assert fetch(server, "carol@example.test", passwords["carol@example.test"], first["Subject"]) is not None
    with smtp(server) as client:
        client.send_message(second)
    reason = ""
    deadline = time.monotonic() + 30
    while "452 4.2.2" not in reason and time.monotonic() < deadline:
        queued = [json.loads(line) for line in tx.run("postqueue -j", check=False).stdout.splitlines()]
        reason = next((q["recipients"][0].get("delay_reason", "") for q in queued if "carol" in json.dumps(q)), "")
        time.sleep(0.5)
    log = tx.run("grep carol /var/log/mail.log | tail -5", check=False).stdout
    assert "452 4.2.2" in reason, log
    assert "status=bounced" not in log


# --- special-use folders -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def first_login(tx: Host, server: Server) -> tuple[list[str], list[str]]:
    password = tx.run(f"cat /etc/mailforge/mailboxes/{DAVE}").stdout.strip()
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login(DAVE, password)
        _, listed = imap.list('(SPECIAL-USE) ""', "*")
        _, subscribed = imap.lsub('""', "*")
    return [line.decode() for line in listed if line], [line.decode() for line in subscribed if line]  # type: ignore[union-attr]


@pytest.mark.parametrize(("folder", "flag"), SPECIAL_USE)
def test_first_login_lists_the_special_use_folder(first_login, folder: str, flag: str) -> None:  # type: ignore[no-untyped-def]
    assert any(line.endswith(f" {folder}") and flag in line for line in first_login[0]), first_login[0]


@pytest.mark.parametrize("folder", [folder for folder, _ in SPECIAL_USE])
def test_first_login_is_subscribed_to_the_folder(first_login, folder: str) -> None:  # type: ignore[no-untyped-def]
    assert any(line.endswith(f" {folder}") for line in first_login[1]), first_login[1]


# --- fail2ban reads Dovecot 2.4 --------------------------------------------------------------------------

# Run on tx-mx with its own python3: IMAPS logins with a wrong password, one connection each.
GUESS_FROM_MX = """
import imaplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
for attempt in range(int(sys.argv[2])):
    try:
        with imaplib.IMAP4_SSL(sys.argv[1], 993, ssl_context=ctx, timeout=20) as imap:
            imap.login("alice@example.test", f"wrong-{attempt}")
    except Exception as exc:
        print(attempt, exc)
"""


@pytest.fixture
def guesser_banned(tx: Host, hosts_pair: tuple[Host, Host]) -> Iterator[str]:
    """tx-mx guesses alice's IMAP password until the dovecot jail bans it (maxretry: 5); unbanned afterwards."""
    mx = hosts_pair[1]
    tx.run("fail2ban-client unban --all")
    try:
        mx.run(f"python3 -c {shlex.quote(GUESS_FROM_MX)} {tx.address} 6", check=False)
        status = ""
        deadline = time.monotonic() + 60
        while mx.address not in status and time.monotonic() < deadline:
            status = tx.run("fail2ban-client status dovecot").stdout
            time.sleep(1)
        yield status
    finally:
        tx.run("fail2ban-client unban --all")


def test_dovecot_jail_bans_a_password_guesser(guesser_banned: str, hosts_pair: tuple[Host, Host]) -> None:
    # Debian's filter knows only 2.3's "Disconnected (auth failed ...)"; 2.4 says "Login aborted: ... (auth_failed)"
    # (templates/fail2ban/filter.d/dovecot.local.j2).
    assert hosts_pair[1].address in guesser_banned, guesser_banned


# --- the web tier over HTTPS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    status: int
    server: str
    body: str
    alpn: str | None


def _request(
    server: Server, name: str, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, list[tuple[str, str]], str]:
    """One request to https://NAME/PATH at the host's address, NAME as SNI and Host header: status, headers, body."""
    ctx = ssl.create_default_context(cafile=server.cafile)
    conn = http.client.HTTPSConnection(server.address, 443, timeout=30, context=ctx)
    conn.sock = ctx.wrap_socket(socket.create_connection((server.address, 443), timeout=30), server_hostname=name)
    try:
        conn.request(method, path, body=body, headers={"Host": name, "User-Agent": "mailforge-e2e", **headers})
        reply = conn.getresponse()
        return reply.status, reply.getheaders(), reply.read().decode(errors="replace")
    finally:
        conn.close()


def _roundcube_login(server: Server, user: str, password: str) -> tuple[int, str]:
    """Roundcube's own login form, as a browser sends it: the session cookie and the form's _token from the login
    page, then the POST. Roundcube logs in to Dovecot over IMAP with the password: 302 to the mail view on success."""
    _, headers, page = _request(server, WEBMAIL_NAME, "GET", "/", {})
    cookies = "; ".join(v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie")
    token = re.search(r'name="_token" value="([^"]+)"', page)
    assert token, page[:2000]
    form = urllib.parse.urlencode({"_token": token.group(1), "_task": "login", "_action": "login",
                                   "_timezone": "UTC", "_url": "", "_user": user, "_pass": password})  # fmt: skip
    posted = {"Cookie": cookies, "Content-Type": "application/x-www-form-urlencoded"}
    status, headers, _ = _request(server, WEBMAIL_NAME, "POST", "/?_task=login", posted, form)
    return status, dict((k.lower(), v) for k, v in headers).get("location", "")


def _https_get(server: Server, name: str, path: str) -> Page:
    """GET https://NAME/PATH; `alpn`: what the server picks when a client offers HTTP/2 and 1.1 (http.client
    itself speaks 1.1, so the page is fetched without h2)."""
    offer = ssl.create_default_context(cafile=server.cafile)
    offer.set_alpn_protocols(["h2", "http/1.1"])
    with offer.wrap_socket(socket.create_connection((server.address, 443), timeout=15), server_hostname=name) as tls:
        alpn = tls.selected_alpn_protocol()
    ctx = ssl.create_default_context(cafile=server.cafile)
    conn = http.client.HTTPSConnection(server.address, 443, timeout=15, context=ctx)
    conn.sock = ctx.wrap_socket(socket.create_connection((server.address, 443), timeout=15), server_hostname=name)
    try:
        conn.request("GET", path, headers={"Host": name, "User-Agent": "mailforge-e2e"})
        reply = conn.getresponse()
        return Page(reply.status, reply.getheader("server", ""), reply.read().decode(errors="replace"), alpn)
    finally:
        conn.close()


APPS = [(PFA_NAME, "/login.php", "fUsername"), (WEBMAIL_NAME, "/", "rcmloginuser")]


@pytest.mark.parametrize(("name", "path", "marker"), APPS, ids=["postfixadmin", "roundcube"])
def test_login_page_is_served_over_https(server: Server, name: str, path: str, marker: str) -> None:
    page = _https_get(server, name, path)
    assert (page.status, marker in page.body) == (200, True), page.body[:2000]


@pytest.mark.parametrize(("name", "path", "marker"), APPS, ids=["postfixadmin", "roundcube"])
def test_https_negotiates_http2(server: Server, name: str, path: str, marker: str) -> None:
    assert _https_get(server, name, path).alpn == "h2"


def test_roundcube_logs_in_over_imap(server: Server, passwords: dict[str, str]) -> None:
    # Roundcube 1.6 on PHP 8.4 against Dovecot 2.4: a real login, not only the page.
    status, location = _roundcube_login(server, "bob@example.test", passwords["bob@example.test"])
    assert (status, "_task=mail" in location) == (302, True), (status, location)


def test_roundcube_refuses_a_wrong_password(server: Server) -> None:
    assert _roundcube_login(server, "bob@example.test", "not-the-password")[0] == 401


def test_server_header_names_no_version(server: Server) -> None:
    assert _https_get(server, WEBMAIL_NAME, "/").server == "nginx"


# --- converged -----------------------------------------------------------------------------------------------


def test_second_deploy_changes_nothing(blowfish: DeployResult, hosts_pair: tuple[Host, Host], inventory_for) -> None:  # type: ignore[no-untyped-def]
    again = run_deploy(inventory_for(server_data(hosts_pair[1], blowfish=True), "again_inventory"), env=DEPLOY_ENV)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()
