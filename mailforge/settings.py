"""Operator data -> frozen, typed settings, validated once, before any host is touched.

Every problem is collected and reported together, each naming the inventory key and the fix, so an operator
fixes a bad inventory in one pass instead of one error per run. Pure code: no pyinfra import.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mailforge import releases
from mailforge.dns.inputs import DomainDnsInputs, MailDnsInputs
from mailforge.releases import Release
from mailforge.tls_policy import ALLOWED_CIPHERS, ALLOWED_CURVES, PROTOCOLS, TlsPolicy

# RFC 1123 host labels; a mail hostname must be fully qualified (RFC 5321 section 4.1.2: HELO takes a FQDN).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
# \Z, not $: "$" also matches before a trailing newline, which would let "mail.example.org\n" into main.cf.
FQDN_RE = re.compile(rf"^(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})+\Z")
# The dot-atom local parts PostfixAdmin accepts (RFC 5322 section 3.4.1, without quoted strings).
LOCAL_PART_RE = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
MIN_PASSWORD_LENGTH = 12
# Every number ends in a daemon or a tool that reads it into a C int: a bigger one fails on the host, after
# the run has started changing it. Keys with another limit pass their own maximum.
INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}; fix: {self.fix}"


class SettingsError(ValueError):
    """All the problems found in one host's data."""

    def __init__(self, problems: list[Problem], host: str | None = None) -> None:
        self.problems = problems
        self.host = host
        where = f" for host {host}" if host else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the inventory data{where}:\n{lines}")


@dataclass(frozen=True)
class BaseSettings:
    hostname: str
    timezone: str


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


@dataclass(frozen=True)
class CertbotSettings:
    """Certbot mode: where to ask (an ACME directory) and which names to prove over HTTP-01."""

    server: str  # ACME directory URL
    email: str | None  # None: registered without an address (no expiry mail)
    ca_bundle: str | None  # a PEM file on the control machine to trust for the ACME directory itself


@dataclass(frozen=True)
class TlsSettings:
    """Where every daemon finds the certificate; one object so Certbot can swap the files later."""

    mode: str
    cert_file: str  # full chain, leaf first
    key_file: str
    ca_file: str  # the local CA's certificate, for clients to trust (self-signed mode)
    # Every name the host serves (mail_hostname first): the certificate's subjectAltNames.
    names: tuple[str, ...] = ()
    certbot: CertbotSettings | None = None
    # Protocols, suites and groups every TLS daemon serves (mailforge/tls_policy.py).
    policy: TlsPolicy = field(default_factory=TlsPolicy)


@dataclass(frozen=True)
class WebSettings:
    """The web tier (deploys/nginx_php.py, postfixadmin_ui.py, webmail.py): names, apps, PHP-FPM pools."""

    postfixadmin_hostname: str
    webmail_hostname: str
    webmail: str  # roundcube | rainloop | snappymail | none
    superadmin: str  # PostfixAdmin superadmin login (a mail address)
    superadmin_password: str | None  # from the environment; None: generated on the host
    fpm_max_children: int  # per pool: nginx_php_fpm_max_children, or sized from the host (fpm_children)
    fpm_max_requests: int
    hsts_max_age: int
    # Where PostfixAdmin's "Add default mail aliases" sends postmaster@<new domain> (abuse@, hostmaster@ and
    # webmaster@ go to that postmaster@), and its admin_email: a mailbox or alias declared here; "" when the
    # server declares no mailbox at all (no default aliases then).
    default_aliases_to: str = ""
    # RainLoop/SnappyMail only: the pinned upstream release archive and its admin panel password.
    webmail_version: str = ""
    webmail_archive_url: str = ""
    webmail_archive_sha256: str = ""
    webmail_admin_password: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.postfixadmin_hostname,) + ((self.webmail_hostname,) if self.webmail != "none" else ())


@dataclass(frozen=True)
class Machine:
    """What the target host has to run on, from its facts (deploys/settings.py), for sizing PHP-FPM pools."""

    cpus: int
    memory_mb: int


