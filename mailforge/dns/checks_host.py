"""Checks of the delegation and the mail host: NS, MX, the host's addresses, reverse DNS."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable

import dns.flags
import dns.rcode
import dns.rdatatype
import dns.reversename

from .client import Answer, DnsClient, Status
from .findings import Finding


def unknown(domain: str, what: str, answer: Answer) -> Finding:
    return Finding("DNS_QUERY_FAILED", domain, f"{what}: {answer.error}", seen=what)


def _host(name: str) -> str:
    return name.rstrip(".").lower()


async def addresses(client: DnsClient, name: str) -> tuple[list[str], Answer, Answer]:
    a, aaaa = await asyncio.gather(client.query(name, "A"), client.query(name, "AAAA"))
    addrs = [r.address for r in (*a.records, *aaaa.records)]  # type: ignore[attr-defined]
    return [ipaddress.ip_address(x).compressed for x in addrs], a, aaaa


async def check_ns(client: DnsClient, domain: str) -> tuple[list[Finding], list[str]]:
    answer = await client.query(domain, "NS")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"NS {domain}", answer)], []
    names = sorted(_host(r.target.to_text()) for r in answer.records)  # type: ignore[attr-defined]
    if not names:
        return [Finding("NS_MISSING", domain, f"no NS records at {domain}")], []
    if len(names) < 2:
        return [Finding("NS_TOO_FEW", domain, f"only {len(names)} name server", seen=", ".join(names))], names
    return [], names


async def check_authoritative(client: DnsClient, domain: str, ns_names: list[str], port: int) -> list[Finding]:
    """Ask every listed server directly and compare SOA serial, MX and TXT (RFC 1034 section 4.3.5)."""
    findings: list[Finding] = []
    targets: list[tuple[str, str]] = []
    for name, (addrs, _, _) in zip(
        ns_names, await asyncio.gather(*(addresses(client, n) for n in ns_names)), strict=True
    ):
        targets.extend((name, addr) for addr in addrs)
        if not addrs:
            findings.append(Finding("NS_UNREACHABLE", domain, f"name server {name} has no address", seen=name))

    async def snapshot(addr: str) -> tuple[dict[str, tuple[str, ...]] | None, str]:
        views: dict[str, tuple[str, ...]] = {}
        for rdtype in ("SOA", "MX", "TXT"):
            response, error = await client.query_at((addr, port), domain, rdtype)
            if response is None:
                return None, error
            if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
                rcode = dns.rcode.to_text(response.rcode())
                return None, f"not authoritative ({rcode}, AA={bool(response.flags & dns.flags.AA)})"
            rrsets = [rr for rr in response.answer if rr.rdtype == dns.rdatatype.from_text(rdtype)]
            items = [r.to_text() for rr in rrsets for r in rr]
            if rdtype == "SOA":
                items = [str(r.serial) for rr in rrsets for r in rr]
            views[rdtype] = tuple(sorted(items))
        return views, ""

    results = await asyncio.gather(*(snapshot(addr) for _, addr in targets))
    views: dict[str, dict[str, tuple[str, ...]]] = {}
    for (name, addr), (view, error) in zip(targets, results, strict=True):
        label = f"{name} ({addr})"
        if view is None:
            code = "NS_UNREACHABLE" if error.startswith("timeout") else "NS_NOT_AUTHORITATIVE"
            findings.append(Finding(code, domain, f"{label}: {error}", seen=label))
        else:
            views[label] = view
    for rdtype in ("SOA", "MX", "TXT"):
        distinct = {v[rdtype] for v in views.values()}
        if len(distinct) > 1:
            seen = "; ".join(f"{label}: {' | '.join(v[rdtype]) or '(none)'}" for label, v in sorted(views.items()))
            what = "serial" if rdtype == "SOA" else rdtype
            findings.append(Finding("NS_INCONSISTENT", domain, f"the servers disagree on {what}", seen=seen))
    return findings


def _looks_doubled(target: str, domain: str) -> bool:
    """mail.example.org.example.org: a zone-file name written without its trailing dot."""
    d = domain.rstrip(".").lower()
    return target == f"{d}.{d}" or target.endswith(f".{d}.{d}")


async def check_mx(client: DnsClient, domain: str, declared: Iterable[str]) -> tuple[list[Finding], list[str]]:
    """-> findings, and the MX host names by preference."""
    answer = await client.query(domain, "MX")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"MX {domain}", answer)], []
    if not answer.records:
        return [Finding("MX_MISSING", domain, f"no MX record at {domain}")], []
    mxs = sorted((r.preference, _host(r.exchange.to_text())) for r in answer.records)  # type: ignore[attr-defined]
    seen = ", ".join(f"{p} {h or '.'}" for p, h in mxs)
    null = [(p, h) for p, h in mxs if h == ""]
    findings: list[Finding] = []
    if null:
        if len(mxs) > 1:
            return [Finding("MX_NULL_WITH_OTHERS", domain, "null MX next to other MX records", seen=seen)], []
        findings.append(Finding("MX_NULL", domain, "the domain accepts no mail", seen=seen))
        if null[0][0] != 0:
            findings.append(Finding("MX_NULL_PREFERENCE", domain, f"null MX with preference {null[0][0]}", seen=seen))
        return findings, []
    hosts = [h for _, h in mxs]
    all_addrs: set[str] = set()
    results = await asyncio.gather(*(addresses(client, h) for h in hosts))
    for host, (addrs, a, aaaa) in zip(hosts, results, strict=True):
        try:
            ipaddress.ip_address(host)
            findings.append(Finding("MX_TARGET_IP", domain, f"MX target {host} is an address", seen=seen))
            continue
        except ValueError:
            pass
        if _looks_doubled(host, domain):
            findings.append(Finding("MX_TARGET_DOUBLED", domain, f"MX target {host}", seen=seen))
            continue
        for ans in (a, aaaa):
            if ans.status is Status.ERROR:
                findings.append(unknown(domain, f"address of MX {host}", ans))
        if a.canonical or aaaa.canonical:
            canonical = (a.canonical or aaaa.canonical).rstrip(".")
            findings.append(Finding("MX_TARGET_CNAME", domain, f"{host} is an alias of {canonical}", seen=seen))
        if not addrs and a.status is not Status.ERROR and aaaa.status is not Status.ERROR:
            findings.append(Finding("MX_TARGET_NO_ADDRESS", domain, f"{host} has no A/AAAA record", seen=seen))
        all_addrs.update(addrs)
    missing = [ip for ip in declared if ipaddress.ip_address(ip).compressed not in all_addrs]
    if missing and all_addrs:
        findings.append(
            Finding(
                "MX_ADDRESS_MISMATCH",
                domain,
                f"declared {', '.join(missing)} not among the MX addresses",
                seen=", ".join(sorted(all_addrs)),
            )
        )
    return findings, hosts


async def check_host(
    client: DnsClient, domain: str, hostname: str, declared: list[str]
) -> tuple[list[Finding], list[str]]:
    """-> findings, and the host's addresses (the sending IPs when none were declared)."""
    addrs, a, aaaa = await addresses(client, hostname)
    findings = [unknown(domain, f"address of {hostname}", x) for x in (a, aaaa) if x.status is Status.ERROR]
    if findings:
        return findings, []
    if not addrs:
        return [Finding("HOST_NO_ADDRESS", domain, f"{hostname} has no A/AAAA record", seen=hostname)], []
    missing = [ip for ip in declared if ipaddress.ip_address(ip).compressed not in addrs]
    if missing:
        findings.append(
            Finding(
                "HOST_ADDRESS_MISMATCH",
                domain,
                f"{hostname} does not resolve to {', '.join(missing)}",
                seen=f"{hostname} -> {', '.join(addrs)}",
            )
        )
    return findings, addrs


