"""An asyncio DNS client on explicit name servers: bounded parallelism, per-query timeout, a shared cache.

dnspython's global default resolver is never touched: each client builds its own
``dns.asyncresolver.Resolver(configure=False)`` from the servers it is given. dnspython retries a
truncated UDP answer over TCP by itself (RFC 7766 section 5).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver

DEFAULT_PORT = 53


class Status(enum.StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"  # the name does not exist (RFC 8020)
    NODATA = "nodata"  # the name exists, no record of this type (RFC 2308 section 2.2)
    ERROR = "error"  # timeout, SERVFAIL, REFUSED, malformed answer: unknown, never "absent"


@dataclass(frozen=True)
class Answer:
    status: Status
    records: tuple[dns.rdata.Rdata, ...] = ()
    error: str = ""
    # The name the records were found at, when the query name is an alias (CNAME chain).
    canonical: str = ""

    @property
    def void(self) -> bool:
        return self.status in (Status.NXDOMAIN, Status.NODATA)


def parse_server(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address -> (address, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, DEFAULT_PORT


def name_from_text(text: str) -> dns.name.Name:
    """A query name from free text, split on dots only (SPF macro output may hold any visible byte).

    Raises dns.exception.DNSException (empty or too long label, name too long): the caller treats such a
    name as non-existent (RFC 7208 section 4.3).
    """
    text = text.rstrip(".") if text not in (".", "") else ""
    labels = [label.encode("utf-8", "surrogateescape") for label in text.split(".")] if text else []
    return dns.name.Name([*labels, b""])


@dataclass
class DnsClient:
    """Queries ``servers`` ((address, port) pairs); one instance is shared by a whole audit run."""

    servers: Sequence[tuple[str, int]]
    timeout: float = 2.0
    concurrency: int = 64
    sent: int = 0
    _cache: dict[tuple[str, int], asyncio.Task[Answer]] = field(default_factory=dict, repr=False)
    _sem: asyncio.Semaphore | None = field(default=None, repr=False)
    _resolver: dns.asyncresolver.Resolver | None = field(default=None, repr=False)

    def resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            res = dns.asyncresolver.Resolver(configure=False)
            res.nameservers = [dns.nameserver.Do53Nameserver(addr, port) for addr, port in self.servers]
            res.timeout = self.timeout
            res.lifetime = self.timeout
            res.retry_servfail = False
            res.cache = None
            res.use_edns(0, 0, 1232)  # the DNS flag day 2020 buffer size: fewer fragmented UDP answers
            self._resolver = res
        return self._resolver

    def _semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        return self._sem

    async def query(self, name: str | dns.name.Name, rdtype: str | int) -> Answer:
        """One lookup, deduplicated: the same (name, type) is asked once per client."""
        if isinstance(name, str):
            try:
                qname = name_from_text(name)
            except dns.exception.DNSException as exc:
                return Answer(Status.NXDOMAIN, error=f"invalid name: {exc}")
        else:
            qname = name
        qtype = dns.rdatatype.RdataType.make(rdtype)
        key = (qname.to_text().lower(), int(qtype))
        task = self._cache.get(key)
        if task is None:
            task = asyncio.ensure_future(self._lookup(qname, qtype))
            self._cache[key] = task
        return await asyncio.shield(task)

    async def _lookup(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Answer:
        async with self._semaphore():
            self.sent += 1
            try:
                answer = await self.resolver().resolve(qname, qtype, raise_on_no_answer=False, search=False)
            except dns.resolver.NXDOMAIN:
                return Answer(Status.NXDOMAIN)
            except dns.resolver.LifetimeTimeout:
                return Answer(Status.ERROR, error=f"timeout after {self.timeout:g}s")
            except dns.resolver.NoNameservers as exc:
                return Answer(Status.ERROR, error=_no_nameservers_reason(exc))
            except dns.exception.DNSException as exc:
                return Answer(Status.ERROR, error=f"{type(exc).__name__}: {exc}")
            canonical = answer.canonical_name.to_text() if answer.canonical_name != qname else ""
            if answer.rrset is None:
                return Answer(Status.NODATA, canonical=canonical)
            return Answer(Status.OK, tuple(answer.rrset), canonical=canonical)

    async def query_at(self, server: tuple[str, int], name: str, rdtype: str) -> tuple[dns.message.Message | None, str]:
        """Ask one server directly (no recursion desired): for comparing authoritative servers."""
        msg = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
        msg.flags &= ~dns.flags.RD
        async with self._semaphore():
            self.sent += 1
            try:
                response, _ = await dns.asyncquery.udp_with_fallback(
                    msg, server[0], timeout=self.timeout, port=server[1]
                )
            except dns.exception.Timeout:
                return None, f"timeout after {self.timeout:g}s"
            except (OSError, dns.exception.DNSException) as exc:
                return None, f"{type(exc).__name__}: {exc}"
        return response, ""


def _no_nameservers_reason(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    reasons = sorted({str(err[3]) if len(err) > 3 else str(err) for err in errors})
    return "no server answered: " + "; ".join(reasons) if reasons else "SERVFAIL"
