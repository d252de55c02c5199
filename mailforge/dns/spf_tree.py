"""Worst-case analysis of an SPF include tree (RFC 7208 section 4.6.4).

check_host() stops at the first matching term, so whether a live check stays within the limits depends on
the client IP. The worst case is an IP that matches nothing: every term before ``all`` is evaluated, every
include is followed, and ``redirect=`` is taken. This walks that path once and counts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .client import DnsClient, Status
from .spf_eval import _Context, normalize_ip, txt_strings, valid_domain
from .spf_syntax import DNS_MECHANISMS, SpfRecord, SpfSyntaxError, is_spf, parse

MAX_DEPTH = 12  # deeper than the lookup limit allows: a loop, stop walking


@dataclass
class TreeReport:
    lookups: int = 0
    voids: int = 0
    no_spf: list[tuple[str, str]] = field(default_factory=list)  # (term, target)
    syntax: list[tuple[str, str]] = field(default_factory=list)  # (domain, error)
    multiple: list[str] = field(default_factory=list)  # included domains with several SPF records
    dns_errors: list[str] = field(default_factory=list)
    ptr_terms: list[str] = field(default_factory=list)
    too_many_mx: list[str] = field(default_factory=list)
    loop: bool = False


async def analyze(client: DnsClient, domain: str, record: SpfRecord, probe_ip: str = "192.0.2.254") -> TreeReport:
    report = TreeReport()
    ctx = _Context(client, normalize_ip(probe_ip), f"postmaster@{domain}", domain)
    await _walk(ctx, report, domain, record, depth=0)
    return report


async def _fetch(ctx: _Context, report: TreeReport, term: str, target: str) -> SpfRecord | None:
    if not valid_domain(target):
        report.no_spf.append((term, target))
        return None
    answer = await ctx.client.query(target, "TXT")
    if answer.status is Status.ERROR:
        report.dns_errors.append(f"TXT {target}: {answer.error}")
        return None
    records = [t for t in txt_strings(answer) if is_spf(t)]
    if not records:
        report.no_spf.append((term, target))
        return None
    if len(records) > 1:
        report.multiple.append(target)
        return None
    try:
        return parse(records[0])
    except SpfSyntaxError as exc:
        report.syntax.append((target, str(exc)))
        return None


async def _void(ctx: _Context, report: TreeReport, target: str, rdtype: str) -> bool:
    if not valid_domain(target):
        return True
    answer = await ctx.client.query(target, rdtype)
    if answer.status is Status.ERROR:
        report.dns_errors.append(f"{rdtype} {target}: {answer.error}")
        return False
    if rdtype == "MX" and len(answer.records) > 10:
        report.too_many_mx.append(target)
    return answer.void


async def _walk(ctx: _Context, report: TreeReport, domain: str, record: SpfRecord, depth: int) -> None:
    if depth > MAX_DEPTH or report.lookups > 4 * 10:
        report.loop = True  # an include loop, or a tree far past the limit: counting further adds nothing
        return
    children: list[tuple[str, str]] = []
    voids: list[asyncio.Future[bool]] = []
    ended = False
    for mech in record.mechanisms:
        if mech.kind == "all":
            ended = True  # nothing after `all` is ever evaluated
            break
        if mech.kind not in DNS_MECHANISMS:
            continue
        report.lookups += 1
        target = await ctx.target(mech.domain, domain)
        if mech.kind == "include":
            children.append((mech.text, target))
        elif mech.kind == "ptr":
            report.ptr_terms.append(f"{mech.text} (in {domain})")
        else:
            rdtype = {"a": "A", "mx": "MX", "exists": "A"}[mech.kind]
            voids.append(asyncio.ensure_future(_void(ctx, report, target, rdtype)))
    if not ended and record.redirect is not None:
        report.lookups += 1
        children.append(("redirect=" + (record.redirect_text or ""), await ctx.target(record.redirect, domain)))
    report.voids += sum(await asyncio.gather(*voids))
    fetched = await asyncio.gather(*(_fetch(ctx, report, term, target) for term, target in children))
    await asyncio.gather(
        *(
            _walk(ctx, report, target, child, depth + 1)
            for (_, target), child in zip(children, fetched, strict=True)
            if child is not None
        )
    )
