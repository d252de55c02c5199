"""Nginx and PHP-FPM: the web tier every web app (PostfixAdmin's UI, the webmail) runs behind.

Port 80 answers the ACME HTTP-01 challenge from a webroot, serves the local CA's CRL (self-signed mode,
deploys/tls.py) and redirects everything else to HTTPS; port 443 serves one server block per app, TLS 1.2+
only, with HSTS and security headers (the snippet /etc/nginx/snippets/mailforge-tls.conf). Each app runs in a
PHP-FPM pool of its own (own Unix user where the app's Debian packaging allows it). `nginx -t` and
`php-fpm<version> -t` (the release's PHP, mailforge/releases.py) accept the configuration before any reload,
which happens once, at the end of the tier (activate below; deploys/web/__init__.py says why).
"""

from __future__ import annotations

from typing import Any

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import apt, files, systemd

from deploys.service import check_then_reload
from deploys.templating import TEMPLATES, header, template
from deploys.web import Tier
from mailforge.releases import Release
from mailforge.settings import TlsSettings, WebSettings

SITES = "/etc/nginx/sites-available"
# One directory per pool: its user writes the PHP error log there, group adm (the operator) reads it.
PHP_LOGS = "/var/log/php-fpm"


def fpm(release: Release) -> str:
    """The release's PHP-FPM package and service: php8.2-fpm on Debian 12, php8.4-fpm on Debian 13."""
    return f"php{release.php}-fpm"


def packages(release: Release) -> list[str]:
    return ["nginx", fpm(release), f"php{release.php}-cli"]


def socket(app: str, release: Release) -> str:
    return f"/run/php/{fpm(release)}-{app}.sock"


@deploy("Nginx and PHP-FPM")
def nginx_php(tls: TlsSettings, crl_root: str, crl_name: str, tier: Tier) -> None:
    """Port 80: the ACME webroot, the local CA's CRL (`crl_root`/`crl_name`, written by deploys/tls.py) and
    the redirect to HTTPS."""
    release = tier.release
    template("/etc/apt/preferences.d/mailforge-web", component="nginx_php")
    apt.packages(name="Install Nginx and PHP-FPM", packages=packages(release), no_recommends=True)
    # Debian's PostfixAdmin depends on "apache2 | lighttpd | httpd": a host provisioned before the web tier
    # existed got one of them, holding port 80. Removed only now that Nginx provides httpd, so apt keeps
    # PostfixAdmin installed.
    apt.packages(name="Remove other web servers", packages=["apache2", "lighttpd"], present=False)
    files.directory(name="ACME challenge webroot", path=f"{tier.acme_root}/.well-known/acme-challenge", mode="755")
    tier.nginx += [
        # server_tokens is set in each server block instead (the sites, the TLS snippet): in http {} it would be
        # a duplicate of Debian 13's nginx.conf, failing `nginx -t` there and during the upgrade from 12.
        files.file(
            name="Remove /etc/nginx/conf.d/mailforge.conf", path="/etc/nginx/conf.d/mailforge.conf", present=False
        ),
        # Debian's default site would answer port 80 for every name, ahead of the ACME webroot.
        files.link(name="Disable Debian's default site", path="/etc/nginx/sites-enabled/default", present=False),
        # The CRL location only where the local CA issues the certificate (deploys/tls.py).
        *site(
            "mailforge",
            release,
            names=tls.names,
            acme_root=tier.acme_root,
            crl_name=crl_name,
            crl_root=crl_root if tls.mode == "selfsigned" else None,
        ),
    ]
    systemd.service(name="Run PHP-FPM", service=fpm(release), running=True, enabled=True)


@deploy("Nginx HTTPS")
def https(web: WebSettings, tls: TlsSettings, hostname: str, tier: Tier) -> None:
    """The TLS snippet every 443 server block includes, and the default 443 server (mail_hostname)."""
    release = tier.release
    tier.nginx += [
        template(
            "/etc/nginx/snippets/mailforge-tls.conf",
            component="nginx_php",
            tls=tls,
            hsts_max_age=web.hsts_max_age,
            http2_directive=release.nginx_http2_directive,
        ),
        *site(
            "mailforge-https",
            release,
            hostname=hostname,
            landing=web.webmail_hostname if web.webmail != "none" else web.postfixadmin_hostname,
        ),
    ]