# When load_settings is not told (pure checks, `mailforge dns ...`): a small VPS.
SMALL_MACHINE = Machine(cpus=1, memory_mb=1024)
# PHP-FPM workers per CPU. The apps' pages are mostly CPU (templates, sessions, password hashing), but a worker
# also waits: on MariaDB and IMAP over local sockets, and on Nginx (which shares the CPUs, TLS included) to take
# its answer, so a few more workers than CPUs keep every CPU busy. Many more only queue on the CPUs: 16 on 2 CPUs
# served fewer requests/s than Debian's 5, with a worse p99. Between 5 and 8 on 2 CPUs, bench/web.py could not
# tell them apart on a loaded machine (runs differ by +-10%), and 8 had the worse p99 more often: three per
# CPU, the middle (figures in the README).
FPM_CHILDREN_PER_CPU = 3
# A PHP worker of these apps holds 30-60 MB; the pools together get at most a quarter of the memory: MariaDB,
# Dovecot, Postfix and the page cache need the rest.
FPM_CHILD_MB = 64
FPM_MEMORY_SHARE = 4


def fpm_children(machine: Machine, pools: int) -> int:
    """pm.max_children per pool, from the host's CPUs, bounded by its memory shared among the pools."""
    by_cpu = FPM_CHILDREN_PER_CPU * machine.cpus
    by_memory = machine.memory_mb // FPM_MEMORY_SHARE // (FPM_CHILD_MB * max(1, pools))
    return max(1, min(by_cpu, by_memory))


@dataclass(frozen=True)
class RelaySettings:
    """A smarthost for clouds that block outbound port 25: every outbound message goes through it."""

    host: str
    port: int
    username: str
    password: str  # from the environment or a secret file on the control machine; never logged

    @property
    def nexthop(self) -> str:
        # [name] or [address]: no MX lookup; an IPv6 literal is written [ipv6:...] (postconf(5) relayhost).
        host = f"ipv6:{self.host}" if ":" in self.host else self.host
        return f"[{host}]:{self.port}"


@dataclass(frozen=True)
class PostfixSettings:
    hostname: str
    mydestination: tuple[str, ...]
    message_size_limit: int
    transport_maps: tuple[tuple[str, str], ...]
    relay: RelaySettings | None
    outbound_tls: str  # may | dane
    hide_submission_client: bool  # submission's Received header without the user's address


@dataclass(frozen=True)
class DkimSettings:
    selector: str
    bits: int


@dataclass(frozen=True)
class DovecotSettings:
    hostname: str
    vmail_uid: int
    vmail_gid: int
    mail_root: str


@dataclass(frozen=True)
class PostfixAdminSettings:
    password_scheme: str  # a `doveadm pw -s` scheme


# Schemes both PostfixAdmin (through doveadm) and Dovecot handle; salted and slow by design.
PASSWORD_SCHEMES = ("ARGON2I", "ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT")


@dataclass(frozen=True)
class DnsSettings:
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    dmarc_policy: str
    dmarc_rua: tuple[str, ...]
    caa_issuers: tuple[str, ...]
    preflight: str  # off | warn | enforce
    nameservers: tuple[tuple[str, int], ...]  # empty: the control machine's resolvers
    relay_spf_include: str | None  # the relay provider's SPF domain


# Ports the host firewall always opens (deploys/firewall.py), with what listens there. 4190 (ManageSieve) joins
# them once a component serves it; nothing does today.
FIREWALL_PORTS: dict[int, str] = {
    22: "SSH: the operator and mailforge itself",
    25: "SMTP: mail from other servers (postscreen)",
    80: "HTTP: ACME challenges, redirects to HTTPS",
    143: "IMAP with STARTTLS",
    443: "HTTPS: PostfixAdmin and the webmail",
    465: "submissions: mail clients, implicit TLS",
    587: "submission: mail clients, STARTTLS",
    993: "IMAPS",
}


@dataclass(frozen=True)
class FirewallSettings:
    enabled: bool
    extra_ports: tuple[int, ...]  # firewall_extra_ports, sorted, without the always-open ones

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(sorted({*FIREWALL_PORTS, *self.extra_ports}))


@dataclass(frozen=True)
class Fail2banSettings:
    maxretry: int
    findtime: int  # seconds
    bantime: int  # seconds
    ignoreip: tuple[str, ...]  # networks (CIDR), loopback always included by deploys/fail2ban.py


