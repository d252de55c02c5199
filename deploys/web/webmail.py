"""The webmail: Roundcube from Debian's package (default), RainLoop or SnappyMail from a pinned upstream
release archive, or none.

Roundcube is the default because Debian packages it: it installs offline from the mirror, its security
updates arrive with apt, and dbconfig-common creates its MariaDB database with a password generated on the
host. It logs in over IMAPS (993) and sends over submission (587, STARTTLS) on this host, verifying the
server certificate against the CA in TlsSettings.
"""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FactBase, MaskString, QuoteString, StringCommand, deploy, operation
from pyinfra.facts.files import Sha256File
from pyinfra.operations import apt, files, server

from deploys.dovecot import SPECIAL_USE_FOLDERS
from deploys.facts import GENERATE_PASSWORD, FileExists
from deploys.templating import TEMPLATES, header, template
from deploys.web import Tier, nginx_php
from mailforge.settings import TlsSettings, WebSettings

# PHP run on the host to write application.ini's admin credentials, reading the password from the 0600 file
# named by its first argument. Both apps read [security] admin_login / admin_password with parse_ini_file and
# check the password with password_verify() (RainLoop since 1.15.0; SnappyMail always). Once written, the file
# is the app's: its admin panel rewrites it whole (every key, with defaults), so mailforge never replaces it.
# rainloop/v/*/app/libraries/RainLoop/Config/Application.php and snappymail/v/*/app/libraries/RainLoop/Config/
# Application.php (ValidatePassword), AbstractConfig.php (Load: every [section] key; unknown keys dropped).
ADMIN_INI_PHP = (
    r'$h = password_hash(rtrim(file_get_contents($argv[1]), "\n"), PASSWORD_DEFAULT);'
    r' echo "[security]\nadmin_login = \"admin\"\nadmin_password = \"$h\"\n";'
)

# The same, for an install whose application.ini the app has since rewritten (every key, with the admin's
# changes): only the admin_password line is replaced, with a hash of the password in the 0600 file named by the
# first argument; the file is the second. A callback, because a bcrypt hash ("$2y$...") in a replacement string
# would be read as back-references.
ADMIN_UPDATE_PHP = (
    r'$h = password_hash(rtrim(file_get_contents($argv[1]), "\n"), PASSWORD_DEFAULT);'
    r" $t = preg_replace_callback('/^admin_password[ \t]*=.*$/m',"
    r""" function ($m) use ($h) { return 'admin_password = "' . $h . '"'; },"""
    r" file_get_contents($argv[2]), 1, $n);"
    r' if ($n !== 1) { fwrite(STDERR, "mailforge: no admin_password line in $argv[2]\n"); exit(1); }'
    r" file_put_contents($argv[2], $t);"
)

ROUNDCUBE_PUBLIC = "/var/lib/roundcube/public_html"


def special_use_folders() -> dict[str, str]:
    """Role -> folder ("sent" -> "Sent"): the folders Dovecot creates for every mailbox, for the webmail."""
    return {flag.lstrip("\\").lower(): name for name, flag in SPECIAL_USE_FOLDERS}


# The default webmail's packages (bench/converge.py installs them in its floor too).
PACKAGES = ["roundcube-core", "roundcube-mysql"]
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

    def command(self, path: str, line: str) -> StringCommand:
        return StringCommand("grep -qxF", QuoteString(line), QuoteString(path), "&& echo yes || echo no")

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[0] == "yes"


@operation()
def include_line(path: str, line: str):
    if host.get_fact(HasLine, path=path, line=line):
        host.noop(f"{path} reads mailforge's settings")
        return
    yield StringCommand("printf '%s\\n'", QuoteString(line), ">>", QuoteString(path))


class InstalledVersion(FactBase[str]):
    """The version an upstream archive was installed at (mailforge's marker file); "" when none."""

    default = str

    def command(self, root: str) -> StringCommand:
        return StringCommand("cat", QuoteString(f"{root}/.mailforge-version"), "2>/dev/null || true")

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""


@operation()
def install_archive(app: str, version: str, url: str, sha256: str, root: str):
    """Fetch on the host, verify the pinned SHA-256, unpack into a staging directory, then swap it in: a bad
    download or a checksum mismatch stops the run with nothing half-installed."""
    if host.get_fact(InstalledVersion, root=root) == version:
        host.noop(f"{app} {version} is installed")
        return
    archive = f"/var/cache/mailforge/{app}-{version}.archive"
    staging = f"{root}.staging"
    yield f"install -d -m 700 /var/cache/mailforge && rm -rf {staging} {archive}"
    yield StringCommand("curl", "-fsSL", "--proto", "=https,http,file", "--max-time", "600", "-o", archive,
                        QuoteString(url))  # fmt: skip
    yield (f'got="$(sha256sum {archive} | cut -d" " -f1)"; if [ "$got" != "{sha256}" ]; then rm -f {archive};'
           f' echo "mailforge: checksum mismatch for {url}: expected sha256 {sha256}, got $got;'
           f' nothing was installed (fix {app}_archive_sha256 or {app}_archive_url)" >&2; exit 1; fi')  # fmt: skip
    yield (f"install -d -m 755 {staging} && (tar -xzf {archive} -C {staging} 2>/dev/null"
           f" || unzip -q {archive} -d {staging}) || {{ rm -rf {staging}; exit 1; }}")  # fmt: skip
    yield f"printf '%s\\n' {version} > {staging}/.mailforge-version && chown -R root:root {staging}"
    # Keep data/ (domains, settings, users' preferences) across upgrades: it moves into the new tree.
    yield f"if [ -d {root}/data ]; then rm -rf {staging}/data && mv {root}/data {staging}/data; fi"
    yield f"rm -rf {root}.old && if [ -d {root} ]; then mv {root} {root}.old; fi"
    yield f"mv {staging} {root} && rm -rf {root}.old"
    yield f"rm -f {archive}"


