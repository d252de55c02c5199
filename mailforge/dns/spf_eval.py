"""SPF check_host() (RFC 7208 sections 4 to 7) over a ``DnsClient``.

Written here rather than taken from pyspf because the audit needs it asynchronous (many domains at once)
and on an explicit resolver; pyspf resolves through a module-level hook on dnspython's default resolver.
The RFC 7208 test suite (tests/dns/test_spf_rfc7208.py) holds it to the reference behaviour.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass, field

import dns.exception
import dns.rdtypes.ANY.PTR
import dns.reversename

from .client import Answer, DnsClient, Status
from .spf_syntax import (
    DNS_MECHANISMS,
    EXP_LETTERS,
    MacroToken,
    Mechanism,
    SpfRecord,
    SpfSyntaxError,
    is_spf,
    parse,
    parse_macro_string,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOKUP_LIMIT = 10  # section 4.6.4
VOID_LIMIT = 2  # section 4.6.4
MX_LIMIT = 10  # section 4.6.4
PTR_LIMIT = 10  # section 4.6.4


class Result(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


@dataclass(frozen=True)
class Outcome:
    result: Result
    explanation: str | None = None  # from exp= (section 6.2); None: the receiver's default
    reason: str = ""  # why permerror/temperror, in plain words
    lookups: int = 0
    voids: int = 0


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


def normalize_ip(ip: str | IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 addresses are IPv4 addresses (section 5, RFC 4291 section 2.5.5.2)."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def valid_domain(domain: str) -> bool:
    """Section 4.3: a multi-label name, no label empty or over 63 octets, at most 253 characters."""
    name = domain[:-1] if domain.endswith(".") else domain
    if not name or len(name) > 253 or name.startswith("["):
        return False
    labels = name.split(".")
    return len(labels) > 1 and all(0 < len(label.encode("utf-8", "surrogateescape")) <= 63 for label in labels)


def txt_strings(answer: Answer) -> list[bytes]:
    """Each TXT record's strings joined without separator (section 3.3)."""
    return [b"".join(rdata.strings) for rdata in answer.records]  # type: ignore[attr-defined]


