"""What every component's settings file shares: problems, the error that lists them, and the reader that
turns raw inventory values into checked ones while recording problems instead of raising.

Pure code: no pyinfra import (mailforge/settings/inventory.py is the one module that loads pyinfra).
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# RFC 1123 host labels; a mail hostname must be fully qualified (RFC 5321 section 4.1.2: HELO takes a FQDN).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
# \Z, not $: "$" also matches before a trailing newline, which would let "mail.example.org\n" into main.cf.
FQDN_RE = re.compile(rf"^(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})+\Z")
# The dot-atom local parts PostfixAdmin accepts (RFC 5322 section 3.4.1, without quoted strings).
LOCAL_PART_RE = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
MIN_PASSWORD_LENGTH = 12
# Every number ends in a daemon or a tool that reads it into a C int: a bigger one fails on the host, after
# the run has started changing it. Keys with another limit pass their own maximum.
INT_MAX = 2**31 - 1


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


@functools.cache
def timezones() -> frozenset[str]:
    # Read once: it walks the whole tz database, a noticeable cost per host of a large inventory.
    return frozenset(zoneinfo.available_timezones())


def show(value: Any, limit: int = 80) -> str:
    """repr() for a problem message: shortened, and safe for ints too long to print (over 4300 digits)."""
    try:
        text = repr(value)
    except ValueError:
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Reader:
    """Reads keys from host data over the components' defaults, recording problems instead of raising."""

    def __init__(self, data: Mapping[str, Any], defaults: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.data = data
        self.defaults = defaults
        self.environ = environ
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(key, message, fix))

    def get(self, key: str) -> Any:
        if key in self.data and self.data[key] is not None:
            return self.data[key]
        return self.defaults.get(key)

    def optional(self, key: str, default: Any = None) -> Any:
        """A key that may be left unset (None or ""): its default then. 0, False or [] are set, and checked."""
        value = self.get(key)
        return default if value is None or (isinstance(value, str) and value == "") else value

    def string(self, key: str, example: str, value: Any = None, *, required: bool = True) -> str:
        value = self.get(key) if value is None else value
        if value is None or value == "":
            if required:
                self.problem(key, "is required and not set", f"set {key} = {example!r} in group_data/all.py")
            return ""
        if not isinstance(value, str):
            self.problem(key, f"must be a string, not {type(value).__name__}", f"set it like {example!r}")
            return ""
        # A control character (a newline above all) would end a line in main.cf or a row in mysql's output,
        # and a lone surrogate cannot even be written as UTF-8: no setting has a use for either.
        bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs")), None)
        if bad is not None:
            self.problem(key, f"contains the control character {bad!r}", "remove it (newlines, tabs, NUL...)")
            return ""
        return value

    def integer(self, key: str, minimum: int, value: Any = None, maximum: int = INT_MAX) -> int:
        value = self.get(key) if value is None else value
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.problem(
                key, f"must be a whole number from {minimum} to {maximum}, not {show(value)}", f"set {key} = {minimum}"
            )
            return minimum
        return value

    def fqdn(self, key: str, example: str, value: Any = None) -> str:
        name = self.string(key, example, value).lower().rstrip(".")
        if name and not FQDN_RE.match(name):
            self.problem(key, f"{name!r} is not a fully qualified domain name", f"use a name like {example!r}")
        return name

    def address(self, key: str, value: Any, domain: str | None = None) -> str:
        text = self.string(key, "user@example.org", value).lower()
        local, at, dom = text.partition("@")
        if not text:
            return ""
        if not at or not LOCAL_PART_RE.match(local) or not FQDN_RE.match(dom):
            self.problem(key, f"{text!r} is not a valid mail address", "write it as local-part@domain.tld")
        elif domain is not None and dom != domain:
            self.problem(key, f"{text!r} is not in the domain {domain}", f"use an address ending in @{domain}")
        return text

    def items(self, key: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            self.problem(key, f"must be a list, not {type(value).__name__}", f"write {key} as a list [...]")
            return []
        return list(value)

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            self.problem(key, f"must be True or False, not {value!r}", f"set {key} = True (or False)")
            return True
        return value

    def password(self, key: str, entry: Mapping[str, Any]) -> str | None:
        """Explicit passwords come from the environment (never from committed files) and must be strong."""
        if "password" in entry:
            self.problem(key, "holds a password in the inventory", "name an environment variable in password_env")
        env = entry.get("password_env")
        if env is None:
            return None
        if not isinstance(env, str) or env not in self.environ:
            self.problem(key + ".password_env", f"environment variable {show(env)} is not set", "export it first")
            return None
        password = self.environ[env]
        classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]"))
        if len(password) < MIN_PASSWORD_LENGTH or classes < 3:
            self.problem(
                key + ".password_env",
                f"the password in ${env} is weak",
                f"use at least {MIN_PASSWORD_LENGTH} characters from 3 of: lower, upper, digits, symbols "
                "(or drop password_env to have one generated on the host)",
            )
        return password