@operation()
def admin_password(app: str, ini: str, password: str | None):
    """The admin panel's password: from the environment, or generated on the host (0600), stored in the app's
    application.ini as a password_hash() (the app fills in every other setting with its defaults). A password
    from the environment that differs from the one set (its file on the host, compared by SHA-256) replaces it
    in the existing file."""
    secret = f"/etc/mailforge/{app}-admin"
    if host.get_fact(FileExists, path=ini):
        digest = hashlib.sha256(f"{password}\n".encode()).hexdigest()
        if password is None or host.get_fact(Sha256File, path=secret) == digest:
            host.noop(f"{app}'s admin password is set")
            return
        yield StringCommand("umask 077 && printf '%s\\n'", MaskString(shlex.quote(password)), ">", secret)
        yield f"php -r {shlex.quote(ADMIN_UPDATE_PHP)} {secret} {ini}"
        return
    if password is None:
        yield f"umask 077 && {GENERATE_PASSWORD} > {secret}"
    else:
        yield StringCommand("umask 077 && printf '%s\\n'", MaskString(shlex.quote(password)), ">", secret)
    configs = ini.rsplit("/", 1)[0]
    yield f"install -d -m 700 {configs} && umask 077 && php -r {shlex.quote(ADMIN_INI_PHP)} {secret} > {ini}"
    yield f"chown -R {app}:{app} {configs}"


@operation()
def salt_file(path: str, user: str):
    """A SALT.php as RainLoop writes it ('<?php //' + 96 random hex digits), 0600, made once on the host."""
    if host.get_fact(FileExists, path=path):
        host.noop(f"{path} exists")
        return
    php = "echo '<'.'?php //'.bin2hex(random_bytes(48));"
    yield f"umask 077 && php -r {shlex.quote(php)} > {path} && chown {user}:{user} {path}"


@deploy("Webmail")
def webmail(web: WebSettings, tls: TlsSettings, hostname: str, domains: tuple[str, ...], tier: Tier) -> None:
    if web.webmail == "roundcube":
        roundcube(web, tls, hostname, tier)
    elif web.webmail in ("rainloop", "snappymail"):
        from_archive(web, tls, hostname, domains, tier)


