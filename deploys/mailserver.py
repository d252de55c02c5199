"""The entry point: `pyinfra INVENTORY deploys/mailserver.py`. Ordered component calls, nothing else."""

from __future__ import annotations

from pyinfra import host

from deploys import (
    base,
    dkim,
    dns,
    dovecot,
    fail2ban,
    firewall,
    key_audit,
    mariadb,
    postfix,
    postfixadmin,
    runtime,
    tls,
)
from deploys.settings import settings_for
from deploys.web import Tier, certbot, nginx_php, postfixadmin_ui, webmail

# pyinfra's operation order without inspect.stack(), and no 40 ms delayed-ACK wait per fact or command.
runtime.install(host.connector)
settings = settings_for(host)
dns.preflight(settings, host.name)

base.base(settings.base)
mariadb.mariadb()
# The web tier (deploys/web/): its components collect what needs Nginx or PHP-FPM to reload into `web`, and
# nginx_php.activate validates and reloads each once, after the webmail.
web = Tier(settings.release)
# Before PostfixAdmin: Nginx and PHP-FPM satisfy its web server dependency, so Apache is never installed.
nginx_php.nginx_php(settings.tls, tls.CRL_ROOT, tls.CRL_NAME, web)
postfixadmin.postfixadmin(settings.domains, settings.postfixadmin.password_scheme, settings.web, settings.release)
mariadb.grant_readers(postfixadmin.DATABASE)
tls.tls(settings.tls, settings.base.hostname)
# The web tier: port 80 (the ACME webroot), then the certificate, then everything served over TLS.
certbot.certbot(settings.tls, settings.base.hostname, settings.dns.nameservers, web)
nginx_php.https(settings.web, settings.tls, settings.base.hostname, web)
postfixadmin_ui.postfixadmin_ui(settings.web, web)
postfix.postfix(settings.postfix, settings.tls, postfixadmin.DATABASE, settings.release)
new_keys = dkim.dkim(settings.dkim, settings.domain_names)
dovecot.dovecot(settings.dovecot, settings.tls, postfixadmin.DATABASE, settings.release)
webmail.webmail(settings.web, settings.tls, settings.base.hostname, settings.domain_names, web)
nginx_php.activate(web)
# Last of the services: the firewall opens exactly the ports they listen on; fail2ban reads their logs.
firewall.firewall(settings.firewall)
fail2ban.fail2ban(settings.fail2ban, settings.web, web.roundcube_user, settings.release)
# Last of the host's steps: every private key and secret in place has its owner and mode, or the run fails.
key_audit.key_audit(settings)

# build/dns/<inventory host>/<domain>.zone on this machine: what to publish, DKIM keys included.
dns.zones(settings, host.name, new_keys)