@dataclass(frozen=True)
class Settings:
    base: BaseSettings
    domains: tuple[MailDomain, ...]
    tls: TlsSettings
    postfix: PostfixSettings
    dovecot: DovecotSettings
    postfixadmin: PostfixAdminSettings
    dkim: DkimSettings
    dns: DnsSettings
    web: WebSettings
    firewall: FirewallSettings
    fail2ban: Fail2banSettings
    # The target's Debian release, read once from its /etc/os-release (deploys/settings.py): package names
    # and template trees are chosen from it (DESIGN.md section 3).
    release: Release = releases.DEPLOY_DEFAULT

    @property
    def mailboxes(self) -> tuple[Mailbox, ...]:
        return tuple(m for d in self.domains for m in d.mailboxes)

    @property
    def domain_names(self) -> tuple[str, ...]:
        """Every domain this server receives and signs for, alias domains included."""
        return tuple(n for d in self.domains for n in (d.domain, *d.alias_domains))

    def dns_inputs(self, dkim_keys: Mapping[str, str] | None = None) -> MailDnsInputs:
        """What to publish for every domain, with the DKIM public key of each domain whose key exists."""
        keys = dkim_keys or {}
        return MailDnsInputs(
            tuple(
                DomainDnsInputs(
                    domain=name,
                    hostname=self.base.hostname,
                    ipv4=self.dns.ipv4,
                    ipv6=self.dns.ipv6,
                    dmarc_policy=self.dns.dmarc_policy,
                    dmarc_rua=self.dns.dmarc_rua,
                    caa_issuers=self.dns.caa_issuers,
                    dkim_selector=self.dkim.selector,
                    dkim_public_key=keys.get(name),
                    relay_spf_include=self.dns.relay_spf_include,
                )
                for name in self.domain_names
            )
        )


@functools.cache
def _timezones() -> frozenset[str]:
    # Read once: it walks the whole tz database, a noticeable cost per host of a large inventory.
    return frozenset(zoneinfo.available_timezones())


def _show(value: Any, limit: int = 80) -> str:
    """repr() for a problem message: shortened, and safe for ints too long to print (over 4300 digits)."""
    try:
        text = repr(value)
    except ValueError:
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Reader:
    """Reads keys from host data over component defaults, recording problems instead of raising."""

    def __init__(self, data: Mapping[str, Any], defaults: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.data = data
        self.defaults = defaults
        self.environ = environ
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(key, message, fix))

    def get(self, key: str) -> Any:
        if key in self.data and self.data[key] is not None:
            return self.data[key]
        return self.defaults.get(key)

    def optional(self, key: str, default: Any = None) -> Any:
        """A key that may be left unset (None or ""): its default then. 0, False or [] are set, and checked."""
        value = self.get(key)
        return default if value is None or (isinstance(value, str) and value == "") else value

    def string(self, key: str, example: str, value: Any = None, *, required: bool = True) -> str:
        value = self.get(key) if value is None else value
        if value is None or value == "":
            if required:
                self.problem(key, "is required and not set", f"set {key} = {example!r} in group_data/all.py")
            return ""
        if not isinstance(value, str):
            self.problem(key, f"must be a string, not {type(value).__name__}", f"set it like {example!r}")
            return ""
        # A control character (a newline above all) would end a line in main.cf or a row in mysql's output,
        # and a lone surrogate cannot even be written as UTF-8: no setting has a use for either.
        bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs")), None)
        if bad is not None:
            self.problem(key, f"contains the control character {bad!r}", "remove it (newlines, tabs, NUL...)")
            return ""
        return value

    def integer(self, key: str, minimum: int, value: Any = None, maximum: int = INT_MAX) -> int:
        value = self.get(key) if value is None else value
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.problem(
                key, f"must be a whole number from {minimum} to {maximum}, not {_show(value)}", f"set {key} = {minimum}"
            )
            return minimum
        return value

    def fqdn(self, key: str, example: str, value: Any = None) -> str:
        name = self.string(key, example, value).lower().rstrip(".")
        if name and not FQDN_RE.match(name):
            self.problem(key, f"{name!r} is not a fully qualified domain name", f"use a name like {example!r}")
        return name

    def address(self, key: str, value: Any, domain: str | None = None) -> str:
        text = self.string(key, "user@example.org", value).lower()
        local, at, dom = text.partition("@")
        if not text:
            return ""
        if not at or not LOCAL_PART_RE.match(local) or not FQDN_RE.match(dom):
            self.problem(key, f"{text!r} is not a valid mail address", "write it as local-part@domain.tld")
        elif domain is not None and dom != domain:
            self.problem(key, f"{text!r} is not in the domain {domain}", f"use an address ending in @{domain}")
        return text

    def items(self, key: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            self.problem(key, f"must be a list, not {type(value).__name__}", f"write {key} as a list [...]")
            return []
        return list(value)


def _password(read: _Reader, key: str, entry: Mapping[str, Any]) -> str | None:
    """Explicit passwords come from the environment (never from committed files) and must be strong."""
    if "password" in entry:
        read.problem(key, "holds a password in the inventory", "name an environment variable in password_env")
    env = entry.get("password_env")
    if env is None:
        return None
    if not isinstance(env, str) or env not in read.environ:
        read.problem(key + ".password_env", f"environment variable {_show(env)} is not set", "export it first")
        return None
    password = read.environ[env]
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]"))
    if len(password) < MIN_PASSWORD_LENGTH or classes < 3:
        read.problem(
            key + ".password_env",
            f"the password in ${env} is weak",
            f"use at least {MIN_PASSWORD_LENGTH} characters from 3 of: lower, upper, digits, symbols "
            "(or drop password_env to have one generated on the host)",
        )
    return password