@dataclass
class _Context:
    client: DnsClient
    ip: IPAddress
    sender: str
    helo: str
    lookups: int = 0
    voids: int = 0
    _validated: dict[str, list[str]] = field(default_factory=dict)

    # -- macros (section 7) ---------------------------------------------------------------------------
    def _letter(self, letter: str, domain: str) -> str:
        local, _, sender_domain = self.sender.rpartition("@")
        if letter == "s":
            return self.sender
        if letter == "l":
            return local or "postmaster"
        if letter == "o":
            return sender_domain
        if letter == "d":
            return domain
        if letter == "i":
            if isinstance(self.ip, ipaddress.IPv4Address):
                return str(self.ip)
            return ".".join(self.ip.exploded.replace(":", ""))
        if letter == "v":
            return "in-addr" if isinstance(self.ip, ipaddress.IPv4Address) else "ip6"
        if letter == "h":
            return self.helo
        if letter == "c":
            return str(self.ip)
        if letter == "r":
            return "unknown"
        if letter == "t":
            return str(int(time.time()))
        raise _PermError(f"macro letter {letter!r}")

    async def expand(self, tokens: tuple[MacroToken, ...], domain: str) -> str:
        out: list[str] = []
        for token in tokens:
            if isinstance(token, str):
                out.append(token)
                continue
            if token.letter in "%_-":
                out.append({"%": "%", "_": " ", "-": "%20"}[token.letter])
                continue
            letter = token.letter.lower()
            value = await self._p_macro(domain) if letter == "p" else self._letter(letter, domain)
            if token.digits is not None or token.reverse or token.delimiters:
                parts = re.split("[" + re.escape(token.delimiters or ".") + "]", value)
                if token.reverse:
                    parts.reverse()
                if token.digits is not None:
                    parts = parts[-token.digits :]
                value = ".".join(parts)
            if token.letter.isupper():
                value = urllib.parse.quote(value, safe="")
            out.append(value)
        return "".join(out)

    async def target(self, tokens: tuple[MacroToken, ...] | None, domain: str) -> str:
        """A domain-spec expanded for a query: trailing dot dropped, left labels cut to 253 (7.3)."""
        if tokens is None:
            return domain
        name = (await self.expand(tokens, domain)).rstrip(".")
        while len(name) > 253 and "." in name:
            name = name.split(".", 1)[1]
        return name

    async def _p_macro(self, domain: str) -> str:
        """The validated name of the client IP, preferring the domain itself, then subdomains (7.3)."""
        names = await self.validated_names()
        for name in names:
            if name.lower() == domain.lower():
                return name
        for name in names:
            if name.lower().endswith("." + domain.lower()):
                return name
        return names[0] if names else "unknown"

    # -- DNS --------------------------------------------------------------------------------------------
    async def query(self, name: str, rdtype: str, *, counts_void: bool) -> Answer:
        if not valid_domain(name):
            # A name no query can be made for is a name that does not exist (4.3, 4.8).
            return Answer(Status.NXDOMAIN, error="invalid name")
        answer = await self.client.query(name, rdtype)
        if answer.status is Status.ERROR:
            raise _TempError(f"{rdtype} {name}: {answer.error}")
        if answer.void and counts_void:
            self.voids += 1
            if self.voids > VOID_LIMIT:
                raise _PermError(f"more than {VOID_LIMIT} void lookups (section 4.6.4), the last {name}")
        return answer

    async def addresses(self, name: str) -> list[IPAddress]:
        rdtype = "A" if isinstance(self.ip, ipaddress.IPv4Address) else "AAAA"
        answer = await self.query(name, rdtype, counts_void=False)
        return [ipaddress.ip_address(r.address) for r in answer.records]  # type: ignore[attr-defined]

    async def validated_names(self) -> list[str]:
        """PTR names that resolve back to the client IP (section 5.5), at most 10 looked at."""
        key = str(self.ip)
        if key in self._validated:
            return self._validated[key]
        answer = await self.client.query(dns.reversename.from_address(str(self.ip)), "PTR")
        names = [
            r.target.to_text(omit_final_dot=True) for r in answer.records if isinstance(r, dns.rdtypes.ANY.PTR.PTR)
        ][:PTR_LIMIT]

        async def confirmed(name: str) -> bool:
            try:
                return self.ip in await self.addresses(name)
            except _TempError:
                return False  # "if a DNS error occurs ... that domain name is skipped" (5.5)

        checks = await asyncio.gather(*(confirmed(n) for n in names))
        result = [n for n, ok in zip(names, checks, strict=True) if ok]
        self._validated[key] = result
        return result

    # -- check_host() (section 4) -------------------------------------------------------------------------
    async def record(self, domain: str) -> SpfRecord | None:
        answer = await self.query(domain, "TXT", counts_void=False)
        if answer.void:
            return None
        records = [txt for txt in txt_strings(answer) if is_spf(txt)]
        if not records:
            return None
        if len(records) > 1:
            raise _PermError(f"{len(records)} SPF records at {domain} (section 4.5)")
        try:
            return parse(records[0])
        except SpfSyntaxError as exc:
            raise _PermError(f"syntax error at {domain}: {exc}") from exc

    async def check(self, domain: str) -> tuple[Result, tuple[tuple[MacroToken, ...], str] | None]:
        if not valid_domain(domain):
            return Result.NONE, None
        record = await self.record(domain)
        if record is None:
            return Result.NONE, None
        for mechanism in record.mechanisms:
            if mechanism.kind in DNS_MECHANISMS:
                self.count_lookup(mechanism.text)
            if await self.matches(mechanism, domain):
                exp = (record.exp, domain) if record.exp is not None else None
                return Result(mechanism.result), exp
        if record.redirect is not None:
            self.count_lookup("redirect=" + (record.redirect_text or ""))
            target = await self.target(record.redirect, domain)
            result, exp = await self.check(target)
            if result is Result.NONE:
                raise _PermError(f"redirect target {target} has no SPF record (section 6.1)")
            return result, exp
        return Result.NEUTRAL, None

    def count_lookup(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise _PermError(f"more than {LOOKUP_LIMIT} DNS-querying terms (section 4.6.4), at {term!r}")

    async def matches(self, mechanism: Mechanism, domain: str) -> bool:
        kind = mechanism.kind
        if kind == "all":
            return True
        if kind in ("ip4", "ip6"):
            assert mechanism.network is not None
            return self.ip.version == mechanism.network.version and self.ip in mechanism.network
        target = await self.target(mechanism.domain, domain)
        if kind == "include":
            result, _ = await self.check(target)
            if result is Result.NONE:
                raise _PermError(f"include target {target} has no SPF record (section 5.2)")
            return result is Result.PASS
        if kind == "exists":
            answer = await self.query(target, "A", counts_void=True)
            return bool(answer.records)
        if kind == "a":
            addrs = await self.a_addresses(target)
            return self.in_any(addrs, mechanism)
        if kind == "mx":
            answer = await self.query(target, "MX", counts_void=True)
            if len(answer.records) > MX_LIMIT:
                raise _PermError(f"{target} has more than {MX_LIMIT} MX records (section 4.6.4)")
            hosts = [r.exchange.to_text(omit_final_dot=True) for r in answer.records]  # type: ignore[attr-defined]
            hosts = [h for h in hosts if h and h != "."]  # null MX (RFC 7505): no host to match
            results = await asyncio.gather(*(self.addresses(h) for h in hosts))
            return any(self.in_any(addrs, mechanism) for addrs in results)
        if kind == "ptr":
            names = await self.validated_names()
            return any(n.lower() == target.lower() or n.lower().endswith("." + target.lower()) for n in names)
        raise _PermError(f"unknown mechanism {kind}")

    async def a_addresses(self, target: str) -> list[IPAddress]:
        rdtype = "A" if isinstance(self.ip, ipaddress.IPv4Address) else "AAAA"
        answer = await self.query(target, rdtype, counts_void=True)
        return [ipaddress.ip_address(r.address) for r in answer.records]  # type: ignore[attr-defined]

    def in_any(self, addrs: list[IPAddress], mechanism: Mechanism) -> bool:
        prefix = mechanism.cidr4 if isinstance(self.ip, ipaddress.IPv4Address) else mechanism.cidr6
        for addr in addrs:
            if addr.version == self.ip.version and self.ip in ipaddress.ip_network((addr, prefix), strict=False):
                return True
        return False

    async def explain(self, exp: tuple[tuple[MacroToken, ...], str]) -> str | None:
        """Section 6.2: any problem fetching or expanding the explanation gives the default (None)."""
        tokens, domain = exp
        try:
            target = await self.target(tokens, domain)
            if not valid_domain(target):
                return None
            answer = await self.client.query(target, "TXT")
            if answer.status is not Status.OK or len(answer.records) != 1:
                return None
            raw = txt_strings(answer)[0]
            text = raw.decode("ascii")
            if any(not " " <= ch <= "~" for ch in text):
                return None
            return await self.expand(parse_macro_string(text, letters=EXP_LETTERS, spaces=True), domain)
        except (SpfSyntaxError, UnicodeDecodeError, _TempError, _PermError, dns.exception.DNSException):
            return None


async def check_host(
    client: DnsClient, ip: str | IPAddress, sender: str, helo: str, domain: str | None = None
) -> Outcome:
    """RFC 7208 check_host(): ``sender`` is MAIL FROM (empty: the HELO identity, section 2.4)."""
    addr = normalize_ip(ip)
    if not sender:
        sender = f"postmaster@{helo}"
    elif sender.startswith("@"):
        sender = "postmaster" + sender  # section 4.3: an empty local-part is "postmaster"
    if domain is None:
        domain = sender.rpartition("@")[2]
    ctx = _Context(client, addr, sender, helo)
    try:
        result, exp = await ctx.check(domain)
    except _PermError as exc:
        return Outcome(Result.PERMERROR, reason=str(exc), lookups=ctx.lookups, voids=ctx.voids)
    except _TempError as exc:
        return Outcome(Result.TEMPERROR, reason=str(exc), lookups=ctx.lookups, voids=ctx.voids)
    explanation = await ctx.explain(exp) if result is Result.FAIL and exp is not None else None
    return Outcome(result, explanation, lookups=ctx.lookups, voids=ctx.voids)
