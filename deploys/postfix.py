"""Postfix: port 25 behind postscreen, 587 (STARTTLS + SASL) and 465 (implicit TLS) for users, virtual
domains from PostfixAdmin's tables, delivery to Dovecot over LMTP.

Every change is checked with `postfix check` before Postfix is reloaded; a failed check stops the run with
Postfix's own message and the running daemon keeps its old configuration.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from deploys.service import check_then_reload
from deploys.templating import template
from mailforge.releases import Release
from mailforge.settings import PostfixSettings, RelaySettings, TlsSettings

PACKAGES = ["postfix", "postfix-mysql", "libsasl2-modules"]
SQL_MAPS = (
    "virtual_mailbox_domains",
    "virtual_mailbox_maps",
    "virtual_alias_domain_mailbox_maps",
    "virtual_alias_maps",
    "virtual_alias_domain_maps",
    "virtual_alias_domain_catchall_maps",
    "sender_login_maps",
)


@deploy("Postfix")
def postfix(settings: PostfixSettings, tls: TlsSettings, database: str, release: Release) -> None:
    preseed = files.put(
        name="Preseed Postfix's questions",
        # mailforge writes main.cf itself: the package must not ask or write one.
        src=StringIO("postfix postfix/main_mailer_type select No configuration\n"),
        dest="/var/cache/debconf/mailforge-postfix.seed",
        mode="600",
    )
    server.shell(
        name="Load the preseed answers",
        commands=["debconf-set-selections /var/cache/debconf/mailforge-postfix.seed"],
        _if=preseed.did_change,
    )
    apt.packages(name="Install Postfix", packages=PACKAGES, no_recommends=True)
    files.directory(name="Directory for SQL maps", path="/etc/postfix/sql", mode="750", group="postfix")
    changes = [
        template(
            "/etc/postfix/main.cf",
            component="postfix",
            settings=settings,
            tls=tls,
            ffdhe_groups=release.postfix_ffdhe_groups,
        ),
        template("/etc/postfix/master.cf", component="postfix", settings=settings, tls=tls),
        # A regexp table: read by cleanup as it starts, no index to build.
        template("/etc/postfix/submission_header_checks", component="postfix", settings=settings),
    ]
    for name in SQL_MAPS:
        changes.append(
            template(
                f"/etc/postfix/sql/{name}.cf",
                component="postfix",
                mode="640",
                group="postfix",
                database=database,
            )
        )
    transport = template("/etc/postfix/transport", component="postfix", routes=settings.transport_maps)
    server.shell(name="Index the transport map", commands=["postmap /etc/postfix/transport"], _if=transport.did_change)
    # main.cf reads hash:/etc/aliases; Debian's postinst indexes it only when it writes main.cf itself, which
    # the preseed above tells it not to: without aliases.db every smtpd and local(8) logs "open database
    # /etc/aliases.db: No such file or directory" and local mail (to root, postmaster) waits in the queue.
    # https://www.postfix.org/postconf.5.html#alias_database
    aliases = template("/etc/aliases", component="postfix")
    server.shell(name="Index the local aliases", commands=["newaliases"], _if=aliases.did_change)
    template("/etc/logrotate.d/postfix-maillog", component="postfix")
    tls_policy = template("/etc/postfix/tls_policy", component="postfix", relay=settings.relay)
    server.shell(name="Index the TLS policy", commands=["postmap /etc/postfix/tls_policy"], _if=tls_policy.did_change)
    relay_credentials = _relay_credentials(settings.relay)
    changes += [transport, tls_policy, relay_credentials]
    check_then_reload("Postfix", "postfix", "postfix check", changes, instance=release.postfix_instance)
    server.shell(
        # New relay credentials: retry what waited for them now instead of at the next queue run.
        name="Retry deferred mail through the relay",
        commands=["postqueue -f"],
        _if=relay_credentials.did_change,
    )


def _relay_credentials(relay: RelaySettings | None):  # type: ignore[no-untyped-def]
    """sasl_passwd (0600) and its index; the content never reaches a log (files.put compares hashes)."""
    if relay is None:
        return files.file(name="No relay credentials", path="/etc/postfix/sasl_passwd", present=False)
    line = f"{relay.nexthop} {relay.username}:{relay.password}\n"
    credentials = files.put(name="Relay credentials", src=StringIO(line), dest="/etc/postfix/sasl_passwd", mode="600")
    server.shell(
        name="Index the relay credentials",
        commands=["postmap /etc/postfix/sasl_passwd && chmod 600 /etc/postfix/sasl_passwd.db"],
        _if=credentials.did_change,
    )
    return credentials
