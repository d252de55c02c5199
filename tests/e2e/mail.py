"""Real mail clients for e2e tests: smtplib to send, imaplib to read back, with the host's CA trusted."""

from __future__ import annotations

import email
import email.policy
import imaplib
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage


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
