"""Issue 8 (backup and restore): a server is backed up, destroyed, and restored onto a fresh host with nothing
lost.

"bak-src" is deployed with domains, mailboxes (one password from the environment, two generated on the
host), aliases, an alias domain and a catch-all, and receives mail: over port 25 and submission, to
aliases and the alias domain, one message with a binary attachment and non-ASCII headers and body, a
folder with a copied message, and flags set over IMAP. `mailforge backup` (the real CLI, encrypted with a
passphrase from the environment) writes the archive; "bak-dst", a fresh host at another address, gets the
normal deploy, `mailforge restore`, and the deploy again. Then every behaviour below is checked against
what bak-src had, through real clients (IMAPS, SMTP) and the database.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import imaplib
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from lab.mail import (
    DEPLOY_ENV,
    Server,
    fetch,
    message,
    passwords_of,
    server_data,
    server_of,
    smtp,
    submit,
)
from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.testhost import Host, StateDir, hosts

SRC, DST = "bak-src", "bak-dst"
FQDN = "bak.example.test"
MAILFORGE = str(Path(sys.executable).with_name("mailforge"))
PASSPHRASE_ENV = "MAILFORGE_E2E_BACKUP_PASSPHRASE"
WRONG_ENV = "MAILFORGE_E2E_WRONG_PASSPHRASE"
ENV = {
    **os.environ,
    **DEPLOY_ENV,
    PASSPHRASE_ENV: "backup passphrase for issue 8, Grüße",
    WRONG_ENV: "backup passphrase for issue 9, Grüße",
}
MAILBOXES = ("alice@example.test", "bob@example.test", "carol@example.test")
DKIM_DOMAINS = ("example.test", "alias.test", "catchall.test")
# PostfixAdmin's tables as the restore must bring them back, password hashes included.
TABLES = {
    "domains": "SELECT domain, description, active FROM domain ORDER BY domain",
    "mailboxes": "SELECT username, password, name, maildir, quota, local_part, domain, active FROM mailbox ORDER BY 1",
    "aliases": "SELECT address, goto, domain, active FROM alias ORDER BY address",
    "alias_domains": "SELECT alias_domain, target_domain, active FROM alias_domain ORDER BY 1",
    "admins": "SELECT username, password, superadmin, active FROM admin ORDER BY 1",
}
ATTACHMENT = bytes(range(256)) * 160  # 40 KiB of every byte value


def data() -> dict[str, Any]:
    return server_data(FQDN, {})


def mailforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAILFORGE, *args], capture_output=True, text=True, env=ENV, timeout=900)


def keep(module_tmp: Path, name: str, started: float, text: str) -> None:
    """A step's output and duration, left in the module's tmp directory for the reader (not asserted)."""
    (module_tmp / f"{name}.log").write_text(f"# {time.monotonic() - started:.1f} s\n{text}")


# --- what a host holds, as clients and the database see it -----------------------------------------


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, str]
    mailboxes: dict[str, dict[str, Any]]  # address -> {folder: (uidvalidity, {uid: (sha256, flags)})}
    dkim: dict[str, str]  # domain -> public key (PEM)
    secrets: dict[str, str]  # path -> content (generated passwords)
    ca: str
    certificate: str  # SHA-256 of the certificate served on 993


def sql(host: Host, query: str, database: str = "postfixadmin") -> str:
    return host.run(f'mysql --batch --skip-column-names {database} -e "{query}"').stdout


_LIST = re.compile(r'\((?P<flags>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$')
_FETCH = re.compile(rb"UID (\d+).*FLAGS \(([^)]*)\)")


def mailbox_state(server: Server, user: str, password: str) -> dict[str, Any]:
    """Every folder: its UIDVALIDITY and, per UID, the SHA-256 of the whole message and its flags."""
    out: dict[str, Any] = {}
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login(user, password)
        _, listing = imap.list()
        for line in listing:
            match = _LIST.match(line.decode())  # type: ignore[union-attr]
            assert match, line
            name = match.group("name")
            imap.select(name, readonly=True)
            validity = imap.response("UIDVALIDITY")[1][0]
            _, found = imap.uid("SEARCH", "ALL")
            messages = {}
            if found[0]:
                _, parts = imap.uid("FETCH", b",".join(found[0].split()).decode(), "(UID FLAGS BODY.PEEK[])")
                for part in parts:
                    if isinstance(part, tuple):
                        head = _FETCH.search(part[0])
                        assert head, part[0]
                        flags = tuple(sorted(f for f in head.group(2).decode().split() if f != "\\Recent"))
                        messages[int(head.group(1))] = (hashlib.sha256(part[1]).hexdigest(), flags)
            out[name] = (validity, messages)
    return out


def served_certificate(address: str, port: int = 993) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # compared byte for byte below, not trusted
    with socket.create_connection((address, port), timeout=10) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der
    return hashlib.sha256(der).hexdigest()


def snapshot(host: Host, server: Server, passwords: dict[str, str]) -> Snapshot:
    secrets = [f"/etc/mailforge/mailboxes/{m}" for m in MAILBOXES] + ["/etc/mailforge/postfixadmin/superadmin"]
    return Snapshot(
        tables={name: sql(host, query) for name, query in TABLES.items()},
        mailboxes={m: mailbox_state(server, m, passwords[m]) for m in MAILBOXES},
        dkim={
            d: host.run(f"openssl pkey -in /etc/opendkim/keys/{d}/mail.private -pubout").stdout for d in DKIM_DOMAINS
        },
        secrets={path: host.run(f"cat {path}").stdout for path in secrets},
        ca=host.run("cat /etc/mailforge/ca/ca.crt").stdout,
        certificate=served_certificate(host.address),
    )


def untouched_fingerprint(host: Host) -> str:
    """Changes when restore changes anything: tables, secrets, keys, Maildirs, stages, service restarts."""
    return host.run(
        "{ mysql -N -e 'CHECKSUM TABLE postfixadmin.domain, postfixadmin.mailbox, postfixadmin.alias'; "
        "find /etc/mailforge /etc/opendkim/keys /var/vmail /var/tmp /var/backups -printf '%p %s %T@\\n' | sort; "
        "systemctl show -p ActiveEnterTimestamp postfix dovecot opendkim mariadb; } | sha256sum"
    ).stdout


# --- the source: deployed, given mail, backed up, destroyed ----------------------------------------


@pytest.fixture(scope="module")
def src(make_host: Callable[..., Host]) -> Host:
    return make_host(SRC)


@pytest.fixture(scope="module")
def src_inventory(src: Host, module_tmp: Path, state: StateDir) -> Path:
    return write_inventory(module_tmp / "src_inventory.py", [(SRC, src.address, data())], state.ssh_key)


def _unicode_message(sender: str, recipient: str) -> EmailMessage:
    msg = message(sender, recipient, body="Grüße aus Köln: ünïcödé ✉ 日本語のテキスト")
    msg.replace_header("Subject", f"{msg['Subject']} Übersicht ✓")
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream", filename="Übersicht.bin")
    return msg


@pytest.fixture(scope="module")
def before(src: Host, src_inventory: Path, module_tmp: Path) -> tuple[Snapshot, dict[str, str]]:
    """bak-src deployed and holding mail; its state as clients see it, and its passwords."""
    result = run_deploy(src_inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    (module_tmp / "src").mkdir(exist_ok=True)
    server = server_of(src, FQDN, module_tmp / "src")
    passwords = passwords_of(src)
    inbound = [
        (message("sender@remote.test", "alice@example.test"), ["alice@example.test"]),
        (message("sender@remote.test", "info@example.test"), ["alice@example.test"]),
        (message("sender@remote.test", "team@example.test"), ["alice@example.test", "bob@example.test"]),
        (message("sender@remote.test", "bob@alias.test"), ["bob@example.test"]),
        (message("sender@remote.test", "someone@catchall.test"), ["alice@example.test"]),
        (_unicode_message("sender@remote.test", "bob@example.test"), ["bob@example.test"]),
        (message("sender@remote.test", "carol@example.test"), ["carol@example.test"]),
    ]
    for msg, _ in inbound:
        with smtp(server) as client:
            client.send_message(msg)
    submitted = message("alice@example.test", "carol@example.test")
    submit(server, "alice@example.test", passwords["alice@example.test"], submitted)
    for msg, readers in [*inbound, (submitted, ["carol@example.test"])]:
        for reader in readers:
            # IMAP SEARCH matches substrings; "mailforge e2e <uuid>" is the ASCII start of every subject.
            subject = " ".join(str(msg["Subject"]).split()[:3])
            assert fetch(server, reader, passwords[reader], subject) is not None, (reader, subject)
    # A folder of the user's own holding a copy of a message (Dovecot hard-links it), and flags, as a mail
    # client leaves them (Archive and the other special-use folders exist from the first login).
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login("alice@example.test", passwords["alice@example.test"])
        assert imap.create("Projects")[0] == "OK"
        imap.select("INBOX")
        imap.store("1", "+FLAGS", "(\\Seen \\Flagged)")
        assert imap.copy("2", "Projects")[0] == "OK"
    return snapshot(src, server, passwords), passwords


@pytest.fixture(scope="module")
def archive(before: tuple[Snapshot, dict[str, str]], src_inventory: Path, module_tmp: Path) -> Path:
    path = module_tmp / "bak-src.tar.gz.gpg"
    started = time.monotonic()
    result = mailforge("backup", SRC, "--inventory", str(src_inventory), "--passphrase-env", PASSPHRASE_ENV,
                       "-o", str(path))  # fmt: skip
    keep(module_tmp, "backup", started, result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def dst(archive: Path, src: Host, make_host: Callable[..., Host], state: StateDir) -> Host:
    """A fresh host, created while bak-src still holds its address (so it gets another), then bak-src goes."""
    fresh = make_host(DST)
    hosts.down(SRC, state=state)
    return fresh


@pytest.fixture(scope="module")
def dst_inventory(dst: Host, module_tmp: Path, state: StateDir) -> Path:
    return write_inventory(module_tmp / "dst_inventory.py", [(DST, dst.address, data())], state.ssh_key)


@pytest.fixture(scope="module")
def dst_deployed(dst: Host, dst_inventory: Path) -> DeployResult:
    result = run_deploy(dst_inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def restored(
    dst_deployed: DeployResult, dst_inventory: Path, archive: Path, module_tmp: Path
) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    result = mailforge("restore", DST, str(archive), "--inventory", str(dst_inventory), "--passphrase-env",
                       PASSPHRASE_ENV)  # fmt: skip
    keep(module_tmp, "restore", started, result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def redeployed(restored: subprocess.CompletedProcess[str], dst_inventory: Path, module_tmp: Path) -> DeployResult:
    """The normal deploy after the restore (the designed order's last step)."""
    started = time.monotonic()
    result = run_deploy(dst_inventory, env=DEPLOY_ENV)
    keep(module_tmp, "redeploy", started, f"changed: {result.changed}\n{result.output}")
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def after(redeployed: DeployResult, dst: Host, before: tuple[Snapshot, dict[str, str]], module_tmp: Path) -> Snapshot:
    (module_tmp / "dst").mkdir(exist_ok=True)
    server = server_of(dst, FQDN, module_tmp / "dst")
    return snapshot(dst, server, before[1])


@pytest.fixture(scope="module")
def dst_server(redeployed: DeployResult, dst: Host, module_tmp: Path) -> Server:
    (module_tmp / "dst-server").mkdir(exist_ok=True)
    return server_of(dst, FQDN, module_tmp / "dst-server")


# --- the archive -----------------------------------------------------------------------------------


def test_archive_is_private_and_holds_no_plain_text(archive: Path) -> None:
    raw = archive.read_bytes()
    assert archive.stat().st_mode & 0o777 == 0o600
    assert raw[:1] in (b"\x8c", b"\xc3")  # an OpenPGP symmetric-key packet, not gzip
    assert b"PRIVATE KEY" not in raw
    assert b"example.test" not in raw


def test_restored_host_has_another_address(dst: Host, src: Host) -> None:
    assert dst.address != src.address


# --- refusals: nothing on the host changes ---------------------------------------------------------


def test_wrong_passphrase_fails_before_the_host_is_touched(
    dst_deployed: DeployResult, dst: Host, archive: Path
) -> None:
    fingerprint = untouched_fingerprint(dst)
    result = mailforge("restore", "--testhost", DST, str(archive), "--passphrase-env", WRONG_ENV, "--force")
    assert result.returncode == 2
    assert "wrong passphrase" in result.stderr
    assert "the host was not touched" in result.stderr
    assert untouched_fingerprint(dst) == fingerprint


def test_tampered_archive_is_detected(dst_deployed: DeployResult, dst: Host, archive: Path, module_tmp: Path) -> None:
    tampered = module_tmp / "tampered.tar.gz.gpg"
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    tampered.write_bytes(raw)
    fingerprint = untouched_fingerprint(dst)
    result = mailforge("restore", "--testhost", DST, str(tampered), "--passphrase-env", PASSPHRASE_ENV, "--force")
    assert result.returncode == 2
    assert "modified or damaged" in result.stderr
    assert untouched_fingerprint(dst) == fingerprint


def test_dry_run_prints_the_plan_and_changes_nothing(dst_deployed: DeployResult, dst: Host, archive: Path) -> None:
    fingerprint = untouched_fingerprint(dst)
    result = mailforge("restore", "--testhost", DST, str(archive), "--passphrase-env", PASSPHRASE_ENV, "--force",
                       "--dry-run")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "replace the databases" in result.stdout
    assert "Dry run: nothing was changed." in result.stdout
    assert untouched_fingerprint(dst) == fingerprint


def test_restore_warns_when_the_inventory_differs(
    dst_deployed: DeployResult, dst: Host, archive: Path, module_tmp: Path, state: StateDir
) -> None:
    changed = data()
    changed["mail_domains"] = [*changed["mail_domains"], {"domain": "added.test"}]
    inventory = write_inventory(module_tmp / "changed_inventory.py", [(DST, dst.address, changed)], state.ssh_key)
    result = mailforge("restore", DST, str(archive), "--inventory", str(inventory), "--passphrase-env",
                       PASSPHRASE_ENV, "--force", "--dry-run")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "settings differ from those the archive was made with" in result.stdout


def test_restore_refuses_a_host_that_holds_mail(redeployed: DeployResult, dst: Host, archive: Path) -> None:
    fingerprint = untouched_fingerprint(dst)
    result = mailforge("restore", "--testhost", DST, str(archive), "--passphrase-env", PASSPHRASE_ENV)
    assert result.returncode == 1
    assert "already holds mail" in result.stderr
    assert untouched_fingerprint(dst) == fingerprint


# --- what was restored -----------------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(TABLES))
def test_database_rows_restored(before: tuple[Snapshot, dict[str, str]], after: Snapshot, table: str) -> None:
    assert before[0].tables[table].strip(), f"nothing in {table} before the backup"
    assert after.tables[table] == before[0].tables[table]


@pytest.mark.parametrize("mailbox", MAILBOXES)
def test_every_message_restored_with_uids_and_flags(
    before: tuple[Snapshot, dict[str, str]], after: Snapshot, mailbox: str
) -> None:
    assert after.mailboxes[mailbox] == before[0].mailboxes[mailbox]


def test_messages_were_there_to_restore(before: tuple[Snapshot, dict[str, str]]) -> None:
    counts = {m: sum(len(f[1]) for f in before[0].mailboxes[m].values()) for m in MAILBOXES}
    # alice: own, info@, team@, catch-all, and the copy in Projects; bob: team@, alias domain, the attachment.
    assert counts == {"alice@example.test": 5, "bob@example.test": 3, "carol@example.test": 2}


def test_attachment_and_non_ascii_survive(dst_server: Server, before: tuple[Snapshot, dict[str, str]]) -> None:
    with imaplib.IMAP4_SSL(dst_server.address, 993, ssl_context=dst_server.tls(), timeout=30) as imap:
        imap.login("bob@example.test", before[1]["bob@example.test"])
        imap.select("INBOX", readonly=True)
        _, found = imap.uid("SEARCH", "ALL")
        _, parts = imap.uid("FETCH", b",".join(found[0].split()).decode(), "(BODY.PEEK[])")
    messages = [email.message_from_bytes(p[1], policy=email.policy.default) for p in parts if isinstance(p, tuple)]
    with_attachment = [m for m in messages if m.is_multipart()]
    assert len(with_attachment) == 1
    msg = with_attachment[0]
    assert "Übersicht ✓" in str(msg["Subject"])
    assert "Grüße aus Köln" in msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    attachment = next(msg.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_filename() == "Übersicht.bin"
    assert attachment.get_content() == ATTACHMENT


@pytest.mark.parametrize("mailbox", MAILBOXES)
def test_submission_login_with_the_original_password(
    dst_server: Server, before: tuple[Snapshot, dict[str, str]], after: Snapshot, mailbox: str
) -> None:
    # after: the restored state was read before this test adds mail.
    msg = message(mailbox, "alice@example.test")
    submit(dst_server, mailbox, before[1][mailbox], msg)
    assert fetch(dst_server, "alice@example.test", before[1]["alice@example.test"], msg["Subject"]) is not None


def test_generated_secret_files_restored(before: tuple[Snapshot, dict[str, str]], after: Snapshot) -> None:
    assert after.secrets == before[0].secrets


def test_superadmin_password_still_matches_its_hash(redeployed: DeployResult, dst: Host, after: Snapshot) -> None:
    password = after.secrets["/etc/mailforge/postfixadmin/superadmin"].strip()
    stored = sql(dst, "SELECT password FROM admin WHERE superadmin = 1").strip()
    assert dst.run(f"doveadm pw -t '{stored}' -p '{password}'", check=False).returncode == 0


@pytest.mark.parametrize("domain", DKIM_DOMAINS)
def test_dkim_key_unchanged(before: tuple[Snapshot, dict[str, str]], after: Snapshot, domain: str) -> None:
    assert after.dkim[domain] == before[0].dkim[domain]


def test_local_ca_unchanged(before: tuple[Snapshot, dict[str, str]], after: Snapshot) -> None:
    assert after.ca == before[0].ca


def test_served_certificate_unchanged(before: tuple[Snapshot, dict[str, str]], after: Snapshot) -> None:
    assert after.certificate == before[0].certificate


def test_postfixadmin_cli_reaches_the_restored_database(redeployed: DeployResult, dst: Host) -> None:
    shown = dst.run("/usr/share/postfixadmin/scripts/postfixadmin-cli mailbox view bob@example.test", check=False)
    assert shown.returncode == 0, shown.stderr
    assert "bob@example.test" in shown.stdout


def test_new_mail_delivered_after_restore(
    dst_server: Server, before: tuple[Snapshot, dict[str, str]], after: Snapshot
) -> None:
    msg = message("sender@remote.test", "info@example.test")
    with smtp(dst_server) as client:
        client.send_message(msg)
    assert fetch(dst_server, "alice@example.test", before[1]["alice@example.test"], msg["Subject"]) is not None


# --- the deploy converges on the restored host ------------------------------------------------------


def test_deploy_after_restore_succeeds(redeployed: DeployResult) -> None:
    assert redeployed.ok, redeployed.explain()


def test_second_deploy_after_restore_changes_nothing(redeployed: DeployResult, dst_inventory: Path) -> None:
    again = run_deploy(dst_inventory, env=DEPLOY_ENV)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()
