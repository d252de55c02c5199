"""Operator data -> frozen, typed settings, validated once, before any host is touched.

One file per component (base.py, domains.py, postfix.py, relay.py, dkim.py, dovecot.py, postfixadmin.py,
tls.py, certbot.py, nginx_php.py, postfixadmin_ui.py, webmail.py, dns.py, firewall.py, fail2ban.py), each
holding its DEFAULTS (one comment per key), its frozen dataclass and its validation; common.py the problems
and the reader they share; load.py applies every DEFAULTS and returns Settings; inventory.py (the one module
importing pyinfra, so not imported here) reads a host's data from an inventory file. docs/contributing.md
shows how to add a setting.
"""

from mailforge.settings.base import BaseSettings
from mailforge.settings.certbot import LETSENCRYPT, CertbotSettings
from mailforge.settings.common import FQDN_RE, INT_MAX, LOCAL_PART_RE, MIN_PASSWORD_LENGTH, Problem, SettingsError
from mailforge.settings.dkim import DkimSettings
from mailforge.settings.dns import DnsSettings
from mailforge.settings.domains import Alias, Mailbox, MailDomain
from mailforge.settings.dovecot import DovecotSettings
from mailforge.settings.fail2ban import Fail2banSettings
from mailforge.settings.firewall import FIREWALL_PORTS, FirewallSettings
from mailforge.settings.load import COMPONENTS, DEFAULTS, KEYS, REQUIRED, Settings, load_settings
from mailforge.settings.nginx_php import (
    FPM_CHILD_MB,
    FPM_CHILDREN_PER_CPU,
    FPM_MEMORY_SHARE,
    SMALL_MACHINE,
    Machine,
    fpm_children,
)
from mailforge.settings.postfix import PostfixSettings
from mailforge.settings.postfixadmin import PASSWORD_SCHEMES, PostfixAdminSettings
from mailforge.settings.relay import RelaySettings
from mailforge.settings.tls import TlsSettings
from mailforge.settings.web import WebSettings
from mailforge.settings.webmail import MINIMUM_ARCHIVE_VERSIONS, WEBMAILS

__all__ = [
    "COMPONENTS",
    "DEFAULTS",
    "FIREWALL_PORTS",
    "FPM_CHILDREN_PER_CPU",
    "FPM_CHILD_MB",
    "FPM_MEMORY_SHARE",
    "FQDN_RE",
    "INT_MAX",
    "KEYS",
    "LETSENCRYPT",
    "LOCAL_PART_RE",
    "MINIMUM_ARCHIVE_VERSIONS",
    "MIN_PASSWORD_LENGTH",
    "PASSWORD_SCHEMES",
    "REQUIRED",
    "SMALL_MACHINE",
    "WEBMAILS",
    "Alias",
    "BaseSettings",
    "CertbotSettings",
    "DkimSettings",
    "DnsSettings",
    "DovecotSettings",
    "Fail2banSettings",
    "FirewallSettings",
    "Machine",
    "MailDomain",
    "Mailbox",
    "PostfixAdminSettings",
    "PostfixSettings",
    "Problem",
    "RelaySettings",
    "Settings",
    "SettingsError",
    "TlsSettings",
    "WebSettings",
    "fpm_children",
    "load_settings",
]
