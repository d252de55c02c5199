"""Issue 6: what a freshly provisioned server sends is accepted: DKIM-signed, SPF- and DMARC-aligned, checked
with dkimpy and pyspf against the zone `mailforge` generated (served by knotd); and the relay-host mode.
Issue 14: submission adds a missing Message-ID and Date before DKIM signs, and its Received header names the
server's hop without the user's address (postfix_hide_submission_client, both ways).

Hosts: "out" (the server), "out-mx" (a receiving MX storing raw messages), "out-rl" (a smarthost that
requires STARTTLS + AUTH, Debian's python3-aiosmtpd).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lab import authcheck, peers
from lab.knot import Knot, free_port
from lab.mail import Server, message, server_of, submit
from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.dns.zonefiles import zone_path
from mailforge.testhost import Host, StateDir
from mailforge.testhost.network import gateway

if TYPE_CHECKING:
    from email.message import EmailMessage

DOMAIN = "outbound.test"
HOSTNAME = f"mail.{DOMAIN}"
PASSWORD_ENV = "MAILFORGE_E2E_OUT_PASSWORD"
PASSWORD = "Outbound-Secret-2026!"
RELAY_ENV = "MAILFORGE_E2E_RELAY_PASSWORD"
RELAY_USER, RELAY_PASSWORD = "relayuser", "Relay-Secret-2026!"
SINK = "/var/lib/sink"
RELAY_LOG = "/var/log/smtp-relay.log"
KEY = f"/etc/opendkim/keys/{DOMAIN}/mail.private"
# Run on both supported releases by default (tests/e2e/conftest.py).
RELEASES = ("trixie", "bookworm")


@pytest.fixture(scope="module")
def hosts3(make_host) -> tuple[Host, Host, Host]:  # type: ignore[no-untyped-def]
    return make_host("out"), make_host("out-mx"), make_host("out-rl")


def server_data(hosts3: tuple[Host, Host, Host], relay: bool = False, hide: bool | None = None) -> dict[str, Any]:
    server, mx, relay_host = hosts3
    data: dict[str, Any] = {
        "mail_hostname": HOSTNAME,
        "mail_domains": [
            {"domain": DOMAIN, "mailboxes": [{"address": f"alice@{DOMAIN}", "password_env": PASSWORD_ENV}]}
        ],
        "mail_ipv4": [server.address],
        "dns_dmarc_policy": "reject",
    }
    if hide is not None:
        data["postfix_hide_submission_client"] = hide
    if relay:
        # No static route: everything outbound goes through the smarthost.
        data |= {
            "postfix_relay_host": relay_host.address,
            "postfix_relay_port": 587,
            "postfix_relay_username": RELAY_USER,
            "postfix_relay_password_env": RELAY_ENV,
        }
    else:
        data["postfix_transport_maps"] = {"remote.test": f"smtp:[{mx.address}]:25"}
    return data


def deploy(hosts3: tuple[Host, Host, Host], tmp: Path, state: StateDir, env: dict[str, str], **kw: Any) -> DeployResult:
    server = hosts3[0]
    inventory = write_inventory(
        tmp / "outbound.py", [(server.name, server.address, server_data(hosts3, **kw))], state.ssh_key
    )
    return run_deploy(inventory, env={PASSWORD_ENV: PASSWORD, **env})


@pytest.fixture(scope="module")
def deployed(hosts3: tuple[Host, Host, Host], module_tmp: Path, state: StateDir) -> DeployResult:
    peers.start(hosts3[1], peers.SMTP_SINK, "sink", SINK, listens_on=25)
    result = deploy(hosts3, module_tmp, state, {})
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def nameserver(deployed: DeployResult, hosts3: tuple[Host, Host, Host], module_tmp: Path) -> Iterator[tuple[str, int]]:
    """knotd on loopback serving the zone the deploy wrote (build/dns/out/outbound.test.zone) and the PTR."""
    server = hosts3[0]
    fragment = zone_path(server.name, DOMAIN).read_text()
    head = (
        f"$TTL 300\n{DOMAIN}. 300 IN SOA ns1.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 86400 300\n"
        f"{DOMAIN}. 300 IN NS ns1.{DOMAIN}.\nns1.{DOMAIN}. 300 IN A 127.0.0.1\n"
    )
    reverse = "213.10.in-addr.arpa"
    octets = server.address.split(".")
    ptr = (
        f"$TTL 300\n{reverse}. 300 IN SOA ns1.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 86400 300\n"
        f"{reverse}. 300 IN NS ns1.{DOMAIN}.\n{octets[3]}.{octets[2]}.{reverse}. 300 IN PTR {HOSTNAME}.\n"
    )
    port = free_port()
    knot = Knot(module_tmp / "knot", {DOMAIN: head + fragment, reverse: ptr}, ["127.0.0.1"], port)
    yield ("127.0.0.1", port)
    knot.stop()


@pytest.fixture(scope="module")
def server(deployed: DeployResult, hosts3: tuple[Host, Host, Host], module_tmp: Path) -> Server:
    return server_of(hosts3[0], HOSTNAME, module_tmp)


def wait_in_sink(mx: Host, subject: str, timeout: float = 60) -> tuple[bytes, list[str]]:
    """The raw stored message with this subject, and its envelope: [peer address, MAIL FROM, RCPT TOs]."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mx.run(f"grep -rlF '{subject}' {SINK} --include=*.eml", check=False).stdout.split()
        if found:
            raw = subprocess.run(mx.ssh_argv(f"cat {found[0]}"), capture_output=True, check=True).stdout
            envelope = mx.run(f"cat {found[0][:-4]}.env").stdout.split()
            return raw, envelope
        time.sleep(0.5)
    raise AssertionError(f"no message with subject {subject!r} reached the receiving MX")


