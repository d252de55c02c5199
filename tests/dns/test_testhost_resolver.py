"""The test hosts' resolver (mailforge/testhost/supervisor.py): a real dnsmasq with the argv the supervisor
runs, upstream a recording DNS server on loopback. Names tests use are answered locally and never
forwarded; everything else (apt's mirror) is forwarded. Loopback only."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from lab.knot import free_port
from mailforge.testhost.supervisor import resolver_argv

from .fakedns import FakeDnsServer


def _upstream_answer(request: dns.message.Message, _transport: str) -> dns.message.Message:
    response = dns.message.make_response(request)
    question = request.question[0]
    if question.rdtype == dns.rdatatype.A:
        response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "192.0.2.80"))
    return response


@pytest.fixture(scope="module")
def resolver() -> Iterator[tuple[int, FakeDnsServer]]:
    upstream = FakeDnsServer(_upstream_answer)
    port = free_port()
    argv = resolver_argv("127.0.0.1", port, upstreams=(f"127.0.0.1#{upstream.port}",))
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # until it answers
            try:
                dns.query.udp(dns.message.make_query("ready.invalid", "A"), "127.0.0.1", port=port, timeout=0.1)
                break
            except (TimeoutError, OSError, dns.exception.Timeout):
                time.sleep(0.05)
        yield port, upstream
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.close()


def ask(port: int, name: str, rdtype: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port, timeout=3)


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("2.1.213.10.in-addr.arpa", "PTR"),  # Postfix's reverse lookup of a test host's address
        ("1.0.168.192.in-addr.arpa", "PTR"),
        ("1.0.20.172.in-addr.arpa", "PTR"),
        ("mx.example.test", "MX"),
        ("mail.example.org", "A"),
        ("example.com", "MX"),
        ("nothing.invalid", "A"),
        ("host.example", "A"),
        ("localhost", "A"),
    ],
)
def test_names_tests_use_are_answered_locally_and_never_forwarded(
    resolver: tuple[int, FakeDnsServer], name: str, rdtype: str
) -> None:
    port, upstream = resolver
    answer = ask(port, name, rdtype)
    assert answer.rcode() == dns.rcode.NXDOMAIN
    assert name not in {query[0].rstrip(".") for query in upstream.queries}


def test_other_names_are_forwarded_upstream(resolver: tuple[int, FakeDnsServer]) -> None:
    port, upstream = resolver
    answer = ask(port, "deb.debian.org", "A")
    assert answer.rcode() == dns.rcode.NOERROR
    assert [rrset.to_text() for rrset in answer.answer] == ["deb.debian.org. 60 IN A 192.0.2.80"]
    assert ("deb.debian.org.", "A", "udp") in upstream.queries