def _domain(read: _Reader, index: int, entry: Any) -> MailDomain | None:
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
        mailboxes.append(Mailbox(address, name, quota, _password(read, mkey, mb)))
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


def _cross_checks(read: _Reader, domains: list[MailDomain]) -> None:
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


WEBMAILS = ("roundcube", "rainloop", "snappymail", "none")
# The oldest releases whose formats deploys/webmail.py writes: RainLoop checks a password_hash() admin password
# since 1.15.0 (before: an MD5 salted with the SALT.php it makes on its first request), SnappyMail reads the
# domain JSON's {"IMAP": {"host", "port", "type"}} since 2.21.4 (2.21.0-2.21.3 read "secure" instead of "type").
# https://github.com/RainLoop/rainloop-webmail/commit/b77dcb5c1 (first in v1.15.0)
# https://github.com/the-djmaze/snappymail/commit/2d832ff5e (first in v2.21.4)
MINIMUM_ARCHIVE_VERSIONS = {"rainloop": (1, 15, 0), "snappymail": (2, 21, 4)}
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


def _sibling(hostname: str, label: str) -> str:
    """postfixadmin.example.org beside mail.example.org; under a two-label host name, below it."""
    parent = hostname.split(".", 1)[1] if hostname.count(".") >= 2 else hostname
    return f"{label}.{parent}"


def _default_aliases_to(read: _Reader, superadmin: str, domains: list[MailDomain]) -> str:
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


def _web(read: _Reader, hostname: str, domains: list[MailDomain], machine: Machine) -> WebSettings:
    derived = hostname if FQDN_RE.match(hostname) else "mail.example.org"
    pfa = read.fqdn("postfixadmin_hostname", "postfixadmin.example.org",
                    read.optional("postfixadmin_hostname", _sibling(derived, "postfixadmin")))  # fmt: skip
    webmail_name = read.fqdn("webmail_hostname", "webmail.example.org",
                             read.optional("webmail_hostname", _sibling(derived, "webmail")))  # fmt: skip
    webmail = read.string("webmail", "roundcube")
    if webmail and webmail not in WEBMAILS:
        read.problem("webmail", f"unknown webmail {webmail!r}", f"use one of {', '.join(WEBMAILS)}")
    names = [hostname, pfa] + ([webmail_name] if webmail != "none" else [])
    for key, name in (("postfixadmin_hostname", pfa), ("webmail_hostname", webmail_name)):
        if name and names.count(name) > 1:
            read.problem(key, f"{name} is also another name this host serves", "give each web app a name of its own")
            break
    first_domain = domains[0].domain if domains and domains[0].domain else "example.org"
    superadmin = read.address(
        "postfixadmin_superadmin", read.optional("postfixadmin_superadmin", f"admin@{first_domain}")
    )
    env = read.optional("postfixadmin_superadmin_password_env")
    password = _password(read, "postfixadmin_superadmin", {"password_env": env}) if env is not None else None
    version = archive = sha256 = ""
    admin_password = None
    if webmail in ("rainloop", "snappymail"):
        keys = (f"{webmail}_version", f"{webmail}_archive_url", f"{webmail}_archive_sha256")
        # The defaults (deploys/webmail.py) pin one release: a version, URL or digest overridden alone would
        # pair it with another release's.
        overridden = [key for key in keys if read.data.get(key) not in (None, "")]
        if overridden and len(overridden) < len(keys):
            missing = [key for key in keys if key not in overridden]
            read.problem(overridden[0], f"is set without {' and '.join(missing)} (the defaults pin another release)",
                         f"set all three of {', '.join(keys)} to the release you pin")  # fmt: skip
        example_url = str(read.defaults.get(keys[1]) or "https://example.org/webmail-1.0.0.tar.gz")
        version = read.string(keys[0], str(read.defaults.get(keys[0]) or "1.0.0"))
        archive = read.string(keys[1], example_url)
        sha256 = read.string(keys[2], "the 64 hex digits sha256sum prints for the archive").lower()
        oldest = MINIMUM_ARCHIVE_VERSIONS[webmail]
        if re.fullmatch(r"\d+(\.\d+)*", version) and tuple(int(n) for n in version.split(".")) < oldest:
            floor = ".".join(map(str, oldest))
            read.problem(keys[0], f"{webmail} {version} predates {floor}, the oldest whose formats mailforge writes",
                         f"pin {webmail} {floor} or newer (all three of {', '.join(keys)})")  # fmt: skip
        if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
            read.problem(f"{webmail}_archive_sha256", "is not a SHA-256 digest", "paste the 64 hex digits of sha256sum")
        if archive and not re.match(r"^(https?|file)://", archive):
            read.problem(f"{webmail}_archive_url", f"{archive!r} is not a URL", "use https://... (or file:///path)")
        admin_env = read.optional(f"{webmail}_admin_password_env")
        if admin_env is not None:
            admin_password = _password(read, f"{webmail}_admin", {"password_env": admin_env})
    children = read.optional("nginx_php_fpm_max_children")
    pools = 1 if webmail == "none" else 2  # PostfixAdmin's and the webmail's
    fpm_max_children = (
        fpm_children(machine, pools) if children is None else read.integer("nginx_php_fpm_max_children", 1, children)
    )
    return WebSettings(
        postfixadmin_hostname=pfa,
        webmail_hostname=webmail_name,
        webmail=webmail,
        superadmin=superadmin,
        superadmin_password=password,
        fpm_max_children=fpm_max_children,
        fpm_max_requests=read.integer("nginx_php_fpm_max_requests", 0),
        hsts_max_age=read.integer("nginx_php_hsts_max_age", 0),
        webmail_version=version,
        webmail_archive_url=archive,
        webmail_archive_sha256=sha256,
        webmail_admin_password=admin_password,
        default_aliases_to=_default_aliases_to(read, superadmin, domains),
    )


