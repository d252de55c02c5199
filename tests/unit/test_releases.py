"""Issue 16: the release table, reading a target's /etc/os-release, and the deploy's refusal of a release it
does not support (the message names what was found and what is supported)."""

from __future__ import annotations

import pytest

from mailforge import releases
from mailforge.backup.archive import settings_fingerprint
from mailforge.settings import load_settings

# /usr/lib/os-release as Debian ships it (base-files), Ubuntu's for a system the table does not know.
BOOKWORM_OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""
TRIXIE_OS_RELEASE = BOOKWORM_OS_RELEASE.replace("12", "13").replace("bookworm", "trixie")
BULLSEYE_OS_RELEASE = BOOKWORM_OS_RELEASE.replace("12", "11").replace("bookworm", "bullseye")
UBUNTU_OS_RELEASE = """\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
"""
DATA = {
    "mail_hostname": "mail.example.org",
    "mail_domains": [{"domain": "example.org", "mailboxes": [{"address": "alice@example.org"}]}],
}


def _refusal(os_release: str) -> str:
    with pytest.raises(releases.UnsupportedRelease) as refused:
        releases.for_deploy(releases.parse_os_release(os_release), "mx1")
    return str(refused.value)


# --- the table -------------------------------------------------------------------------------------------


def test_codenames_are_unique() -> None:
    assert len(releases.BY_CODENAME) == len(releases.RELEASES)


def test_bookworm_is_supported() -> None:
    assert releases.by_codename("bookworm").supported


def test_trixie_is_supported() -> None:
    assert releases.by_codename("trixie").supported


def test_bullseye_is_known_but_not_supported() -> None:
    assert releases.by_codename("bullseye").not_supported_because == (
        "Debian 11 is past its regular security support; deploy onto Debian 12 or 13"
    )


@pytest.mark.parametrize("default", [releases.TEST_HOST_DEFAULT, releases.DEPLOY_DEFAULT.codename])
def test_defaults_are_a_supported_release(default: str) -> None:
    assert releases.by_codename(default).supported


def test_an_unknown_codename_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(releases.UnknownRelease, match="unknown release 'sid'; known: bookworm, trixie, bullseye"):
        releases.by_codename("sid")


# --- os-release ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"', "Debian GNU/Linux 13 (trixie)"),
        ("VERSION_CODENAME=trixie", "trixie"),
        ("PRETTY_NAME='single quoted'", "single quoted"),
        ('PRETTY_NAME="escaped \\"quote\\""', 'escaped "quote"'),
        ('PRETTY_NAME="unbalanced', "unbalanced"),
    ],
    ids=["double quotes", "bare", "single quotes", "escaped quote", "unbalanced quote"],
)
def test_os_release_values_are_unquoted(line: str, value: str) -> None:
    key = line.split("=", 1)[0]
    assert releases.parse_os_release(line)[key] == value


def test_os_release_comments_and_blank_lines_are_skipped() -> None:
    assert releases.parse_os_release("# ID=ubuntu\n\nID=debian\n") == {"ID": "debian"}


# --- the deploy's verdict --------------------------------------------------------------------------------


def test_bookworm_is_deployed_onto() -> None:
    found = releases.for_deploy(releases.parse_os_release(BOOKWORM_OS_RELEASE), "mx1")
    assert found == releases.by_codename("bookworm")


def test_trixie_is_deployed_onto() -> None:
    found = releases.for_deploy(releases.parse_os_release(TRIXIE_OS_RELEASE), "mx1")
    assert found == releases.by_codename("trixie")


def test_bullseye_refusal_names_the_host_and_the_release_found() -> None:
    assert _refusal(BULLSEYE_OS_RELEASE).startswith("host mx1 runs Debian GNU/Linux 11 (bullseye), not supported yet")


def test_bullseye_refusal_says_why() -> None:
    assert "Debian 11 is past its regular security support" in _refusal(BULLSEYE_OS_RELEASE)


@pytest.mark.parametrize("os_release", [BULLSEYE_OS_RELEASE, UBUNTU_OS_RELEASE, ""], ids=["bullseye", "ubuntu", "none"])
def test_refusal_names_the_supported_releases(os_release: str) -> None:
    assert "Supported: Debian 12 (bookworm), Debian 13 (trixie)." in _refusal(os_release)


def test_a_system_the_table_does_not_know_is_refused_by_its_name() -> None:
    assert _refusal(UBUNTU_OS_RELEASE).startswith("host mx1 runs Ubuntu 24.04.1 LTS, a release mailforge does not know")


def test_a_system_without_os_release_is_refused_as_such() -> None:
    assert _refusal("").startswith("host mx1 runs a system without /etc/os-release")


def test_a_debian_derivative_reusing_a_codename_is_not_debian() -> None:
    derivative = TRIXIE_OS_RELEASE.replace("ID=debian", "ID=kali\nID_LIKE=debian")
    assert "a release mailforge does not know" in _refusal(derivative)


# --- into the settings -----------------------------------------------------------------------------------


def test_settings_carry_the_release_found() -> None:
    settings = load_settings(DATA, environ={}, release=releases.by_codename("trixie"))
    assert settings.release.codename == "trixie"


def test_settings_fingerprint_leaves_the_release_out() -> None:
    """A server's backup restores onto the same server rebuilt on the next release."""
    on_bookworm = load_settings(DATA, environ={}, release=releases.by_codename("bookworm"))
    on_trixie = load_settings(DATA, environ={}, release=releases.by_codename("trixie"))
    assert settings_fingerprint(on_bookworm) == settings_fingerprint(on_trixie)


# --- what differs per release ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codename", "php", "dovecot"), [("bookworm", "8.2", "2.3"), ("trixie", "8.4", "2.4")], ids=["12", "13"]
)
def test_the_table_names_each_releases_php_and_dovecot_tree(codename: str, php: str, dovecot: str) -> None:
    release = releases.by_codename(codename)
    assert (release.php, release.dovecot) == (php, dovecot)


def test_a_package_the_release_does_not_ship_is_left_out() -> None:
    # PHP 8.4 has no IMAP extension and Debian 13 no php-imap.
    assert releases.by_codename("trixie").package_names(["php-fpm", "php-imap"]) == ["php-fpm"]


def test_bookworm_keeps_every_package_name() -> None:
    names = ["postfixadmin", "php-fpm", "php-mysql", "php-imap", "php-mbstring", "dovecot-core"]
    assert releases.by_codename("bookworm").package_names(names) == names
