"""Issue 3: a provisioned host receives, stores and serves mail for virtual domains, through real clients.
Issue 14: a new mailbox has its special-use folders from the first login; submitted mail does not carry the
user's address in its Received header.

One server host ("core") deployed once for the module, plus "core-mx": a second test host acting as the
remote MX for remote.test (a plain SMTP sink), reached through a static transport route.
"""

from __future__ import annotations

import imaplib
import json
import re
import smtplib
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from lab import peers
from lab.mail import (
    DEPLOY_ENV,
    Server,
    fetch,
    message,
    passwords_of,
    server_of,
    smtp,
    submit,
)
from lab.mail import server_data as mail_server_data
from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.releases import Release
from mailforge.testhost import Host, StateDir
from mailforge.testhost.network import gateway
from tests.e2e.conftest import infra

SINK = "/var/lib/sink"
# Run on both supported releases by default (tests/e2e/conftest.py): the mail core is what each must prove.
RELEASES = ("trixie", "bookworm")


# A mailbox no test logs into before the special-use tests: its first login happens there.
DAVE = "dave@example.test"
# Folders every new mailbox has, with their RFC 6154 flags (deploys/dovecot.py).
SPECIAL_USE = [("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Junk", "\\Junk"), ("Trash", "\\Trash"),
               ("Archive", "\\Archive")]  # fmt: skip


def server_data(mx: Host, carol_quota: int = 1) -> dict[str, Any]:
    data = mail_server_data("core.example.test", {"remote.test": f"smtp:[{mx.address}]:25"}, carol_quota)
    data["mail_domains"][0]["mailboxes"].append({"address": DAVE, "name": "Dave"})
    return data


@pytest.fixture(scope="module")
def hosts_pair(make_host) -> tuple[Host, Host]:  # type: ignore[no-untyped-def]
    return make_host("core"), make_host("core-mx")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return DEPLOY_ENV


@pytest.fixture(scope="module")
def inventory_for(hosts_pair: tuple[Host, Host], module_tmp: Path, state: StateDir):  # type: ignore[no-untyped-def]
    def _write(data: dict[str, Any], name: str = "core_inventory") -> Path:
        core = hosts_pair[0]
        return write_inventory(module_tmp / f"{name}.py", [(core.name, core.address, data)], state.ssh_key)

    return _write


@pytest.fixture(scope="module")
def deployed(hosts_pair: tuple[Host, Host], inventory_for, env: dict[str, str]) -> DeployResult:  # type: ignore[no-untyped-def]
    mx = hosts_pair[1]
    peers.start(mx, peers.SMTP_SINK, "sink", SINK, listens_on=25)
    result = run_deploy(inventory_for(server_data(mx)), env=env)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def server(deployed: DeployResult, hosts_pair: tuple[Host, Host], module_tmp: Path) -> Server:
    return server_of(hosts_pair[0], "core.example.test", module_tmp)


@pytest.fixture(scope="module")
def passwords(deployed: DeployResult, hosts_pair: tuple[Host, Host]) -> dict[str, str]:
    return passwords_of(hosts_pair[0])


@pytest.fixture(scope="module")
def core(deployed: DeployResult, hosts_pair: tuple[Host, Host]):  # type: ignore[no-untyped-def]
    return infra(hosts_pair[0])


# --- the host -------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [25, 143, 465, 587, 993])
def test_mail_ports_listen_on_all_addresses(core, port: int) -> None:  # type: ignore[no-untyped-def]
    assert core.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_mariadb_listens_on_loopback_only(core) -> None:  # type: ignore[no-untyped-def]
    assert core.socket("tcp://127.0.0.1:3306").is_listening
    assert not core.socket("tcp://0.0.0.0:3306").is_listening


def master_unit(release: Release) -> str:
    """The unit that runs Postfix's master: postfix@- on Debian 12 (postfix.service is a wrapper running
    /bin/true), postfix.service itself on Debian 13 (mailforge/releases.py, postfix_instance)."""
    return release.postfix_instance or "postfix"


@pytest.mark.parametrize("service", ["postfix", "dovecot", "mariadb"])
def test_services_active_and_enabled(core, service: str) -> None:  # type: ignore[no-untyped-def]
    assert core.service(service).is_running
    assert core.service(service).is_enabled


