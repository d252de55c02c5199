"""Base system: package index, timezone, host name and mail name: what every later component assumes."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from deploys.facts import DpkgInterrupted
from mailforge.settings import BaseSettings

# Tools every later step and every operator expects on a mail server. logrotate (priority "important" in
# Debian, so on any normal install, but not in a minimal image) rotates what Nginx, Roundcube and fail2ban log.
PACKAGES = ["ca-certificates", "curl", "openssl", "procps", "tzdata", "less", "logrotate"]
APT_CACHE_SECONDS = 3600
# How long apt waits for dpkg's lock, and a killed run's dpkg journal is waited for, before failing.
DPKG_LOCK_SECONDS = 600
# Finish what an interrupted dpkg left (`dpkg --configure -a`), once the lock is free: dpkg exits 2 while
# another process holds it (dpkg(1) EXIT STATUS), 1 when a package fails, and then this fails at once.
FINISH_DPKG = (
    f"deadline=$(( $(date +%s) + {DPKG_LOCK_SECONDS} )); "
    "until DEBIAN_FRONTEND=noninteractive dpkg --configure -a; do "
    '[ $? -eq 2 ] && [ "$(date +%s)" -lt "$deadline" ] || exit 1; sleep 2; done'
)


@deploy("Base system")
def base(settings: BaseSettings) -> None:
    # A deploy killed half-way (Ctrl-C, a dropped SSH connection) leaves its apt-get running on the host,
    # holding dpkg's lock: the next run's apt waits for it instead of failing at once. apt.conf(5):
    # https://manpages.debian.org/bookworm/apt/apt-get.8.en.html (DPkg::Lock::Timeout)
    files.put(
        name="Wait for dpkg's lock",
        src=StringIO(f'DPkg::Lock::Timeout "{DPKG_LOCK_SECONDS}";\n'),
        dest="/etc/apt/apt.conf.d/90mailforge-dpkg-lock",
        mode="644",
    )
    if host.get_fact(DpkgInterrupted):
        # ...or killed along with it (a reboot, the OOM killer): apt then refuses every install until the
        # interrupted run is finished ("dpkg was interrupted, you must manually run 'dpkg --configure -a'").
        server.shell(name="Finish an interrupted package run", commands=[FINISH_DPKG])
    apt.update(name="Refresh the package index", cache_time=APT_CACHE_SECONDS)
    apt.packages(name="Install base tools", packages=PACKAGES, no_recommends=True)
    # Not server.timezone: its fact resolves links fully (UTC -> Etc/UTC) and so never settles on a
    # second run. /etc/localtime and /etc/timezone are what timedatectl writes too (timedatectl(1)).
    files.link(name="Set the timezone", path="/etc/localtime", target=f"/usr/share/zoneinfo/{settings.timezone}")
    files.put(name="Name the timezone", src=StringIO(settings.timezone + "\n"), dest="/etc/timezone", mode="644")
    # The FQDN is the host name: Postfix's myhostname, TLS names and the PTR all agree on it.
    server.hostname(name="Set the host name", hostname=settings.hostname)
    server.etc_hosts(
        name="Resolve the host name locally",
        ip="127.0.1.1",
        hostnames=[settings.hostname, settings.hostname.split(".", 1)[0]],
    )
    # Debian's name for "the domain this host's mail comes from" (read by Postfix and others).
    files.put(name="Set /etc/mailname", src=StringIO(settings.hostname + "\n"), dest="/etc/mailname", mode="644")
