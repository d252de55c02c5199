"""Checks of the sender-authentication records: SPF, DKIM, DMARC, MTA-STS, TLS-RPT; and DNSBLs."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import itertools

import dns.reversename

from . import dkim, dmarc, spf_syntax, sts
from .checks_host import unknown
from .client import DnsClient, Status
from .findings import Finding, Severity
from .spf_eval import Result, check_host
from .spf_tree import analyze

# Addresses no real mail server sends from (RFC 5737, RFC 3849): an SPF pass for them means the record
# lets (nearly) anyone send.
PROBE_IPS = ("192.0.2.254", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _show(strings: tuple[bytes, ...]) -> str:
    return " ".join('"' + s.decode("ascii", "backslashreplace") + '"' for s in strings)


async def check_spf(client: DnsClient, domain: str, helo: str, ips: list[str]) -> list[Finding]:
    answer = await client.query(domain, "TXT")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"TXT {domain}", answer)]
    records = [r.strings for r in answer.records if spf_syntax.is_spf(b"".join(r.strings))]  # type: ignore[attr-defined]
    if not records:
        return [Finding("SPF_MISSING", domain, f"no TXT record at {domain} starts with v=spf1")]
    if len(records) > 1:
        seen = " ; ".join(_show(s) for s in records)
        return [Finding("SPF_MULTIPLE_RECORDS", domain, f"{len(records)} SPF records", seen=seen)]
    strings = records[0]
    seen = _show(strings)
    joined = b"".join(strings)
    try:
        record = spf_syntax.parse(joined)
    except spf_syntax.SpfCharsetError as exc:
        return [Finding("SPF_NOT_ASCII", domain, str(exc), seen=seen)]
    except spf_syntax.SpfSyntaxError as exc:
        if _misjoined(strings):
            return [Finding("SPF_STRINGS_MISJOINED", domain, f"joined as {joined.decode()!r}: {exc}", seen=seen)]
        return [Finding("SPF_SYNTAX", domain, str(exc), seen=seen)]
    if _misjoined(strings):
        detail = f"read as {joined.decode()!r}, which means something else than the strings say"
        return [Finding("SPF_STRINGS_MISJOINED", domain, detail, seen=seen)]
    findings = _spf_static(domain, record, seen)
    findings += await _spf_tree(client, domain, record, seen)
    findings += await _spf_evaluate(client, domain, helo, ips, seen, findings)
    return findings


def _misjoined(strings: tuple[bytes, ...]) -> bool:
    """A string boundary with no space on either side that splits two terms (RFC 7208 section 3.3).

    The strings are concatenated as they are; a boundary inside one long term is legitimate, so it only
    counts when joining with a space yields a valid record with different terms.
    """
    if len(strings) < 2 or all(a.endswith(b" ") or b.startswith(b" ") for a, b in itertools.pairwise(strings)):
        return False
    try:
        spaced = spf_syntax.parse(b" ".join(strings))
    except spf_syntax.SpfSyntaxError:
        return False
    try:
        return spf_syntax.parse(b"".join(strings)).mechanisms != spaced.mechanisms
    except spf_syntax.SpfSyntaxError:
        return True


def _spf_static(domain: str, record: spf_syntax.SpfRecord, seen: str) -> list[Finding]:
    findings: list[Finding] = []
    alls = [m for m in record.mechanisms if m.kind == "all"]
    if alls and alls[0].qualifier == "+":
        findings.append(Finding("SPF_PLUS_ALL", domain, f"the record ends with {alls[0].text!r}", seen=seen))
    elif alls and alls[0].qualifier == "?":
        findings.append(Finding("SPF_NEUTRAL_ALL", domain, f"the record ends with {alls[0].text!r}", seen=seen))
    elif not alls and record.redirect is None:
        findings.append(Finding("SPF_NO_ALL", domain, "no all mechanism and no redirect=", seen=seen))
    return findings


async def _spf_tree(client: DnsClient, domain: str, record: spf_syntax.SpfRecord, seen: str) -> list[Finding]:
    report = await analyze(client, domain, record)
    findings = [
        Finding("DNS_QUERY_FAILED", domain, f"while following the SPF tree: {e}", seen=e) for e in report.dns_errors
    ]
    if report.lookups > 10 or report.loop:
        detail = "an include/redirect loop" if report.loop else f"{report.lookups} DNS-querying terms in the worst case"
        findings.append(Finding("SPF_TOO_MANY_LOOKUPS", domain, detail, seen=seen))
    if report.voids > 2:
        findings.append(Finding("SPF_TOO_MANY_VOID_LOOKUPS", domain, f"{report.voids} void lookups", seen=seen))
    for term, target in report.no_spf:
        findings.append(Finding("SPF_INCLUDE_NO_SPF", domain, f"{term}: {target} has no SPF record", seen=seen))
    for target in report.multiple:
        findings.append(Finding("SPF_MULTIPLE_RECORDS", domain, f"included {target}: several SPF records", seen=seen))
    for target, error in report.syntax:
        findings.append(Finding("SPF_SYNTAX", domain, f"included {target}: {error}", seen=seen))
    for target in report.too_many_mx:
        findings.append(Finding("SPF_TOO_MANY_LOOKUPS", domain, f"{target} has more than 10 MX records", seen=seen))
    if report.ptr_terms:
        findings.append(Finding("SPF_PTR_USED", domain, ", ".join(report.ptr_terms), seen=seen))
    return findings


async def _spf_evaluate(
    client: DnsClient, domain: str, helo: str, ips: list[str], seen: str, prior: list[Finding]
) -> list[Finding]:
    """The decisive check: each server IP must get `pass`, a documentation address must not."""
    sender = f"postmaster@{domain}"
    outcomes = await asyncio.gather(*(check_host(client, ip, sender, helo) for ip in (*ips, *PROBE_IPS)))
    findings: list[Finding] = []
    explained = any(f.severity is Severity.ERROR for f in prior)
    for ip, outcome in zip((*ips, *PROBE_IPS), outcomes, strict=True):
        if outcome.result is Result.TEMPERROR:
            findings.append(Finding("DNS_QUERY_FAILED", domain, f"SPF for {ip}: {outcome.reason}", seen=seen))
        elif outcome.result is Result.PERMERROR:
            if not explained:
                findings.append(Finding("SPF_PERMERROR", domain, outcome.reason, seen=seen))
                explained = True
        elif ip in PROBE_IPS:
            if outcome.result is Result.PASS:
                findings.append(
                    Finding("SPF_TEST_IP_PASSES", domain, f"{ip} (a documentation address) gets pass", seen=seen)
                )
        elif outcome.result is not Result.PASS:
            findings.append(Finding("SPF_IP_NOT_PASS", domain, f"{ip} gets {outcome.result}", seen=seen))
    return findings


async def check_dkim(client: DnsClient, domain: str, selector: str, private_pem: bytes | None = None) -> list[Finding]:
    name = f"{selector}._domainkey.{domain}"
    answer = await client.query(name, "TXT")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"TXT {name}", answer)]
    if not answer.records:
        return [Finding("DKIM_MISSING", domain, f"no TXT record at {name}", seen=name)]
    if len(answer.records) > 1:
        seen = " ; ".join(_show(r.strings) for r in answer.records)  # type: ignore[attr-defined]
        return [Finding("DKIM_MULTIPLE", domain, f"{len(answer.records)} records at {name}", seen=seen)]
    strings: tuple[bytes, ...] = answer.records[0].strings  # type: ignore[attr-defined]
    seen = f"{name}: {_show(strings)}"
    try:
        key = dkim.parse(_decode(b"".join(strings)))
    except dkim.DkimKeyError as exc:
        if any(len(s) == 255 for s in strings):
            return [Finding("DKIM_TRUNCATED", domain, f"a 255-byte string and {exc}", seen=seen)]
        return [Finding("DKIM_KEY_INVALID", domain, str(exc), seen=seen)]
    except dkim.DkimError as exc:
        return [Finding("DKIM_SYNTAX", domain, str(exc), seen=seen)]
    if key.revoked:
        return [Finding("DKIM_REVOKED", domain, f"selector {selector} has an empty p=", seen=seen)]
    findings: list[Finding] = []
    if key.key_type == "rsa" and key.bits < 1024:
        findings.append(Finding("DKIM_KEY_TOO_SHORT", domain, f"{key.bits}-bit RSA key", seen=seen))
    elif key.key_type == "rsa" and key.bits < 2048:
        findings.append(Finding("DKIM_KEY_WEAK", domain, f"{key.bits}-bit RSA key", seen=seen))
    if key.testing:
        findings.append(Finding("DKIM_TESTING", domain, "t=y", seen=seen))
    if "sha256" not in key.hashes:
        findings.append(Finding("DKIM_SHA1_ONLY", domain, f"h={key.tags.get('h')}", seen=seen))
    if not {"*", "email"} & set(key.services):
        findings.append(Finding("DKIM_SERVICE_NOT_EMAIL", domain, f"s={key.tags.get('s')}", seen=seen))
    if private_pem is not None:
        key_type, der = dkim.public_der_from_private(private_pem)
        if (key_type, der) != (key.key_type, key.public_der):
            expected = base64.b64encode(der).decode()
            findings.append(
                Finding("DKIM_KEY_MISMATCH", domain, f"the private key's p= is {expected[:24]}...", seen=seen)
            )
    return findings


async def check_dmarc(client: DnsClient, domain: str) -> list[Finding]:
    name = f"_dmarc.{domain}"
    answer = await client.query(name, "TXT")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"TXT {name}", answer)]
    texts = [_decode(b"".join(r.strings)) for r in answer.records]  # type: ignore[attr-defined]
    records = [t for t in texts if dmarc.is_dmarc(t)]
    if not records:
        return [Finding("DMARC_MISSING", domain, f"no v=DMARC1 record at {name}", seen=" ; ".join(texts))]
    if len(records) > 1:
        return [Finding("DMARC_MULTIPLE_RECORDS", domain, f"{len(records)} records", seen=" ; ".join(records))]
    seen = records[0]
    try:
        record = dmarc.parse(seen)
    except dmarc.DmarcError as exc:
        return [Finding("DMARC_SYNTAX", domain, str(exc), seen=seen)]
    findings: list[Finding] = []
    if record.policy == "none":
        findings.append(Finding("DMARC_POLICY_NONE", domain, "p=none", seen=seen))
    if record.pct < 100:
        findings.append(Finding("DMARC_PCT_PARTIAL", domain, f"pct={record.pct}", seen=seen))
    if record.unknown_tags:
        findings.append(Finding("DMARC_UNKNOWN_TAG", domain, ", ".join(record.unknown_tags), seen=seen))
    if not record.rua:
        findings.append(Finding("DMARC_NO_RUA", domain, "no rua=", seen=seen))
    external: set[str] = set()
    for uri in (*record.rua, *record.ruf):
        if uri.domain is None:
            findings.append(Finding("DMARC_REPORT_URI_INVALID", domain, f"{uri.uri!r}", seen=seen))
        elif dmarc.is_external(domain, uri.domain):
            external.add(uri.domain)
    for dest in sorted(external):
        auth_name = f"{domain.rstrip('.')}._report._dmarc.{dest}"
        auth = await client.query(auth_name, "TXT")
        if auth.status is Status.ERROR:
            findings.append(unknown(domain, f"TXT {auth_name}", auth))
        elif not any(dmarc.is_dmarc(_decode(b"".join(r.strings))) for r in auth.records):  # type: ignore[attr-defined]
            findings.append(
                Finding("DMARC_EXTERNAL_REPORT_UNAUTHORIZED", domain, f"no v=DMARC1 record at {auth_name}", seen=seen)
            )
    return findings


async def check_mta_sts(client: DnsClient, domain: str) -> list[Finding]:
    name = f"_mta-sts.{domain}"
    answer = await client.query(name, "TXT")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"TXT {name}", answer)]
    records = [t for t in (_decode(b"".join(r.strings)) for r in answer.records) if sts.is_sts(t)]  # type: ignore[attr-defined]
    if not records:
        return [Finding("MTASTS_MISSING", domain, f"no v=STSv1 record at {name}")]
    if len(records) > 1:
        return [Finding("MTASTS_MULTIPLE", domain, f"{len(records)} records", seen=" ; ".join(records))]
    try:
        sts.parse_sts(records[0])
    except sts.StsError as exc:
        return [Finding("MTASTS_SYNTAX", domain, str(exc), seen=records[0])]
    return []


async def check_tlsrpt(client: DnsClient, domain: str) -> list[Finding]:
    name = f"_smtp._tls.{domain}"
    answer = await client.query(name, "TXT")
    if answer.status is Status.ERROR:
        return [unknown(domain, f"TXT {name}", answer)]
    records = [t for t in (_decode(b"".join(r.strings)) for r in answer.records) if sts.is_tlsrpt(t)]  # type: ignore[attr-defined]
    if not records:
        return [Finding("TLSRPT_MISSING", domain, f"no v=TLSRPTv1 record at {name}")]
    if len(records) > 1:
        return [
            Finding(
                "TLSRPT_SYNTAX", domain, f"{len(records)} records: senders ignore them all", seen=" ; ".join(records)
            )
        ]
    try:
        sts.parse_tlsrpt(records[0])
    except sts.StsError as exc:
        return [Finding("TLSRPT_SYNTAX", domain, str(exc), seen=records[0])]
    return []


def _dnsbl_name(ip: str, zone: str) -> str:
    reverse = dns.reversename.from_address(ip).to_text()
    suffix = ".in-addr.arpa." if ipaddress.ip_address(ip).version == 4 else ".ip6.arpa."
    return reverse[: -len(suffix)] + "." + zone.rstrip(".")


async def check_dnsbl(
    client: DnsClient, domain: str, ips: list[str], ip_zones: tuple[str, ...], domain_zones: tuple[str, ...]
) -> list[Finding]:
    """RFC 5782: an A answer in 127.0.0.0/8 means listed, except 127.255.255.x (a refused query)."""
    queries = [(ip, zone, _dnsbl_name(ip, zone)) for ip in ips for zone in ip_zones]
    queries += [(domain, zone, f"{domain.rstrip('.')}.{zone.rstrip('.')}") for zone in domain_zones]
    answers = await asyncio.gather(*(client.query(name, "A") for _, _, name in queries))
    findings: list[Finding] = []
    for (subject, zone, name), answer in zip(queries, answers, strict=True):
        if answer.status is Status.ERROR:
            findings.append(unknown(domain, f"A {name}", answer))
            continue
        codes = sorted(r.address for r in answer.records)  # type: ignore[attr-defined]
        if not codes:
            continue
        seen = f"{name} -> {', '.join(codes)}"
        listed = [c for c in codes if c.startswith("127.") and not c.startswith("127.255.255.")]
        if not listed:
            findings.append(
                Finding("DNSBL_QUERY_REFUSED", domain, f"{zone} answered {', '.join(codes)} for {subject}", seen=seen)
            )
        elif subject == domain:
            findings.append(
                Finding("DNSBL_DOMAIN_LISTED", domain, f"{subject} on {zone} ({', '.join(listed)})", seen=seen)
            )
        else:
            findings.append(Finding("DNSBL_LISTED", domain, f"{subject} on {zone} ({', '.join(listed)})", seen=seen))
    return findings
