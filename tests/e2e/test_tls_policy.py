"""Issue 8 (security): one TLS policy on every TLS port, judged by testssl.sh and by direct handshakes; the
local CA's CRL, named by the served certificate and fetched over plain HTTP; and the audit of every private
key's owner and mode at the end of each deploy.

One host ("tlsp", tlsp.example.test, webmail "none" so 443 serves PostfixAdmin only) is deployed once for the
module with the default policy (mailforge/tls_policy.py). The policy the tests expect is read from the same
host data through the settings, never written out here. testssl's reports are saved under the module's
temporary directory and build/testssl/ (their paths are printed).
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deploys.tls import CRL_UNIT, crl_url
from lab import testssl
from lab.mail import DEPLOY_ENV, Server, server_of
from lab.mail import server_data as mail_server_data
from lab.provision import ROOT, DeployResult, run_deploy, write_inventory
from mailforge.settings import load_settings
from mailforge.testhost import Host, StateDir
from mailforge.tls_policy import TLS13_CIPHERSUITES, TlsPolicy

FQDN = "tlsp.example.test"
# Every port that serves TLS: STARTTLS protocol for s_client, or None for implicit TLS.
STARTTLS: dict[int, str | None] = {25: "smtp", 465: None, 587: "smtp", 143: "imap", 993: None, 443: None}
PORTS = list(STARTTLS)


def host_data() -> dict[str, Any]:
    return {**mail_server_data(FQDN, {}), "webmail": "none"}


@pytest.fixture(scope="module")
def tls_host(make_host) -> Host:  # type: ignore[no-untyped-def]
    return make_host("tlsp")


@pytest.fixture(scope="module")
def inventory(tls_host: Host, module_tmp: Path, state: StateDir) -> Path:
    return write_inventory(module_tmp / "tlsp_inventory.py", [(tls_host.name, tls_host.address, host_data())],
                           state.ssh_key)  # fmt: skip


@pytest.fixture(scope="module")
def deployed(inventory: Path) -> DeployResult:
    result = run_deploy(inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def server(deployed: DeployResult, tls_host: Host, module_tmp: Path) -> Server:
    return server_of(tls_host, FQDN, module_tmp)


@pytest.fixture(scope="module")
def policy() -> TlsPolicy:
    return load_settings(host_data(), environ=DEPLOY_ENV).tls.policy


# --- testssl.sh ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reports(server: Server, module_tmp: Path, request: pytest.FixtureRequest) -> dict[int, testssl.Report]:
    found = testssl.run_all(server.address, server.fqdn, Path(server.cafile), module_tmp / "testssl")
    artifacts = ROOT / "build" / "testssl"
    artifacts.mkdir(parents=True, exist_ok=True)
    for report in found.values():
        for path in (report.json_file, report.log_file):
            if path.exists():
                shutil.copy(path, artifacts / path.name)
    (module_tmp / "testssl" / "summary.txt").write_text(testssl.summary(found))
    shutil.copy(module_tmp / "testssl" / "summary.txt", artifacts / "summary.txt")
    # Printed past pytest's output capture, so the paths show on a passing run too.
    plugins = request.config.pluginmanager
    reporter, capture = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ntestssl reports: {module_tmp / 'testssl'} (copied to {artifacts})")
    return found


@pytest.mark.parametrize("port", list(testssl.TARGETS))
def test_testssl_completed_every_check(reports: dict[int, testssl.Report], port: int) -> None:
    report = reports[port]
    # testssl exits with 240 and above on fatal errors (its man page); below that, findings are complete.
    assert report.returncode < 240, report.log_file.read_text()[-3000:]
    by_id = report.by_id()
    assert [i for i in testssl.EXPECTED if i not in by_id or by_id[i].severity == "WARN"] == []
    assert by_id["cert_chain_of_trust"].severity == "OK", by_id["cert_chain_of_trust"]  # our CA, our names


@pytest.mark.parametrize("port", list(testssl.TARGETS))
def test_testssl_finds_no_protocol_below_tls_1_2(reports: dict[int, testssl.Report], port: int) -> None:
    by_id = reports[port].by_id()
    offered = {p: by_id[p].finding for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
    assert {p: f.startswith("offered") for p, f in offered.items()} == {
        "SSLv2": False, "SSLv3": False, "TLS1": False, "TLS1_1": False, "TLS1_2": True, "TLS1_3": True,
    }, offered  # fmt: skip


@pytest.mark.parametrize("port", list(testssl.TARGETS))
def test_testssl_finds_nothing_high_or_critical(reports: dict[int, testssl.Report], port: int) -> None:
    # Nothing excused: the server orders the suites, and the local CA's certificate names its CRL.
    assert testssl.serious(reports[port].findings) == []


@pytest.mark.parametrize("port", list(testssl.TARGETS))
def test_testssl_finds_the_crl_and_a_server_cipher_order(reports: dict[int, testssl.Report], port: int) -> None:
    by_id = reports[port].by_id()
    assert (by_id["cert_crlDistributionPoints"].finding, by_id["cipher_order"].finding) == (crl_url(FQDN), "server")


def test_port_25_orders_suites_itself(reports: dict[int, testssl.Report]) -> None:
    # The one port that also offers older suites picks the strongest the sender offers (master.cf).
    assert reports[25].by_id()["cipher_order"].finding == "server"


# --- direct handshakes (openssl s_client) ----------------------------------------------------------


def handshake(server: Server, port: int, *options: str) -> tuple[str, str] | None:
    """(protocol, cipher suite) of a completed handshake, or None when the server refused it. A refusal must
    come from the TLS layer (TCP and STARTTLS worked), or the test fails with s_client's output."""
    starttls = ["-starttls", STARTTLS[port]] if STARTTLS[port] else []
    argv = ["openssl", "s_client", "-connect", f"{server.address}:{port}", *starttls, "-servername", server.fqdn,
            "-CAfile", server.cafile, "-verify_return_error", "-brief", *options]  # fmt: skip
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    output = proc.stdout + proc.stderr
    fields = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    if "CONNECTION ESTABLISHED" in output:
        return fields["Protocol version"], fields["Ciphersuite"]
    assert "SSL routines" in output and "verify error" not in output, output
    return None


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
@pytest.mark.parametrize("port", PORTS)
def test_tls_below_1_2_is_refused(server: Server, port: int, version: str) -> None:
    # The client's own floor is lowered (OpenSSL 3 refuses TLS 1.0/1.1 at its default security level), so
    # the refusal is the server's.
    assert handshake(server, port, version, "-cipher", "DEFAULT@SECLEVEL=0") is None


