"""Upgrading a deployed mail server from Debian 12 to Debian 13 in place, as docs/upgrade-debian13.md
says, step by step; tests/e2e/test_upgrade.py runs exactly these commands.

The steps follow Debian's release notes (https://www.debian.org/releases/trixie/release-notes/upgrading.en.html):
apt sources switched to trixie, a minimal upgrade, then the full upgrade, non-interactively, keeping the
configuration files mailforge wrote where dpkg asks (mailforge's next deploy writes the trixie ones), then a
reboot and the deploy. One step comes before them: Dovecot is stopped and masked, because Dovecot 2.4 refuses
every 2.3 configuration ("Unknown setting: disable_plaintext_auth"), so dovecot-core's postinst would fail to
restart it and leave the upgrade half-configured; a masked unit is skipped by invoke-rc.d. Postfix keeps
accepting mail meanwhile and defers the deliveries to Dovecot's LMTP (4xx: the mail waits in the queue).
"""

from __future__ import annotations

import subprocess
import time

from mailforge.testhost import Host, TesthostError
from mailforge.testhost.hosts import wait_for_ssh

SOURCES = "/etc/apt/sources.list.d/debian.sources"
# Non-interactive apt, as on a server upgraded by a script: dpkg keeps a changed configuration file
# (--force-confold) and takes the package's where the file was never changed (--force-confdef).
APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
)


def hold_dovecot(host: Host) -> None:
    """Before the OS upgrade: Dovecot stopped and masked (see the module's docstring)."""
    host.run("systemctl stop dovecot.service dovecot.socket && systemctl mask dovecot.service")


def release_dovecot(host: Host) -> None:
    """After the reboot, before the deploy: the mask lifted; the deploy writes the 2.4 configuration and starts
    Dovecot."""
    host.run("systemctl unmask dovecot.service")


def switch_sources(host: Host, old: str = "bookworm", new: str = "trixie") -> None:
    """Every suite of the release (main, -updates, -security) renamed, as the release notes' sed does."""
    host.run(f"sed -i 's/\\b{old}\\b/{new}/g' {SOURCES} && ! grep -qw {old} {SOURCES}")


def upgrade(host: Host, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """apt-get update, `upgrade --without-new-pkgs`, then `full-upgrade` (release notes 4.4.4, 4.4.5)."""
    return host.run(
        f"{APT} update && {APT} upgrade --without-new-pkgs && {APT} full-upgrade && {APT} autoremove",
        check=False,
        timeout=timeout,
    )


def reboot(host: Host, timeout: float = 300) -> None:
    """Reboot and wait until SSH answers again from a freshly booted system (/run emptied)."""
    host.run("touch /run/mailforge-upgrade-marker")
    subprocess.run(host.ssh_argv("systemctl reboot"), capture_output=True, timeout=60, check=False)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        time.sleep(3)
        try:
            wait_for_ssh(host, timeout=max(1.0, end - time.monotonic()))
        except TesthostError:
            continue
        if host.run("test -e /run/mailforge-upgrade-marker", check=False).returncode != 0:
            host.run("systemctl is-system-running --wait", check=False, timeout=300)
            return
    raise TesthostError(f"{host.name} did not come back from its reboot within {timeout:.0f} s")
