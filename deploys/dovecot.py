"""Dovecot: IMAP (143 with STARTTLS, 993), LMTP delivery for Postfix, SASL for Postfix, users and quotas
from PostfixAdmin's tables, Maildirs under /var/vmail/<domain>/<user> owned by the vmail user.

`doveconf -n` must accept the configuration before Dovecot is reloaded.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from deploys.service import check_then_reload
from deploys.templating import template
from mailforge.settings import DovecotSettings, TlsSettings

# Folders every mailbox has from its first login, with their RFC 6154 special-use flags (15-mailboxes.conf);
# the webmail is configured with the same names (deploys/webmail.py).
SPECIAL_USE_FOLDERS = (
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Junk", "\\Junk"),
    ("Trash", "\\Trash"),
    ("Archive", "\\Archive"),
)
PACKAGES = ["dovecot-core", "dovecot-imapd", "dovecot-lmtpd", "dovecot-mysql"]
CONF_D = (
    "10-auth.conf",
    "10-mail.conf",
    "10-master.conf",
    "10-ssl.conf",
    "15-mailboxes.conf",
    "20-imap.conf",
    "20-lmtp.conf",
    "90-quota.conf",
    "auth-sql.conf.ext",
)


@deploy("Dovecot")
def dovecot(settings: DovecotSettings, tls: TlsSettings, database: str) -> None:
    apt.packages(name="Install Dovecot", packages=PACKAGES, no_recommends=True)
    # Stopping Dovecot must not deliver a message twice: see the drop-in (read at the next stop, no restart).
    dropin = template(
        "/etc/systemd/system/dovecot.service.d/mailforge.conf", component="dovecot", create_remote_dir=True
    )
    systemd.daemon_reload(name="Reload systemd units", _if=dropin.did_change)
    server.group(name="vmail group", group="vmail", gid=settings.vmail_gid, system=True)
    server.user(
        name="vmail user",
        user="vmail",
        uid=settings.vmail_uid,
        group="vmail",
        home=settings.mail_root,
        shell="/usr/sbin/nologin",
        system=True,
        create_home=False,
    )
    files.directory(name="Mail root", path=settings.mail_root, user="vmail", group="vmail", mode="770")
    changes = [
        template(
            f"/etc/dovecot/conf.d/{name}",
            component="dovecot",
            settings=settings,
            tls=tls,
            folders=SPECIAL_USE_FOLDERS,
        )
        for name in CONF_D
    ]
    changes.append(
        template(
            "/etc/dovecot/dovecot-sql.conf.ext",
            component="dovecot",
            mode="640",
            group="dovecot",
            settings=settings,
            database=database,
        )
    )
    check_then_reload("Dovecot", "dovecot", "doveconf -n > /dev/null", changes)
