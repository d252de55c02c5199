"""`make demo`: provision the full mail core on a local test host and say how to use it.

Creates (or reuses) the test host "demo", runs the same deploy an operator runs against a real server
(`.venv/bin/pyinfra inventories/testhost.py deploys/mailserver.py --limit demo`, data in group_data/testhost.py),
then writes build/demo.json (0600): both hosts, the accounts and the PostfixAdmin superadmin with their
generated passwords, the CA. Every command it prints runs as printed from the checkout in a fresh shell:
programs from .venv/bin or from apt-packages.txt (tests/unit/test_demo_hints.py, tests/e2e/test_foundation.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import smtplib
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from lab import authcheck, peers
from lab.provision import ROOT, run_deploy
from mailforge import releases
from mailforge.dns.zonefiles import zone_path
from mailforge.settings import Settings
from mailforge.settings.inventory import host_settings
from mailforge.testhost import StateDir, TesthostError, hosts

NAME, MX = "demo", "demo-mx"
# Fixed addresses, because group_data/testhost.py publishes them (mail_ipv4, the route to remote.test).
INDEX, MX_INDEX = 249, 250
BUILD = ROOT / "build"
SINK = "/var/lib/sink"
DOMAIN = "example.test"
SUPERADMIN_PASSWORD_FILE = "/etc/mailforge/postfixadmin/superadmin"
# What `make demo` boots without DEMO_RELEASE: what a new server runs today (Debian 13).
DEFAULT_RELEASE = "trixie"
# The console script as a fresh shell in the checkout finds it: `mailforge` alone is on no PATH.
MAILFORGE = ".venv/bin/mailforge"


@dataclass(frozen=True)
class Hint:
    label: str
    command: str


def shown(path: Path) -> str:
    """A path as the printed commands use it: relative to the checkout they run from, when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def hints(
    name: str, address: str, demo_json: Path, sender: str, recipient: str, web_names: Sequence[str] = ()
) -> list[Hint]:
    """The commands `make demo` prints, each runnable as printed from the checkout (ROOT)."""
    data = shlex.quote(shown(demo_json))
    password = f"jq -r --arg a {shlex.quote(sender)} '.accounts[] | select(.address == $a).password' {data}"
    found = [
        Hint("log in", f"{MAILFORGE} testhost ssh {name}"),
        Hint("superadmin password", f"jq -r .postfixadmin_superadmin_password {data}"),
        Hint(
            "send a message",
            f'swaks --server {address}:587 --tls --auth-user {sender} --auth-password "$({password})" '
            f"--from {sender} --to {recipient}",
        ),
    ]
    if web_names:
        found.append(Hint("name the web hosts", f"echo '{address} {' '.join(web_names)}' >> /etc/hosts"))
    found.append(Hint("remove the demo's test hosts", "make demo-down"))
    return found


def read_accounts(host: hosts.Host) -> dict[str, str]:
    """Mailbox address -> the password the deploy generated on the host."""
    accounts = {}
    for line in host.run("grep -H . /etc/mailforge/mailboxes/*").stdout.splitlines():
        path, _, password = line.partition(":")
        accounts[Path(path).name] = password
    return accounts


def read_superadmin_password(host: hosts.Host) -> str:
    return host.run(f"cat {SUPERADMIN_PASSWORD_FILE}").stdout.strip()


def write_private_json(path: Path, data: Mapping[str, object]) -> None:
    """Passwords inside: created 0600, and made 0600 if an older file was not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    os.chmod(path, 0o600)


def demo_settings(name: str = NAME) -> Settings:
    """The settings the deploy computes for the demo host (it must be running: the inventory lists running test
    hosts): inventories/testhost.py with group_data/all.py and testhost.py layered, as pyinfra loads them."""
    return host_settings(ROOT / "inventories" / "testhost.py", name, cwd=ROOT, environ={})


def ensure_host(state: StateDir, name: str, index: int, release: str) -> hosts.Host:
    """Reuse a running host of the release asked for (a re-run converges it); recreate one left broken by an
    earlier run or running another release."""
    if name in state.names():
        current = hosts.get(name, state)
        if current.state == "running" and current.release == release:
            print(f"demo: reusing test host {name} at {current.address}")
            return current
        why = current.state if current.state != "running" else f"running {current.release}"
        print(f"demo: test host {name} is {why}; recreating it")
        hosts.down(name, state=state)
    print(f"demo: creating test host {name} ({releases.by_codename(release).name})")
    return hosts.up(name, index=index, release=release, state=state)


def start_receiver(mx: hosts.Host) -> None:
    if mx.run("systemctl is-active sink", check=False).stdout.strip() != "active":
        peers.start(mx, peers.SMTP_SINK, "sink", SINK, listens_on=25)


def receiver_verdict(host: hosts.Host, mx: hosts.Host, password: str, ca: Path) -> str:
    """Send as alice to the demo's receiving MX; judge what arrives as a receiver would (authcheck)."""
    msg = EmailMessage()
    msg["From"], msg["To"] = "alice@example.test", "postmaster@remote.test"
    msg["Subject"] = subject = f"mailforge demo {uuid.uuid4().hex[:12]}"
    msg.set_content("Sent by make demo, signed by OpenDKIM, judged by dkimpy and pyspf.\n")
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False  # connecting by address; the chain is still verified
    with smtplib.SMTP(host.address, 587, timeout=30) as client:
        client.starttls(context=context)
        client.login("alice@example.test", password)
        client.send_message(msg)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = mx.run(f"grep -rlF '{subject}' {SINK} --include=*.eml", check=False).stdout.split()
        if found:
            raw = subprocess.run(mx.ssh_argv(f"cat {found[0]}"), capture_output=True, check=True).stdout
            peer, mail_from, _ = mx.run(f"cat {found[0][:-4]}.env").stdout.split()
            break
        time.sleep(0.5)
    else:
        return "the test message did not reach the receiving MX within 60 s"
    zone = zone_path(host.name, DOMAIN)
    verdict = authcheck.evaluate(raw, authcheck.zones({f"{DOMAIN}.": zone.read_text()}), peer, mail_from, host.fqdn)
    return f"{verdict.line()} (from {peer}, judged against {shown(zone)})"


