"""One TLS policy for every daemon that serves TLS: Postfix (25, 465, 587), Dovecot (143, 993), Nginx (443).

The defaults are Mozilla's "intermediate" configuration, guidelines 6.0, but for the server cipher order:
https://ssl-config.mozilla.org/#config=intermediate and https://wiki.mozilla.org/Security/Server_Side_TLS

- Protocols: TLS 1.2 and 1.3 (tls_min_protocol = "TLSv1.3" leaves 1.3 alone, Mozilla's "modern").
- TLS 1.2 suites: ECDHE key exchange with AEAD encryption only (AES-GCM, ChaCha20-Poly1305). TLS 1.3 suites are
  not configured: OpenSSL's defaults are exactly Mozilla's three.
- Server cipher preference: ON, where Mozilla says off (our one deviation from "intermediate"). Mozilla lets
  the client choose because every suite offered is strong; that argument holds both ways, so with only
  ECDHE+AEAD suites on offer the server's order is exactly as safe. It also makes the negotiated suite
  deterministic (the same client always gets the same suite, whatever order its library lists them in), and
  Debian 12's testssl.sh 3.0 rates "NOT a cipher order configured" HIGH, which issue 8 forbids. The cost: a
  client without AES instructions that lists ChaCha20 first gets AES-GCM (slower for it, never weaker).
  tls_prefer_server_ciphers = False restores Mozilla's choice.
- DH parameters: none. Guidelines 6.0 dropped the DHE suites from "intermediate"; with ECDHE only, no DH
  parameters are used, and the key exchange groups (X25519, prime256v1, secp384r1) hold no FFDHE group, so TLS
  1.3 never negotiates one either. Mozilla's newer X25519MLKEM768 is left out: Debian 12's OpenSSL 3.0 lacks it.

Port 25 receives mail from other servers with opportunistic TLS (RFC 7435, section 3): a sender that finds no
common suite falls back to plaintext, which is worse than any suite below. Postfix's documentation warns
against restricting it for the same reason (https://www.postfix.org/TLS_README.html#server_cipher). So port
25 keeps the TLS 1.2 floor but offers the policy's suites first, then FALLBACK_CIPHERS (Mozilla's "old"
suites without 3DES and DHE), and there the server's order decides, so a sender offering both gets a policy
suite. Nothing anonymous, export-grade, RC4, DES or 3DES is ever offered.

Pure code: each property renders one daemon's syntax, so templates only print values.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("TLSv1.2", "TLSv1.3")
MOZILLA_INTERMEDIATE = "https://ssl-config.mozilla.org/#config=intermediate"

# Mozilla intermediate (guidelines 6.0), TLS 1.2 suites (OpenSSL names) in the order the server prefers them.
# Mozilla's own order already suits server preference: ECDSA before RSA within each cipher (only the suites
# matching the certificate's key type can be negotiated, so this matters only with an ECDSA certificate or two
# certificates), AES-GCM before ChaCha20-Poly1305 (servers and most clients have AES instructions; ChaCha20
# stays for those without), AES-128 before AES-256 (both are out of reach of any attack; 128 is cheaper).
# https://wiki.mozilla.org/Security/Server_Side_TLS#Intermediate_compatibility_.28recommended.29
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
# What tls_ciphers may list: forward secrecy (ECDHE) and AEAD encryption, nothing that needs DH parameters.
ALLOWED_CIPHERS = (*INTERMEDIATE_CIPHERS, "ECDHE-ECDSA-AES128-CCM", "ECDHE-ECDSA-AES256-CCM")
# OpenSSL's default TLS 1.3 suites, which are Mozilla's; the daemons keep them (not configurable here).
TLS13_CIPHERSUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
# Mozilla's groups for ECDHE, most preferred first.
CURVES = ("X25519", "prime256v1", "secp384r1")
ALLOWED_CURVES = ("X25519", "X448", "prime256v1", "secp384r1", "secp521r1")

# Port 25 only, after the policy's suites: Mozilla's "old" TLS 1.2 suites without DHE (no DH parameters) and
# 3DES (SWEET32): ECDHE with CBC, then RSA key exchange, for senders whose TLS stack predates AEAD or ECDHE.
FALLBACK_CIPHERS = (
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA256",
    "AES256-SHA256",
    "AES128-SHA",
    "AES256-SHA",
)
# Port 25's floor stays at TLS 1.2 even under a TLS 1.3-only policy: many sending MTAs still stop at 1.2.
OPPORTUNISTIC_MIN_PROTOCOL = "TLSv1.2"


def _onoff(flag: bool, on: str, off: str) -> str:
    return on if flag else off


@dataclass(frozen=True)
class TlsPolicy:
    """Protocol floor, TLS 1.2 suites, ECDHE groups and cipher preference, shared by every TLS daemon."""

    min_protocol: str = "TLSv1.2"
    ciphers: tuple[str, ...] = INTERMEDIATE_CIPHERS  # TLS 1.2 suites, OpenSSL names, preferred first
    curves: tuple[str, ...] = CURVES
    prefer_server_ciphers: bool = True  # Mozilla says False; see the module docstring

    @property
    def protocols(self) -> tuple[str, ...]:
        """Every protocol version offered, oldest first."""
        return PROTOCOLS[PROTOCOLS.index(self.min_protocol) :]

    @property
    def cipher_list(self) -> str:
        """OpenSSL's cipher string: Dovecot's ssl_cipher_list, Nginx's ssl_ciphers, Postfix's tls_high_cipherlist."""
        return ":".join(self.ciphers)

    @property
    def curve_list(self) -> str:
        """Dovecot's ssl_curve_list, Nginx's ssl_ecdh_curve."""
        return ":".join(self.curves)

    # --- Postfix (postconf(5))

    @property
    def postfix_protocols(self) -> str:
        return f">={self.min_protocol}"

    @property
    def postfix_curves(self) -> str:
        """tls_eecdh_auto_curves: space-separated."""
        return " ".join(self.curves)

    @property
    def postfix_preempt(self) -> str:
        return _onoff(self.prefer_server_ciphers, "yes", "no")

    @property
    def postfix_inbound_protocols(self) -> str:
        """Port 25 (opportunistic): smtpd_tls_protocols."""
        return f">={OPPORTUNISTIC_MIN_PROTOCOL}"

    @property
    def postfix_inbound_cipherlist(self) -> str:
        """Port 25: the policy's suites first, then the fallbacks it does not list already."""
        return ":".join((*self.ciphers, *(c for c in FALLBACK_CIPHERS if c not in self.ciphers)))

    # --- Dovecot (https://doc.dovecot.org/2.3/settings/core/#core_setting-ssl_min_protocol)

    @property
    def dovecot_prefer_server_ciphers(self) -> str:
        return _onoff(self.prefer_server_ciphers, "yes", "no")

    @property
    def dovecot24_prefer_ciphers(self) -> str:
        """Dovecot 2.4's ssl_server_prefer_ciphers takes whose order wins, not a boolean.
        https://doc.dovecot.org/2.4.1/core/summaries/settings.html#ssl_server_prefer_ciphers"""
        return _onoff(self.prefer_server_ciphers, "server", "client")

    # --- Nginx (https://nginx.org/en/docs/http/ngx_http_ssl_module.html)

    @property
    def nginx_protocols(self) -> str:
        return " ".join(self.protocols)

    @property
    def nginx_prefer_server_ciphers(self) -> str:
        return _onoff(self.prefer_server_ciphers, "on", "off")
