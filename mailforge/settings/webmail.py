"""The webmail (deploys/web/webmail.py): Roundcube from Debian, SnappyMail or RainLoop from a pinned upstream
archive, or none."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # roundcube (Debian's package) | snappymail | rainloop (upstream archives, see README) | none
    "webmail": "roundcube",
    # The webmail's host name (None: webmail.<the parent domain of mail_hostname>).
    "webmail_hostname": None,
    # SnappyMail's pinned release: version, archive and its SHA-256 (override all three together). The digest
    # was not computed here (these machines cannot download the archive): three independent packagers pin the
    # same one, nixpkgs (pkgs/servers/snappymail/default.nix, a fixed-output fetch every Nix build re-checks)
    # among them. A wrong digest stops the run with nothing installed.
    "snappymail_version": "2.38.2",
    # The SnappyMail release archive to install (https:// or file://), of snappymail_version.
    "snappymail_archive_url": "https://github.com/the-djmaze/snappymail/releases/download/v2.38.2/snappymail-2.38.2.tar.gz",
    # The SHA-256 of snappymail_archive_url, as sha256sum prints it.
    "snappymail_archive_sha256": "71f1d8a9065cc9cf7ddd064f5c47cc7b255cb70e6a56713647fc73d4b79e33ec",
    # An environment variable on the control machine holding SnappyMail's admin panel password; None:
    # generated on the host, /etc/mailforge/snappymail-admin (0600).
    "snappymail_admin_password_env": None,
    # RainLoop's last release (unmaintained upstream, see the README); its digest is pinned alike by three
    # independent packagers (an Arch PKGBUILD and a Habitat plan among them).
    "rainloop_version": "1.17.0",
    # The RainLoop release archive to install (https:// or file://), of rainloop_version.
    "rainloop_archive_url": "https://github.com/RainLoop/rainloop-webmail/releases/download/v1.17.0/rainloop-legacy-1.17.0.zip",
    # The SHA-256 of rainloop_archive_url, as sha256sum prints it.
    "rainloop_archive_sha256": "782dcabacadab5d7176f7701dd23319a040b2cfbf974fac6df068600cf69c50a",
    # An environment variable on the control machine holding RainLoop's admin panel password; None: generated
    # on the host, /etc/mailforge/rainloop-admin (0600).
    "rainloop_admin_password_env": None,
}

WEBMAILS = ("roundcube", "rainloop", "snappymail", "none")
# The oldest releases whose formats deploys/web/webmail.py writes: RainLoop checks a password_hash() admin password
# since 1.15.0 (before: an MD5 salted with the SALT.php it makes on its first request), SnappyMail reads the
# domain JSON's {"IMAP": {"host", "port", "type"}} since 2.21.4 (2.21.0-2.21.3 read "secure" instead of "type").
# https://github.com/RainLoop/rainloop-webmail/commit/b77dcb5c1 (first in v1.15.0)
# https://github.com/the-djmaze/snappymail/commit/2d832ff5e (first in v2.21.4)
MINIMUM_ARCHIVE_VERSIONS = {"rainloop": (1, 15, 0), "snappymail": (2, 21, 4)}


@dataclass(frozen=True)
class ArchiveKeys:
    """The keys of one webmail installed from an upstream archive, spelled out so grep finds them."""

    version: str
    archive_url: str
    archive_sha256: str
    admin_password_env: str

    @property
    def release(self) -> tuple[str, str, str]:
        """The three keys that pin one release: overridden all together or not at all."""
        return (self.version, self.archive_url, self.archive_sha256)


ARCHIVE_KEYS = {
    "snappymail": ArchiveKeys(
        "snappymail_version", "snappymail_archive_url", "snappymail_archive_sha256", "snappymail_admin_password_env"
    ),
    "rainloop": ArchiveKeys(
        "rainloop_version", "rainloop_archive_url", "rainloop_archive_sha256", "rainloop_admin_password_env"
    ),
}


@dataclass(frozen=True)
class Archive:
    """What read_archive found: the pinned release and the admin panel password ("" / None for Roundcube)."""

    version: str = ""
    url: str = ""
    sha256: str = ""
    admin_password: str | None = None


def read_hostname(read: Reader, sibling: str) -> str:
    """webmail_hostname; unset: `sibling`, webmail.<the parent domain of mail_hostname>."""
    return read.fqdn("webmail_hostname", "webmail.example.org", read.optional("webmail_hostname", sibling))


def read_webmail(read: Reader) -> str:
    webmail = read.string("webmail", "roundcube")
    if webmail and webmail not in WEBMAILS:
        read.problem("webmail", f"unknown webmail {webmail!r}", f"use one of {', '.join(WEBMAILS)}")
    return webmail


def read_archive(read: Reader, webmail: str) -> Archive:
    """The pinned upstream release of RainLoop or SnappyMail and its admin password; nothing for the others."""
    found = ARCHIVE_KEYS.get(webmail)
    if found is None:
        return Archive()
    keys = found.release
    # The defaults pin one release: a version, URL or digest overridden alone would pair it with another
    # release's.
    overridden = [key for key in keys if read.data.get(key) not in (None, "")]
    if overridden and len(overridden) < len(keys):
        missing = [key for key in keys if key not in overridden]
        read.problem(overridden[0], f"is set without {' and '.join(missing)} (the defaults pin another release)",
                     f"set all three of {', '.join(keys)} to the release you pin")  # fmt: skip
    example_url = str(read.defaults.get(found.archive_url) or "https://example.org/webmail-1.0.0.tar.gz")
    version = read.string(found.version, str(read.defaults.get(found.version) or "1.0.0"))
    archive = read.string(found.archive_url, example_url)
    sha256 = read.string(found.archive_sha256, "the 64 hex digits sha256sum prints for the archive").lower()
    oldest = MINIMUM_ARCHIVE_VERSIONS[webmail]
    if re.fullmatch(r"\d+(\.\d+)*", version) and tuple(int(n) for n in version.split(".")) < oldest:
        floor = ".".join(map(str, oldest))
        read.problem(found.version, f"{webmail} {version} predates {floor}, the oldest whose formats mailforge writes",
                     f"pin {webmail} {floor} or newer (all three of {', '.join(keys)})")  # fmt: skip
    if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        read.problem(found.archive_sha256, "is not a SHA-256 digest", "paste the 64 hex digits of sha256sum")
    if archive and not re.match(r"^(https?|file)://", archive):
        read.problem(found.archive_url, f"{archive!r} is not a URL", "use https://... (or file:///path)")
    admin_password = None
    admin_env = read.optional(found.admin_password_env)
    if admin_env is not None:
        # Problems name "<webmail>_admin.password_env", as for a mailbox's password_env.
        admin_password = read.password(found.admin_password_env.removesuffix("_password_env"),
                                       {"password_env": admin_env})  # fmt: skip
    return Archive(version, archive, sha256, admin_password)
