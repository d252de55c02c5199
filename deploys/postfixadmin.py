"""PostfixAdmin from Debian's package: its schema is the mail database; its CLI creates domains, mailboxes,
aliases, alias domains and catch-alls, so PostfixAdmin's own hashing and quota rules apply.

Debian's package creates the database and its user through dbconfig-common with a password generated on the
host (/etc/dbconfig-common/postfixadmin.conf, 0600; /etc/postfixadmin/dbconfig.inc.php, 0640 root:www-data).
mailforge never deletes what is not declared: mailboxes hold mail, and operators may add entries in the UI.
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import MaskString, StringCommand, deploy, operation
from pyinfra.operations import apt, files, server

from deploys.facts import GENERATE_PASSWORD, SqlRows
from deploys.templating import template
from mailforge.releases import Release
from mailforge.settings import Alias, Mailbox, MailDomain, WebSettings

DATABASE = "postfixadmin"
CLI = "/usr/share/postfixadmin/scripts/postfixadmin-cli"
SECRETS = "/etc/mailforge/mailboxes"
# Answers for the package's questions: dbconfig-common creates the DB with a random password; no web server
# is reconfigured by the package (mailforge writes Nginx itself).
DEBCONF = """\
postfixadmin postfixadmin/dbconfig-install boolean true
postfixadmin postfixadmin/database-type select mysql
postfixadmin postfixadmin/mysql/app-pass password
postfixadmin postfixadmin/app-password-confirm password
postfixadmin postfixadmin/reconfigure-webserver multiselect
"""
# The aliases RFC 2142 names for a mail domain; PostfixAdmin's UI offers them when a domain is added.
DEFAULT_ALIASES = ("abuse", "hostmaster", "postmaster", "webmaster")
CUSTOM_CSS = "/etc/postfixadmin/mailforge.css"
PACKAGES = ["postfixadmin", "php-fpm", "php-mysql", "php-imap", "php-mbstring", "dovecot-core"]


def _cli(*args: str | MaskString) -> StringCommand:
    return StringCommand(CLI, *args)


def _domain_rows() -> dict[str, list[str]]:
    return {r[0]: r for r in host.get_fact(SqlRows, database=DATABASE, query="SELECT domain, description FROM domain")}


def _add_domain(name: str, description: str) -> StringCommand:
    # No limits (0), not a backup MX; --default-aliases 0: abuse@/postmaster@ are declared by the operator.
    return _cli("domain", "add", name, "--description", shlex.quote(description), "--active", "1",
                "--aliases", "0", "--mailboxes", "0", "--maxquota", "0", "--quota", "0", "--backupmx", "0",
                "--default-aliases", "0")  # fmt: skip


@operation()
def domain(entry: MailDomain):
    rows = _domain_rows()
    common = ["--description", shlex.quote(entry.description), "--active", "1"]
    if entry.domain not in rows:
        yield _add_domain(entry.domain, entry.description)
    elif rows[entry.domain][1] != entry.description:
        yield _cli("domain", "update", entry.domain, *common)
    else:
        host.noop(f"domain {entry.domain} is declared")


@operation()
def mailbox(entry: Mailbox):
    query = "SELECT username, name, quota FROM mailbox"
    rows = {r[0]: r for r in host.get_fact(SqlRows, database=DATABASE, query=query)}
    quota = str(entry.quota_mb)
    settings = ["--name", shlex.quote(entry.name), "--quota", quota, "--active", "1"]
    if entry.address not in rows:
        secret = f"{SECRETS}/{entry.address}"
        if entry.password is None:
            # Generated on the host and kept there (0600) for the operator; never sent back or logged.
            yield f"umask 077 && mkdir -p {SECRETS} && {GENERATE_PASSWORD} > {secret}"
        else:
            yield StringCommand("umask 077 && mkdir -p", SECRETS, "&& printf '%s\\n'",
                                MaskString(shlex.quote(entry.password)), ">", secret)  # fmt: skip
        yield StringCommand(
            f'pw="$(cat {secret})" &&', CLI, "mailbox", "add", entry.address, '--password "$pw" --password2 "$pw"',
            *settings, "--welcome-mail", "0",
        )  # fmt: skip
        return
    _, name, stored_bytes = rows[entry.address]
    if name != entry.name or int(stored_bytes) != entry.quota_mb * 1048576:
        yield _cli("mailbox", "update", entry.address, *settings)
    else:
        host.noop(f"mailbox {entry.address} is declared")


@operation()
def alias(entry: Alias):
    rows = {r[0]: r[1] for r in host.get_fact(SqlRows, database=DATABASE, query="SELECT address, goto FROM alias")}
    goto = ",".join(entry.goto)
    if entry.address not in rows:
        yield _cli("alias", "add", entry.address, "--goto", goto, "--active", "1")
    elif sorted(rows[entry.address].split(",")) != sorted(entry.goto):
        yield _cli("alias", "update", entry.address, "--goto", goto, "--active", "1")
    else:
        host.noop(f"alias {entry.address} is declared")


@operation()
def alias_domain(alias: str, target: str):
    query = "SELECT alias_domain, target_domain FROM alias_domain"
    rows = {r[0]: r[1] for r in host.get_fact(SqlRows, database=DATABASE, query=query)}
    if alias in rows and rows[alias] == target:
        host.noop(f"alias domain {alias} is declared")
        return
    if alias not in rows:
        if alias not in _domain_rows():
            # PostfixAdmin needs the alias domain as a domain row of its own first.
            yield _add_domain(alias, f"alias of {target}")
        yield _cli("aliasdomain", "add", alias, "--target-domain", target, "--active", "1")
    else:
        yield _cli("aliasdomain", "update", alias, "--target-domain", target, "--active", "1")


def default_aliases(target: str) -> list[tuple[str, str]]:
    """PostfixAdmin's default_aliases: each to the new domain's postmaster (a bare local part), postmaster to
    TARGET, an address of this server; none without one."""
    if not target:
        return []
    return [(name, target if name == "postmaster" else "postmaster") for name in DEFAULT_ALIASES]


@deploy("PostfixAdmin")
def postfixadmin(domains: tuple[MailDomain, ...], password_scheme: str, web: WebSettings, release: Release) -> None:
    debconf = files.put(name="Preseed PostfixAdmin's questions", src=StringIO(DEBCONF),
                        dest="/var/cache/debconf/mailforge-postfixadmin.seed", mode="600")  # fmt: skip
    server.shell(
        name="Load the preseed answers",
        commands=["debconf-set-selections /var/cache/debconf/mailforge-postfixadmin.seed"],
        _if=debconf.did_change,
    )
    packages = apt.packages(name="Install PostfixAdmin", packages=release.package_names(PACKAGES), no_recommends=True)
    config = template(
        "/etc/postfixadmin/config.local.php",
        component="postfixadmin",
        comment="<?php //",
        mode="640",
        group="www-data",
        password_scheme=password_scheme,
        footer_name=web.webmail_hostname,
        footer_link=f"https://{web.webmail_hostname}/" if web.webmail != "none" else "",
        default_aliases=default_aliases(web.default_aliases_to),
        admin_email=web.default_aliases_to,
    )
    template(CUSTOM_CSS, component="postfixadmin", comment="/*")
    version = host.get_fact(SqlRows, database=DATABASE, query="SELECT value FROM config WHERE name='version'")
    server.shell(
        name="Create or upgrade PostfixAdmin's schema",
        # upgrade.php is PostfixAdmin's own schema migration; from the CLI it runs every pending step.
        commands=["cd /usr/share/postfixadmin/public && php upgrade.php > /dev/null"],
        _if=lambda: not version or packages.did_change() or config.did_change(),
    )
    for entry in domains:
        domain(name=f"Domain {entry.domain}", entry=entry)
        for mb in entry.mailboxes:
            mailbox(name=f"Mailbox {mb.address}", entry=mb)
        for al in entry.aliases:
            alias(name=f"Alias {al.address}", entry=al)
        for name in entry.alias_domains:
            alias_domain(name=f"Alias domain {name}", alias=name, target=entry.domain)
