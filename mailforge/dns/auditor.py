"""``audit``: check what a mail domain publishes; many domains concurrently, each query time-bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import checks_auth, checks_host
from .client import DEFAULT_PORT, DnsClient
from .findings import Finding

# Public blocklists queried by default (an operator's own resolver is needed: see DNSBL_QUERY_REFUSED).
DEFAULT_DNSBL_IP_ZONES = ("zen.spamhaus.org",)
DEFAULT_DNSBL_DOMAIN_ZONES = ("dbl.spamhaus.org",)


@dataclass(frozen=True)
class AuditTarget:
    """One domain to audit.

    hostname      the mail host (HELO name, PTR name); default: the lowest-preference MX host
    ips           the server's sending addresses; default: the host name's A/AAAA
    dkim          selector -> PEM private key (or None when only the public record is checked)
    """

    domain: str
    hostname: str | None = None
    ips: tuple[str, ...] = ()
    dkim: dict[str, bytes | None] = field(default_factory=lambda: {"mail": None})


@dataclass(frozen=True)
class AuditOptions:
    authoritative: bool = False
    authoritative_port: int = DEFAULT_PORT  # where the listed NS answer (53 on the Internet)
    dnsbl_ip_zones: tuple[str, ...] = DEFAULT_DNSBL_IP_ZONES
    dnsbl_domain_zones: tuple[str, ...] = DEFAULT_DNSBL_DOMAIN_ZONES
    parallel_domains: int = 32


async def audit_domain(client: DnsClient, target: AuditTarget, options: AuditOptions) -> list[Finding]:
    domain = target.domain.rstrip(".").lower()
    declared = list(target.ips)
    (ns_findings, ns_names), (mx_findings, mx_hosts) = await asyncio.gather(
        checks_host.check_ns(client, domain), checks_host.check_mx(client, domain, declared)
    )
    hostname = (target.hostname or (mx_hosts[0] if mx_hosts else domain)).rstrip(".").lower()
    host_findings, host_addrs = await checks_host.check_host(client, domain, hostname, declared)
    ips = declared or host_addrs
    tasks = [
        checks_auth.check_spf(client, domain, hostname, ips),
        checks_auth.check_dmarc(client, domain),
        checks_auth.check_mta_sts(client, domain),
        checks_auth.check_tlsrpt(client, domain),
        checks_auth.check_dnsbl(client, domain, ips, options.dnsbl_ip_zones, options.dnsbl_domain_zones),
        *(checks_host.check_ptr(client, domain, ip, hostname) for ip in ips),
        *(checks_auth.check_dkim(client, domain, sel, pem) for sel, pem in sorted(target.dkim.items())),
    ]
    if options.authoritative and ns_names:
        tasks.append(checks_host.check_authoritative(client, domain, ns_names, options.authoritative_port))
    findings = ns_findings + mx_findings + host_findings
    for group in await asyncio.gather(*tasks):
        findings.extend(group)
    return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for f in findings:
        if (f.code, f.detail) not in seen:
            seen.add((f.code, f.detail))
            out.append(f)
    return out


async def audit_many(
    client: DnsClient, targets: Sequence[AuditTarget], options: AuditOptions | None = None
) -> dict[str, list[Finding]]:
    """Audit every target, at most ``options.parallel_domains`` at once; results in input order."""
    options = options or AuditOptions()
    gate = asyncio.Semaphore(options.parallel_domains)

    async def one(target: AuditTarget) -> list[Finding]:
        async with gate:
            return await audit_domain(client, target, options)

    results = await asyncio.gather(*(one(t) for t in targets))
    return {t.domain.rstrip(".").lower(): r for t, r in zip(targets, results, strict=True)}


def audit(
    targets: Sequence[AuditTarget],
    nameservers: Sequence[tuple[str, int]],
    *,
    options: AuditOptions | None = None,
    timeout: float = 2.0,
) -> tuple[dict[str, list[Finding]], int]:
    """Synchronous entry point -> (findings by domain, queries sent)."""

    async def run() -> tuple[dict[str, list[Finding]], int]:
        client = DnsClient(list(nameservers), timeout=timeout)
        return await audit_many(client, targets, options), client.sent

    return asyncio.run(run())