def site(name: str, release: Release, **context: Any) -> list[OperationMeta]:
    """/etc/nginx/sites-available/<name>.conf from its template, enabled by a link as Debian does.

    `http2`: what a 443 `listen` adds for HTTP/2 on this release's Nginx (the `http2` parameter before 1.25.1;
    nothing after, where the TLS snippet says `http2 on;`)."""
    http2 = "" if release.nginx_http2_directive else " http2"
    return [
        template(f"{SITES}/{name}.conf", component="nginx_php", http2=http2, **context),
        files.link(
            name=f"Enable the {name} site",
            path=f"/etc/nginx/sites-enabled/{name}.conf",
            target=f"{SITES}/{name}.conf",
        ),
    ]


def spare_servers(children: int) -> tuple[int, int, int]:
    """pm = dynamic's (start_servers, min_spare_servers, max_spare_servers) for max_children: half start with the
    pool, a quarter stay idle for a burst, at most three quarters idle are kept (6 -> 3 / 1 / 4; Debian's 5 -> 2 /
    1 / 3). PHP-FPM refuses min > start or start > max: https://www.php.net/manual/en/install.fpm.configuration.php#pm
    """
    return max(1, children // 2), max(1, children // 4), max(1, children * 3 // 4)


def error_log(app: str) -> str:
    return f"{PHP_LOGS}/{app}/error.log"


def pool(app: str, user: str, group: str, web: WebSettings, release: Release, **php_admin: str) -> list[OperationMeta]:
    """A PHP-FPM pool for one app: its own socket (only Nginx may connect), its own process user, its own PHP
    error log (rotated). One template for every release: the pool format is the same in PHP 8.2 and 8.4."""
    php = release.php
    dest = f"/etc/php/{php}/fpm/pool.d/{app}.conf"
    log = error_log(app)
    files.directory(name="PHP-FPM pools' error logs", path=PHP_LOGS, mode="755")
    files.directory(name=f"{app}'s PHP error log directory", path=f"{PHP_LOGS}/{app}", user=user, group="adm",
                    mode="750")  # fmt: skip
    files.file(name=f"{app}'s PHP error log", path=log, user=user, group="adm", mode="640")
    files.template(
        name=f"Rotate {log}",
        src=str(TEMPLATES / "logrotate.d/php-fpm-pool.j2"),
        dest=f"/etc/logrotate.d/php-fpm-{app}",
        managed_header=header("nginx_php"),
        app=app,
        error_log=log,
        pool_user=user,
    )
    children = web.fpm_max_children
    start_servers, min_spare, max_spare = spare_servers(children)
    written = files.template(
        name=f"Write {dest}",
        src=str(TEMPLATES / "php/fpm/pool.d/pool.conf.j2"),
        dest=dest,
        mode="644",
        managed_header=header("nginx_php", ";"),
        app=app,
        pool_user=user,
        pool_group=group,
        socket=socket(app, release),
        max_children=children,
        start_servers=start_servers,
        min_spare=min_spare,
        max_spare=max_spare,
        max_requests=web.fpm_max_requests,
        php=php,
        error_log=log,
        php_admin=sorted(php_admin.items()),
    )
    # Debian's www pool runs as www-data for nobody once every app has its own pool.
    www = files.file(name="Remove Debian's www pool", path=f"/etc/php/{php}/fpm/pool.d/www.conf", present=False)
    return [written, www]


def reload_nginx(changes: list[OperationMeta]) -> None:
    """Validate, then reload Nginx, only when one of `changes` changed."""
    check_then_reload("Nginx", "nginx", "nginx -t -q", changes)


@deploy("Web tier: validate and reload")
def activate(tier: Tier) -> None:
    """The tier's last step: PHP-FPM (pools, the apps' PHP settings), then Nginx (sites, snippets), each
    validated and reloaded once, only when one of the operations the components collected changed."""
    check_then_reload("PHP-FPM", fpm(tier.release), f"php-fpm{tier.release.php} -t", tier.php_fpm)
    reload_nginx(tier.nginx)
