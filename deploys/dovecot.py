"""Dovecot: IMAP (143 with STARTTLS, 993), LMTP delivery for Postfix, SASL for Postfix, users and quotas
from PostfixAdmin's tables, Maildirs under /var/vmail/<domain>/<user> owned by the vmail user.

`doveconf -n` must accept the configuration before Dovecot is reloaded.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from deploys.service import check_then_reload
from deploys.templating import TEMPLATES, template
from mailforge.releases import Release
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
# Readable by the dovecot group only, as the SQL settings are (2.3's separate file; none in 2.4's tree).
GROUP_ONLY = ("dovecot-sql.conf.ext",)


def tree(release: Release) -> Path:
    """The release's Dovecot template tree (DESIGN.md section 3): 2.4 rejects 2.3's format and the reverse."""
    return TEMPLATES / "dovecot" / release.dovecot


def config_files(release: Release) -> list[str]:
    """Every file of the release's tree, as its path under /etc/dovecot."""
    root = tree(release)
    return sorted(str(path.relative_to(root)).removesuffix(".j2") for path in root.rglob("*.j2"))


@deploy("Dovecot")
def dovecot(settings: DovecotSettings, tls: TlsSettings, database: str, release: Release) -> None:
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
            f"/etc/dovecot/{name}",
            component="dovecot",
            source=f"dovecot/{release.dovecot}/{name}",
            mode="640" if name in GROUP_ONLY else "644",
            group="dovecot" if name in GROUP_ONLY else "root",
            settings=settings,
            tls=tls,
            folders=SPECIAL_USE_FOLDERS,
            database=database,
        )
        for name in config_files(release)
    ]
    check_then_reload("Dovecot", "dovecot", "doveconf -n > /dev/null", changes)
