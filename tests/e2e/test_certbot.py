"""Issue 4: Certbot in tls_mode certbot, against a local ACME server (Debian's pebble): one certificate for
every name, renewed by Debian's timer and then served on 25, 465, 587, 993 and 443; a name that does not
resolve, or whose port 80 is unreachable, stops the deploy before certbot runs.

One host ("webacme", mail.acme.test) deployed once for the module.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.mail import server_data as mail_server_data
from lab.provision import DeployResult, run_deploy, write_inventory
from lab.web import ENV
from mailforge.testhost import Host, StateDir
from tests.e2e.conftest import infra

# --- certbot against a local ACME server (pebble) ----------------------------------------------------
# Debian's pebble runs on this machine at the test host's gateway address; it resolves the host's names
# through a knotd the test runs (no "always valid" shortcut: PEBBLE_VA_ALWAYS_VALID is not set) and
# validates HTTP-01 on port 80 of the host. Pebble's own HTTPS listener uses a certificate from a CA the
# test makes, which the deploy trusts through certbot_ca_bundle.

ACME_NAME = "mail.acme.test"
ACME_PFA = "postfixadmin.acme.test"
ACME_NAMES = [ACME_NAME, ACME_PFA]


def _ca_and_server_cert(directory: Path, ip: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for pebble's listener (IP SAN ip and 127.0.0.1)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailforge e2e ACME listener CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(ip)), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "acme-ca.pem", directory / "pebble.pem", directory / "pebble.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return paths


@dataclass
class Acme:
    host: Host
    listener_ca: Path
    root: Path  # pebble's issuing root, fetched from its management interface
    dns: str  # "IP:PORT" of the knotd serving acme.test
    inventory: Callable[..., Path]


def _zone(host: Host, extra: str = "") -> str:
    records = "\n".join(f"{n}. A {host.address}" for n in ACME_NAMES)
    return (f"$ORIGIN acme.test.\n$TTL 60\n@ SOA ns.acme.test. hostmaster.acme.test. 1 3600 600 86400 60\n"
            f"@ NS ns.acme.test.\nns A {host.address}\n{records}\n{extra}\n")  # fmt: skip


@pytest.fixture(scope="module")
def acme(make_host, module_tmp: Path, state: StateDir) -> Iterator[Acme]:
    import json
    import subprocess
    import time
    import urllib.request

    from lab.knot import Knot, free_port

    host = make_host("webacme")
    gateway = host.address.rsplit(".", 1)[0] + ".1"
    workdir = module_tmp / "acme"
    workdir.mkdir()
    port = free_port(gateway)
    # closed.acme.test: resolves, but to an address where nothing answers on port 80 (the gateway itself).
    knot = Knot(workdir / "knot", {"acme.test": _zone(host, f"closed A {gateway}")}, [gateway], port)
    listener_ca, cert, key = _ca_and_server_cert(workdir, gateway)
    config = workdir / "pebble.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"{gateway}:14000", "managementListenAddress": "127.0.0.1:15000",
        "certificate": str(cert), "privateKey": str(key), "httpPort": 80, "tlsPort": 443,
        "ocspResponderURL": "", "externalAccountBindingRequired": False,
    }}))  # fmt: skip
    log = (workdir / "pebble.log").open("w")
    # NOSLEEP: no random validation delays; NONCEREJECT=0: no deliberately rejected nonces (certbot retries
    # those, but they only slow the run down). https://github.com/letsencrypt/pebble#testing-at-full-speed
    env = {"PATH": "/usr/bin:/bin", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    pebble = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"{gateway}:{port}"],
                              stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    context = ssl.create_default_context(cafile=str(listener_ca))
    root = workdir / "pebble-root.pem"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen("https://127.0.0.1:15000/roots/0", context=context, timeout=5) as reply:
                root.write_bytes(reply.read())
            break
        except OSError:
            if time.monotonic() > deadline or pebble.poll() is not None:
                raise RuntimeError(f"pebble did not start: {(workdir / 'pebble.log').read_text()}") from None
            time.sleep(0.3)

    def inventory(**change: Any) -> Path:
        data = {
            **mail_server_data(ACME_NAME, {}),
            "webmail": "none",
            "tls_mode": "certbot",
            "certbot_server": f"https://{gateway}:14000/dir",
            "certbot_ca_bundle": str(listener_ca),
            "certbot_email": "hostmaster@example.test",
            "dns_preflight_nameservers": [f"{gateway}:{port}"],
            **change,
        }
        return write_inventory(module_tmp / "acme_inventory.py", [(host.name, host.address, data)], state.ssh_key)

    try:
        yield Acme(host, listener_ca, root, f"{gateway}:{port}", inventory)
    finally:
        pebble.terminate()
        pebble.wait(10)
        log.close()
        knot.stop()


@pytest.fixture(scope="module")
def acme_deployed(acme: Acme) -> DeployResult:
    result = run_deploy(acme.inventory(), env=ENV)
    assert result.ok, result.explain()
    return result


def _served(acme: Acme, port: int, name: str) -> tuple[int, str]:
    """(serial, protocol) of the certificate served on a port, verified against pebble's root for NAME."""
    from cryptography import x509

    context = ssl.create_default_context(cafile=str(acme.root))  # chain and name both checked
    address = acme.host.address
    if port in (25, 587):
        with smtplib.SMTP(address, port, timeout=30) as client:
            client.ehlo("client.example.test")
            # STARTTLS sends _host as SNI and checks it; we connected by address (private: typeshed does not list it).
            client._host = name  # type: ignore[attr-defined]
            client.starttls(context=context)
            der = client.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
            version = client.sock.version()  # type: ignore[union-attr]
    else:
        with (
            socket.create_connection((address, port), timeout=15) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            der, version = tls.getpeercert(binary_form=True), tls.version()
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number, str(version)


MAIL_TLS_PORTS = [25, 465, 587, 993, 443]


@pytest.fixture(scope="module")
def first_serials(acme: Acme, acme_deployed: DeployResult) -> dict[int, int]:
    return {port: _served(acme, port, ACME_NAME)[0] for port in MAIL_TLS_PORTS}


@pytest.fixture(scope="module")
def renewed(acme: Acme, first_serials: dict[int, int]) -> str:
    # What certbot.timer runs (with the unit's environment, i.e. the drop-in trusting the ACME server's CA),
    # forced: a fresh certificate is not due for renewal yet.
    return acme.host.run("env $(systemctl show -p Environment --value certbot.service) "
                         "certbot renew --force-renewal --no-random-sleep-on-renew 2>&1").stdout  # fmt: skip


def test_certbot_obtains_one_certificate_for_every_name(acme: Acme, acme_deployed: DeployResult) -> None:
    from cryptography import x509

    pem = acme.host.run(f"cat /etc/letsencrypt/live/{ACME_NAME}/cert.pem").stdout.encode()
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == sorted(ACME_NAMES)
    assert "Pebble" in cert.issuer.rfc4514_string()


def test_certbot_renews_with_debians_timer(acme: Acme, acme_deployed: DeployResult) -> None:
    host = infra(acme.host)
    assert host.service("certbot.timer").is_enabled
    assert host.service("certbot.timer").is_running


@pytest.mark.parametrize("port", MAIL_TLS_PORTS)
def test_every_daemon_serves_the_renewed_certificate(
    acme: Acme, first_serials: dict[int, int], renewed: str, port: int
) -> None:
    serial, version = _served(acme, port, ACME_NAME if port != 443 else ACME_PFA)
    assert serial != first_serials[port], renewed[-2000:]
    assert version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ghost.acme.test", "ghost.acme.test does not resolve"), ("closed.acme.test", "port 80 of closed.acme.test")],
    ids=["name-not-resolving", "port-80-unreachable"],
)
def test_unreachable_name_stops_before_certbot_runs(acme: Acme, renewed: str, name: str, expected: str) -> None:
    state = f"ls /var/log/letsencrypt/; openssl x509 -noout -serial -in /etc/letsencrypt/live/{ACME_NAME}/cert.pem"
    before = acme.host.run(state).stdout  # certbot rotates its log on every run
    result = run_deploy(acme.inventory(postfixadmin_hostname=name), env=ENV)
    assert not result.ok
    assert expected in result.output, result.output[-4000:]
    assert acme.host.run(state).stdout == before
