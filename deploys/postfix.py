"""Postfix: port 25 behind postscreen, 587 (STARTTLS + SASL) and 465 (implicit TLS) for users, virtual
domains from PostfixAdmin's tables, delivery to Dovecot over LMTP.

Every change is checked with `postfix check` before Postfix is reloaded; a failed check stops the run with
Postfix's own message and the running daemon keeps its old configuration.
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from deploys.templating import template
from mailforge.settings import PostfixSettings, TlsSettings

DEFAULTS = {
    # Largest message accepted, in bytes (Postfix's message_size_limit; 50 MiB).
    "postfix_message_size_limit": 52428800,
    # Domains delivered to local Unix accounts; virtual domains must never be listed here.
    "postfix_mydestination": ["localhost"],
    # Optional static routes: {"example.net": "smtp:[10.0.0.5]:25"} (Postfix transport(5)).
    "postfix_transport_maps": {},
}

PACKAGES = ["postfix", "postfix-mysql"]
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
def postfix(settings: PostfixSettings, tls: TlsSettings, database: str) -> None:
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
        template("postfix/main.cf", "/etc/postfix/main.cf", component="postfix", settings=settings, tls=tls,
                 sql_maps=SQL_MAPS),
        template("postfix/master.cf", "/etc/postfix/master.cf", component="postfix"),
    ]  # fmt: skip
    for name in SQL_MAPS:
        changes.append(
            template(
                f"postfix/sql/{name}.cf",
                f"/etc/postfix/sql/{name}.cf",
                component="postfix",
                mode="640",
                group="postfix",
                database=database,
            )
        )
    transport = template(
        "postfix/transport", "/etc/postfix/transport", component="postfix", routes=settings.transport_maps
    )
    server.shell(name="Index the transport map", commands=["postmap /etc/postfix/transport"], _if=transport.did_change)
    changes.append(transport)
    server.shell(
        name="Check the Postfix configuration",
        commands=["postfix check"],
        _if=lambda: any(op.did_change() for op in changes),
    )
    systemd.service(name="Run Postfix", service="postfix", running=True, enabled=True)
    systemd.service(
        name="Reload Postfix",
        service="postfix",
        reloaded=True,
        _if=lambda: any(op.did_change() for op in changes),
    )
