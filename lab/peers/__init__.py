"""Peers that play the rest of the Internet on a test host (not the product under test): each is a script
copied onto the host and run there as a transient systemd unit by the host's own python3.

The SMTP peers use aiosmtpd, Debian's python3-aiosmtpd (the stdlib's asyncore/smtpd are gone from
Python 3.12, so Debian 13's hosts have neither); ``start`` installs it on the host first.
"""

from __future__ import annotations

import time
from pathlib import Path

from mailforge.testhost import Host, TesthostError

HERE = Path(__file__).parent
SMTP_SINK = HERE / "smtp_sink.py"  # stores each message raw: DIRECTORY
SMTP_BOUNCER = HERE / "smtp_bouncer.py"  # refuses nouser* at RCPT (5.1.1), dmarc* after DATA (5.7.26): [PORT]
SMTP_RELAY = HERE / "smtp_relay.py"  # a smarthost: STARTTLS + AUTH, forwards: USER PASSWORD NEXTHOP CERT KEY LOG
TCP_LISTENER = HERE / "tcp_listener.py"  # greets each connection with b"hello": PORT...
ATTACKER = HERE / "attacker.py"  # scans ports and guesses passwords (stdlib only): SUBCOMMAND ARGS...
# Debian packages a peer needs on the host beyond python3 (in the base image).
PACKAGES = {SMTP_SINK: ("python3-aiosmtpd",), SMTP_BOUNCER: ("python3-aiosmtpd",), SMTP_RELAY: ("python3-aiosmtpd",)}


def install(host: Host, packages: tuple[str, ...]) -> None:
    """Debian packages onto a test host, unless they are there already (a host may run several peers)."""
    if not packages:
        return
    names = " ".join(packages)
    installed = (
        f"for p in {names}; do dpkg-query -W -f='${{Status}}' $p 2>/dev/null | grep -q 'ok installed' || exit 1; done"
    )
    if host.run(installed, check=False).returncode == 0:
        return
    host.run(f"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {names} >/dev/null")


def start(host: Host, script: Path, unit: str, *args: str, listens_on: int | None = None) -> None:
    """Run one of the peers above on ``host`` as systemd unit ``unit``, with its packages installed first;
    with ``listens_on``, return once it accepts connections on that TCP port (mail sent earlier would wait
    for Postfix's next retry)."""
    install(host, PACKAGES.get(script, ()))
    host.start_script(script, unit, *args)
    if listens_on is None:
        return
    deadline = time.monotonic() + 30
    while not host.run(f"ss -Hltn 'sport = :{listens_on}'", check=False).stdout.strip():
        if time.monotonic() > deadline:
            status = host.run(f"systemctl status {unit} --no-pager -n 20", check=False).stdout
            raise TesthostError(f"{host.name}: peer {script.name} does not listen on {listens_on}:\n{status}")
        time.sleep(0.2)