def from_archive(web: WebSettings, tls: TlsSettings, hostname: str, domains: tuple[str, ...], tier: Tier) -> None:
    """RainLoop or SnappyMail from the pinned upstream release archive (see the README on RainLoop)."""
    app = web.webmail
    release = tier.release
    root = f"/var/www/{app}"
    modules = [f"php{release.php}-{module}" for module in ("curl", "xml", "mbstring", "intl")]
    apt.packages(name=f"PHP modules {app} needs", packages=["curl", "unzip", *modules], no_recommends=True)
    install_archive(name=f"Install {app} {web.webmail_version}", app=app, version=web.webmail_version,
                    url=web.webmail_archive_url, sha256=web.webmail_archive_sha256, root=root)  # fmt: skip
    server.group(name=f"{app}'s PHP group", group=app, system=True)
    server.user(name=f"{app}'s PHP user", user=app, group=app, home="/nonexistent", shell="/usr/sbin/nologin",
                system=True, create_home=False, ensure_home=False)  # fmt: skip
    # data/ is the only tree the pool user writes (include.php: APP_DATA_FOLDER_PATH = <root>/data/, and its
    # private part _data_/_default_/ holds configs/, domains/, storage/ ...). RainLoop chmods data/ to 0755
    # whenever a new version first runs (rainloop/v/*/include.php), so 0755 is its steady state; _data_/ stays
    # 0700. SnappyMail keeps data/ 0700 itself (snappymail/v/*/setup.php) and runs under umask 077.
    data = f"{root}/data"
    files.directory(name=f"{app} data, written by its pool user only", path=data, user=app, group=app,
                    mode="755" if app == "rainloop" else "700")  # fmt: skip
    for sub in ("_data_", "_data_/_default_", "_data_/_default_/domains"):
        files.directory(name=f"{app} data/{sub}", path=f"{data}/{sub}", user=app, group=app, mode="700")
    if app == "rainloop":
        # RainLoop makes data/SALT.php on its first request with PHP-FPM's umask (0644) in that 0755 data/: made
        # here first, the same way (random_bytes(48), hex), it is readable by the pool user only.
        salt_file(name="RainLoop's SALT.php, for its pool user only", path=f"{data}/SALT.php", user=app)
    default = f"{data}/_data_/_default_"
    admin_password(name=f"{app} admin password", app=app, ini=f"{default}/configs/application.ini",
                   password=web.webmail_admin_password)  # fmt: skip
    # IMAPS 993 and submission 587 (STARTTLS) on this host, for every declared domain.
    configs = [
        files.template(
            name=f"{app} settings for {domain}",
            src=str(TEMPLATES / app / ("domain.json.j2" if app == "snappymail" else "domain.ini.j2")),
            dest=f"{default}/domains/{domain}.{'json' if app == 'snappymail' else 'ini'}",
            user=app,
            group=app,
            mode="600",
            managed_header=header("webmail", ";"),
            hostname=hostname,
            cafile=tls.ca_file,
        )
        for domain in domains
    ]
    # On a version's first run both apps copy their sample domains into domains/ unless domains/disabled exists
    # (RainLoop: gmail.com enabled; SnappyMail: default.json, a wildcard to localhost:143 without TLS, and
    # <gethostname()>.json). The file (a list of disabled domains, empty here) keeps the declared domains the
    # only ones; present=True leaves whatever the admin panel writes into it.
    files.file(name=f"{app} serves the declared domains only", path=f"{default}/domains/disabled", user=app,
               group=app, mode="600")  # fmt: skip
    pools = nginx_php.pool(app, app, app, web, release, upload_max_filesize="25M", post_max_size="26M")
    tier.php_fpm += [*pools, *configs]
    tier.nginx += nginx_php.site(
        "webmail",
        release,
        hostname=web.webmail_hostname,
        root=root,
        socket=nginx_php.socket(app, release),
        # Upstream: "data/ must not be reachable from the web" (the admin panel warns when it is), as in
        # upstream's own Nginx: https://github.com/the-djmaze/snappymail/blob/master/.docker/release/files/etc/nginx/nginx.conf
        denied=["/data"],
        # Under Apache an .htaccess ("Require all denied") hides <app>/v/<version>/app/ (libraries, templates,
        # sample domains); Nginx ignores .htaccess, so the same is denied here.
        denied_patterns=[f"^/{app}/v/[^/]+/app/"],
    )


def roundcube(web: WebSettings, tls: TlsSettings, hostname: str, tier: Tier) -> None:
    release, user = tier.release, tier.roundcube_user
    seed = files.put(name="Preseed Roundcube's questions", src=StringIO(ROUNDCUBE_DEBCONF),
                     dest="/var/cache/debconf/mailforge-roundcube.seed", mode="600")  # fmt: skip
    server.shell(
        name="Load the Roundcube preseed answers",
        commands=["debconf-set-selections /var/cache/debconf/mailforge-roundcube.seed"],
        _if=seed.did_change,
    )
    apt.packages(name="Install Roundcube", packages=PACKAGES, no_recommends=True)
    server.group(name="Roundcube's PHP group", group=user, system=True)
    server.user(name="Roundcube's PHP user", user=user, group=user, home="/nonexistent",
                shell="/usr/sbin/nologin", system=True, create_home=False, ensure_home=False)  # fmt: skip
    # What Roundcube writes at run time, writable by its pool user only (Debian gives them to www-data).
    files.directory(name="Roundcube temp", path="/var/lib/roundcube/temp", user=user,
                    group=user, mode="750")  # fmt: skip
    files.directory(name="Roundcube logs", path="/var/log/roundcube", user=user, group="adm",
                    mode="750")  # fmt: skip
    # Debian's logrotate recreates the logs for www-data; our pool runs as roundcube, which would lose its error
    # log after the first rotation (and fail2ban's roundcube-auth jail its input with it).
    files.replace(name="Rotated Roundcube logs stay its pool user's", path="/etc/logrotate.d/roundcube-core",
                  text="create 0640 www-data adm", replace=f"create 0640 {user} adm")  # fmt: skip
    config = template(
        "/etc/roundcube/mailforge.inc.php",
        component="webmail",
        comment="<?php //",
        mode="640",
        group="www-data",
        hostname=hostname,
        cafile=tls.ca_file,
        special_use=special_use_folders(),
    )
    # Debian generates config.inc.php (with a des_key made on the host) and keeps it through upgrades (ucf):
    # read ours after it rather than replacing it.
    include = include_line(
        name="Read mailforge's Roundcube settings",
        path="/etc/roundcube/config.inc.php",
        line='include("/etc/roundcube/mailforge.inc.php");',
    )
    # Debian's debian-db.php and config.inc.php are root:www-data 0640: the pool keeps group www-data.
    pools = nginx_php.pool("roundcube", user, "www-data", web, release, upload_max_filesize="25M",
                           post_max_size="26M")  # fmt: skip
    tier.php_fpm += [*pools, config, include]
    tier.nginx += nginx_php.site(
        "webmail",
        release,
        hostname=web.webmail_hostname,
        root=ROUNDCUBE_PUBLIC,
        socket=nginx_php.socket("roundcube", release),
        denied=["/config", "/temp", "/logs", "/SQL", "/bin", "/installer"],
        denied_patterns=[],
    )
