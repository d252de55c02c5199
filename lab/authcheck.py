"""What a receiver such as Gmail checks, with code we did not write: dkimpy (DKIM) and pyspf (SPF), both
asking the DNS we point them at (an authoritative server, or the zone files mailforge generated); DMARC
(RFC 7489 section 3.1 alignment, relaxed) over their results. Used by the e2e tests and by `make demo`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.utils import parseaddr
from typing import Any

import dkim
import dns.name
import dns.resolver
import dns.zone
import spf

Lookup = Callable[[str, str], list[Any]]  # (name, rdtype) -> rdata; [] for NXDOMAIN/NODATA


def resolver(address: str, port: int) -> Lookup:
    """Ask one DNS server. A resolver of our own: dnspython's default resolver is never changed."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [address]
    res.port = port
    res.lifetime = 5

    def lookup(name: str, rdtype: str) -> list[Any]:
        try:
            return list(res.resolve(name.rstrip("."), rdtype))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []

    return lookup


def zones(texts: dict[str, str]) -> Lookup:
    """Answer from zone files (origin -> text): what a receiver would see once they are published."""
    # check_origin=False: the generated fragments hold no SOA/NS (those stay with the operator's zone).
    parsed = [
        dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False) for origin, text in texts.items()
    ]

    def lookup(name: str, rdtype: str) -> list[Any]:
        qname = dns.name.from_text(name)
        for zone in parsed:
            if qname.is_subdomain(zone.origin):
                found = zone.get_rdataset(qname, rdtype)
                return list(found) if found else []
        return []

    return lookup


def _txt(lookup: Lookup, name: str) -> list[bytes]:
    return [b"".join(r.strings) for r in lookup(name.rstrip("."), "TXT")]


def dkim_passes(raw: bytes, res: Lookup) -> tuple[bool, str]:
    """(verified, the d= domain of the signature)."""
    signature = message_from_bytes(raw).get("DKIM-Signature", "")
    tags = dict(part.strip().split("=", 1) for part in signature.replace("\n", "").split(";") if "=" in part)
    ok = dkim.verify(raw, dnsfunc=lambda name, timeout=5: (_txt(res, name.decode()) or [None])[0])
    return bool(ok), tags.get("d", "").strip()


@contextlib.contextmanager
def _pyspf_dns(res: Lookup) -> Iterator[None]:
    """pyspf's documented lookup hook (spf.DNSLookup), pointed at our server for the duration."""

    def lookup(name: str, qtype: str, *args: object, **kwargs: object) -> list[tuple[tuple[str, str], object]]:
        answers = res(name, qtype)
        out: list[tuple[tuple[str, str], object]] = []
        for r in answers:
            # The value shapes pyspf's own dnspython lookup returns.
            if qtype in ("A", "AAAA"):
                value: object = r.address
            elif qtype == "MX":
                value = (r.preference, r.exchange)
            elif qtype == "PTR":
                value = r.target.to_text(True)
            else:
                value = r.strings
            out.append(((name, qtype), value))
        return out

    original = spf.DNSLookup
    spf.DNSLookup = lookup
    try:
        yield
    finally:
        spf.DNSLookup = original


def spf_result(res: Lookup, ip: str, mail_from: str, helo: str) -> str:
    with _pyspf_dns(res):
        result, _explanation = spf.check2(i=ip, s=mail_from, h=helo)
    return result


@dataclass(frozen=True)
class Verdict:
    spf: str
    dkim: bool
    dmarc: str

    def line(self) -> str:
        return f"SPF={self.spf} DKIM={'pass' if self.dkim else 'fail'} DMARC={self.dmarc}"


def _org(domain: str) -> str:
    # Organizational domain for relaxed alignment; .test names have no public-suffix subtleties.
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


def evaluate(raw: bytes, res: Lookup, ip: str, mail_from: str, helo: str) -> Verdict:
    from_domain = parseaddr(message_from_bytes(raw).get("From", ""))[1].rpartition("@")[2]
    spf_res = spf_result(res, ip, mail_from, helo)
    dkim_ok, d = dkim_passes(raw, res)
    records = [t.decode() for t in _txt(res, f"_dmarc.{from_domain}") if t.startswith(b"v=DMARC1")]
    if len(records) != 1:
        return Verdict(spf_res, dkim_ok, "none")
    spf_aligned = spf_res == "pass" and _org(mail_from.rpartition("@")[2]) == _org(from_domain)
    dkim_aligned = dkim_ok and _org(d) == _org(from_domain)
    return Verdict(spf_res, dkim_ok, "pass" if spf_aligned or dkim_aligned else "fail")
