"""Base system: package index, timezone, host name and mail name: what every later component assumes."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from mailforge.settings import BaseSettings

DEFAULTS = {
    # IANA timezone of the server; mail logs and queue ages are read in it.
    "mail_timezone": "UTC",
}

# Tools every later step and every operator expects on a mail server. logrotate (priority "important" in
# Debian, so on any normal install, but not in a minimal image) rotates what Nginx, Roundcube and fail2ban log.
PACKAGES = ["ca-certificates", "curl", "openssl", "procps", "tzdata", "less", "logrotate"]
APT_CACHE_SECONDS = 3600


@deploy("Base system")
def base(settings: BaseSettings) -> None:
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