@pytest.fixture(scope="module")
def received(server: Server, hosts3: tuple[Host, Host, Host]) -> tuple[bytes, list[str]]:
    msg = message(f"alice@{DOMAIN}", "someone@remote.test")
    submit(server, f"alice@{DOMAIN}", PASSWORD, msg)
    return wait_in_sink(hosts3[1], msg["Subject"])


def headers_of(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def header_block(raw: bytes) -> str:
    """The raw header section, folded lines as they arrived."""
    return raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")


def client_address(hosts3: tuple[Host, Host, Host]) -> str:
    """The address the server sees this machine's clients connect from: its side of the host's veth."""
    return gateway(hosts3[0].index)


def mentions(headers: str, address: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(address)}(?![\d])", headers) is not None


def own_hop(raw: bytes) -> str:
    """The Received header this server wrote when a user submitted the message ("... by mail.outbound.test
    (Postfix) with ESMTPSA id QUEUEID ...")."""
    pattern = rf"(^|\s)by {re.escape(HOSTNAME)} \(Postfix\) with ESMTPSA id "
    hops = [str(h) for h in headers_of(raw).get_all("Received", []) if re.search(pattern, str(h))]
    assert len(hops) == 1, header_block(raw)
    return hops[0]


@pytest.fixture(scope="module")
def bare(server: Server, hosts3: tuple[Host, Host, Host]) -> bytes:
    """A message submitted on 587 with neither a Message-ID nor a Date, as the receiving MX stored it."""
    msg = message(f"alice@{DOMAIN}", "bare@remote.test")
    del msg["Message-ID"]
    assert (msg["Message-ID"], msg["Date"]) == (None, None)
    submit(server, f"alice@{DOMAIN}", PASSWORD, msg)
    return wait_in_sink(hosts3[1], msg["Subject"])[0]


CLIENT_DATE = "Thu, 01 Jan 2026 08:00:00 +0100"


@pytest.fixture(scope="module")
def complete(server: Server, hosts3: tuple[Host, Host, Host]) -> tuple[EmailMessage, bytes]:
    """A message submitted with its own Message-ID and Date, and what the receiving MX stored."""
    msg = message(f"alice@{DOMAIN}", "complete@remote.test")
    msg["Date"] = CLIENT_DATE
    submit(server, f"alice@{DOMAIN}", PASSWORD, msg)
    return msg, wait_in_sink(hosts3[1], msg["Subject"])[0]


def key_hash(host: Host) -> str:
    return host.run(f"sha256sum {KEY}").stdout.split()[0]


# --- DKIM key and record ---------------------------------------------------------------------------


def test_dkim_key_is_private_to_opendkim(deployed: DeployResult, hosts3: tuple[Host, Host, Host]) -> None:
    assert hosts3[0].run(f"stat -c '%a %U %G' {KEY}").stdout.strip() == "600 opendkim opendkim"


def test_zone_publishes_the_hosts_dkim_key(deployed: DeployResult, hosts3: tuple[Host, Host, Host]) -> None:
    public = hosts3[0].run(f"openssl pkey -in {KEY} -pubout -outform DER | base64 -w0").stdout.strip()
    zone = zone_path(hosts3[0].name, DOMAIN).read_text()
    [record] = [line for line in zone.splitlines() if line.startswith(f"mail._domainkey.{DOMAIN}.")]
    assert f"p={public}" in "".join(record.split('"')[1::2])  # the strings of one TXT record, joined


# --- what the receiving MX sees --------------------------------------------------------------------


def test_sent_from_the_servers_own_address(received: tuple[bytes, list[str]], hosts3: tuple[Host, Host, Host]) -> None:
    assert received[1][0] == hosts3[0].address


def test_spf_passes(received: tuple[bytes, list[str]], nameserver: tuple[str, int]) -> None:
    _raw, (peer, mail_from, _) = received
    assert authcheck.spf_result(authcheck.resolver(*nameserver), peer, mail_from, HOSTNAME) == "pass"


def test_dkim_passes_aligned_with_from(received: tuple[bytes, list[str]], nameserver: tuple[str, int]) -> None:
    ok, d = authcheck.dkim_passes(received[0], authcheck.resolver(*nameserver))
    assert (ok, d) == (True, DOMAIN)


def test_dmarc_passes(received: tuple[bytes, list[str]], nameserver: tuple[str, int]) -> None:
    raw, (peer, mail_from, _) = received
    verdict = authcheck.evaluate(raw, authcheck.resolver(*nameserver), peer, mail_from, HOSTNAME)
    assert verdict.dmarc == "pass", verdict.line()


def test_tampered_body_fails_dkim(received: tuple[bytes, list[str]], nameserver: tuple[str, int]) -> None:
    tampered = received[0].replace(b"body ", b"BODY ", 1)
    assert tampered != received[0]
    assert authcheck.dkim_passes(tampered, authcheck.resolver(*nameserver))[0] is False


def test_a_foreign_address_fails_spf(received: tuple[bytes, list[str]], nameserver: tuple[str, int]) -> None:
    _, (_, mail_from, _) = received
    assert authcheck.spf_result(authcheck.resolver(*nameserver), "10.213.250.2", mail_from, HOSTNAME) == "fail"


# --- Message-ID and Date: added by submission when missing, before DKIM signs ----------------------


def test_bare_submission_arrives_with_a_message_id(bare: bytes) -> None:
    [message_id] = headers_of(bare).get_all("Message-ID")
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(message_id).strip()), message_id


