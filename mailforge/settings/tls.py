"""TLS (deploys/tls.py): where every daemon finds the certificate, and the one policy they all serve."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailforge.settings.certbot import CertbotSettings, read_certbot
from mailforge.settings.common import Reader
from mailforge.tls_policy import ALLOWED_CIPHERS, ALLOWED_CURVES, CURVES, INTERMEDIATE_CIPHERS, PROTOCOLS, TlsPolicy

DEFAULTS: dict[str, Any] = {
    # selfsigned: a host-local CA signs the server certificate (offline default); certbot: Let's Encrypt (or
    # certbot_server) over HTTP-01, port 80 open.
    "tls_mode": "selfsigned",
    # The one TLS policy Postfix, Dovecot and Nginx share (mailforge/tls_policy.py explains each choice).
    # Oldest protocol offered: "TLSv1.2" (Mozilla intermediate) or "TLSv1.3" (Mozilla modern). Port 25 keeps
    # TLS 1.2 either way: its TLS is opportunistic, and a sender that cannot negotiate sends in plaintext.
    "tls_min_protocol": "TLSv1.2",
    # TLS 1.2 suites, preferred first: ECDHE with AEAD only, default Mozilla intermediate (guidelines 6.0) in
    # Mozilla's order (ECDSA before RSA, AES-GCM before ChaCha20), which the server applies.
    # https://ssl-config.mozilla.org/#config=intermediate
    "tls_ciphers": list(INTERMEDIATE_CIPHERS),
    # ECDHE groups, preferred first (TLS 1.2 and 1.3); no FFDHE group, so no DH parameters are needed.
    "tls_curves": list(CURVES),
    # True: the server's order (tls_ciphers) picks the suite; our one deviation from Mozilla intermediate,
    # which says False. With only ECDHE+AEAD suites offered both are equally safe; server order makes the
    # suite deterministic and satisfies Debian 12's testssl (mailforge/tls_policy.py explains). Port 25, which
    # also offers older suites, always uses the server's order, whatever this says.
    "tls_prefer_server_ciphers": True,
}


@dataclass(frozen=True)
class TlsSettings:
    """Where every daemon finds the certificate; one object so Certbot can swap the files later."""

    mode: str
    cert_file: str  # full chain, leaf first
    key_file: str
    ca_file: str  # the local CA's certificate, for clients to trust (self-signed mode)
    # Every name the host serves (mail_hostname first): the certificate's subjectAltNames.
    names: tuple[str, ...] = ()
    certbot: CertbotSettings | None = None
    # Protocols, suites and groups every TLS daemon serves (mailforge/tls_policy.py).
    policy: TlsPolicy = field(default_factory=TlsPolicy)


def read_tls(read: Reader, hostname: str, names: tuple[str, ...] = ()) -> TlsSettings:
    mode = read.string("tls_mode", "selfsigned")
    if mode not in ("selfsigned", "certbot"):
        read.problem("tls_mode", f"unknown mode {mode!r}", "use 'selfsigned' (a local CA) or 'certbot' (ACME)")
    if mode == "certbot":
        # Certbot's layout: /etc/letsencrypt/live/<cert name>/ always links the current files.
        # https://eff-certbot.readthedocs.io/en/stable/using.html#where-are-my-certificates
        live = f"/etc/letsencrypt/live/{hostname}"
        return TlsSettings(
            mode=mode,
            cert_file=f"{live}/fullchain.pem",
            key_file=f"{live}/privkey.pem",
            ca_file="/etc/ssl/certs/ca-certificates.crt",
            names=names or (hostname,),
            certbot=read_certbot(read),
            policy=_tls_policy(read, mode),
        )
    return TlsSettings(
        mode=mode,
        cert_file=f"/etc/mailforge/tls/{hostname}.crt",
        key_file=f"/etc/mailforge/tls/{hostname}.key",
        ca_file="/etc/mailforge/ca/ca.crt",
        names=names or (hostname,),
        policy=_tls_policy(read, mode),
    )


def _names(read: Reader, key: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """A non-empty list of distinct names from `allowed` (a colon-separated string, as OpenSSL writes it, too)."""
    value = read.get(key)
    items = read.items(key, value.split(":") if isinstance(value, str) else value)
    if not items:
        read.problem(key, f"must list at least one {what}", f"use {list(allowed[:3])!r}, or remove it for the default")
    found: list[str] = []
    for i, item in enumerate(items):
        if item not in allowed:
            read.problem(f"{key}[{i}]", f"{item!r} is not an allowed {what}", f"use some of {', '.join(allowed)}")
        elif item in found:
            read.problem(f"{key}[{i}]", f"{item!r} is listed twice", "list each once")
        else:
            found.append(item)
    return tuple(found)


def _tls_policy(read: Reader, mode: str) -> TlsPolicy:
    """tls_min_protocol, tls_ciphers, tls_curves, tls_prefer_server_ciphers (see DEFAULTS)."""
    floor = read.string("tls_min_protocol", "TLSv1.2")
    if floor and floor not in PROTOCOLS:
        read.problem("tls_min_protocol", f"{floor!r} is not allowed", "use 'TLSv1.2' (default) or 'TLSv1.3'")
        floor = ""
    ciphers = _names(read, "tls_ciphers", ALLOWED_CIPHERS, "TLS 1.2 suite (ECDHE with AEAD, OpenSSL name)")
    # The certificate's key type decides which suites can work at all: RSA from the local CA, ECDSA from
    # Certbot (its default key type since Certbot 2.0).
    key_type = "ECDSA" if mode == "certbot" else "RSA"
    if ciphers and floor != "TLSv1.3" and not any(c.startswith(f"ECDHE-{key_type}-") for c in ciphers):
        read.problem("tls_ciphers", f"has no ECDHE-{key_type}-... suite, so no TLS 1.2 client could connect with "
                     f"this host's {key_type} certificate", f"add ECDHE-{key_type}-AES128-GCM-SHA256")  # fmt: skip
    prefer = read.get("tls_prefer_server_ciphers")
    if not isinstance(prefer, bool):
        read.problem("tls_prefer_server_ciphers", f"must be True or False, not {prefer!r}", "set it to True")
        prefer = False
    return TlsPolicy(
        min_protocol=floor or PROTOCOLS[0],
        ciphers=ciphers or TlsPolicy().ciphers,
        curves=_names(read, "tls_curves", ALLOWED_CURVES, "ECDHE group") or TlsPolicy().curves,
        prefer_server_ciphers=prefer,
    )
