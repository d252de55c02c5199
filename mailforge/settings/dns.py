"""What to publish in DNS for every domain (mailforge/dns; deploys/dns.py writes the zones) and the pre-flight
audit of what is published."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader, show

DEFAULTS: dict[str, Any] = {
    # Public IPv4 addresses of the server (A, SPF, PTR); an empty list publishes no address record.
    "mail_ipv4": [],
    # Public IPv6 addresses of the server (AAAA, SPF, PTR).
    "mail_ipv6": [],
    # DMARC policy to publish: none | quarantine | reject.
    "dns_dmarc_policy": "quarantine",
    # Where DMARC aggregate reports go (plain addresses), e.g. ["dmarc-reports@example.org"].
    "dns_dmarc_rua": [],
    # CAs allowed to issue certificates for the domains (CAA), e.g. ["letsencrypt.org"].
    "dns_caa_issuers": [],
    # Pre-flight audit of the published DNS: off | warn (print findings) | enforce (errors stop the run).
    "mail_dns_preflight": "warn",
    # Resolvers for the pre-flight, as "IP[:PORT]"; empty: those of /etc/resolv.conf on the control machine.
    "dns_preflight_nameservers": [],
    # The relay provider's SPF domain, added to the SPF record as include: (e.g. "sendgrid.net"); None: none.
    "dns_relay_spf_include": None,
}


@dataclass(frozen=True)
class DnsSettings:
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    dmarc_policy: str
    dmarc_rua: tuple[str, ...]
    caa_issuers: tuple[str, ...]
    preflight: str  # off | warn | enforce
    nameservers: tuple[tuple[str, int], ...]  # empty: the control machine's resolvers
    relay_spf_include: str | None  # the relay provider's SPF domain


def _ips(read: Reader, key: str, version: int) -> tuple[str, ...]:
    found = []
    for i, value in enumerate(read.items(key, read.get(key))):
        try:
            address = ipaddress.ip_address(value) if isinstance(value, str) else None
        except ValueError:
            address = None
        if address is None or address.version != version:
            read.problem(f"{key}[{i}]", f"{show(value)} is not an IPv{version} address", f"write it like {key} = [...]")
            continue
        found.append(str(address))
    return tuple(found)


def read_dns(read: Reader) -> DnsSettings:
    policy = read.string("dns_dmarc_policy", "quarantine")
    if policy and policy not in ("none", "quarantine", "reject"):
        read.problem("dns_dmarc_policy", f"unknown policy {policy!r}", "use 'none', 'quarantine' or 'reject'")
    mode = read.string("mail_dns_preflight", "warn")
    if mode and mode not in ("off", "warn", "enforce"):
        read.problem("mail_dns_preflight", f"unknown mode {mode!r}", "use 'off', 'warn' or 'enforce'")
    servers = []
    for i, entry in enumerate(read.items("dns_preflight_nameservers", read.get("dns_preflight_nameservers"))):
        text = entry if isinstance(entry, str) else ""
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "53")
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            address = ""
        if not address or not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
            read.problem(f"dns_preflight_nameservers[{i}]", f"{show(entry)} is not IP[:PORT]", "write '192.0.2.53:53'")
            continue
        servers.append((address, int(port)))
    return DnsSettings(
        ipv4=_ips(read, "mail_ipv4", 4),
        ipv6=_ips(read, "mail_ipv6", 6),
        dmarc_policy=policy,
        dmarc_rua=tuple(
            read.address(f"dns_dmarc_rua[{i}]", a)
            for i, a in enumerate(read.items("dns_dmarc_rua", read.get("dns_dmarc_rua")))
        ),
        caa_issuers=tuple(
            read.fqdn(f"dns_caa_issuers[{i}]", "letsencrypt.org", c)
            for i, c in enumerate(read.items("dns_caa_issuers", read.get("dns_caa_issuers")))
        ),
        preflight=mode,
        nameservers=tuple(servers),
        relay_spf_include=read.fqdn("dns_relay_spf_include", "sendgrid.net")
        if read.optional("dns_relay_spf_include") is not None
        else None,
    )
