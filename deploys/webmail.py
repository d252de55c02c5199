"""The webmail: Roundcube from Debian's package (default), RainLoop or SnappyMail from a pinned upstream
release archive, or none.

Roundcube is the default because Debian packages it: it installs offline from the mirror, its security
updates arrive with apt, and dbconfig-common creates its MariaDB database with a password generated on the
host. It logs in over IMAPS (993) and sends over submission (587, STARTTLS) on this host, verifying the
server certificate against the CA in TlsSettings.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, deploy, operation
from pyinfra.operations import apt, files, server

from deploys import nginx_php
from deploys.templating import template
from mailforge.settings import TlsSettings, WebSettings

DEFAULTS = {
    # roundcube (Debian's package) | snappymail | rainloop (upstream archives, see README) | none
    "webmail": "roundcube",
    # The webmail's host name (default: webmail.<the parent domain of mail_hostname>).
    "webmail_hostname": None,
}

ROUNDCUBE_USER = "roundcube"
ROUNDCUBE_PUBLIC = "/var/lib/roundcube/public_html"
# Debian's package questions: dbconfig-common creates the MariaDB database with a random password; the
# package touches no web server configuration (mailforge writes Nginx itself).
ROUNDCUBE_DEBCONF = """\
roundcube-core roundcube/dbconfig-install boolean true
roundcube-core roundcube/database-type select mysql
roundcube-core roundcube/mysql/app-pass password
roundcube-core roundcube/app-password-confirm password
roundcube-core roundcube/reconfigure-webserver multiselect
roundcube-core roundcube/restart-webserver boolean false
"""


class HasLine(FactBase[bool]):
    """Whether a file holds exactly this line (fixed string, whole line)."""

    default = bool

    def command(self, path: str, line: str) -> StringCommand:  # type: ignore[override]
        return StringCommand("grep -qxF", QuoteString(line), QuoteString(path), "&& echo yes || echo no")

    def process(self, output: list[str]) -> bool:  # type: ignore[override]
        return bool(output) and output[0] == "yes"


@operation()
def include_line(path: str, line: str):  # type: ignore[no-untyped-def]
    if host.get_fact(HasLine, path=path, line=line):
        host.noop(f"{path} reads mailforge's settings")
        return
    yield StringCommand("printf '%s\\n'", QuoteString(line), ">>", QuoteString(path))


@deploy("Webmail")
def webmail(web: WebSettings, tls: TlsSettings, hostname: str) -> None:
    if web.webmail == "roundcube":
        roundcube(web, tls, hostname)


def roundcube(web: WebSettings, tls: TlsSettings, hostname: str) -> None:
    seed = files.put(name="Preseed Roundcube's questions", src=StringIO(ROUNDCUBE_DEBCONF),
                     dest="/var/cache/debconf/mailforge-roundcube.seed", mode="600")  # fmt: skip
    server.shell(
        name="Load the Roundcube preseed answers",
        commands=["debconf-set-selections /var/cache/debconf/mailforge-roundcube.seed"],
        _if=seed.did_change,
    )
    apt.packages(name="Install Roundcube", packages=["roundcube-core", "roundcube-mysql"], no_recommends=True)
    server.group(name="Roundcube's PHP group", group=ROUNDCUBE_USER, system=True)
    server.user(name="Roundcube's PHP user", user=ROUNDCUBE_USER, group=ROUNDCUBE_USER, home="/nonexistent",
                shell="/usr/sbin/nologin", system=True, create_home=False, ensure_home=False)  # fmt: skip
    # What Roundcube writes at run time, writable by its pool user only (Debian gives them to www-data).
    files.directory(name="Roundcube temp", path="/var/lib/roundcube/temp", user=ROUNDCUBE_USER,
                    group=ROUNDCUBE_USER, mode="750")  # fmt: skip
    files.directory(name="Roundcube logs", path="/var/log/roundcube", user=ROUNDCUBE_USER, group="adm",
                    mode="750")  # fmt: skip
    config = template(
        "/etc/roundcube/mailforge.inc.php",
        component="webmail",
        comment="<?php //",
        mode="640",
        group="www-data",
        hostname=hostname,
        cafile=tls.ca_file,
    )
    # Debian generates config.inc.php (with a des_key made on the host) and keeps it through upgrades (ucf):
    # read ours after it rather than replacing it.
    include = include_line(
        name="Read mailforge's Roundcube settings",
        path="/etc/roundcube/config.inc.php",
        line='include("/etc/roundcube/mailforge.inc.php");',
    )
    # Debian's debian-db.php and config.inc.php are root:www-data 0640: the pool keeps group www-data.
    pools = nginx_php.pool("roundcube", ROUNDCUBE_USER, "www-data", web, upload_max_filesize="25M",
                           post_max_size="26M")  # fmt: skip
    changes = nginx_php.site(
        "webmail",
        hostname=web.webmail_hostname,
        root=ROUNDCUBE_PUBLIC,
        socket=nginx_php.socket("roundcube"),
        denied=["/config", "/temp", "/logs", "/SQL", "/bin", "/installer"],
    )
    nginx_php.activate(changes, [*pools, config, include])
