"""The mail domains this server receives for: mailboxes, aliases, alias domains, catch-alls (deploys/postfixadmin.py
creates them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

REQUIRED = (
    # The mail domains, each {"domain": ..., "mailboxes": [...], "aliases": [...], "alias_domains": [...],
    # "catch_all": ..., "description": ...} (group_data/all.py shows each field).
    "mail_domains",
)

DEFAULTS: dict[str, Any] = {}


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str
    quota_mb: int  # 0: unlimited
    # Read from the environment on the control machine; None: generated on the host at creation.
    password: str | None

    @property
    def local_part(self) -> str:
        return self.address.split("@", 1)[0]


@dataclass(frozen=True)
class Alias:
    address: str  # "user@domain", or "@domain" for a catch-all
    goto: tuple[str, ...]


@dataclass(frozen=True)
class MailDomain:
    domain: str
    description: str
    mailboxes: tuple[Mailbox, ...]
    aliases: tuple[Alias, ...]  # catch-all included, as "@domain"
    alias_domains: tuple[str, ...]


def read_domains(read: Reader) -> list[MailDomain]:
    raw_domains = read.get("mail_domains")
    if not raw_domains:
        read.problem("mail_domains", "is required and empty", "declare at least one domain in group_data/all.py")
    domains = [d for i, e in enumerate(read.items("mail_domains", raw_domains)) if (d := _domain(read, i, e))]
    _cross_checks(read, domains)
    return domains


def _domain(read: Reader, index: int, entry: Any) -> MailDomain | None:
    key = f"mail_domains[{index}]"
    if not isinstance(entry, Mapping):
        read.problem(key, "must be a mapping with at least 'domain'", "write {'domain': 'example.org', ...}")
        return None
    domain = read.fqdn(key + ".domain", "example.org", entry.get("domain") or "")
    mailboxes = []
    for i, mb in enumerate(read.items(key + ".mailboxes", entry.get("mailboxes"))):
        mkey = f"{key}.mailboxes[{i}]"
        if not isinstance(mb, Mapping):
            read.problem(mkey, "must be a mapping", "write {'address': 'user@example.org', 'quota_mb': 1024}")
            continue
        address = read.address(mkey + ".address", mb.get("address"), domain or None)
        name = read.string(mkey + ".name", "Alice Example", mb.get("name", address.split("@")[0]), required=False)
        # PostfixAdmin stores the quota in bytes in a signed BIGINT column.
        quota = read.integer(mkey + ".quota_mb", 0, mb.get("quota_mb", 0), maximum=(2**63 - 1) // 1048576)
        mailboxes.append(Mailbox(address, name, quota, read.password(mkey, mb)))
    aliases = []
    for i, al in enumerate(read.items(key + ".aliases", entry.get("aliases"))):
        akey = f"{key}.aliases[{i}]"
        if not isinstance(al, Mapping):
            read.problem(akey, "must be a mapping", "write {'address': 'info@example.org', 'goto': ['user@...']}")
            continue
        address = read.address(akey + ".address", al.get("address"), domain or None)
        goto = al.get("goto")
        targets = [goto] if isinstance(goto, str) else read.items(akey + ".goto", goto)
        if not targets:
            read.problem(akey + ".goto", "names no target", "list at least one address in goto")
        aliases.append(Alias(address, tuple(read.address(akey + ".goto", t) for t in targets)))
    catch_all = entry.get("catch_all")
    if catch_all is not None:
        aliases.append(Alias("@" + domain, (read.address(key + ".catch_all", catch_all),)))
    alias_domains = tuple(
        read.fqdn(f"{key}.alias_domains[{i}]", "example.net", d)
        for i, d in enumerate(read.items(key + ".alias_domains", entry.get("alias_domains")))
    )
    description = read.string(key + ".description", "Example Ltd", entry.get("description", domain), required=False)
    return MailDomain(domain, description, tuple(mailboxes), tuple(aliases), alias_domains)


def _cross_checks(read: Reader, domains: list[MailDomain]) -> None:
    """Duplicates anywhere, and local targets that lead nowhere (mail would bounce: fail now instead)."""
    seen_domains: dict[str, str] = {}
    for i, d in enumerate(domains):
        for name, what in [(d.domain, "domain"), *((a, "alias domain") for a in d.alias_domains)]:
            if name in seen_domains:
                read.problem(
                    f"mail_domains[{i}]", f"{name} is declared twice (as {seen_domains[name]} and {what})", "keep one"
                )
            seen_domains[name] = what
    local_domains = {d.domain for d in domains}
    mailboxes = {m.address for d in domains for m in d.mailboxes}
    aliases = {a.address for d in domains for a in d.aliases}
    seen: set[str] = set()
    for i, d in enumerate(domains):
        for address in [m.address for m in d.mailboxes] + [a.address for a in d.aliases]:
            if address in seen:
                read.problem(f"mail_domains[{i}]", f"{address} is declared twice", "declare each address once")
            seen.add(address)
        for alias in d.aliases:
            for target in alias.goto:
                if target.split("@")[-1] in local_domains and target not in mailboxes | aliases:
                    read.problem(
                        f"mail_domains[{i}] alias {alias.address}",
                        f"points to {target}, which is neither a mailbox nor an alias here",
                        f"add a mailbox {target} or correct the target",
                    )
