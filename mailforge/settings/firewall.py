"""The host firewall (deploys/firewall.py): nftables, inbound only the mail, web and SSH ports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # Filter inbound traffic with nftables (SSH, mail and web ports open, the rest dropped). False: mailforge
    # removes its own table (inet mailforge_filter) and leaves nftables alone.
    "firewall_enabled": True,
    # More TCP ports to open, e.g. [8443]; 22, 25, 80, 143, 443, 465, 587 and 993 are always open.
    "firewall_extra_ports": [],
}

# Ports the host firewall always opens (deploys/firewall.py), with what listens there. 4190 (ManageSieve) joins
# them once a component serves it; nothing does today.
FIREWALL_PORTS: dict[int, str] = {
    22: "SSH: the operator and mailforge itself",
    25: "SMTP: mail from other servers (postscreen)",
    80: "HTTP: ACME challenges, redirects to HTTPS",
    143: "IMAP with STARTTLS",
    443: "HTTPS: PostfixAdmin and the webmail",
    465: "submissions: mail clients, implicit TLS",
    587: "submission: mail clients, STARTTLS",
    993: "IMAPS",
}


@dataclass(frozen=True)
class FirewallSettings:
    enabled: bool
    extra_ports: tuple[int, ...]  # firewall_extra_ports, sorted, without the always-open ones

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(sorted({*FIREWALL_PORTS, *self.extra_ports}))


def read_firewall(read: Reader) -> FirewallSettings:
    ports = []
    for i, value in enumerate(read.items("firewall_extra_ports", read.get("firewall_extra_ports"))):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            read.problem(
                f"firewall_extra_ports[{i}]",
                f"{value!r} is not a TCP port number (1-65535)",
                "list whole numbers, e.g. firewall_extra_ports = [8443]",
            )
            continue
        if value not in FIREWALL_PORTS:
            ports.append(value)
    return FirewallSettings(enabled=read.flag("firewall_enabled"), extra_ports=tuple(sorted(set(ports))))
