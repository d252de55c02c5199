"""What a receiver such as Gmail checks, with code we did not write: dkimpy (DKIM) and pyspf (SPF), both
asking our own authoritative DNS server; DMARC (RFC 7489 section 3.1 alignment, relaxed) over their results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.utils import parseaddr

import dkim
import dns.resolver
import spf


def resolver(address: str, port: int) -> dns.resolver.Resolver:
    # A resolver of our own: dnspython's default resolver is never changed.
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [address]
    res.port = port
    res.lifetime = 5
    return res


def _txt(res: dns.resolver.Resolver, name: str) -> list[bytes]:
    try:
        return [b"".join(r.strings) for r in res.resolve(name.rstrip("."), "TXT")]
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []


def dkim_passes(raw: bytes, res: dns.resolver.Resolver) -> tuple[bool, str]:
    """(verified, the d= domain of the signature)."""
    signature = message_from_bytes(raw).get("DKIM-Signature", "")
    tags = dict(part.strip().split("=", 1) for part in signature.replace("\n", "").split(";") if "=" in part)
    ok = dkim.verify(raw, dnsfunc=lambda name, timeout=5: (_txt(res, name.decode()) or [None])[0])
    return bool(ok), tags.get("d", "").strip()


@contextlib.contextmanager
def _pyspf_dns(res: dns.resolver.Resolver) -> Iterator[None]:
    """pyspf's documented lookup hook (spf.DNSLookup), pointed at our server for the duration."""

    def lookup(name: str, qtype: str, *args: object, **kwargs: object) -> list[tuple[tuple[str, str], object]]:
        try:
            answers = res.resolve(name, qtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
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


def spf_result(res: dns.resolver.Resolver, ip: str, mail_from: str, helo: str) -> str:
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


def evaluate(raw: bytes, res: dns.resolver.Resolver, ip: str, mail_from: str, helo: str) -> Verdict:
    from_domain = parseaddr(message_from_bytes(raw).get("From", ""))[1].rpartition("@")[2]
    spf_res = spf_result(res, ip, mail_from, helo)
    dkim_ok, d = dkim_passes(raw, res)
    records = [t.decode() for t in _txt(res, f"_dmarc.{from_domain}") if t.startswith(b"v=DMARC1")]
    if len(records) != 1:
        return Verdict(spf_res, dkim_ok, "none")
    spf_aligned = spf_res == "pass" and _org(mail_from.rpartition("@")[2]) == _org(from_domain)
    dkim_aligned = dkim_ok and _org(d) == _org(from_domain)
    return Verdict(spf_res, dkim_ok, "pass" if spf_aligned or dkim_aligned else "fail")
