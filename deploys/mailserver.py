"""The entry point: `pyinfra INVENTORY deploys/mailserver.py`. Ordered component calls, nothing else."""

from __future__ import annotations

from pyinfra import host

from deploys import base, dns, dovecot, mariadb, postfix, postfixadmin, tls
from deploys.settings import settings_for

settings = settings_for(host)
dns.preflight(settings, host.name)

base.base(settings.base)
mariadb.mariadb()
postfixadmin.postfixadmin(settings.domains, settings.postfixadmin.password_scheme)
mariadb.grant_readers(postfixadmin.DATABASE)
tls.tls(settings.tls, settings.base.hostname)
postfix.postfix(settings.postfix, settings.tls, postfixadmin.DATABASE)
dovecot.dovecot(settings.dovecot, settings.tls, postfixadmin.DATABASE)
dns.write_zones(settings)
