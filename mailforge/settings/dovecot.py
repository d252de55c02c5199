"""Dovecot (deploys/dovecot.py): IMAP, LMTP and SASL over Maildirs owned by one vmail user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # uid of the vmail user that owns every Maildir (Dovecot's mail_uid).
    "dovecot_vmail_uid": 2000,
    # gid of the vmail group (Dovecot's mail_gid).
    "dovecot_vmail_gid": 2000,
    # Root of the Maildirs: <root>/<domain>/<user>.
    "dovecot_mail_root": "/var/vmail",
}


@dataclass(frozen=True)
class DovecotSettings:
    hostname: str
    vmail_uid: int
    vmail_gid: int
    mail_root: str


def read_dovecot(read: Reader, hostname: str) -> DovecotSettings:
    dovecot = DovecotSettings(
        hostname=hostname,
        vmail_uid=read.integer("dovecot_vmail_uid", 1000),
        vmail_gid=read.integer("dovecot_vmail_gid", 1000),
        mail_root=read.string("dovecot_mail_root", "/var/vmail"),
    )
    if dovecot.mail_root and not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", dovecot.mail_root):
        read.problem(
            "dovecot_mail_root", f"{dovecot.mail_root!r} is not a plain absolute path", "use e.g. '/var/vmail'"
        )
    return dovecot
