"""fail2ban (deploys/fail2ban.py): jails for Postfix SASL, Dovecot, PostfixAdmin, the webmail and SSH."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # Failed logins from one address within fail2ban_findtime seconds that get it banned.
    "fail2ban_maxretry": 5,
    # The window, in seconds, in which fail2ban_maxretry failures count.
    "fail2ban_findtime": 600,
    # How long, in seconds, a ban lasts (from every mail and web port; SSH: the sshd jail only).
    "fail2ban_bantime": 3600,
    # Addresses or CIDR networks never banned (your office, your monitoring); loopback always is.
    "fail2ban_ignoreip": [],
}


@dataclass(frozen=True)
class Fail2banSettings:
    maxretry: int
    findtime: int  # seconds
    bantime: int  # seconds
    ignoreip: tuple[str, ...]  # networks (CIDR), loopback always included by deploys/fail2ban.py


def read_fail2ban(read: Reader) -> Fail2banSettings:
    networks = []
    for i, value in enumerate(read.items("fail2ban_ignoreip", read.get("fail2ban_ignoreip"))):
        try:
            network = ipaddress.ip_network(str(value), strict=False)
            networks.append(str(network.network_address if network.num_addresses == 1 else network))
        except ValueError:
            read.problem(
                f"fail2ban_ignoreip[{i}]",
                f"{value!r} is not an IP address or network",
                "write addresses or CIDR networks, e.g. ['192.0.2.10', '198.51.100.0/24', '2001:db8::/48']",
            )
    return Fail2banSettings(
        maxretry=read.integer("fail2ban_maxretry", 1),
        findtime=read.integer("fail2ban_findtime", 1),
        bantime=read.integer("fail2ban_bantime", 1),
        ignoreip=tuple(networks),
    )
