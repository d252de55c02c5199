"""A relay host (smarthost) for clouds that block outbound port 25 (deploys/postfix.py writes it)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # Smarthost for clouds that block outbound port 25 (e.g. "smtp.sendgrid.net"); empty: deliver directly.
    "postfix_relay_host": "",
    # Its submission port: 587 (STARTTLS) or 2525.
    "postfix_relay_port": 587,
    # The login at the relay (e.g. "apikey"); required with a relay host.
    "postfix_relay_username": "",
    # Name of an environment variable on the control machine holding the relay password...
    "postfix_relay_password_env": "",
    # ...or a file on the control machine holding it (never commit either).
    "postfix_relay_password_file": "",
}


@dataclass(frozen=True)
class RelaySettings:
    """A smarthost for clouds that block outbound port 25: every outbound message goes through it."""

    host: str
    port: int
    username: str
    password: str  # from the environment or a secret file on the control machine; never logged

    @property
    def nexthop(self) -> str:
        # [name] or [address]: no MX lookup; an IPv6 literal is written [ipv6:...] (postconf(5) relayhost).
        host = f"ipv6:{self.host}" if ":" in self.host else self.host
        return f"[{host}]:{self.port}"


def read_relay(read: Reader) -> RelaySettings | None:
    """postfix_relay_*: all or nothing; the password comes from the environment or a local secret file."""
    relay_host = read.optional("postfix_relay_host")
    if relay_host is None:
        return None
    try:  # an address literal needs no DNS (private networks, tests)
        host_name = str(ipaddress.ip_address(relay_host.strip("[]"))) if isinstance(relay_host, str) else ""
    except ValueError:
        host_name = ""
    host_name = host_name or read.fqdn("postfix_relay_host", "smtp.sendgrid.net")
    port = read.integer("postfix_relay_port", 1, maximum=65535)
    username = read.string("postfix_relay_username", "apikey")
    env = read.optional("postfix_relay_password_env")
    secret_file = read.optional("postfix_relay_password_file")
    password = ""
    if env is not None:
        env = read.string("postfix_relay_password_env", "RELAY_PASSWORD")
        password = read.environ.get(env, "") if env else ""
        if env and not password:
            read.problem("postfix_relay_password_env", f"environment variable {env!r} is not set", f"export {env}=...")
    elif secret_file is not None:
        path = read.string("postfix_relay_password_file", "~/.config/mailforge/relay-password")
        try:
            password = open(os.path.expanduser(path)).read().strip() if path else ""  # noqa: SIM115
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            read.problem("postfix_relay_password_file", f"cannot read {path}: {why}", "fix the path")
    else:
        read.problem(
            "postfix_relay_password_env",
            "a relay host needs a password and none is configured",
            "set postfix_relay_password_env (an environment variable) or postfix_relay_password_file",
        )
    return RelaySettings(host=host_name, port=port, username=username, password=password)
