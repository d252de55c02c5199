"""The entry point: `pyinfra INVENTORY deploys/mailserver.py`. Ordered component calls, nothing else."""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import python
from pyinfra.operations.util import any_changed

from deploys import (
    base,
    certbot,
    dkim,
    dns,
    dovecot,
    fail2ban,
    firewall,
    key_audit,
    mariadb,
    nginx_php,
    postfix,
    postfixadmin,
    postfixadmin_ui,
    runtime,
    tls,
    webmail,
)
from deploys.settings import settings_for

# pyinfra's operation order without inspect.stack(), and no 40 ms delayed-ACK wait per fact or command.
runtime.install(host.connector)
settings = settings_for(host)
dns.preflight(settings, host.name)

base.base(settings.base)
mariadb.mariadb()
# Before PostfixAdmin: Nginx and PHP-FPM satisfy its web server dependency, so Apache is never installed.
nginx_php.nginx_php(settings.web, settings.tls, settings.release)
postfixadmin.postfixadmin(settings.domains, settings.postfixadmin.password_scheme, settings.web, settings.release)
mariadb.grant_readers(postfixadmin.DATABASE)
tls.tls(settings.tls, settings.base.hostname)
# The web tier: port 80 (the ACME webroot), then the certificate, then everything served over TLS.
certbot.certbot(settings.tls, settings.base.hostname, settings.dns.nameservers)
nginx_php.https(settings.web, settings.tls, settings.base.hostname, settings.release)
postfixadmin_ui.postfixadmin_ui(settings.web, settings.tls, settings.release)
postfix.postfix(settings.postfix, settings.tls, postfixadmin.DATABASE, settings.release)
new_keys = dkim.dkim(settings.dkim, settings.domain_names)
dovecot.dovecot(settings.dovecot, settings.tls, postfixadmin.DATABASE, settings.release)
webmail.webmail(settings.web, settings.tls, settings.base.hostname, settings.domain_names, release=settings.release)
# Last of the services: the firewall opens exactly the ports they listen on; fail2ban reads their logs.
firewall.firewall(settings.firewall)
fail2ban.fail2ban(settings.fail2ban, settings.web, settings.release)
# Last of the host's steps: every private key and secret in place has its owner and mode, or the run fails.
key_audit.key_audit(settings)

# build/dns/<inventory host>/<domain>.zone on this machine: what to publish, DKIM keys included.
dns.write_zones(settings, host.name, dkim.public_keys(settings.dkim, settings.domain_names))
python.call(
    name="Write the DNS zones with the new DKIM keys",
    function=dns.rewrite_zones_with_new_keys,
    settings=settings,
    host_name=host.name,
    key_paths={d: dkim.key_path(d, settings.dkim.selector) for d in settings.domain_names},
    _if=any_changed(*new_keys),
)