def _certbot(read: _Reader) -> CertbotSettings:
    server = read.string("certbot_server", LETSENCRYPT)
    if server and not server.startswith("https://"):
        read.problem("certbot_server", f"{server!r} is not an https:// ACME directory URL", f"use {LETSENCRYPT!r}")
    email = read.optional("certbot_email")
    if email is not None:
        email = read.address("certbot_email", email)
    bundle = read.optional("certbot_ca_bundle")
    if bundle is not None:
        bundle = read.string("certbot_ca_bundle", "/etc/ssl/my-acme-ca.pem")
    if bundle:
        path = os.path.expanduser(bundle)
        try:
            with open(path) as pem:
                if "BEGIN CERTIFICATE" not in pem.read():
                    read.problem("certbot_ca_bundle", f"{bundle} holds no certificate", "point it at a CA's PEM file")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "it is not a PEM text file"
            read.problem("certbot_ca_bundle", f"cannot read {bundle}: {why}", "fix the path (control machine)")
        bundle = path
    return CertbotSettings(server=server, email=email or None, ca_bundle=bundle or None)


def _tls(read: _Reader, hostname: str, names: tuple[str, ...] = ()) -> TlsSettings:
    mode = read.string("tls_mode", "selfsigned")
    if mode not in ("selfsigned", "certbot"):
        read.problem("tls_mode", f"unknown mode {mode!r}", "use 'selfsigned' (a local CA) or 'certbot' (ACME)")
    if mode == "certbot":
        # Certbot's layout: /etc/letsencrypt/live/<cert name>/ always links the current files.
        # https://eff-certbot.readthedocs.io/en/stable/using.html#where-are-my-certificates
        live = f"/etc/letsencrypt/live/{hostname}"
        return TlsSettings(
            mode=mode,
            cert_file=f"{live}/fullchain.pem",
            key_file=f"{live}/privkey.pem",
            ca_file="/etc/ssl/certs/ca-certificates.crt",
            names=names or (hostname,),
            certbot=_certbot(read),
            policy=_tls_policy(read, mode),
        )
    return TlsSettings(
        mode=mode,
        cert_file=f"/etc/mailforge/tls/{hostname}.crt",
        key_file=f"/etc/mailforge/tls/{hostname}.key",
        ca_file="/etc/mailforge/ca/ca.crt",
        names=names or (hostname,),
        policy=_tls_policy(read, mode),
    )


