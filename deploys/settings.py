"""Read the current host's data once into validated settings, over every component's DEFAULTS."""

from __future__ import annotations

from typing import Any

from pyinfra.api.exceptions import PyinfraError

from deploys import (
    base,
    certbot,
    dkim,
    dns,
    dovecot,
    fail2ban,
    firewall,
    mariadb,
    nginx_php,
    postfix,
    postfixadmin,
    postfixadmin_ui,
    tls,
    webmail,
)
from deploys.facts import MachineSize
from mailforge.settings import Machine, Settings, SettingsError, load_settings

WEB = (nginx_php, certbot, postfixadmin_ui, webmail)
COMPONENTS = (base, mariadb, postfixadmin, tls, postfix, dkim, dovecot, dns, *WEB)
COMPONENTS += (firewall, fail2ban)


def defaults() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for component in COMPONENTS:
        merged.update(component.DEFAULTS)
    return merged


def settings_for(host: Any) -> Settings:
    """Validate; on bad data raise pyinfra's own error so the run stops before any operation executes. The
    host's CPUs and memory are read here, once, for the settings sized from them (PHP-FPM pools)."""
    cpus, memory_mb = host.get_fact(MachineSize)
    try:
        return load_settings(host.data.dict(), defaults(), host=host.name, machine=Machine(cpus, memory_mb))
    except SettingsError as exc:
        raise PyinfraError(str(exc)) from None
