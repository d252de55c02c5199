"""Postfix (deploys/postfix.py): what it accepts, where it delivers, how it sends."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader, show
from mailforge.settings.domains import MailDomain
from mailforge.settings.relay import RelaySettings, read_relay

DEFAULTS: dict[str, Any] = {
    # Largest message accepted, in bytes (Postfix's message_size_limit; 50 MiB).
    "postfix_message_size_limit": 52428800,
    # Domains delivered to local Unix accounts; virtual domains must never be listed here. $myhostname makes
    # Postfix's own notices to postmaster (postmaster@<mail_hostname>, notify_classes) local, through
    # /etc/aliases; without it they were routed by DNS to this very host, bounced and discarded.
    # https://www.postfix.org/postconf.5.html#notify_classes
    "postfix_mydestination": ["$myhostname", "localhost"],
    # Optional static routes: {"example.net": "smtp:[10.0.0.5]:25"} (Postfix transport(5)).
    "postfix_transport_maps": {},
    # Outbound TLS: "may" (opportunistic, logged) or "dane" (needs a DNSSEC-validating resolver).
    "postfix_outbound_tls": "may",
    # Mail submitted on 587/465 leaves with a Received header naming only this server's hop, not the user's
    # address (/etc/postfix/submission_header_checks); False keeps Postfix's full header.
    "postfix_hide_submission_client": True,
}


@dataclass(frozen=True)
class PostfixSettings:
    hostname: str
    mydestination: tuple[str, ...]
    message_size_limit: int
    transport_maps: tuple[tuple[str, str], ...]
    relay: RelaySettings | None
    outbound_tls: str  # may | dane
    hide_submission_client: bool  # submission's Received header without the user's address


def read_postfix(read: Reader, hostname: str, domains: list[MailDomain]) -> PostfixSettings:
    local_names = []
    for d in read.items("postfix_mydestination", read.get("postfix_mydestination")):
        if not isinstance(d, str):
            read.problem("postfix_mydestination", f"lists {show(d)}", "list host names as strings")
            continue
        name = (
            read.fqdn("postfix_mydestination", "localhost", d)
            if "." in d
            else read.string("postfix_mydestination", "localhost", d)
        )
        local_names.append(name)
    mydestination = tuple(local_names)
    local_domains = {hostname if name == "$myhostname" else name for name in mydestination}
    for domain in domains:
        if domain.domain in local_domains or set(domain.alias_domains) & local_domains:
            read.problem(
                "postfix_mydestination",
                f"lists the virtual domain {domain.domain}",
                "remove it: a domain is either local (mydestination) or virtual, never both",
            )
    transports = read.optional("postfix_transport_maps", {})
    if not isinstance(transports, Mapping):
        read.problem("postfix_transport_maps", "must be a mapping of domain -> nexthop", "write {'example.net': ...}")
        transports = {}
    routes = []
    for target, nexthop in transports.items():
        # One "domain transport:nexthop" line of transport(5): a ".domain" key covers its subdomains.
        # https://www.postfix.org/transport.5.html
        rkey = f"postfix_transport_maps[{show(target)}]"
        name = read.fqdn(rkey, "example.net", target.removeprefix(".") if isinstance(target, str) else target)
        route = read.string(rkey, "smtp:[192.0.2.10]:25", nexthop)
        if route and not re.match(r"[a-z0-9_-]*:", route):
            read.problem(rkey, f"{route!r} is not transport:nexthop", "write it like 'smtp:[192.0.2.10]:25'")
        if name and route:
            routes.append((("." if target.startswith(".") else "") + name, route))
    outbound_tls = read.string("postfix_outbound_tls", "may")
    if outbound_tls and outbound_tls not in ("may", "dane"):
        read.problem("postfix_outbound_tls", f"unknown level {outbound_tls!r}", "use 'may' or 'dane'")
    return PostfixSettings(
        hostname=hostname,
        mydestination=mydestination,
        message_size_limit=read.integer("postfix_message_size_limit", 1_000_000),
        transport_maps=tuple(sorted(routes)),
        relay=read_relay(read),
        outbound_tls=outbound_tls,
        hide_submission_client=read.flag("postfix_hide_submission_client"),
    )
