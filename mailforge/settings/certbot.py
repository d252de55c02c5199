"""Certbot (deploys/web/certbot.py), when tls_mode is "certbot": which ACME directory to ask, and as whom."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"

DEFAULTS: dict[str, Any] = {
    # ACME directory (Let's Encrypt production); tests point it at a local pebble.
    "certbot_server": LETSENCRYPT,
    # Account address for expiry notices; unset: registered without one.
    "certbot_email": None,
    # A PEM file on the control machine to trust for the ACME directory's own HTTPS (a private ACME server).
    "certbot_ca_bundle": None,
}


@dataclass(frozen=True)
class CertbotSettings:
    """Certbot mode: where to ask (an ACME directory) and which names to prove over HTTP-01."""

    server: str  # ACME directory URL
    email: str | None  # None: registered without an address (no expiry mail)
    ca_bundle: str | None  # a PEM file on the control machine to trust for the ACME directory itself


def read_certbot(read: Reader) -> CertbotSettings:
    server = read.string("certbot_server", LETSENCRYPT)
    if server and not server.startswith("https://"):
        read.problem("certbot_server", f"{server!r} is not an https:// ACME directory URL", f"use {LETSENCRYPT!r}")
    email = read.optional("certbot_email")
    if email is not None:
        email = read.address("certbot_email", email)
    bundle = read.optional("certbot_ca_bundle")
    if bundle is not None:
        bundle = read.string("certbot_ca_bundle", "/etc/ssl/my-acme-ca.pem")
    if bundle:
        path = os.path.expanduser(bundle)
        try:
            with open(path) as pem:
                if "BEGIN CERTIFICATE" not in pem.read():
                    read.problem("certbot_ca_bundle", f"{bundle} holds no certificate", "point it at a CA's PEM file")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "it is not a PEM text file"
            read.problem("certbot_ca_bundle", f"cannot read {bundle}: {why}", "fix the path (control machine)")
        bundle = path
    return CertbotSettings(server=server, email=email or None, ca_bundle=bundle or None)
