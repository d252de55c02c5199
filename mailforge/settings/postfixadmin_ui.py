"""PostfixAdmin's web UI (deploys/web/postfixadmin_ui.py): its name, its superadmin, its default aliases."""

from __future__ import annotations

from typing import Any

from mailforge.settings.common import Reader
from mailforge.settings.domains import MailDomain

DEFAULTS: dict[str, Any] = {
    # The UI's host name (None: postfixadmin.<the parent domain of mail_hostname>).
    "postfixadmin_hostname": None,
    # The superadmin's login, a mail address (None: admin@<the first mail domain>).
    "postfixadmin_superadmin": None,
    # An environment variable on the control machine holding the superadmin's password; None: generated on
    # the host, /etc/mailforge/postfixadmin/superadmin (0600).
    "postfixadmin_superadmin_password_env": None,
    # postmaster@ of a domain added in the UI (its abuse@, hostmaster@ and webmaster@ go to that postmaster@),
    # and PostfixAdmin's sender: a declared mailbox or alias (None: the superadmin if it is one, else the first
    # declared mailbox).
    "postfixadmin_default_aliases_to": None,
}


def sibling(hostname: str, label: str) -> str:
    """postfixadmin.example.org beside mail.example.org; under a two-label host name, below it."""
    parent = hostname.split(".", 1)[1] if hostname.count(".") >= 2 else hostname
    return f"{label}.{parent}"


def read_hostname(read: Reader, derived: str) -> str:
    return read.fqdn("postfixadmin_hostname", "postfixadmin.example.org",
                     read.optional("postfixadmin_hostname", sibling(derived, "postfixadmin")))  # fmt: skip


def read_superadmin(read: Reader, domains: list[MailDomain]) -> tuple[str, str | None]:
    """The superadmin's login and its password from the environment (None: generated on the host)."""
    first_domain = domains[0].domain if domains and domains[0].domain else "example.org"
    superadmin = read.address(
        "postfixadmin_superadmin", read.optional("postfixadmin_superadmin", f"admin@{first_domain}")
    )
    env = read.optional("postfixadmin_superadmin_password_env")
    password = read.password("postfixadmin_superadmin", {"password_env": env}) if env is not None else None
    return superadmin, password


def read_default_aliases_to(read: Reader, superadmin: str, domains: list[MailDomain]) -> str:
    """postfixadmin_default_aliases_to, checked to be an address of this server; unset: the superadmin if it
    is one, else the first declared mailbox."""
    mailboxes = [m.address for d in domains for m in d.mailboxes]
    addresses = set(mailboxes) | {a.address for d in domains for a in d.aliases}
    value = read.optional("postfixadmin_default_aliases_to")
    if value is None:
        return superadmin if superadmin in addresses else next(iter(mailboxes), "")
    before = len(read.problems)
    target = read.address("postfixadmin_default_aliases_to", value)
    if target and len(read.problems) == before and target not in addresses:
        example = mailboxes[0] if mailboxes else "postmaster@example.org"
        read.problem("postfixadmin_default_aliases_to",
                     f"{target} is neither a mailbox nor an alias declared in mail_domains",
                     f"name one that is (e.g. {example!r}) or declare {target} in mail_domains")  # fmt: skip
    return target
