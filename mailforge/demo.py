"""`make demo`: provision the full mail core on a local test host and say how to use it.

Creates (or reuses) the test host "demo", runs the same deploy an operator runs against a real server
(`pyinfra inventories/testhost.py deploys/mailserver.py --limit demo`, demo data in group_data/testhost.py),
then writes build/demo.json (0600) with the address, accounts and their generated passwords, and the CA.
"""

from __future__ import annotations

import json
import os
import runpy
import smtplib
import ssl
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from mailforge import authcheck
from mailforge.provision import ROOT, run_deploy
from mailforge.settings import Settings, load_settings
from mailforge.testhost import SMTP_SINK, StateDir, TesthostError, hosts

NAME, MX = "demo", "demo-mx"
# Fixed addresses, because group_data/testhost.py publishes them (mail_ipv4, the route to remote.test).
INDEX, MX_INDEX = 249, 250
BUILD = ROOT / "build"
SINK = "/var/lib/sink"


def demo_settings(hostname: str) -> Settings:
    """The settings the deploy computes for the demo host: group_data/all.py, then testhost.py, then the host."""
    data: dict[str, object] = {}
    for group in ("all", "testhost"):
        values = runpy.run_path(str(ROOT / "group_data" / f"{group}.py"))
        data |= {k: v for k, v in values.items() if not k.startswith("_")}
    data["mail_hostname"] = f"{NAME}.example.test"
    from deploys.settings import defaults  # the project root is on sys.path when run as `make demo`

    return load_settings(data, defaults(), environ={})


def ensure_host(state: StateDir, name: str, index: int) -> hosts.Host:
    """Reuse a running host (a re-run converges it); recreate one left broken by an earlier run."""
    if name in state.names():
        current = hosts.get(name, state)
        if current.state == "running":
            print(f"demo: reusing test host {name} at {current.address}")
            return current
        print(f"demo: test host {name} is {current.state}; recreating it")
        hosts.down(name, state=state)
    print(f"demo: creating test host {name}")
    return hosts.up(name, index=index, state=state)


def start_receiver(mx: hosts.Host) -> None:
    if mx.run("systemctl is-active sink", check=False).stdout.strip() != "active":
        mx.start_script(SMTP_SINK, "sink", SINK)


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
    zone = (BUILD / "dns" / "example.test.zone").read_text()
    verdict = authcheck.evaluate(raw, authcheck.zones({"example.test.": zone}), peer, mail_from, host.fqdn)
    return f"{verdict.line()} (from {peer}, judged against build/dns/example.test.zone)"


def main() -> int:
    state = StateDir()
    try:
        host = ensure_host(state, NAME, INDEX)
        mx = ensure_host(state, MX, MX_INDEX)
        start_receiver(mx)
    except TesthostError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print("demo: pyinfra inventories/testhost.py deploys/mailserver.py --limit demo")
    result = run_deploy(ROOT / "inventories" / "testhost.py", limit=[NAME])
    if not result.ok:
        print(result.output[-6000:], file=sys.stderr)
        print("demo: the deploy failed (output above)", file=sys.stderr)
        return 1
    print(f"demo: deploy finished: {result.operations} operations, {result.changed} changed")
    accounts = {}
    for line in host.run("grep -H . /etc/mailforge/mailboxes/*").stdout.splitlines():
        path, _, password = line.partition(":")
        accounts[Path(path).name] = password
    BUILD.mkdir(exist_ok=True)
    ca = BUILD / "demo-ca.crt"
    ca.write_text(host.run("cat /etc/mailforge/ca/ca.crt").stdout)
    dkim_record = next(
        (line for line in (BUILD / "dns" / "example.test.zone").read_text().splitlines() if "._domainkey." in line),
        "(no DKIM record: see build/dns/example.test.zone)",
    )
    verdict = receiver_verdict(host, mx, accounts["alice@example.test"], ca)
    web = demo_settings(host.fqdn).web
    urls = {"postfixadmin": f"https://{web.postfixadmin_hostname}/", "webmail": f"https://{web.webmail_hostname}/"}
    info = {
        "host": NAME,
        "address": host.address,
        "hostname": host.fqdn,
        "ssh": f"mailforge testhost ssh {NAME}",
        "ports": {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993},
        "accounts": [{"address": a, "password": p} for a, p in sorted(accounts.items())],
        "ca_certificate": str(ca),
        "dns_zone": str(BUILD / "dns" / "example.test.zone"),
        "dkim_record": dkim_record,
        "receiver_verdict": verdict,
        "urls": urls,
        "postfixadmin_superadmin": web.superadmin,
        "postfixadmin_superadmin_password_file": "/etc/mailforge/postfixadmin/superadmin (on the host)",
    }
    demo_json = BUILD / "demo.json"
    fd = os.open(demo_json, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(info, out, indent=2)
    os.chmod(demo_json, 0o600)
    print(
        f"""
mailforge demo is up: {host.fqdn} at {host.address}
  SMTP 25 (postscreen), submission 587 (STARTTLS + AUTH), submissions 465, IMAP 143 (STARTTLS), IMAPS 993
  accounts (passwords generated on the host, also in {demo_json}, mode 0600):"""
    )
    for address in sorted(accounts):
        print(f"    {address}")
    names = f"{web.postfixadmin_hostname} {web.webmail_hostname}"
    print(f"  PostfixAdmin: {urls['postfixadmin']}  (superadmin {web.superadmin}; its password is on the host:")
    print(f"                mailforge testhost ssh {NAME} cat /etc/mailforge/postfixadmin/superadmin)")
    print(f"  webmail:      {urls['webmail']}  (log in as a mailbox above)")
    print(f"  to open them: echo '{host.address} {names}' >> /etc/hosts, and trust the CA below in the browser")
    print(f"  DKIM record to publish (all records: {BUILD / 'dns' / 'example.test.zone'}):\n    {dkim_record}")
    print(f"  a message from alice@example.test at the receiving test host {MX}: {verdict}")
    print(
        f"""  trust the local CA: {ca}
  try it:   swaks --server {host.address}:587 --tls --auth-user alice@example.test --auth-password \\
              "$(jq -r '.accounts[] | select(.address=="alice@example.test").password' {demo_json})" \\
              --from alice@example.test --to bob@example.test
  log in:   mailforge testhost ssh {NAME}
  remove:   make demo-down (both hosts)"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
