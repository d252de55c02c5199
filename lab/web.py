"""The web tier's test data and clients, shared by the web e2e modules (tests/e2e/test_web_tier.py,
test_postfixadmin_ui.py, test_certbot.py, test_webmail_archives.py) and bench/web.py: the names a web host
answers to, its settings (the mail data of lab.mail plus PostfixAdmin's superadmin and default aliases), an
HTTP(S) client that reaches a name at a host's address, and a one-file HTTP server for release archives.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.knot import free_port
from lab.mail import DEPLOY_ENV, Server
from lab.mail import server_data as mail_server_data

MAIL_NAME = "web.example.test"
PFA_NAME = "postfixadmin.example.test"
WEBMAIL_NAME = "webmail.example.test"
NAMES = [MAIL_NAME, PFA_NAME, WEBMAIL_NAME]
SUPERADMIN = "admin@example.test"
SUPERADMIN_PASSWORD = "Admin-Horse-42-staple"
SUPERADMIN_ENV = "MAILFORGE_E2E_WEB_ADMIN_PASSWORD"
ENV = {**DEPLOY_ENV, SUPERADMIN_ENV: SUPERADMIN_PASSWORD}


# Where a domain added in PostfixAdmin's UI sends its postmaster@ (and through it abuse@, hostmaster@, webmaster@).
DEFAULT_ALIASES_TO = "alice@example.test"


def web_data() -> dict[str, Any]:
    return {
        **mail_server_data(MAIL_NAME, {}),
        "postfixadmin_superadmin": SUPERADMIN,
        "postfixadmin_superadmin_password_env": SUPERADMIN_ENV,
        "postfixadmin_default_aliases_to": DEFAULT_ALIASES_TO,
    }


def archive_data(app: str, url: str, sha256: str) -> dict[str, Any]:
    """The web host's settings with RainLoop or SnappyMail (``app``) installed from the archive at ``url``."""
    return {**web_data(), "webmail": app, f"{app}_version": "e2e", f"{app}_archive_url": url,
            f"{app}_archive_sha256": sha256}  # fmt: skip


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value (see raw_headers)
    body: str
    raw_headers: tuple[tuple[str, str], ...] = ()


def get(
    server: Server, name: str, path: str = "/", *, tls: bool = True, context: ssl.SSLContext | None = None
) -> Response:
    """GET http(s)://NAME/PATH from the host's address, with NAME as SNI and Host header (no DNS needed)."""
    if tls:
        ctx = context or ssl.create_default_context(cafile=server.cafile)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(server.address, 443, timeout=15, context=ctx)
        raw = socket.create_connection((server.address, 443), timeout=15)
        conn.sock = ctx.wrap_socket(raw, server_hostname=name)
    else:
        conn = http.client.HTTPConnection(server.address, 80, timeout=15)
    try:
        conn.request("GET", path, headers={"Host": name, "User-Agent": "mailforge-e2e"})
        reply = conn.getresponse()
        headers = {k.lower(): v for k, v in reply.getheaders()}
        return Response(reply.status, headers, reply.read().decode(errors="replace"), tuple(reply.getheaders()))
    finally:
        conn.close()


# These machines cannot reach the upstream release archives: a test serves an archive from this machine
# over HTTP on the test host's gateway address, and the host fetches it from there.
@contextlib.contextmanager
def serve_file(path: Path, address: str) -> Iterator[str]:
    """Serve one file over HTTP on ADDRESS (a free port) for as long as the block runs; yields its URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    httpd = http.server.ThreadingHTTPServer((address, free_port(address)), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{httpd.server_address[1]}/{path.name}"
    finally:
        httpd.shutdown()
        httpd.server_close()
