"""Issue 5: misbehaving servers and garbage data give exit code 3 or the right finding, never a traceback.

A small in-process server on loopback plays the misbehaving server (no real server times out or
truncates on demand).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import pytest

from mailforge.cli import main
from mailforge.dns.auditor import AuditOptions, AuditTarget, audit_many
from mailforge.dns.client import DnsClient, Status
from mailforge.dns.findings import Finding

from .fakedns import FakeDnsServer, SuiteZone

DOMAIN = "robust.example.test"
ZONE = SuiteZone.from_zonedata(
    {
        DOMAIN: [
            {"MX": [10, f"mail.{DOMAIN}"]},
            {"TXT": "v=spf1 mx -all"},
            {"TXT": "x" * 200},
            {"TXT": "y" * 200},
            {"TXT": "z" * 200},
            {"A": "10.213.8.1"},
        ],
        f"mail.{DOMAIN}": [{"A": "10.213.8.1"}],
        f"_dmarc.{DOMAIN}": [{"TXT": "v=DMARC1; p=reject; rua=mailto:d@robust.example.test"}],
        f"garbage.{DOMAIN}": [{"TXT": "v=spf1 \x00\xff\x80 -all"}],
        f"_dmarc.garbage.{DOMAIN}": [{"TXT": "v=DMARC1; p=\xff\x00"}],
        f"mail._domainkey.garbage.{DOMAIN}": [{"TXT": "v=DKIM1; p=\x80\x81"}],
    }
)


@pytest.fixture
def server_for() -> Iterator:
    servers: list[FakeDnsServer] = []

    def start(handler):
        server = FakeDnsServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _silent(request: dns.message.Message, transport: str) -> None:
    return None


def _servfail(request: dns.message.Message, transport: str) -> dns.message.Message:
    response = dns.message.make_response(request)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response


def _truncating(request: dns.message.Message, transport: str) -> dns.message.Message | None:
    if transport == "udp":
        response = dns.message.make_response(request)
        response.flags |= dns.flags.TC
        return response
    return ZONE.handle(request, transport)


def _audit_cli(port: int, domain: str = DOMAIN) -> int:
    return main(["dns", "audit", domain, "--nameserver", f"127.0.0.1:{port}", "--timeout", "0.3", "--no-dnsbl"])


def test_timeouts_exit_3(server_for, capsys: pytest.CaptureFixture[str]) -> None:
    assert _audit_cli(server_for(_silent).port) == 3


def test_timeouts_reported_as_unknown(server_for, capsys: pytest.CaptureFixture[str]) -> None:
    _audit_cli(server_for(_silent).port)
    assert "UNKNOWN  DNS_QUERY_FAILED" in capsys.readouterr().out


def test_servfail_exit_3(server_for, capsys: pytest.CaptureFixture[str]) -> None:
    assert _audit_cli(server_for(_servfail).port) == 3


def _one_name_fails(request: dns.message.Message, transport: str) -> dns.message.Message | None:
    if request.question[0].name.to_text().startswith("_dmarc."):
        return _servfail(request, transport)
    return ZONE.handle(request, transport)


def _audit(port: int, domain: str = DOMAIN) -> list[Finding]:
    async def run() -> dict[str, list[Finding]]:
        client = DnsClient([("127.0.0.1", port)], timeout=2.0)
        target = AuditTarget(domain, dkim={})
        return await audit_many(client, [target], AuditOptions(dnsbl_ip_zones=(), dnsbl_domain_zones=()))

    return asyncio.run(run())[domain]


def test_servfail_on_one_name_is_unknown_not_missing(server_for) -> None:
    codes = {f.code for f in _audit(server_for(_one_name_fails).port)}
    assert "DNS_QUERY_FAILED" in codes and "DMARC_MISSING" not in codes


def test_truncated_udp_falls_back_to_tcp(server_for) -> None:
    server = server_for(_truncating)
    answer = asyncio.run(DnsClient([server.address], timeout=1).query(DOMAIN, "TXT"))
    assert len(answer.records) == 4 and ("robust.example.test.", "TXT", "tcp") in server.queries


def test_nxdomain(server_for) -> None:
    server = server_for(ZONE.handle)
    assert asyncio.run(DnsClient([server.address]).query(f"nope.{DOMAIN}", "A")).status is Status.NXDOMAIN


def test_nodata(server_for) -> None:
    server = server_for(ZONE.handle)
    assert asyncio.run(DnsClient([server.address]).query(DOMAIN, "AAAA")).status is Status.NODATA


@pytest.mark.parametrize("code", ["SPF_NOT_ASCII", "DMARC_SYNTAX", "DKIM_SYNTAX"])
def test_garbage_txt_gives_a_finding(server_for, code: str) -> None:
    server = server_for(ZONE.handle)

    async def run() -> list[Finding]:
        client = DnsClient([server.address], timeout=2.0)
        target = AuditTarget(f"garbage.{DOMAIN}", f"mail.{DOMAIN}", ("10.213.8.1",), {"mail": None})
        options = AuditOptions(dnsbl_ip_zones=(), dnsbl_domain_zones=())
        return (await audit_many(client, [target], options))[f"garbage.{DOMAIN}"]

    assert code in {f.code for f in asyncio.run(run())}


def test_timeout_is_per_query(server_for) -> None:
    server = server_for(_silent)
    answer = asyncio.run(DnsClient([server.address], timeout=0.2).query(DOMAIN, "A"))
    assert answer.status is Status.ERROR and "timeout" in answer.error
