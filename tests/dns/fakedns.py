"""A small in-process DNS server on 127.0.0.1 (UDP and TCP, one ephemeral port) for behaviours a real
authoritative server will not show on demand: timeouts, SERVFAIL, truncated UDP answers, garbage TXT,
and the RFC 7208 suite's per-name TIMEOUT markers. Everything else in tests/dns runs against knotd.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SPF
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset

from mailforge.dns.client import name_from_text

# handler(request, transport) -> response, or None to stay silent (the client times out)
Handler = Callable[[dns.message.Message, str], dns.message.Message | None]
IN = dns.rdataclass.IN


class _UDP(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


class _TCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class FakeDnsServer:
    """Serves ``handler`` on 127.0.0.1:<port> over UDP and TCP until ``close``; counts queries."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.queries: list[tuple[str, str, str]] = []  # (name, type, transport)
        outer = self

        class UdpHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                wire = outer._answer(data, "udp")
                if wire is not None:
                    sock.sendto(wire, self.client_address)

        class TcpHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(5)
                try:
                    while True:
                        head = _recv_exact(conn, 2)
                        if head is None:
                            return
                        data = _recv_exact(conn, struct.unpack("!H", head)[0])
                        if data is None:
                            return
                        wire = outer._answer(data, "tcp")
                        if wire is None:
                            return
                        conn.sendall(struct.pack("!H", len(wire)) + wire)
                except OSError:
                    return

        self._udp = _UDP(("127.0.0.1", 0), UdpHandler)
        self.port = self._udp.server_address[1]
        self._tcp = _TCP(("127.0.0.1", self.port), TcpHandler)
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in (self._udp, self._tcp)
        ]
        for t in self._threads:
            t.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _answer(self, data: bytes, transport: str) -> bytes | None:
        try:
            request = dns.message.from_wire(data)
        except Exception:  # a malformed query gets no answer, as from a real server's FORMERR path
            return None
        question = request.question[0]
        self.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype), transport))
        response = self.handler(request, transport)
        if response is None:
            return None
        return response.to_wire(max_size=65535)

    def close(self) -> None:
        for s in (self._udp, self._tcp):
            s.shutdown()
            s.server_close()


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    buf = b""
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# --- the RFC 7208 suite's zonedata ------------------------------------------------------------------


def _txt_strings(value: object) -> list[bytes]:
    items = value if isinstance(value, list) else [value]
    out: list[bytes] = []
    for item in items:
        text = str(item)
        try:
            raw = text.encode("latin-1")  # YAML "\xEF" escapes are code points 0-255: raw bytes
        except UnicodeEncodeError:
            raw = text.encode("utf-8")
        out.extend(raw[i : i + 255] for i in range(0, len(raw), 255) or [0])
    return out


def _rdata(kind: str, value: object) -> dns.rdata.Rdata | None:
    if kind == "A":
        return dns.rdtypes.IN.A.A(IN, dns.rdatatype.A, str(value))
    if kind == "AAAA":
        return dns.rdtypes.IN.AAAA.AAAA(IN, dns.rdatatype.AAAA, str(value))
    if kind == "MX":
        pref, host = value  # type: ignore[misc]
        return dns.rdtypes.ANY.MX.MX(IN, dns.rdatatype.MX, int(pref), name_from_text(str(host)))
    if kind == "PTR":
        return dns.rdtypes.ANY.PTR.PTR(IN, dns.rdatatype.PTR, name_from_text(str(value)))
    if kind == "CNAME":
        return dns.rdtypes.ANY.CNAME.CNAME(IN, dns.rdatatype.CNAME, name_from_text(str(value)))
    if kind in ("TXT", "SPF"):
        if value == [] or value == "NONE":
            return None
        cls = dns.rdtypes.ANY.TXT.TXT if kind == "TXT" else dns.rdtypes.ANY.SPF.SPF
        return cls(IN, dns.rdatatype.from_text(kind), _txt_strings(value))
    raise ValueError(f"unsupported zonedata type {kind}")


@dataclass
class SuiteZone:
    """One YAML document's zonedata, answered the way the openspf test drivers answer it."""

    records: dict[dns.name.Name, dict[int, list[dns.rdata.Rdata]]] = field(default_factory=dict)
    timeouts: set[dns.name.Name] = field(default_factory=set)

    @classmethod
    def from_zonedata(cls, zonedata: dict[str, list[object]]) -> SuiteZone:
        zone = cls()
        for raw_name, entries in zonedata.items():
            name = name_from_text(str(raw_name)).canonicalize()
            by_type = zone.records.setdefault(name, {})
            explicit_txt = False
            for entry in entries:
                if entry == "TIMEOUT":
                    zone.timeouts.add(name)
                    continue
                assert isinstance(entry, dict)
                ((kind, value),) = entry.items()
                explicit_txt |= kind == "TXT"
                rdata = _rdata(kind, value)
                if rdata is not None:
                    by_type.setdefault(int(rdata.rdtype), []).append(rdata)
            # The suite's convention: SPF-type data is also published as TXT unless TXT is given.
            if not explicit_txt and dns.rdatatype.SPF in by_type:
                by_type[dns.rdatatype.TXT] = [
                    dns.rdtypes.ANY.TXT.TXT(IN, dns.rdatatype.TXT, r.strings)  # type: ignore[attr-defined]
                    for r in by_type[dns.rdatatype.SPF]
                ]
        return zone

    def exists(self, name: dns.name.Name) -> bool:
        return name in self.records or any(n.is_subdomain(name) for n in self.records)

    def handle(self, request: dns.message.Message, transport: str) -> dns.message.Message | None:
        question = request.question[0]
        response = dns.message.make_response(request)
        response.flags |= dns.flags.AA
        name = question.name.canonicalize()
        for _ in range(8):  # follow CNAMEs inside the data, as an authoritative server does
            by_type = self.records.get(name, {})
            if dns.rdatatype.CNAME in by_type and question.rdtype != dns.rdatatype.CNAME:
                target = by_type[dns.rdatatype.CNAME][0]
                response.answer.append(dns.rrset.from_rdata(name, 60, target))
                name = target.target.canonicalize()  # type: ignore[attr-defined]
                continue
            rdatas = by_type.get(question.rdtype, [])
            if not rdatas and name in self.timeouts:
                return None
            if rdatas:
                response.answer.append(dns.rrset.from_rdata_list(name, 60, rdatas))
            elif not self.exists(name) and not response.answer:
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        return response