def test_bare_submission_arrives_with_a_date(bare: bytes) -> None:
    [date] = headers_of(bare).get_all("Date")
    assert email.utils.parsedate_to_datetime(str(date)).tzinfo is not None


@pytest.mark.parametrize("header", ["message-id", "date"])
def test_dkim_signature_covers_the_added_header(bare: bytes, header: str) -> None:
    [signature] = headers_of(bare).get_all("DKIM-Signature")
    signed = re.search(r"(?:^|;)\s*h=([^;]+)", str(signature))
    assert signed is not None, signature
    assert header in [h.strip().lower() for h in re.sub(r"\s", "", signed.group(1)).split(":")], signature


def test_bare_submission_passes_dkim(bare: bytes, nameserver: tuple[str, int]) -> None:
    assert authcheck.dkim_passes(bare, authcheck.resolver(*nameserver)) == (True, DOMAIN)


@pytest.mark.parametrize("header", ["Message-ID", "Date"])
def test_headers_a_client_wrote_are_kept(complete: tuple[EmailMessage, bytes], header: str) -> None:
    sent, raw = complete
    assert [str(v) for v in headers_of(raw).get_all(header)] == [str(sent[header])]


# --- Received header of submitted mail (postfix_hide_submission_client) ------------------------------


def test_submitted_mail_does_not_carry_the_clients_address(
    received: tuple[bytes, list[str]], hosts3: tuple[Host, Host, Host]
) -> None:
    headers = header_block(received[0])
    assert not mentions(headers, client_address(hosts3)), headers
    assert "client.example.test" not in headers  # the client's EHLO name


def test_submitted_mail_keeps_the_servers_own_hop(received: tuple[bytes, list[str]]) -> None:
    assert own_hop(received[0]).startswith(f"by {HOSTNAME} (Postfix) with ESMTPSA id ")


def test_second_deploy_changes_nothing_and_keeps_the_key(
    received: tuple[bytes, list[str]], hosts3: tuple[Host, Host, Host], module_tmp: Path, state: StateDir
) -> None:
    before = key_hash(hosts3[0])
    again = deploy(hosts3, module_tmp, state, {})
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()
    assert key_hash(hosts3[0]) == before