def _names(read: _Reader, key: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """A non-empty list of distinct names from `allowed` (a colon-separated string, as OpenSSL writes it, too)."""
    value = read.get(key)
    items = read.items(key, value.split(":") if isinstance(value, str) else value)
    if not items:
        read.problem(key, f"must list at least one {what}", f"use {list(allowed[:3])!r}, or remove it for the default")
    found: list[str] = []
    for i, item in enumerate(items):
        if item not in allowed:
            read.problem(f"{key}[{i}]", f"{item!r} is not an allowed {what}", f"use some of {', '.join(allowed)}")
        elif item in found:
            read.problem(f"{key}[{i}]", f"{item!r} is listed twice", "list each once")
        else:
            found.append(item)
    return tuple(found)


def _tls_policy(read: _Reader, mode: str) -> TlsPolicy:
    """tls_min_protocol, tls_ciphers, tls_curves, tls_prefer_server_ciphers (see deploys/tls.py DEFAULTS)."""
    floor = read.string("tls_min_protocol", "TLSv1.2")
    if floor and floor not in PROTOCOLS:
        read.problem("tls_min_protocol", f"{floor!r} is not allowed", "use 'TLSv1.2' (default) or 'TLSv1.3'")
        floor = ""
    ciphers = _names(read, "tls_ciphers", ALLOWED_CIPHERS, "TLS 1.2 suite (ECDHE with AEAD, OpenSSL name)")
    # The certificate's key type decides which suites can work at all: RSA from the local CA, ECDSA from
    # Certbot (its default key type since Certbot 2.0).
    key_type = "ECDSA" if mode == "certbot" else "RSA"
    if ciphers and floor != "TLSv1.3" and not any(c.startswith(f"ECDHE-{key_type}-") for c in ciphers):
        read.problem("tls_ciphers", f"has no ECDHE-{key_type}-... suite, so no TLS 1.2 client could connect with "
                     f"this host's {key_type} certificate", f"add ECDHE-{key_type}-AES128-GCM-SHA256")  # fmt: skip
    prefer = read.get("tls_prefer_server_ciphers")
    if not isinstance(prefer, bool):
        read.problem("tls_prefer_server_ciphers", f"must be True or False, not {prefer!r}", "set it to True")
        prefer = False
    return TlsPolicy(
        min_protocol=floor or PROTOCOLS[0],
        ciphers=ciphers or TlsPolicy().ciphers,
        curves=_names(read, "tls_curves", ALLOWED_CURVES, "ECDHE group") or TlsPolicy().curves,
        prefer_server_ciphers=prefer,
    )


def _ips(read: _Reader, key: str, version: int) -> tuple[str, ...]:
    found = []
    for i, value in enumerate(read.items(key, read.get(key))):
        try:
            address = ipaddress.ip_address(value) if isinstance(value, str) else None
        except ValueError:
            address = None
        if address is None or address.version != version:
            read.problem(
                f"{key}[{i}]", f"{_show(value)} is not an IPv{version} address", f"write it like {key} = [...]"
            )
            continue
        found.append(str(address))
    return tuple(found)


def _dns(read: _Reader) -> DnsSettings:
    policy = read.string("dns_dmarc_policy", "quarantine")
    if policy and policy not in ("none", "quarantine", "reject"):
        read.problem("dns_dmarc_policy", f"unknown policy {policy!r}", "use 'none', 'quarantine' or 'reject'")
    mode = read.string("mail_dns_preflight", "warn")
    if mode and mode not in ("off", "warn", "enforce"):
        read.problem("mail_dns_preflight", f"unknown mode {mode!r}", "use 'off', 'warn' or 'enforce'")
    servers = []
    for i, entry in enumerate(read.items("dns_preflight_nameservers", read.get("dns_preflight_nameservers"))):
        text = entry if isinstance(entry, str) else ""
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "53")
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            address = ""
        if not address or not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
            read.problem(f"dns_preflight_nameservers[{i}]", f"{_show(entry)} is not IP[:PORT]", "write '192.0.2.53:53'")
            continue
        servers.append((address, int(port)))
    return DnsSettings(
        ipv4=_ips(read, "mail_ipv4", 4),
        ipv6=_ips(read, "mail_ipv6", 6),
        dmarc_policy=policy,
        dmarc_rua=tuple(
            read.address(f"dns_dmarc_rua[{i}]", a)
            for i, a in enumerate(read.items("dns_dmarc_rua", read.get("dns_dmarc_rua")))
        ),
        caa_issuers=tuple(
            read.fqdn(f"dns_caa_issuers[{i}]", "letsencrypt.org", c)
            for i, c in enumerate(read.items("dns_caa_issuers", read.get("dns_caa_issuers")))
        ),
        preflight=mode,
        nameservers=tuple(servers),
        relay_spf_include=read.fqdn("dns_relay_spf_include", "sendgrid.net")
        if read.optional("dns_relay_spf_include") is not None
        else None,
    )


