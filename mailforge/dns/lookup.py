"""Single name lookups the deploy needs on the control machine (the DNS audit has its own client, client.py).

Each lookup builds its own resolver, so dnspython's global default resolver is never touched: on the given
name servers, or (none given) on the control machine's own, as /etc/resolv.conf names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dns.exception
import dns.resolver


class NotResolved(Exception):
    """A name without an address; `reason` is why, as dnspython names it (NXDOMAIN, NoAnswer, LifetimeTimeout)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} does not resolve ({reason})")
        self.name = name
        self.reason = reason


def system_nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[tuple[str, int], ...]:
    """The control machine's name servers, (address, 53) each, in resolv.conf's order."""
    lines = resolv_conf.read_text().splitlines() if resolv_conf.exists() else []
    return tuple((line.split()[1], 53) for line in lines if line.startswith("nameserver") and len(line.split()) > 1)


def ipv4_address(name: str, nameservers: Sequence[tuple[str, int]] = (), lifetime: float = 10) -> str:
    """The first A record of `name`, asked of `nameservers` ((address, port) pairs; one port for all, the first
    one's, as dnspython's Resolver takes it) or of the system's. Raises NotResolved."""
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [ip for ip, _ in nameservers]
        resolver.port = nameservers[0][1]
    try:
        return str(resolver.resolve(name, "A", lifetime=lifetime)[0].to_text())
    except (dns.exception.DNSException, IndexError) as exc:
        raise NotResolved(name, exc.__class__.__name__) from exc
