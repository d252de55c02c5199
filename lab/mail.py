"""Real mail clients for e2e tests: smtplib to send, imaplib to read back, with the host's CA trusted; and
the server the e2e modules deploy (its host data, its CA, its mailbox passwords)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import imaplib
import re
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailforge.testhost import Host

ALICE_PASSWORD = "Correct-Horse-42-battery"
PASSWORD_ENV = "MAILFORGE_E2E_ALICE_PASSWORD"
# Passed to run_deploy: alice's password comes from the environment, the others are generated on the host.
DEPLOY_ENV = {PASSWORD_ENV: ALICE_PASSWORD}


def server_data(hostname: str, transport_maps: dict[str, str], carol_quota: int = 1) -> dict[str, Any]:
    """Host data of the mail server the e2e modules deploy: example.test with three mailboxes, aliases, an
    alias domain, a catch-all domain, and static routes (``postfix_transport_maps``) to other test hosts."""
    return {
        "mail_hostname": hostname,
        "mail_domains": [
            {
                "domain": "example.test",
                "mailboxes": [
                    {"address": "alice@example.test", "name": "Alice", "quota_mb": 100, "password_env": PASSWORD_ENV},
                    {"address": "bob@example.test", "name": "Bob", "quota_mb": 100},
                    {"address": "carol@example.test", "name": "Carol", "quota_mb": carol_quota},
                ],
                "aliases": [
                    {"address": "info@example.test", "goto": ["alice@example.test"]},
                    {"address": "team@example.test", "goto": ["alice@example.test", "bob@example.test"]},
                ],
                "alias_domains": ["alias.test"],
            },
            {"domain": "catchall.test", "catch_all": "alice@example.test"},
        ],
        "postfix_transport_maps": transport_maps,
    }


@dataclass(frozen=True)
class Server:
    address: str
    fqdn: str
    cafile: str

    def tls(self) -> ssl.SSLContext:
        # The chain must verify against the host's CA; names are checked where a test connects by name.
        context = ssl.create_default_context(cafile=self.cafile)
        context.check_hostname = False
        return context


def server_of(host: Host, fqdn: str, directory: Path) -> Server:
    """The deployed server as clients see it, trusting the host's local CA (copied into ``directory``)."""
    cafile = directory / "ca.crt"
    cafile.write_text(host.run("cat /etc/mailforge/ca/ca.crt").stdout)
    return Server(host.address, fqdn, str(cafile))


def passwords_of(host: Host) -> dict[str, str]:
    """Every mailbox password: alice's from the deploy environment, the generated ones read on the host."""
    generated = {u: host.run(f"cat /etc/mailforge/mailboxes/{u}@example.test").stdout.strip() for u in ("bob", "carol")}
    return {"alice@example.test": ALICE_PASSWORD, **{f"{u}@example.test": pw for u, pw in generated.items()}}


def message(sender: str, recipient: str, *, body: str | None = None, size: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = f"mailforge e2e {uuid.uuid4().hex}"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content((body or f"body {uuid.uuid4().hex}") + "\n" + "x" * size)
    return msg


def smtp(server: Server, port: int = 25) -> smtplib.SMTP:
    if port == 465:
        return smtplib.SMTP_SSL(server.address, port, context=server.tls(), timeout=30)
    return smtplib.SMTP(server.address, port, timeout=30)


def submit(server: Server, user: str, password: str, msg: EmailMessage, port: int = 587) -> None:
    with smtp(server, port) as client:
        client.ehlo("client.example.test")
        if port == 587:
            client.starttls(context=server.tls())
            client.ehlo("client.example.test")
        client.login(user, password)
        client.send_message(msg)


def fetch(server: Server, user: str, password: str, subject: str, timeout: float = 30) -> EmailMessage | None:
    """Poll the INBOX over IMAPS until a message with this subject arrives (delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login(user, password)
        while True:
            imap.select("INBOX")
            _, data = imap.search(None, "SUBJECT", f'"{subject}"')
            ids = data[0].split()
            if ids:
                _, parts = imap.fetch(ids[-1], "(RFC822)")
                raw = parts[0][1]  # type: ignore[index]
                return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[arg-type,return-value]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)


# --- a mailbox's content, to compare before and after an upgrade ------------------------------------


@dataclass(frozen=True)
class Folder:
    uidvalidity: int
    # (UID, flags sorted, SHA-256 of the message as stored): what a client's cache keys on.
    messages: tuple[tuple[int, tuple[str, ...], str], ...]


def snapshot(server: Server, user: str, password: str) -> dict[str, Folder]:
    """Every folder of the mailbox, read over IMAPS without changing anything (EXAMINE, BODY.PEEK)."""
    folders: dict[str, Folder] = {}
    with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
        imap.login(user, password)
        _, listing = imap.list()
        names = [re.sub(r'^\(.*?\) "." ', "", line.decode()).strip('"') for line in listing if isinstance(line, bytes)]
        for name in sorted(names):
            imap.select(f'"{name}"', readonly=True)
            _, validity = imap.response("UIDVALIDITY")
            _, data = imap.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
            messages = []
            for part in data:
                if not isinstance(part, tuple):
                    continue
                head = part[0].decode()
                uid = int(re.search(r"UID (\d+)", head)[1])  # type: ignore[index]
                flags = tuple(sorted(re.search(r"FLAGS \(([^)]*)\)", head)[1].split()))  # type: ignore[index]
                messages.append((uid, flags, hashlib.sha256(part[1]).hexdigest()))
            folders[name] = Folder(int(validity[0]), tuple(sorted(messages)))  # type: ignore[index,arg-type]
    return folders


def can_log_in(server: Server, user: str, password: str, protocol: str) -> bool:
    """An IMAPS login (993) or an authenticated submission session (587, STARTTLS) with this password."""
    try:
        if protocol == "imaps":
            with imaplib.IMAP4_SSL(server.address, 993, ssl_context=server.tls(), timeout=30) as imap:
                return imap.login(user, password)[0] == "OK"
        with smtp(server, 587) as client:
            client.ehlo("client.example.test")
            client.starttls(context=server.tls())
            client.ehlo("client.example.test")
            return client.login(user, password)[0] == 235
    except (imaplib.IMAP4.error, smtplib.SMTPException):
        return False