@pytest.mark.parametrize("port", PORTS)
def test_tls_1_3_is_accepted_with_a_policy_suite(server: Server, port: int) -> None:
    result = handshake(server, port, "-tls1_3")
    assert result is not None
    assert result[0] == "TLSv1.3" and result[1] in TLS13_CIPHERSUITES


@pytest.mark.parametrize("port", PORTS)
def test_tls_1_2_client_preferring_older_suites_gets_a_policy_suite(
    server: Server, port: int, policy: TlsPolicy
) -> None:
    # Older suites first, the policy's last: submission, IMAP and HTTPS offer only the policy's; port 25
    # offers both and chooses by its own order.
    result = handshake(server, port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:AES128-SHA:" + policy.cipher_list)
    assert result is not None
    assert result[0] == "TLSv1.2" and result[1] in policy.ciphers


@pytest.mark.parametrize(("port", "accepted"), [(p, p == 25) for p in PORTS])
def test_only_port_25_accepts_a_sender_without_aead_suites(server: Server, port: int, accepted: bool) -> None:
    # A sender limited to Mozilla "old" suites: on 25 TLS beats the plaintext it would fall back to.
    assert (handshake(server, port, "-tls1_2", "-cipher", "AES128-SHA") is not None) is accepted


@pytest.mark.parametrize("port", PORTS)
def test_no_dhe_suite_is_offered(server: Server, port: int) -> None:
    assert handshake(server, port, "-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384") is None


@pytest.mark.parametrize("group", ["X25519", "prime256v1", "secp384r1", "X448", "secp521r1", "ffdhe2048"])
@pytest.mark.parametrize("port", PORTS)
def test_key_exchange_uses_the_policy_groups_only(server: Server, port: int, group: str, policy: TlsPolicy) -> None:
    # TLS 1.3 has no fallback to RSA key exchange: the handshake works only with a group the server allows.
    assert (handshake(server, port, "-tls1_3", "-groups", group) is not None) is (group in policy.curves)


# --- the local CA's certificate revocation list --------------------------------------------------------


def served_certificate(server: Server, port: int) -> str:
    """The leaf certificate (PEM) the server presents on a port."""
    starttls = ["-starttls", STARTTLS[port]] if STARTTLS[port] else []
    argv = ["openssl", "s_client", "-connect", f"{server.address}:{port}", *starttls, "-servername", server.fqdn,
            "-CAfile", server.cafile, "-verify_return_error"]  # fmt: skip
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    assert begin in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout[proc.stdout.index(begin) : proc.stdout.index(end) + len(end)] + "\n"


def crl_points(pem: str) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-ext", "crlDistributionPoints"], input=pem,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


@pytest.mark.parametrize("port", PORTS)
def test_the_served_certificate_names_the_crl(server: Server, port: int) -> None:
    assert crl_points(served_certificate(server, port)).split() == [
        "X509v3", "CRL", "Distribution", "Points:", "Full", "Name:", f"URI:{crl_url(FQDN)}"]  # fmt: skip


def fetch_crl(server: Server, directory: Path) -> tuple[str, Path]:
    """GET the certificate's CRL URI over plain HTTP from this machine (connecting to the test host's address
    with the URI's Host): (Content-Type, the saved body)."""
    url = crl_url(FQDN).replace(FQDN, server.address, 1)
    request = urllib.request.Request(url, headers={"Host": FQDN})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy: the test host only
    with opener.open(request, timeout=30) as response:
        path = directory / "mailforge-ca.crl"
        path.write_bytes(response.read())
        return response.headers["Content-Type"], path


def read_crl(path: Path, cafile: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(path), "-CAfile", cafile, "-verify",
                           "-noout", "-text"], capture_output=True, text=True)  # fmt: skip


