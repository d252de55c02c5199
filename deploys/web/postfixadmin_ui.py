"""PostfixAdmin's web UI behind Nginx: its own PHP-FPM pool user, a superadmin from settings, and setup.php
out of reach.

- setup_password exists on the host only as its bcrypt hash (PostfixAdmin 3.3 checks it with
  password_verify()); the plain secret is generated, hashed and discarded in one pipe. Operators create
  admins with postfixadmin-cli, so nobody needs it.
- The superadmin's password comes from the environment (postfixadmin_superadmin_password_env) or is
  generated on the host (/etc/mailforge/postfixadmin/superadmin, 0600).
- The pool runs as the `postfixadmin` user with group www-data: Debian's packaging owns the database
  credentials file (/etc/postfixadmin/dbconfig.inc.php) as root:www-data 0640 and restores that on upgrades.
  templates_c, the only directory PHP writes, belongs to the pool user alone (0700).
https://github.com/postfixadmin/postfixadmin/blob/postfixadmin-3.3.13/INSTALL.TXT
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import MaskString, StringCommand, deploy, operation
from pyinfra.operations import files, server

from deploys.facts import GENERATE_PASSWORD, FileExists, SqlRows
from deploys.postfixadmin import CLI, CUSTOM_CSS, DATABASE
from deploys.web import Tier, nginx_php
from mailforge.settings import WebSettings

USER = "postfixadmin"
PUBLIC = "/usr/share/postfixadmin/public"
TEMPLATES_C = "/var/cache/postfixadmin/templates_c"
SETUP_HASH = "/etc/postfixadmin/setup_password.inc.php"
SECRETS = "/etc/mailforge/postfixadmin"


@operation()
def setup_password():
    if host.get_fact(FileExists, path=SETUP_HASH):
        host.noop("setup_password hash exists")
        return
    # Random secret -> bcrypt hash -> a PHP include; the secret itself is never written anywhere.
    php = ("$h = password_hash(bin2hex(random_bytes(24)), PASSWORD_DEFAULT);"
           " echo \"<?php\\n\\$CONF['setup_password'] = '\" . $h . \"';\\n\";")  # fmt: skip
    yield f"umask 027 && php -r {shlex.quote(php)} > {SETUP_HASH}.tmp && chgrp www-data {SETUP_HASH}.tmp"
    yield f"mv {SETUP_HASH}.tmp {SETUP_HASH}"


@operation()
def superadmin(address: str, password: str | None):
    rows = {r[0]: r for r in host.get_fact(SqlRows, database=DATABASE, query="SELECT username, superadmin FROM admin")}
    if address in rows and rows[address][1] == "1":
        host.noop(f"superadmin {address} exists")
        return
    if address in rows:
        yield StringCommand(CLI, "admin", "update", address, "--superadmin", "1", "--active", "1")
        return
    secret = f"{SECRETS}/superadmin"
    if password is None:
        yield f"umask 077 && mkdir -p {SECRETS} && {GENERATE_PASSWORD} > {secret}"
    else:
        yield StringCommand("umask 077 && mkdir -p", SECRETS, "&& printf '%s\\n'",
                            MaskString(shlex.quote(password)), ">", secret)  # fmt: skip
    yield StringCommand(
        f'pw="$(cat {secret})" &&', CLI, "admin", "add", address, '--password "$pw" --password2 "$pw"',
        "--superadmin", "1", "--active", "1",
    )  # fmt: skip


@deploy("PostfixAdmin web UI")
def postfixadmin_ui(web: WebSettings, tier: Tier) -> None:
    server.group(name="PostfixAdmin's PHP group", group=USER, system=True)
    server.user(name="PostfixAdmin's PHP user", user=USER, group=USER, home="/nonexistent",
                shell="/usr/sbin/nologin", system=True, create_home=False, ensure_home=False)  # fmt: skip
    files.directory(name="templates_c for the pool user only", path=TEMPLATES_C, user=USER, group="root", mode="700")
    setup_password(name="PostfixAdmin setup_password, as a hash only")
    files.file(name="Protect the setup_password hash", path=SETUP_HASH, user="root", group="www-data", mode="640")
    superadmin(name=f"PostfixAdmin superadmin {web.superadmin}", address=web.superadmin,
               password=web.superadmin_password)  # fmt: skip
    tier.php_fpm += nginx_php.pool("postfixadmin", USER, "www-data", web, tier.release)
    tier.nginx += nginx_php.site(
        "postfixadmin",
        tier.release,
        hostname=web.postfixadmin_hostname,
        root=PUBLIC,
        socket=nginx_php.socket("postfixadmin", tier.release),
        custom_css=CUSTOM_CSS,
    )
