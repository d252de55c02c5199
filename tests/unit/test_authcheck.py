"""The receiver-side verdict (lab/authcheck.py) over zone files: dkimpy and pyspf do the checking."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import authcheck

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
PUBLIC = base64.b64encode(
    KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
SERVER_IP = "10.213.9.2"


def zone_text() -> str:
    p = " ".join(f'"{PUBLIC[i : i + 200]}"' for i in range(0, len(PUBLIC), 200))
    return (
        "$TTL 300\nexample.test. IN SOA ns.example.test. h.example.test. 1 3600 600 86400 300\n"
        "example.test. IN NS ns.example.test.\nns.example.test. IN A 10.213.9.53\n"
        "example.test. IN MX 10 mail.example.test.\nmail.example.test. IN A 10.213.9.2\n"
        'example.test. IN TXT "v=spf1 mx -all"\n'
        f'mail._domainkey.example.test. IN TXT "v=DKIM1; k=rsa; p=" {p}\n'
        '_dmarc.example.test. IN TXT "v=DMARC1; p=reject"\n'
    )


LOOKUP = authcheck.zones({"example.test.": zone_text()})


def signed(body: bytes = b"hello\r\n") -> bytes:
    raw = b"From: alice@example.test\r\nTo: bob@remote.test\r\nSubject: hi\r\n\r\n" + body
    signature = dkim.sign(raw, b"mail", b"example.test", PRIVATE, include_headers=[b"from", b"to", b"subject"])
    return signature + raw


def test_everything_passes_for_the_servers_own_message() -> None:
    verdict = authcheck.evaluate(signed(), LOOKUP, SERVER_IP, "alice@example.test", "mail.example.test")
    assert (verdict.spf, verdict.dkim, verdict.dmarc) == ("pass", True, "pass")


def test_a_tampered_body_fails_dkim() -> None:
    raw = signed().replace(b"hello", b"HELLO")
    assert authcheck.dkim_passes(raw, LOOKUP) == (False, "example.test")


@pytest.mark.parametrize(("ip", "expected"), [(SERVER_IP, "pass"), ("10.213.250.2", "fail")])
def test_spf_follows_the_mx_mechanism(ip: str, expected: str) -> None:
    assert authcheck.spf_result(LOOKUP, ip, "alice@example.test", "mail.example.test") == expected


def test_dmarc_fails_without_an_aligned_pass() -> None:
    raw = signed().replace(b"hello", b"HELLO")
    verdict = authcheck.evaluate(raw, LOOKUP, "10.213.250.2", "alice@example.test", "mail.example.test")
    assert verdict.dmarc == "fail"
