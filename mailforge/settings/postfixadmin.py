"""PostfixAdmin's database and CLI (deploys/postfixadmin.py): how mailbox passwords are hashed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # Password hash scheme, via `doveadm pw` so Dovecot verifies exactly what PostfixAdmin wrote.
    "postfixadmin_password_scheme": "ARGON2I",
}

# Schemes both PostfixAdmin (through doveadm) and Dovecot handle; salted and slow by design.
PASSWORD_SCHEMES = ("ARGON2I", "ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT")


@dataclass(frozen=True)
class PostfixAdminSettings:
    password_scheme: str  # a `doveadm pw -s` scheme


def read_postfixadmin(read: Reader) -> PostfixAdminSettings:
    scheme = read.string("postfixadmin_password_scheme", "ARGON2I")
    if scheme and scheme not in PASSWORD_SCHEMES:
        read.problem("postfixadmin_password_scheme", f"unsupported scheme {scheme!r}", f"use one of {PASSWORD_SCHEMES}")
    return PostfixAdminSettings(password_scheme=scheme)
