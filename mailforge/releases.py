"""The Debian releases mailforge knows: ONE table of what differs between them (DESIGN.md section 3).

Test hosts build their base image from it (`mailforge testhost up --release`), and the deploy reads the
target's /etc/os-release once and refuses, before any operation, a release the table does not support.
Another release is one more entry here. Pure code: no pyinfra import.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    codename: str  # the suite name debootstrap and apt know, and VERSION_CODENAME in /etc/os-release
    version: str  # VERSION_ID in /etc/os-release
    # The keyring debian-archive-keyring installs on that release, named by Signed-By in apt sources.
    # https://wiki.debian.org/DebianRepository/UseThirdParty#Sources.list_entry
    keyring: str
    # The release's PHP: package names (php<php>-fpm), /etc/php/<php>/, the php-fpm<php> binary.
    php: str
    # The templates/dovecot/<dovecot>/ tree written: Dovecot's configuration format (2.4 rejects 2.3's).
    dovecot: str
    # Nginx >= 1.25.1 turns HTTP/2 on with `http2 on;` and warns on `listen ... http2`; older ones know only
    # the listen parameter. https://nginx.org/en/docs/http/ngx_http_v2_module.html#http2
    nginx_http2_directive: bool
    # The unit that runs Postfix's master: Debian 12's postfix.service only wants postfix@- (and runs /bin/true);
    # Debian 13's postfix.service runs the default instance itself and conflicts with postfix@-. "": the same.
    postfix_instance: str
    # Postfix >= 3.8 (Debian 13's 3.10) also offers the FFDHE groups of tls_ffdhe_auto_groups (ffdhe2048 ffdhe3072)
    # for TLS 1.3 key exchange, beside the policy's ECDHE groups: main.cf sets it empty, leaving only the policy's.
    # Postfix 3.7 (Debian 12) has no such parameter. https://www.postfix.org/postconf.5.html#tls_ffdhe_auto_groups
    postfix_ffdhe_groups: bool = False
    # fail2ban's backend for the postfix-sasl jail, which reads the /var/log/mail.log Postfix writes itself
    # (maillog_file): Debian 13's paths-debian.conf sets postfix_backend = systemd (no rsyslog there), and Postfix
    # logs nothing to the journal, so that jail would never count a failure. "": Debian's own (auto, as on 12).
    fail2ban_postfix_backend: str = ""
    # Apply a changed fail2ban configuration with a restart rather than a reload: fail2ban 1.1.0 (Debian 13) drops
    # a running jail's actions when a reload changes them (Debian's sshd jail, banaction nftables becoming
    # nftables-multiport, kept banning nobody: `fail2ban-client get sshd actions` says "No actions").
    # https://github.com/fail2ban/fail2ban/issues/3860. Bans survive a restart (fail2ban's database restores them).
    fail2ban_restart: bool = False
    # Debian package names (as on bookworm) that the release names otherwise, or no longer ships (None). Pairs,
    # not a dict, so that a Release stays hashable like the frozen settings holding it.
    packages: tuple[tuple[str, str | None], ...] = ()
    # None: the deploy supports this release. Otherwise why not yet: shown when a run refuses it.
    not_supported_because: str | None = None

    @property
    def name(self) -> str:
        return f"Debian {self.version} ({self.codename})"

    @property
    def supported(self) -> bool:
        return self.not_supported_because is None

    def package_names(self, names: Iterable[str]) -> list[str]:
        """Bookworm's package names as this release calls them, leaving out the ones it does not ship."""
        table = dict(self.packages)
        renamed = (table.get(name, name) for name in names)
        return [name for name in renamed if name is not None]


RELEASES: tuple[Release, ...] = (
    Release(
        "bookworm",
        "12",
        "/usr/share/keyrings/debian-archive-keyring.gpg",
        php="8.2",
        dovecot="2.3",
        nginx_http2_directive=False,
        postfix_instance="postfix@-",
    ),
    # trixie's debian-archive-keyring (2025.1) ships its keyrings as .pgp (the .gpg names are links to them).
    Release(
        "trixie",
        "13",
        "/usr/share/keyrings/debian-archive-keyring.pgp",
        php="8.4",
        dovecot="2.4",
        nginx_http2_directive=True,
        postfix_instance="",
        postfix_ffdhe_groups=True,
        fail2ban_postfix_backend="auto",
        fail2ban_restart=True,
        # PHP 8.4 dropped the IMAP extension (moved to PECL) and trixie has no php-imap: PostfixAdmin only uses it
        # to create folders, which Dovecot does here (auto = subscribe). https://wiki.php.net/rfc/unbundle_imap_pspell_oci8
        packages=(("php-imap", None),),
    ),
    # Known so that an unsupported release is refused as such (tests/e2e/test_release.py boots one).
    Release(
        "bullseye",
        "11",
        "/usr/share/keyrings/debian-archive-keyring.gpg",
        php="7.4",
        dovecot="2.3",
        nginx_http2_directive=False,
        postfix_instance="postfix@-",
        not_supported_because="Debian 11 is past its regular security support; deploy onto Debian 12 or 13",
    ),
)
BY_CODENAME: dict[str, Release] = {release.codename: release for release in RELEASES}
# What `mailforge testhost up` boots without --release: the release the whole suite passes on. Not trixie yet:
# there, test_faults' reboot exercise lost messages in one run (issue 16's note); every other module passes.
TEST_HOST_DEFAULT = "bookworm"
# The release assumed where no target is read (settings loaded on the control machine alone).
DEPLOY_DEFAULT = BY_CODENAME["bookworm"]


class UnknownRelease(ValueError):
    pass


class UnsupportedRelease(ValueError):
    pass


def known() -> str:
    return ", ".join(BY_CODENAME)


def by_codename(codename: str) -> Release:
    try:
        return BY_CODENAME[codename]
    except KeyError:
        raise UnknownRelease(f"unknown release {codename!r}; known: {known()}") from None


def supported_names() -> str:
    return ", ".join(release.name for release in RELEASES if release.supported)


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines of os-release(5), values unquoted as a shell would; comments and blanks skipped.

    https://www.freedesktop.org/software/systemd/man/latest/os-release.html
    """
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#") or not key.isidentifier():
            continue
        try:
            words = shlex.split(value)
        except ValueError:  # an unbalanced quote: take the text as it stands rather than fail on a comment
            words = [value.strip("\"'")]
        fields[key] = " ".join(words)
    return fields


def describe(os_release: Mapping[str, str]) -> str:
    """How the target calls itself, for messages: "Debian GNU/Linux 13 (trixie)", "Ubuntu 24.04.1 LTS"."""
    if not os_release:
        return "a system without /etc/os-release"
    return os_release.get("PRETTY_NAME") or " ".join(
        filter(None, (os_release.get("ID"), os_release.get("VERSION_ID"), os_release.get("VERSION_CODENAME")))
    )


def for_deploy(os_release: Mapping[str, str], host: str | None = None) -> Release:
    """The table's entry for the target's /etc/os-release, or UnsupportedRelease naming what was found."""
    where = f"host {host}" if host else "the host"
    found = describe(os_release)
    release = BY_CODENAME.get(os_release.get("VERSION_CODENAME", "")) if os_release.get("ID") == "debian" else None
    if release is None:
        reason = "a release mailforge does not know"
    elif release.not_supported_because is not None:
        reason = f"not supported yet: {release.not_supported_because}"
    else:
        return release
    raise UnsupportedRelease(
        f"{where} runs {found}, {reason}. Supported: {supported_names()}. Nothing was changed on the host."
    )