async def check_ptr(client: DnsClient, domain: str, ip: str, helo: str) -> list[Finding]:
    """Forward-confirmed reverse DNS equal to the HELO name (RFC 8601 section 3, iprev)."""
    reverse = dns.reversename.from_address(ip)
    answer = await client.query(reverse, "PTR")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"PTR {ip}", answer)]
    names = sorted(_host(r.target.to_text()) for r in answer.records)  # type: ignore[attr-defined]
    if not names:
        return [Finding("PTR_MISSING", domain, f"no PTR record for {ip}", seen=reverse.to_text())]
    findings: list[Finding] = []
    seen = f"{ip} -> {', '.join(names)}"
    if len(names) > 1:
        findings.append(Finding("PTR_MULTIPLE", domain, f"{len(names)} PTR records for {ip}", seen=seen))
    results = await asyncio.gather(*(addresses(client, n) for n in names))
    for name, (_, a, aaaa) in zip(names, results, strict=True):
        findings.extend(unknown(domain, f"address of {name}", x) for x in (a, aaaa) if x.status is Status.ERROR)
    confirmed = [
        n for n, (addrs, _, _) in zip(names, results, strict=True) if ipaddress.ip_address(ip).compressed in addrs
    ]
    if not confirmed:
        if not any(f.code == "DNS_QUERY_FAILED" for f in findings):
            findings.append(
                Finding("PTR_NOT_FORWARD_CONFIRMED", domain, f"no PTR name of {ip} resolves back to it", seen=seen)
            )
    elif _host(helo) not in confirmed:
        findings.append(
            Finding("PTR_HELO_MISMATCH", domain, f"PTR of {ip} is not the HELO name {_host(helo)}", seen=seen)
        )
    return findings
