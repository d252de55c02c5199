"""One host's data -> frozen, typed Settings, over every component's DEFAULTS, validated once.

Every problem is collected and reported together, each naming the inventory key and the fix, so an operator
fixes a bad inventory in one pass instead of one error per run. Pure code: no pyinfra import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any

from mailforge import releases
from mailforge.dns.inputs import DomainDnsInputs, MailDnsInputs
from mailforge.releases import Release
from mailforge.settings import (
    base,
    certbot,
    dkim,
    dns,
    domains,
    dovecot,
    fail2ban,
    firewall,
    nginx_php,
    postfix,
    postfixadmin,
    postfixadmin_ui,
    relay,
    tls,
    webmail,
)
from mailforge.settings.base import BaseSettings
from mailforge.settings.common import Reader, SettingsError
from mailforge.settings.dkim import DkimSettings
from mailforge.settings.dns import DnsSettings
from mailforge.settings.domains import Mailbox, MailDomain
from mailforge.settings.dovecot import DovecotSettings
from mailforge.settings.fail2ban import Fail2banSettings
from mailforge.settings.firewall import FirewallSettings
from mailforge.settings.nginx_php import SMALL_MACHINE, Machine
from mailforge.settings.postfix import PostfixSettings
from mailforge.settings.postfixadmin import PostfixAdminSettings
from mailforge.settings.tls import TlsSettings
from mailforge.settings.web import WebSettings, read_web

# Every module that owns settings keys: its DEFAULTS (and REQUIRED, keys without a default).
COMPONENTS: tuple[ModuleType, ...] = (
    base,
    domains,
    postfixadmin,
    tls,
    certbot,
    postfix,
    relay,
    dkim,
    dovecot,
    dns,
    nginx_php,
    postfixadmin_ui,
    webmail,
    firewall,
    fail2ban,
)


def _defaults() -> Mapping[str, Any]:
    merged: dict[str, Any] = {}
    for component in COMPONENTS:
        defaults: Mapping[str, Any] = component.DEFAULTS
        clash = merged.keys() & defaults.keys()
        assert not clash, f"{component.__name__} redefines {sorted(clash)}"
        merged.update(defaults)
    return MappingProxyType(merged)


# Every key with a default, over all components (read-only: a caller's change would leak into other hosts).
DEFAULTS = _defaults()
# Keys without a safe default: the inventory or group_data/all.py sets them.
REQUIRED: tuple[str, ...] = tuple(key for component in COMPONENTS for key in getattr(component, "REQUIRED", ()))
# Every settings key an operator may set.
KEYS: frozenset[str] = frozenset(DEFAULTS) | frozenset(REQUIRED)


@dataclass(frozen=True)
class Settings:
    base: BaseSettings
    domains: tuple[MailDomain, ...]
    tls: TlsSettings
    postfix: PostfixSettings
    dovecot: DovecotSettings
    postfixadmin: PostfixAdminSettings
    dkim: DkimSettings
    dns: DnsSettings
    web: WebSettings
    firewall: FirewallSettings
    fail2ban: Fail2banSettings
    # The target's Debian release, read once from its /etc/os-release (deploys/settings.py): package names
    # and template trees are chosen from it (DESIGN.md section 3).
    release: Release = releases.DEPLOY_DEFAULT

    @property
    def mailboxes(self) -> tuple[Mailbox, ...]:
        return tuple(m for d in self.domains for m in d.mailboxes)

    @property
    def domain_names(self) -> tuple[str, ...]:
        """Every domain this server receives and signs for, alias domains included."""
        return tuple(n for d in self.domains for n in (d.domain, *d.alias_domains))

    def dns_inputs(self, dkim_keys: Mapping[str, str] | None = None) -> MailDnsInputs:
        """What to publish for every domain, with the DKIM public key of each domain whose key exists."""
        keys = dkim_keys or {}
        return MailDnsInputs(
            tuple(
                DomainDnsInputs(
                    domain=name,
                    hostname=self.base.hostname,
                    ipv4=self.dns.ipv4,
                    ipv6=self.dns.ipv6,
                    dmarc_policy=self.dns.dmarc_policy,
                    dmarc_rua=self.dns.dmarc_rua,
                    caa_issuers=self.dns.caa_issuers,
                    dkim_selector=self.dkim.selector,
                    dkim_public_key=keys.get(name),
                    relay_spf_include=self.dns.relay_spf_include,
                )
                for name in self.domain_names
            )
        )


def load_settings(
    data: Mapping[str, Any],
    host: str | None = None,
    environ: Mapping[str, str] | None = None,
    release: Release = releases.DEPLOY_DEFAULT,
    machine: Machine | None = None,
) -> Settings:
    """Validate one host's data (over every component's DEFAULTS) into Settings, or raise SettingsError.

    `release`: the target's, found by the deploy; uses without a target (the demo's zones, backups' settings
    fingerprint, tests of templates) take the default. `machine`: the target's CPUs and memory (facts), which
    size the PHP-FPM pools; unknown: SMALL_MACHINE.
    """
    read = Reader(data, DEFAULTS, os.environ if environ is None else environ)
    # The order of the reads is the order of the problems listed.
    hostname = base.read_hostname(read)
    timezone = base.read_timezone(read)
    mail_domains = domains.read_domains(read)
    postfix_settings = postfix.read_postfix(read, hostname, mail_domains)
    dkim_settings = dkim.read_dkim(read)
    dovecot_settings = dovecot.read_dovecot(read, hostname)
    web = read_web(read, hostname, mail_domains, machine or SMALL_MACHINE)
    tls_settings = tls.read_tls(read, hostname, (hostname, *web.names))
    postfixadmin_settings = postfixadmin.read_postfixadmin(read)
    dns_settings = dns.read_dns(read)
    firewall_settings = firewall.read_firewall(read)
    fail2ban_settings = fail2ban.read_fail2ban(read)
    if read.problems:
        raise SettingsError(read.problems, host)
    return Settings(
        base=BaseSettings(hostname=hostname, timezone=timezone),
        domains=tuple(mail_domains),
        tls=tls_settings,
        postfix=postfix_settings,
        dovecot=dovecot_settings,
        postfixadmin=postfixadmin_settings,
        dkim=dkim_settings,
        dns=dns_settings,
        web=web,
        firewall=firewall_settings,
        fail2ban=fail2ban_settings,
        release=release,
    )
