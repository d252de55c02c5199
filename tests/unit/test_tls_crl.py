"""Issue 8: the local CA's CRL (deploys/tls.py): the pure parts of the deploy's decisions, and the rendered
openssl.cnf and refresh-crl script run by the local OpenSSL against a throwaway CA."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyinfra.api.util import get_template

from deploys.templating import TEMPLATES, header
from deploys.tls import CRL_DAYS, CRL_MARGIN, CRL_NAME, crl_due, crl_uris, crl_url, parse_next_update

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_the_crl_url_is_plain_http_on_the_certificates_host() -> None:
    assert crl_url("mail.example.org") == "http://mail.example.org/mailforge-ca.crl"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (["nextUpdate=Dec 23 02:33:08 2026 GMT"], datetime(2026, 12, 23, 2, 33, 8, tzinfo=UTC)),
        (["nextUpdate=Dec  3 02:33:08 2026 GMT"], datetime(2026, 12, 3, 2, 33, 8, tzinfo=UTC)),
        ([], None),  # missing, unreadable, or not signed by the CA (-verify failed)
        (["nextUpdate=NONE"], None),
    ],
    ids=["two-digit-day", "padded-day", "nothing", "no-next-update"],
)
def test_next_update_is_parsed(output: list[str], expected: datetime | None) -> None:
    assert parse_next_update(output) == expected


@pytest.mark.parametrize(
    ("next_update", "due"),
    [(None, True), (NOW - timedelta(days=1), True), (NOW + CRL_MARGIN, True),
     (NOW + CRL_MARGIN + timedelta(minutes=1), False), (NOW + timedelta(days=CRL_DAYS), False)],
    ids=["missing", "expired", "at-the-margin", "past-the-margin", "fresh"],
)  # fmt: skip
def test_the_deploy_signs_a_crl_only_when_due(next_update: datetime | None, due: bool) -> None:
    assert crl_due(next_update, NOW) is due


def test_crl_uris_are_read_from_openssl_output() -> None:
    output = ["X509v3 CRL Distribution Points: ", "    Full Name:", "      URI:http://a.example.org/mailforge-ca.crl"]
    assert crl_uris(output) == ["http://a.example.org/mailforge-ca.crl"]
    assert crl_uris(["No extensions in certificate"]) == []


def render(name: str, dest: Path, **context: object) -> None:
    dest.write_text(get_template(str(TEMPLATES / f"{name}.j2")).render(managed_header=header("tls"), **context))


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True)


def test_refresh_crl_signs_a_der_crl_that_verifies_and_revokes_nothing(tmp_path: Path) -> None:
    ca, www = tmp_path / "ca", tmp_path / "www"
    ca.mkdir()
    www.mkdir()
    key, cert = str(ca / "ca.key"), str(ca / "ca.crt")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=test CA", "-keyout", key,
            "-out", cert, "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    render("mailforge/ca/openssl.cnf", ca / "openssl.cnf", ca_dir=ca, ca_file=ca / "ca.crt", crl_days=CRL_DAYS)
    render("mailforge/ca/refresh-crl", ca / "refresh-crl", ca_dir=ca, crl_file=www / CRL_NAME)
    for _ in range(2):  # the second run re-signs with the next CRL number
        subprocess.run(["sh", str(ca / "refresh-crl")], capture_output=True, text=True, check=True)
    crl = www / CRL_NAME
    text = openssl("crl", "-inform", "DER", "-in", str(crl), "-CAfile", str(ca / "ca.crt"), "-verify", "-noout",
                   "-text")  # fmt: skip
    assert "verify OK" in text.stderr
    assert "No Revoked Certificates." in text.stdout
    assert text.stdout.split("X509v3 CRL Number:", 1)[1].split()[0] == "2"
    next_update = parse_next_update(
        openssl("crl", "-inform", "DER", "-in", str(crl), "-noout", "-nextupdate").stdout.splitlines()
    )
    assert next_update is not None and not crl_due(next_update, datetime.now(UTC))
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in ca.iterdir()}
    assert (modes["index.txt"], modes["crlnumber"], modes["crl.pem"]) == ("0o600", "0o600", "0o600")
    assert oct(crl.stat().st_mode & 0o777) == "0o644"


def test_the_port_80_block_serves_exactly_the_crl_path_in_selfsigned_mode_only() -> None:
    template = get_template(str(TEMPLATES / "nginx/sites-available/mailforge.conf.j2"))
    context = {
        "managed_header": "# h",
        "names": ["mail.example.org"],
        "acme_root": "/var/www/acme",
        "crl_name": CRL_NAME,
    }
    selfsigned = template.render(crl_root="/var/www/mailforge-ca", **context)
    assert f"location = /{CRL_NAME} {{\n        root /var/www/mailforge-ca;" in selfsigned
    assert "location = " not in template.render(crl_root=None, **context)
