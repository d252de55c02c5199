"""`make demo`: provision the full mail core on a local test host and say how to use it.

Creates (or reuses) the test host "demo", runs the same deploy an operator runs against a real server
(`pyinfra inventories/testhost.py deploys/mailserver.py --limit demo`, demo data in group_data/testhost.py),
then writes build/demo.json (0600) with the address, accounts and their generated passwords, and the CA.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mailforge.provision import ROOT, run_deploy
from mailforge.testhost import StateDir, TesthostError, hosts

NAME = "demo"
BUILD = ROOT / "build"


def ensure_host(state: StateDir) -> hosts.Host:
    """Reuse a running demo host (a re-run converges it); recreate one left broken by an earlier run."""
    if NAME in state.names():
        current = hosts.get(NAME, state)
        if current.state == "running":
            print(f"demo: reusing test host {NAME} at {current.address}")
            return current
        print(f"demo: test host {NAME} is {current.state}; recreating it")
        hosts.down(NAME, state=state)
    print(f"demo: creating test host {NAME}")
    return hosts.up(NAME, state=state)


def main() -> int:
    state = StateDir()
    try:
        host = ensure_host(state)
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
    info = {
        "host": NAME,
        "address": host.address,
        "hostname": host.fqdn,
        "ssh": f"mailforge testhost ssh {NAME}",
        "ports": {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993},
        "accounts": [{"address": a, "password": p} for a, p in sorted(accounts.items())],
        "ca_certificate": str(ca),
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
    print(
        f"""  trust the local CA: {ca}
  try it:   swaks --server {host.address}:587 --tls --auth-user alice@example.test --auth-password \\
              "$(jq -r '.accounts[] | select(.address=="alice@example.test").password' {demo_json})" \\
              --from alice@example.test --to bob@example.test
  log in:   mailforge testhost ssh {NAME}
  remove:   make demo-down"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