def main(argv: Sequence[str] | None = None) -> int:
    supported = [r.codename for r in releases.RELEASES if r.supported]
    parser = argparse.ArgumentParser(prog="make demo", description="A disposable mail server on a local test host.")
    parser.add_argument("--release", choices=supported, default=DEFAULT_RELEASE, help="the test hosts' Debian release")
    args = parser.parse_args(argv)
    state = StateDir()
    try:
        host = ensure_host(state, NAME, INDEX, args.release)
        mx = ensure_host(state, MX, MX_INDEX, args.release)
        start_receiver(mx)
    except TesthostError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print(f"demo: .venv/bin/pyinfra inventories/testhost.py deploys/mailserver.py --limit {NAME}")
    result = run_deploy(ROOT / "inventories" / "testhost.py", limit=[NAME])
    if not result.ok:
        print(result.output[-6000:], file=sys.stderr)
        print("demo: the deploy failed (output above)", file=sys.stderr)
        return 1
    print(f"demo: deploy finished: {result.operations} operations, {result.changed} changed")
    accounts = read_accounts(host)
    BUILD.mkdir(exist_ok=True)
    ca = BUILD / "demo-ca.crt"
    ca.write_text(host.run("cat /etc/mailforge/ca/ca.crt").stdout)
    zone = zone_path(host.name, DOMAIN)
    dkim_record = next(
        (line for line in zone.read_text().splitlines() if "._domainkey." in line),
        f"(no DKIM record: see {shown(zone)})",
    )
    verdict = receiver_verdict(host, mx, accounts[f"alice@{DOMAIN}"], ca)
    web = demo_settings(NAME).web
    urls = {"postfixadmin": f"https://{web.postfixadmin_hostname}/", "webmail": f"https://{web.webmail_hostname}/"}
    demo_json = BUILD / "demo.json"
    commands = hints(
        NAME,
        host.address,
        demo_json,
        f"alice@{DOMAIN}",
        f"bob@{DOMAIN}",
        (web.postfixadmin_hostname, web.webmail_hostname),
    )
    by_label = {h.label: h.command for h in commands}
    info = {
        "host": NAME,
        "address": host.address,
        "hostname": host.fqdn,
        # Every test host the demo creates; `make demo-down` removes them all.
        "hosts": {
            NAME: {"address": host.address, "hostname": host.fqdn, "role": "the mail server"},
            MX: {
                "address": mx.address,
                "hostname": mx.fqdn,
                "role": f"receiving MX for remote.test: what the demo sends there is stored in {SINK}",
            },
        },
        "ssh": by_label["log in"],
        "ports": {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993},
        "accounts": [{"address": a, "password": p} for a, p in sorted(accounts.items())],
        "ca_certificate": str(ca),
        "dns_zone": str(zone),
        "dkim_record": dkim_record,
        "receiver_verdict": verdict,
        "urls": urls,
        "postfixadmin_superadmin": web.superadmin,
        "postfixadmin_superadmin_password": read_superadmin_password(host),
    }
    write_private_json(demo_json, info)
    print(
        f"""
mailforge demo is up: {host.fqdn} at {host.address}, and {MX} at {mx.address} (receiving MX for remote.test)
  SMTP 25 (postscreen), submission 587 (STARTTLS + AUTH), submissions 465, IMAP 143 (STARTTLS), IMAPS 993
  accounts (passwords generated on the host, in {shown(demo_json)}, mode 0600):"""
    )
    for address in sorted(accounts):
        print(f"    {address}")
    print(f"  PostfixAdmin: {urls['postfixadmin']}  (superadmin {web.superadmin}, password in {shown(demo_json)})")
    print(f"  webmail:      {urls['webmail']}  (log in as a mailbox above)")
    print(f"  to open them: name the web hosts (below), and trust the CA {shown(ca)} in the browser")
    print(f"  DKIM record to publish (all records: {shown(zone)}):\n    {dkim_record}")
    print(f"  a message from alice@{DOMAIN} at the receiving test host {MX}: {verdict}")
    print(f"\n  commands, to run from {ROOT}:")
    for hint in commands:
        print(f"  # {hint.label}\n  {hint.command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
