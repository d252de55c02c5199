"""The web tier: Nginx + PHP-FPM (nginx_php), Certbot, PostfixAdmin's web UI and the webmail.

deploys/mailserver.py calls the components in its order (the UI before Postfix, the webmail after Dovecot)
and hands each the same `Tier`: what the components share (the ACME webroot, the Roundcube pool user) and the
operations whose change needs Nginx or PHP-FPM to re-read its configuration. None of them reloads a daemon on
its own: `nginx_php.activate(tier)`, the tier's last call, validates (`php-fpm<version> -t`, `nginx -t`) and
reloads each daemon once, only when one of its operations changed. The one exception is Certbot's mode, whose
HTTP-01 check needs the port-80 site live before it asks for the certificate (deploys/web/certbot.py).

The managed-by header of the files they write names deploys/web/<component>.py (templating.header): a host
deployed before the tier moved here gets each web file rewritten once, with one reload of Nginx and PHP-FPM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyinfra.api.operation import OperationMeta

from mailforge.releases import Release


@dataclass
class Tier:
    """Shared by the web components of one host's deploy; made by the entry, filled while operations are
    collected (never read for `.changed` then: activate() turns the lists into `_if=any_changed(...)`)."""

    release: Release
    # Certbot's --webroot writes tokens to <acme_root>/.well-known/acme-challenge/; Nginx serves them on port 80.
    acme_root: str = "/var/www/acme"
    # Roundcube's PHP-FPM pool user, owner of its error log (fail2ban's roundcube-auth jail reads it).
    roundcube_user: str = "roundcube"
    # Operations whose change needs Nginx, or PHP-FPM, to reload (validated first).
    nginx: list[OperationMeta] = field(default_factory=list)
    php_fpm: list[OperationMeta] = field(default_factory=list)