def test_the_crl_is_served_over_http_as_der(server: Server, module_tmp: Path) -> None:
    content_type, _ = fetch_crl(server, module_tmp)
    assert content_type == "application/pkix-crl"


def test_the_crl_verifies_against_the_local_ca_and_revokes_nothing(server: Server, module_tmp: Path) -> None:
    _, path = fetch_crl(server, module_tmp)
    result = read_crl(path, server.cafile)
    assert result.returncode == 0 and "verify OK" in result.stderr, result.stderr
    assert "No Revoked Certificates." in result.stdout, result.stdout


def crl_number(path: Path, cafile: str) -> int:
    text = read_crl(path, cafile).stdout
    return int(text.split("X509v3 CRL Number:", 1)[1].split()[0])


def test_the_daily_timer_re_signs_the_crl(server: Server, tls_host: Host, module_tmp: Path) -> None:
    timer = f"{CRL_UNIT}.timer"
    assert tls_host.run(f"systemctl is-enabled {timer}; systemctl is-active {timer}").stdout.split() == [
        "enabled", "active"]  # fmt: skip
    before = crl_number(fetch_crl(server, module_tmp)[1], server.cafile)
    tls_host.run(f"systemctl start {CRL_UNIT}.service")
    _, path = fetch_crl(server, module_tmp)
    assert read_crl(path, server.cafile).returncode == 0
    assert crl_number(path, server.cafile) == before + 1


# A host deployed before the CRL existed: its certificate (same names, same CA) has no CRL distribution point,
# and the daemons serve it. The next deploy re-issues the certificate, and every daemon serves the new one.
LEGACY_CERTIFICATE = f"""set -e
cd /etc/mailforge/tls
san=$(openssl x509 -in {FQDN}.crt -noout -ext subjectAltName | tail -n +2 | tr -d ' ')
openssl req -new -key {FQDN}.key -subj /CN={FQDN} -out /root/legacy.csr
printf 'subjectAltName=%s\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' "$san" > /root/legacy.ext
openssl x509 -req -in /root/legacy.csr -CA /etc/mailforge/ca/ca.crt -CAkey /etc/mailforge/ca/ca.key \\
    -CAcreateserial -days 30 -extfile /root/legacy.ext -out /root/legacy.crt
cat /root/legacy.crt /etc/mailforge/ca/ca.crt > {FQDN}.crt
systemctl reload postfix dovecot nginx
"""