def test_postfix_master_runs_in_the_releases_unit(core, release: Release) -> None:  # type: ignore[no-untyped-def]
    unit = master_unit(release)
    assert core.service(unit).is_running
    assert core.service(unit).is_enabled
    # The master's pid file names the process; systemd's unit for it is the one the release table names.
    pid = core.check_output("head -1 /var/spool/postfix/pid/master.pid").strip()
    assert core.check_output(f"ps -o unit= -p {pid}").strip() == f"{unit}.service"


@pytest.mark.parametrize(
    ("path", "mode", "user", "group"),
    [
        ("/etc/mailforge/tls/core.example.test.key", 0o600, "root", "root"),
        ("/etc/mailforge/ca/ca.key", 0o600, "root", "root"),
        ("/etc/dbconfig-common/postfixadmin.conf", 0o600, "root", "root"),
        ("/etc/postfixadmin/dbconfig.inc.php", 0o640, "root", "www-data"),
        ("/etc/postfixadmin/config.local.php", 0o640, "root", "www-data"),
        ("/etc/postfix/sql/virtual_mailbox_maps.cf", 0o640, "root", "postfix"),
        ("/etc/mailforge/mailboxes/bob@example.test", 0o600, "root", "root"),
    ],
)
def test_secret_files_are_protected(core, path: str, mode: int, user: str, group: str) -> None:  # type: ignore[no-untyped-def]
    f = core.file(path)
    assert (f.mode, f.user, f.group) == (mode, user, group)


# Where Dovecot reads its SQL settings, per template tree (mailforge/releases.py, dovecot): 2.3's separate file,
# readable by the dovecot group only (deploys/dovecot.py GROUP_ONLY); 2.4 has no such file, the settings are
# inline in conf.d/auth-sql.conf.ext, which every doveadm caller reads (PostfixAdmin's pool user too).
DOVECOT_SQL = {
    "2.3": ("/etc/dovecot/dovecot-sql.conf.ext", 0o640, "root", "dovecot"),
    "2.4": ("/etc/dovecot/conf.d/auth-sql.conf.ext", 0o644, "root", "root"),
}


def test_dovecot_sql_settings_file_mode(core, release: Release) -> None:  # type: ignore[no-untyped-def]
    path, mode, user, group = DOVECOT_SQL[release.dovecot]
    f = core.file(path)
    assert (f.mode, f.user, f.group) == (mode, user, group)
    assert core.file("/etc/dovecot/dovecot-sql.conf.ext").exists == (release.dovecot == "2.3")


def test_dovecot_logs_in_to_mariadb_without_a_password(core, release: Release) -> None:  # type: ignore[no-untyped-def]
    # Through the socket as the dovecot system user (unix_socket): no password to protect in either tree.
    path = DOVECOT_SQL[release.dovecot][0]
    assert "password" not in core.check_output(f"grep -iE 'connect|user *=|mysql ' {path}").lower()
    plugin = core.check_output("mysql -N -e \"SELECT plugin FROM mysql.user WHERE User='dovecot'\"")
    assert plugin.strip() == "unix_socket"


def test_no_anonymous_database_users(core) -> None:  # type: ignore[no-untyped-def]
    assert core.check_output("mysql -N -e \"SELECT COUNT(*) FROM mysql.global_priv WHERE User=''\"") == "0"


def test_postfix_configuration_checks_clean(core) -> None:  # type: ignore[no-untyped-def]
    assert core.run("postfix check").rc == 0


def test_mail_log_exists_without_rsyslog(core) -> None:  # type: ignore[no-untyped-def]
    assert core.file("/var/log/mail.log").contains("daemon started")


# --- delivery on port 25 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "readers"),
    [
        ("alice@example.test", ["alice@example.test"]),
        ("info@example.test", ["alice@example.test"]),
        ("team@example.test", ["alice@example.test", "bob@example.test"]),
        ("bob@alias.test", ["bob@example.test"]),
        ("anything@catchall.test", ["alice@example.test"]),
    ],
    ids=["mailbox", "alias", "alias-two-targets", "alias-domain", "catch-all"],
)
def test_inbound_delivery(server: Server, passwords: dict[str, str], recipient: str, readers: list[str]) -> None:
    msg = message("sender@remote.test", recipient)
    with smtp(server) as client:
        client.send_message(msg)
    for reader in readers:
        got = fetch(server, reader, passwords[reader], msg["Subject"])
        assert got is not None, f"{reader} did not receive mail sent to {recipient}"
        assert got.get_content().strip() == msg.get_content().strip()


