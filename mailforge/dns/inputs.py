"""What the DNS code needs to know about a mail domain: built from the deploy's settings.

``mailforge/settings`` builds ``MailDnsInputs`` from the same validated settings the deploy uses, so the
zone mailforge tells the operator to publish always describes the server it provisions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DomainDnsInputs:
    """One mail domain.

    domain            the mail domain (addresses @domain), e.g. ``example.org``
    hostname          the mail host's FQDN: MX target, HELO name, PTR name, e.g. ``mail.example.org``
    ipv4, ipv6        the server's public (sending and receiving) addresses
    dkim_selector     DKIM selector (``dkim_selector``); the record is written only with a public key
    dkim_public_key   base64 of the DER SubjectPublicKeyInfo (the ``p=`` value), or a PEM public key
    dkim_key_type     ``rsa`` or ``ed25519``
    dmarc_policy      ``none`` | ``quarantine`` | ``reject``
    dmarc_rua         aggregate report addresses (plain addresses, ``mailto:`` is added)
    dmarc_alignment   ``r`` (relaxed) or ``s`` (strict), for adkim and aspf
    relay_spf_include the relay provider's SPF domain (``include:``), when mail leaves through a relay
    mta_sts_mode      ``enforce`` | ``testing`` | ``none``; ``None`` publishes no MTA-STS
    mta_sts_id        the policy id (changes whenever the policy changes); derived from the policy if unset
    tlsrpt_rua        TLS-RPT report addresses; defaults to the DMARC ones
    caa_issuers       CAs allowed to issue certificates for the domain (e.g. ``letsencrypt.org``)
    ttl               TTL of every record
    """

    domain: str
    hostname: str
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    dkim_selector: str = "mail"
    dkim_public_key: str | None = None
    dkim_key_type: str = "rsa"
    dmarc_policy: str = "quarantine"
    dmarc_rua: tuple[str, ...] = ()
    dmarc_alignment: str = "r"
    relay_spf_include: str | None = None
    mta_sts_mode: str | None = "enforce"
    mta_sts_id: str | None = None
    tlsrpt_rua: tuple[str, ...] = ()
    caa_issuers: tuple[str, ...] = ()
    ttl: int = 3600

    def __post_init__(self) -> None:
        for addr in self.ipv4:
            ipaddress.IPv4Address(addr)
        for addr in self.ipv6:
            ipaddress.IPv6Address(addr)
        if self.dmarc_policy not in ("none", "quarantine", "reject"):
            raise ValueError(f"dmarc_policy {self.dmarc_policy!r}: expected none, quarantine or reject")
        if self.dmarc_alignment not in ("r", "s"):
            raise ValueError(f"dmarc_alignment {self.dmarc_alignment!r}: expected r or s")
        if self.mta_sts_mode not in (None, "enforce", "testing", "none"):
            raise ValueError(f"mta_sts_mode {self.mta_sts_mode!r}: expected enforce, testing or none")
        if self.dkim_key_type not in ("rsa", "ed25519"):
            raise ValueError(f"dkim_key_type {self.dkim_key_type!r}: expected rsa or ed25519")

    @property
    def addresses(self) -> tuple[str, ...]:
        return (*self.ipv4, *self.ipv6)


@dataclass(frozen=True)
class MailDnsInputs:
    """Every mail domain of one deploy."""

    domains: tuple[DomainDnsInputs, ...] = field(default=())
