"""Operator data -> frozen, typed settings, validated once, before any host is touched.

Every problem is collected and reported together, each naming the inventory key and the fix, so an operator
fixes a bad inventory in one pass instead of one error per run. Pure code: no pyinfra import.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# RFC 1123 host labels; a mail hostname must be fully qualified (RFC 5321 section 4.1.2: HELO takes a FQDN).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
FQDN_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}; fix: {self.fix}"


class SettingsError(ValueError):
    """All the problems found in one host's data."""

    def __init__(self, problems: list[Problem], host: str | None = None) -> None:
        self.problems = problems
        self.host = host
        where = f" for host {host}" if host else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the inventory data{where}:\n{lines}")


@dataclass(frozen=True)
class BaseSettings:
    hostname: str
    timezone: str


@dataclass(frozen=True)
class Settings:
    base: BaseSettings


class _Reader:
    """Reads keys from host data over component defaults, recording problems instead of raising."""

    def __init__(self, data: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
        self.data = data
        self.defaults = defaults
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(key, message, fix))

    def get(self, key: str) -> Any:
        if key in self.data and self.data[key] is not None:
            return self.data[key]
        return self.defaults.get(key)

    def required_str(self, key: str, example: str) -> str:
        value = self.get(key)
        if value is None or value == "":
            self.problem(key, "is required and not set", f"set {key} = {example!r} in group_data/all.py")
            return ""
        if not isinstance(value, str):
            self.problem(key, f"must be a string, not {type(value).__name__}", f"set {key} = {example!r}")
            return ""
        return value

    def fqdn(self, key: str, example: str) -> str:
        value = self.required_str(key, example).lower()
        if value and not FQDN_RE.match(value):
            self.problem(key, f"{value!r} is not a fully qualified host name", f"use a name like {example!r}")
        return value


def load_settings(data: Mapping[str, Any], defaults: Mapping[str, Any], host: str | None = None) -> Settings:
    """Validate one host's data (over the components' DEFAULTS) into Settings, or raise SettingsError."""
    read = _Reader(data, defaults)
    hostname = read.fqdn("mail_hostname", "mail.example.org")
    timezone = read.required_str("mail_timezone", "UTC")
    if timezone and timezone not in zoneinfo.available_timezones():
        read.problem(
            "mail_timezone", f"unknown timezone {timezone!r}", "use an IANA name such as 'UTC' or 'Europe/Berlin'"
        )
    if read.problems:
        raise SettingsError(read.problems, host)
    return Settings(base=BaseSettings(hostname=hostname, timezone=timezone))