def test_unknown_recipient_rejected_at_rcpt(server: Server) -> None:
    with smtp(server) as client:
        client.ehlo("client.example.test")
        client.mail("sender@remote.test")
        code, reply = client.rcpt("nobody@example.test")
    assert code == 550
    assert b"5.1.1" in reply


# --- submission ------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [587, 465])
def test_submission_delivers_locally(server: Server, passwords: dict[str, str], port: int) -> None:
    msg = message("alice@example.test", "bob@example.test")
    submit(server, "alice@example.test", passwords["alice@example.test"], msg, port=port)
    assert fetch(server, "bob@example.test", passwords["bob@example.test"], msg["Subject"]) is not None


def _sink_has(mx: Host, subject: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mx.run(f"grep -rlF '{subject}' {SINK}", check=False).returncode == 0:
            return True
        time.sleep(0.5)
    return False


def test_submission_relays_to_a_remote_mx(server: Server, passwords: dict[str, str], hosts_pair) -> None:  # type: ignore[no-untyped-def]
    msg = message("alice@example.test", "someone@remote.test")
    submit(server, "alice@example.test", passwords["alice@example.test"], msg)
    assert _sink_has(hosts_pair[1], msg["Subject"])


def test_auth_is_not_offered_before_starttls(server: Server, passwords: dict[str, str]) -> None:
    with smtp(server, 587) as client:
        client.ehlo("client.example.test")
        assert not client.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.login("alice@example.test", passwords["alice@example.test"])


def test_wrong_password_refused(server: Server) -> None:
    with smtp(server, 587) as client:
        client.starttls(context=server.tls())
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("alice@example.test", "not-the-password")
    assert refused.value.smtp_code == 535


def test_sending_as_another_user_refused(server: Server, passwords: dict[str, str]) -> None:
    with smtp(server, 587) as client:
        client.starttls(context=server.tls())
        client.login("alice@example.test", passwords["alice@example.test"])
        client.mail("bob@example.test")
        code, reply = client.rcpt("carol@example.test")
    assert code == 553
    assert b"not owned by user" in reply


@pytest.mark.parametrize("port", [465, 993])
def test_certificate_names_the_host_and_verifies(server: Server, port: int) -> None:
    context = ssl.create_default_context(cafile=server.cafile)  # hostname checked too
    with (
        socket.create_connection((server.address, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server.fqdn) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_imap_login_refused_without_tls(server: Server, passwords: dict[str, str]) -> None:
    import imaplib

    with imaplib.IMAP4(server.address, 143, timeout=10) as imap:
        assert "LOGINDISABLED" in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("alice@example.test", passwords["alice@example.test"])


@pytest.mark.parametrize("port", [587, 465])
def test_submitted_mail_does_not_carry_the_clients_address(
    server: Server, passwords: dict[str, str], hosts_pair: tuple[Host, Host], port: int
) -> None:
    msg = message("alice@example.test", "bob@example.test")
    submit(server, "alice@example.test", passwords["alice@example.test"], msg, port=port)
    got = fetch(server, "bob@example.test", passwords["bob@example.test"], msg["Subject"])
    assert got is not None
    hops = [str(h) for h in got.get_all("Received", [])]
    client = gateway(hosts_pair[0].index)  # this machine's side of the host's veth
    assert [h for h in hops if re.search(rf"(?<![\d.]){re.escape(client)}(?!\d)", h)] == [], hops
    assert [h for h in hops if h.startswith("by core.example.test (Postfix) with ESMTPSA id ")] != [], hops


# --- special-use folders ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def first_login(server: Server, hosts_pair: tuple[Host, Host]) -> tuple[list[str], list[str]]:
    """dave's first IMAP login: what LIST (SPECIAL-USE) and LSUB answer."""
    maildir = "/var/vmail/example.test/dave"
    assert hosts_pair[0].run(f"test -e {maildir}", check=False).returncode == 1, f"{maildir} exists: not a first login"
    password = hosts_pair[0].run(f"cat /etc/mailforge/mailboxes/{DAVE}").stdout.strip()
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login(DAVE, password)
        # imaplib keeps the capabilities announced before login; Dovecot lists SPECIAL-USE after it.
        status, capabilities = imap.capability()
        assert b"SPECIAL-USE" in capabilities[0].split(), capabilities
        status, listed = imap.list('(SPECIAL-USE) ""', "*")  # RFC 6154 section 3: the selection option
        assert status == "OK", listed
        status, subscribed = imap.lsub('""', "*")
        assert status == "OK", subscribed
    return [line.decode() for line in listed if line], [line.decode() for line in subscribed if line]


def _listed(lines: list[str]) -> dict[str, set[str]]:
    """Mailbox name -> flags, from LIST/LSUB lines like '(\\HasNoChildren \\Sent) "." Sent'."""
    found = {}
    for line in lines:
        match = re.fullmatch(r'\(([^)]*)\) (?:"[^"]*"|NIL) "?([^"]+)"?', line)
        assert match, line
        found[match.group(2)] = set(match.group(1).split())
    return found


@pytest.mark.parametrize(("folder", "flag"), SPECIAL_USE)
def test_new_mailbox_lists_the_special_use_folder(first_login, folder: str, flag: str) -> None:  # type: ignore[no-untyped-def]
    assert flag in _listed(first_login[0]).get(folder, set()), first_login[0]


@pytest.mark.parametrize("folder", [folder for folder, _ in SPECIAL_USE])
def test_new_mailbox_is_subscribed_to_the_folder(first_login, folder: str) -> None:  # type: ignore[no-untyped-def]
    assert folder in _listed(first_login[1]), first_login[1]


def test_special_use_selection_lists_only_these_folders(first_login) -> None:  # type: ignore[no-untyped-def]
    assert sorted(_listed(first_login[0])) == sorted(folder for folder, _ in SPECIAL_USE)


@pytest.mark.parametrize("folder", [folder for folder, _ in SPECIAL_USE])
def test_special_use_folder_can_be_opened(
    server: Server, hosts_pair: tuple[Host, Host], first_login, folder: str
) -> None:  # type: ignore[no-untyped-def]
    password = hosts_pair[0].run(f"cat /etc/mailforge/mailboxes/{DAVE}").stdout.strip()
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login(DAVE, password)
        status, count = imap.select(f'"{folder}"')
    assert (status, count) == ("OK", [b"0"])


# --- no open relay ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipient",
    [
        "victim@remote.test",
        "victim%remote.test@example.test",  # percent hack
        "remote.test!victim@example.test",  # bang path
        '"victim@remote.test"@example.test',  # quoted local part
        "@example.test:victim@remote.test",  # source route
        "victim@remote.test@example.test",
    ],
)
def test_no_open_relay_on_port_25(server: Server, recipient: str) -> None:
    with smtp(server) as client:
        client.ehlo("client.example.test")
        client.mail("spammer@remote.test")
        code, _ = client.rcpt(recipient)
    assert code >= 500


def test_no_relay_on_587_without_auth(server: Server) -> None:
    with smtp(server, 587) as client:
        client.starttls(context=server.tls())
        client.ehlo("client.example.test")
        client.mail("spammer@remote.test")
        code, _ = client.rcpt("victim@remote.test")
    assert code >= 500


# --- quota -----------------------------------------------------------------------------------------


def _queued_for(core: Host, recipient: str, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = core.run("postqueue -j", check=False).stdout.splitlines()
        queued = [json.loads(line) for line in lines if recipient in line]
        if queued and queued[0]["recipients"][0].get("delay_reason"):
            return queued
        time.sleep(0.5)
    return []


def test_full_mailbox_defers_not_bounces(server: Server, passwords: dict[str, str], hosts_pair) -> None:  # type: ignore[no-untyped-def]
    core = hosts_pair[0]
    first = message("sender@remote.test", "carol@example.test", size=700 * 1024)  # carol's quota: 1 MiB
    second = message("sender@remote.test", "carol@example.test", size=700 * 1024)
    with smtp(server) as client:
        client.send_message(first)
    assert fetch(server, "carol@example.test", passwords["carol@example.test"], first["Subject"]) is not None
    with smtp(server) as client:
        client.send_message(second)
    queued = _queued_for(core, "carol@example.test")
    log = core.run("grep -E 'carol' /var/log/mail.log | tail -5", check=False).stdout
    assert queued, f"the message for the full mailbox is not in the queue; mail.log:\n{log}"
    assert "452 4.2.2" in queued[0]["recipients"][0]["delay_reason"]
    assert "status=bounced" not in log


def _queue_id(core: Host, message_id: str, timeout: float = 30) -> str:
    """cleanup logs "QID: message-id=<...>": the queue ID Postfix gave a message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = core.run(f"grep -F 'message-id={message_id}' /var/log/mail.log", check=False).stdout
        if found:
            return found.split(": message-id=")[0].rsplit(" ", 1)[-1]
        time.sleep(0.5)
    raise AssertionError(f"{message_id} never reached cleanup")


def test_message_larger_than_the_whole_quota_waits_in_the_queue(server: Server, hosts_pair) -> None:  # type: ignore[no-untyped-def]
    # quota_full_tempfail covers it too: kept (4xx) until the quota is raised or the queue lifetime ends.
    core = hosts_pair[0]
    too_big = message("sender@remote.test", "carol@example.test", size=2 * 1024 * 1024)  # quota: 1 MiB
    with smtp(server) as client:
        client.send_message(too_big)
    qid = _queue_id(core, too_big["Message-ID"])
    deadline = time.monotonic() + 30
    entry: dict[str, Any] = {}
    while time.monotonic() < deadline and not entry.get("recipients", [{}])[0].get("delay_reason"):
        lines = core.run("postqueue -j", check=False).stdout.splitlines()
        entry = next((json.loads(line) for line in lines if f'"queue_id": "{qid}"' in line), {})
        time.sleep(0.5)
    assert "452 4.2.2" in entry["recipients"][0]["delay_reason"]


# --- deploy behaviour ------------------------------------------------------------------------------


def test_second_deploy_changes_nothing(deployed: DeployResult, inventory_for, hosts_pair, env) -> None:  # type: ignore[no-untyped-def]
    again = run_deploy(inventory_for(server_data(hosts_pair[1])), env=env)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()


def test_a_deploy_starts_postfix_when_its_master_unit_is_stopped(inventory_for, hosts_pair, env, release) -> None:  # type: ignore[no-untyped-def]
    core = hosts_pair[0]
    unit = master_unit(release)
    core.run(f"systemctl stop {unit}")
    # Debian 12: the wrapper postfix.service stays active while postfix@- is down; Debian 13 has no wrapper.
    wrapper = "active" if release.postfix_instance else "inactive"
    assert core.run("systemctl is-active postfix.service", check=False).stdout.strip() == wrapper
    result = run_deploy(inventory_for(server_data(hosts_pair[1])), env=env)
    assert result.ok, result.explain()
    assert result.changed == 1, result.explain()
    assert core.run(f"systemctl is-active {unit}", check=False).stdout.strip() == "active"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"mail_hostname": "not a host"}, "mail_hostname"),
        (
            {"mail_domains": [{"domain": "example.test", "mailboxes": [{"address": "bad address"}]}]},
            "mail_domains[0].mailboxes[0].address",
        ),
        (
            {
                "mail_domains": [
                    {
                        "domain": "example.test",
                        "aliases": [{"address": "x@example.test", "goto": ["ghost@example.test"]}],
                    }
                ]
            },
            "alias x@example.test",
        ),
    ],
    ids=["hostname", "address", "dangling-alias"],
)
def test_bad_settings_stop_before_the_host_is_touched(
    inventory_for, hosts_pair, env, change: dict[str, Any], key: str
) -> None:  # type: ignore[no-untyped-def]
    core = hosts_pair[0]
    before = core.run("md5sum /etc/postfix/main.cf; mysql -N -e 'CHECKSUM TABLE postfixadmin.mailbox'").stdout
    result = run_deploy(inventory_for({**server_data(hosts_pair[1]), **change}, "bad_inventory"), env=env)
    assert result.returncode != 0
    assert key in result.output
    assert "Starting operation" not in result.output
    after = core.run("md5sum /etc/postfix/main.cf; mysql -N -e 'CHECKSUM TABLE postfixadmin.mailbox'").stdout
    assert after == before


def test_changing_one_quota_changes_only_that(inventory_for, hosts_pair, env) -> None:  # type: ignore[no-untyped-def]
    core = hosts_pair[0]
    result = run_deploy(inventory_for(server_data(hosts_pair[1], carol_quota=5), "quota_inventory"), env=env)
    assert result.ok, result.explain()
    assert result.changed == 1, result.explain()
    stored = core.run("mysql -N -e \"SELECT quota FROM postfixadmin.mailbox WHERE username='carol@example.test'\"")
    assert stored.stdout.strip() == str(5 * 1048576)