def _relay(read: _Reader) -> RelaySettings | None:
    """postfix_relay_*: all or nothing; the password comes from the environment or a local secret file."""
    relay_host = read.optional("postfix_relay_host")
    if relay_host is None:
        return None
    try:  # an address literal needs no DNS (private networks, tests)
        host_name = str(ipaddress.ip_address(relay_host.strip("[]"))) if isinstance(relay_host, str) else ""
    except ValueError:
        host_name = ""
    host_name = host_name or read.fqdn("postfix_relay_host", "smtp.sendgrid.net")
    port = read.integer("postfix_relay_port", 1, maximum=65535)
    username = read.string("postfix_relay_username", "apikey")
    env = read.optional("postfix_relay_password_env")
    secret_file = read.optional("postfix_relay_password_file")
    password = ""
    if env is not None:
        env = read.string("postfix_relay_password_env", "RELAY_PASSWORD")
        password = read.environ.get(env, "") if env else ""
        if env and not password:
            read.problem("postfix_relay_password_env", f"environment variable {env!r} is not set", f"export {env}=...")
    elif secret_file is not None:
        path = read.string("postfix_relay_password_file", "~/.config/mailforge/relay-password")
        try:
            password = open(os.path.expanduser(path)).read().strip() if path else ""  # noqa: SIM115
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            read.problem("postfix_relay_password_file", f"cannot read {path}: {why}", "fix the path")
    else:
        read.problem(
            "postfix_relay_password_env",
            "a relay host needs a password and none is configured",
            "set postfix_relay_password_env (an environment variable) or postfix_relay_password_file",
        )
    return RelaySettings(host=host_name, port=port, username=username, password=password)


def _flag(read: _Reader, key: str) -> bool:
    value = read.get(key)
    if not isinstance(value, bool):
        read.problem(key, f"must be True or False, not {value!r}", f"set {key} = True (or False)")
        return True
    return value


def _firewall(read: _Reader) -> FirewallSettings:
    ports = []
    for i, value in enumerate(read.items("firewall_extra_ports", read.get("firewall_extra_ports"))):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            read.problem(
                f"firewall_extra_ports[{i}]",
                f"{value!r} is not a TCP port number (1-65535)",
                "list whole numbers, e.g. firewall_extra_ports = [8443]",
            )
            continue
        if value not in FIREWALL_PORTS:
            ports.append(value)
    return FirewallSettings(enabled=_flag(read, "firewall_enabled"), extra_ports=tuple(sorted(set(ports))))


def _fail2ban(read: _Reader) -> Fail2banSettings:
    networks = []
    for i, value in enumerate(read.items("fail2ban_ignoreip", read.get("fail2ban_ignoreip"))):
        try:
            network = ipaddress.ip_network(str(value), strict=False)
            networks.append(str(network.network_address if network.num_addresses == 1 else network))
        except ValueError:
            read.problem(
                f"fail2ban_ignoreip[{i}]",
                f"{value!r} is not an IP address or network",
                "write addresses or CIDR networks, e.g. ['192.0.2.10', '198.51.100.0/24', '2001:db8::/48']",
            )
    return Fail2banSettings(
        maxretry=read.integer("fail2ban_maxretry", 1),
        findtime=read.integer("fail2ban_findtime", 1),
        bantime=read.integer("fail2ban_bantime", 1),
        ignoreip=tuple(networks),
    )