@pytest.fixture(scope="module")
def legacy_certificate_deploy(server: Server, tls_host: Host, inventory: Path) -> DeployResult:
    tls_host.run(LEGACY_CERTIFICATE)
    # The precondition: every daemon serves a certificate without the CRL before the deploy.
    assert [p for p in PORTS if crl_points(served_certificate(server, p))] == []
    return run_deploy(inventory, env=DEPLOY_ENV)


def test_a_deploy_reissues_a_certificate_without_the_crl(legacy_certificate_deploy: DeployResult,
                                                         tls_host: Host) -> None:  # fmt: skip
    assert legacy_certificate_deploy.ok, legacy_certificate_deploy.explain()
    pem = tls_host.run(f"cat /etc/mailforge/tls/{FQDN}.crt").stdout
    assert f"URI:{crl_url(FQDN)}" in crl_points(pem)


@pytest.mark.parametrize("port", PORTS)
def test_every_daemon_serves_the_reissued_certificate(legacy_certificate_deploy: DeployResult, server: Server,
                                                      port: int) -> None:  # fmt: skip
    assert f"URI:{crl_url(FQDN)}" in crl_points(served_certificate(server, port))


# --- key permission audit and deploy behaviour --------------------------------------------------------

# Loosened before one deploy, restored right after it: (path, how it is loosened, the audit's complaint).
LOOSENED = [
    ("/etc/opendkim/keys/example.test/mail.private", "chmod 644", "opendkim:opendkim with mode 0644"),
    ("/etc/mailforge/mailboxes/bob@example.test", "chown nobody", "nobody:root with mode 0600"),
    ("/etc/mailforge/ca/ca.key", "chmod 640", "root:root with mode 0640"),
    ("/etc/dbconfig-common/postfixadmin.conf", "chmod 604", "root:root with mode 0604"),
]
RESTORE = {"chmod 644": "chmod 600", "chown nobody": "chown root", "chmod 640": "chmod 600", "chmod 604": "chmod 600"}


@pytest.fixture(scope="module")
def loosened_deploy(deployed: DeployResult, tls_host: Host, inventory: Path) -> DeployResult:
    tls_host.run("; ".join(f"{how} '{path}'" for path, how, _ in LOOSENED))
    try:
        return run_deploy(inventory, env=DEPLOY_ENV)
    finally:
        tls_host.run("; ".join(f"{RESTORE[how]} '{path}'" for path, how, _ in LOOSENED))


def test_a_loosened_secret_fails_the_deploy(loosened_deploy: DeployResult) -> None:
    assert not loosened_deploy.ok
    assert "Error in operation Key permissions | Audit" in loosened_deploy.output


@pytest.mark.parametrize(("path", "how", "complaint"), LOOSENED, ids=[p.rsplit("/", 1)[1] for p, _, _ in LOOSENED])
def test_the_failed_deploy_names_each_loosened_file(loosened_deploy: DeployResult, path: str, how: str,
                                                    complaint: str) -> None:  # fmt: skip
    assert f"{path} is {complaint}" in loosened_deploy.output


def test_the_server_key_is_protected_again_by_the_deploy(deployed: DeployResult, tls_host: Host,
                                                         inventory: Path) -> None:  # fmt: skip
    # deploys/tls.py owns that file's mode: the run repairs it before the audit looks, and succeeds.
    key = f"/etc/mailforge/tls/{FQDN}.key"
    tls_host.run(f"chmod 644 {key}")
    result = run_deploy(inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    assert tls_host.run(f"stat -c %a {key}").stdout.strip() == "600"


def test_second_deploy_changes_nothing(deployed: DeployResult, loosened_deploy: DeployResult, inventory: Path) -> None:
    # After the loosened files were restored: the audit reads the state and changes nothing.
    again = run_deploy(inventory, env=DEPLOY_ENV)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()
