"""The attacker's tools, stdlib only, run on a test host (test_security.py copies this file there).

    python3 attacker.py scan ADDRESS FIRST LAST        TCP connect scan: prints {"open": [...], "refused": [...],
                                                       "silent": N} as JSON (silent: no answer at all)
    python3 attacker.py probe ADDRESS PORT             one connect: open | refused | silent | reset
    python3 attacker.py smtp-auth ADDRESS USER N       N wrong passwords over AUTH PLAIN on 587 after STARTTLS
    python3 attacker.py imap ADDRESS USER N            N wrong passwords over IMAPS (993)
    python3 attacker.py postfixadmin ADDRESS NAME USER N   N wrong passwords on PostfixAdmin's login form
    python3 attacker.py roundcube ADDRESS NAME USER N      N wrong passwords on Roundcube's login form

Every login attempt opens a connection of its own and prints one line with its outcome; a connection that is
refused or dropped ends the run with that outcome (the ban arrived).
"""

from __future__ import annotations

import base64
import errno
import http.client
import imaplib
import json
import re
import resource
import selectors
import smtplib
import socket
import ssl
import sys
import time
import urllib.parse

WRONG = "Not-the-password-17"
# The attacker trusts nothing and checks nothing: it only wants an answer to its guess.
INSECURE = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def scan(address: str, first: int, last: int, timeout: float = 2.5, window: int = 8000) -> dict[str, object]:
    """Non-blocking connects, `window` at a time; a port is silent when neither SYN-ACK nor RST came back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, window + 100)), hard))
    ports = list(range(first, last + 1))
    opened: list[int] = []
    refused: list[int] = []
    silent = 0
    selector = selectors.DefaultSelector()
    pending: dict[socket.socket, tuple[int, float]] = {}
    while ports or pending:
        while ports and len(pending) < window:
            port = ports.pop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((address, port))
            selector.register(sock, selectors.EVENT_WRITE)
            pending[sock] = (port, time.monotonic() + timeout)
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj  # type: ignore[assignment]
            port, _ = pending.pop(sock)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                opened.append(port)
            elif code == errno.ECONNREFUSED:
                refused.append(port)
            else:
                silent += 1
            selector.unregister(sock)
            sock.close()
        now = time.monotonic()
        for sock, (_port, deadline) in list(pending.items()):
            if now > deadline:
                del pending[sock]
                selector.unregister(sock)
                sock.close()
                silent += 1
    return {"open": sorted(opened), "refused": sorted(refused), "silent": silent}


def probe(address: str, port: int, timeout: float = 5.0) -> str:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "silent"
    except ConnectionResetError:
        return "reset"


def _outcome(exc: BaseException) -> str | None:
    """The outcomes that mean the server no longer talks to us."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "silent"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | smtplib.SMTPServerDisconnected | EOFError):
        return "reset"
    return None


def smtp_auth(address: str, user: str) -> str:
    with smtplib.SMTP(address, 587, timeout=10) as client:
        client.ehlo("attacker.example.test")
        client.starttls(context=INSECURE)
        client.ehlo("attacker.example.test")
        # One mechanism per attempt (smtplib's login() would try PLAIN, then LOGIN: two failures per call).
        token = base64.b64encode(f"\0{user}\0{WRONG}".encode()).decode()
        code, _ = client.docmd("AUTH", f"PLAIN {token}")
        return f"smtp {code}"


def imap(address: str, user: str) -> str:
    with imaplib.IMAP4_SSL(address, 993, ssl_context=INSECURE, timeout=10) as client:
        try:
            client.login(user, WRONG)
        except imaplib.IMAP4.error as exc:
            return f"imap refused: {exc}"
        return "imap accepted"


def _https(address: str, name: str) -> http.client.HTTPSConnection:
    conn = http.client.HTTPSConnection(address, 443, timeout=15, context=INSECURE)
    conn.sock = INSECURE.wrap_socket(socket.create_connection((address, 443), timeout=15), server_hostname=name)
    return conn


def _form(address: str, name: str, path: str, fields: dict[str, str], token_re: str) -> int:
    """GET the login page (session cookie, CSRF token), then POST the form with the wrong password."""
    conn = _https(address, name)
    conn.request("GET", path, headers={"Host": name})
    page = conn.getresponse()
    body = page.read().decode(errors="replace")
    cookies = "; ".join(c.split(";", 1)[0] for k, c in page.getheaders() if k.lower() == "set-cookie")
    token = re.search(token_re, body)
    form = {**fields, **({"token": token.group(1)} if token else {})}
    conn.request(
        "POST",
        path,
        body=urllib.parse.urlencode(form),
        headers={"Host": name, "Cookie": cookies, "Content-Type": "application/x-www-form-urlencoded"},
    )
    reply = conn.getresponse()
    reply.read()
    conn.close()
    return reply.status


def postfixadmin(address: str, name: str, user: str) -> str:
    fields = {"fUsername": user, "fPassword": WRONG, "lang": "en", "submit": "Login"}
    return f"http {_form(address, name, '/login.php', fields, r'name=.token. value=.([0-9a-f]+)')}"


def roundcube(address: str, name: str, user: str) -> str:
    conn = _https(address, name)
    conn.request("GET", "/", headers={"Host": name})
    page = conn.getresponse()
    body = page.read().decode(errors="replace")
    cookies = "; ".join(c.split(";", 1)[0] for k, c in page.getheaders() if k.lower() == "set-cookie")
    token = re.search(r'name="_token" value="([^"]+)"', body)
    form = {"_token": token.group(1) if token else "", "_task": "login", "_action": "login", "_timezone": "UTC",
            "_url": "", "_user": user, "_pass": WRONG}  # fmt: skip
    conn.request(
        "POST",
        "/?_task=login",
        body=urllib.parse.urlencode(form),
        headers={"Host": name, "Cookie": cookies, "Content-Type": "application/x-www-form-urlencoded"},
    )
    reply = conn.getresponse()
    reply.read()
    return f"http {reply.status}"


def attempts(attempt, count: int) -> int:  # type: ignore[no-untyped-def]
    for _ in range(count):
        try:
            print(attempt(), flush=True)
        except Exception as exc:  # any other failure is reported as it is
            outcome = _outcome(exc)
            print(outcome or f"error {type(exc).__name__}: {exc}", flush=True)
            if outcome:
                return 0
    return 0


def main(argv: list[str]) -> int:
    command, address, *rest = argv
    if command == "scan":
        print(json.dumps(scan(address, int(rest[0]), int(rest[1]))))
        return 0
    if command == "probe":
        print(probe(address, int(rest[0])))
        return 0
    if command == "smtp-auth":
        return attempts(lambda: smtp_auth(address, rest[0]), int(rest[1]))
    if command == "imap":
        return attempts(lambda: imap(address, rest[0]), int(rest[1]))
    if command == "postfixadmin":
        return attempts(lambda: postfixadmin(address, rest[0], rest[1]), int(rest[2]))
    if command == "roundcube":
        return attempts(lambda: roundcube(address, rest[0], rest[1]), int(rest[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