def load_settings(
    data: Mapping[str, Any],
    defaults: Mapping[str, Any],
    host: str | None = None,
    environ: Mapping[str, str] | None = None,
    release: Release = releases.DEPLOY_DEFAULT,
    machine: Machine | None = None,
) -> Settings:
    """Validate one host's data (over the components' DEFAULTS) into Settings, or raise SettingsError.

    `release`: the target's, found by the deploy; uses without a target (the demo's zones, backups' settings
    fingerprint, tests of templates) take the default. `machine`: the target's CPUs and memory (facts), which
    size the PHP-FPM pools; unknown: SMALL_MACHINE.
    """
    read = _Reader(data, defaults, os.environ if environ is None else environ)
    hostname = read.fqdn("mail_hostname", "mail.example.org")
    timezone = read.string("mail_timezone", "UTC")
    if timezone and timezone not in _timezones():
        read.problem("mail_timezone", f"unknown timezone {timezone!r}", "use an IANA name like 'Europe/Berlin'")
    raw_domains = read.get("mail_domains")
    if not raw_domains:
        read.problem("mail_domains", "is required and empty", "declare at least one domain in group_data/all.py")
    domains = [d for i, e in enumerate(read.items("mail_domains", raw_domains)) if (d := _domain(read, i, e))]
    _cross_checks(read, domains)
    local_names = []
    for d in read.items("postfix_mydestination", read.get("postfix_mydestination")):
        if not isinstance(d, str):
            read.problem("postfix_mydestination", f"lists {_show(d)}", "list host names as strings")
            continue
        name = (
            read.fqdn("postfix_mydestination", "localhost", d)
            if "." in d
            else read.string("postfix_mydestination", "localhost", d)
        )
        local_names.append(name)
    mydestination = tuple(local_names)
    local_domains = {hostname if name == "$myhostname" else name for name in mydestination}
    for d in domains:
        if d.domain in local_domains or set(d.alias_domains) & local_domains:
            read.problem(
                "postfix_mydestination",
                f"lists the virtual domain {d.domain}",
                "remove it: a domain is either local (mydestination) or virtual, never both",
            )
    transports = read.optional("postfix_transport_maps", {})
    if not isinstance(transports, Mapping):
        read.problem("postfix_transport_maps", "must be a mapping of domain -> nexthop", "write {'example.net': ...}")
        transports = {}
    routes = []
    for domain, nexthop in transports.items():
        # One "domain transport:nexthop" line of transport(5): a ".domain" key covers its subdomains.
        # https://www.postfix.org/transport.5.html
        rkey = f"postfix_transport_maps[{_show(domain)}]"
        name = read.fqdn(rkey, "example.net", domain.removeprefix(".") if isinstance(domain, str) else domain)
        route = read.string(rkey, "smtp:[192.0.2.10]:25", nexthop)
        if route and not re.match(r"[a-z0-9_-]*:", route):
            read.problem(rkey, f"{route!r} is not transport:nexthop", "write it like 'smtp:[192.0.2.10]:25'")
        if name and route:
            routes.append((("." if domain.startswith(".") else "") + name, route))
    outbound_tls = read.string("postfix_outbound_tls", "may")
    if outbound_tls and outbound_tls not in ("may", "dane"):
        read.problem("postfix_outbound_tls", f"unknown level {outbound_tls!r}", "use 'may' or 'dane'")
    postfix = PostfixSettings(
        hostname=hostname,
        mydestination=mydestination,
        message_size_limit=read.integer("postfix_message_size_limit", 1_000_000),
        transport_maps=tuple(sorted(routes)),
        relay=_relay(read),
        outbound_tls=outbound_tls,
        hide_submission_client=_flag(read, "postfix_hide_submission_client"),
    )
    selector = read.string("dkim_selector", "mail").lower()
    if selector and not re.match(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z", selector):
        read.problem("dkim_selector", f"{selector!r} is not a DNS label", "use letters, digits and '-', e.g. 's2026'")
    dkim = DkimSettings(selector=selector, bits=read.integer("dkim_key_bits", 1024, maximum=16384))
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
    web = _web(read, hostname, domains, machine or SMALL_MACHINE)
    tls = _tls(read, hostname, (hostname, *web.names))
    scheme = read.string("postfixadmin_password_scheme", "ARGON2I")
    if scheme and scheme not in PASSWORD_SCHEMES:
        read.problem("postfixadmin_password_scheme", f"unsupported scheme {scheme!r}", f"use one of {PASSWORD_SCHEMES}")
    dns_settings = _dns(read)
    firewall = _firewall(read)
    fail2ban = _fail2ban(read)
    if read.problems:
        raise SettingsError(read.problems, host)
    return Settings(
        base=BaseSettings(hostname=hostname, timezone=timezone),
        domains=tuple(domains),
        tls=tls,
        postfix=postfix,
        dovecot=dovecot,
        postfixadmin=PostfixAdminSettings(password_scheme=scheme),
        dkim=dkim,
        dns=dns_settings,
        web=web,
        firewall=firewall,
        fail2ban=fail2ban,
        release=release,
    )