@pytest.fixture(scope="module")
def shown(
    received: tuple[bytes, list[str]],
    server: Server,
    hosts3: tuple[Host, Host, Host],
    module_tmp: Path,
    state: StateDir,
) -> bytes:
    """postfix_hide_submission_client = False on the same host: a submitted message as the receiving MX stored
    it. (The relay deploy after this one turns the default back on.)"""
    result = deploy(hosts3, module_tmp, state, {}, hide=False)
    assert result.ok, result.explain()
    msg = message(f"alice@{DOMAIN}", "shown@remote.test")
    submit(server, f"alice@{DOMAIN}", PASSWORD, msg)
    return wait_in_sink(hosts3[1], msg["Subject"])[0]


def test_not_hiding_keeps_the_clients_address(shown: bytes, hosts3: tuple[Host, Host, Host]) -> None:
    assert f"[{client_address(hosts3)}]" in own_hop(shown)


# --- relay host ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smarthost(hosts3: tuple[Host, Host, Host]) -> Host:
    relay, mx = hosts3[2], hosts3[1]
    peers.install(relay, ("openssl",))
    relay.run(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=relay.example.test "
        "-keyout /root/relay.key -out /root/relay.crt 2>/dev/null"
    )
    peers.start(relay, peers.SMTP_RELAY, "relay", RELAY_USER, f"'{RELAY_PASSWORD}'",
                 mx.address, "/root/relay.crt", "/root/relay.key", RELAY_LOG)  # fmt: skip
    deadline = time.monotonic() + 30
    while relay.run(f"grep -q listening {RELAY_LOG}", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the smarthost did not start"
        time.sleep(0.3)
    return relay


@pytest.fixture(scope="module")
def relayed_with_wrong_password(
    received: tuple[bytes, list[str]], smarthost: Host, server: Server, hosts3, module_tmp: Path, state: StateDir
) -> str:  # type: ignore[no-untyped-def]
    result = deploy(hosts3, module_tmp, state, {RELAY_ENV: "not-the-password"}, relay=True)
    assert result.ok, result.explain()
    msg = message(f"alice@{DOMAIN}", "friend@remote.test")
    submit(server, f"alice@{DOMAIN}", PASSWORD, msg)
    return str(msg["Subject"])


def test_wrong_relay_password_keeps_mail_deferred(relayed_with_wrong_password: str, hosts3) -> None:  # type: ignore[no-untyped-def]
    server = hosts3[0]
    deadline = time.monotonic() + 60
    queue = ""
    while time.monotonic() < deadline and "SASL authentication failed" not in queue:
        queue = server.run("postqueue -p", check=False).stdout
        time.sleep(0.5)
    log = server.run("tail -20 /var/log/mail.log", check=False).stdout
    assert "SASL authentication failed" in queue, f"{queue}\n{log}"
    assert "friend@remote.test" in queue
    assert "status=bounced" not in server.run("grep friend@remote.test /var/log/mail.log", check=False).stdout


def test_fixed_password_and_redeploy_delivers_through_the_relay(
    relayed_with_wrong_password: str, hosts3, module_tmp: Path, state: StateDir
) -> None:  # type: ignore[no-untyped-def]
    _server, mx, relay = hosts3
    result = deploy(hosts3, module_tmp, state, {RELAY_ENV: RELAY_PASSWORD}, relay=True)
    assert result.ok, result.explain()
    _, envelope = wait_in_sink(mx, relayed_with_wrong_password)
    assert envelope[0] == relay.address  # the receiving MX heard from the relay, not from the server
    # The smarthost logs the relayed message once its next hop accepted it: just after the sink stored it.
    deadline = time.monotonic() + 10
    while f"relayed user={RELAY_USER}" not in (log := relay.run(f"cat {RELAY_LOG}").stdout):
        assert time.monotonic() < deadline, log
        time.sleep(0.3)


def test_relay_mode_never_uses_port_25_directly(relayed_with_wrong_password: str, hosts3) -> None:  # type: ignore[no-untyped-def]
    log = hosts3[0].run("grep 'to=<friend@remote.test>' /var/log/mail.log").stdout
    assert f"relay={hosts3[2].address}[{hosts3[2].address}]:587" in log
    assert ":25," not in log


def test_relay_password_is_not_readable_by_others(relayed_with_wrong_password: str, hosts3) -> None:  # type: ignore[no-untyped-def]
    modes = hosts3[0].run("stat -c '%a %U' /etc/postfix/sasl_passwd /etc/postfix/sasl_passwd.db").stdout.split("\n")
    assert [m for m in modes if m] == ["600 root", "600 root"]
