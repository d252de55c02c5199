"""The base system (deploys/base.py): the host's name and timezone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader, timezones

# Keys with no safe default: the inventory or group_data/all.py must set them.
REQUIRED = (
    # The server's fully qualified host name: HELO name, TLS certificate name, MX target and PTR.
    "mail_hostname",
)

DEFAULTS: dict[str, Any] = {
    # IANA timezone of the server; mail logs and queue ages are read in it.
    "mail_timezone": "UTC",
}


@dataclass(frozen=True)
class BaseSettings:
    hostname: str
    timezone: str


def read_hostname(read: Reader) -> str:
    return read.fqdn("mail_hostname", "mail.example.org")


def read_timezone(read: Reader) -> str:
    timezone = read.string("mail_timezone", "UTC")
    if timezone and timezone not in timezones():
        read.problem("mail_timezone", f"unknown timezone {timezone!r}", "use an IANA name like 'Europe/Berlin'")
    return timezone
