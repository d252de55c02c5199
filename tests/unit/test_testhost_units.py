"""Issue 2: the pure parts of `mailforge testhost`: names, the mirror, the image recipe, uptime display."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mailforge.testhost import StateDir, hosts, image
from mailforge.testhost.cli import _format_uptime
from mailforge.testhost.errors import TesthostError as HostError  # "Test..." names look like test classes

SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


@pytest.mark.parametrize("name", ["ab", "mx1", "cli-a", "relay-2", "abcdefghijkl"])
def test_valid_names_are_accepted(name: str) -> None:
    hosts.check_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "a", "Mx", "1mx", "mx-", "-mx", "mx_1", "mx.1", "abcdefghijklm", "../etc", "mx 1"],
    ids=["empty", "one char", "uppercase", "leading digit", "trailing dash", "leading dash", "underscore", "dot",
         "13 chars", "path", "space"],
)  # fmt: skip
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(HostError, match="invalid test host name"):
        hosts.check_name(name)


def test_mirror_is_the_first_main_archive_uri() -> None:
    assert image.mirror_from_sources(SOURCES) == "http://deb.debian.org/debian"


def test_mirror_skips_the_security_archive_listed_first() -> None:
    security_first = SOURCES.split("\n\n")[1] + "\n\n" + SOURCES.split("\n\n")[0]
    assert image.mirror_from_sources(security_first) == "http://deb.debian.org/debian"


def test_commented_uri_is_not_a_mirror() -> None:
    assert image.mirror_from_sources("# URIs: http://old.example/debian\nURIs: http://deb.example/debian\n") == (
        "http://deb.example/debian"
    )


def test_sources_without_a_mirror_are_refused() -> None:
    with pytest.raises(HostError, match="no Debian mirror"):
        image.mirror_from_sources("Types: deb\nSuites: bookworm\n")


def test_recipe_hash_is_stable() -> None:
    assert image.recipe_hash(image.recipe(SOURCES)) == image.recipe_hash(image.recipe(SOURCES))


def test_recipe_hash_changes_with_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    before = image.recipe_hash(image.recipe(SOURCES))
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "less"))
    assert image.recipe_hash(image.recipe(SOURCES)) != before


def test_recipe_hash_changes_with_the_mirror() -> None:
    other = SOURCES.replace("http://deb.debian.org/debian\n", "http://mirror.example/debian\n")
    assert image.recipe_hash(image.recipe(other)) != image.recipe_hash(image.recipe(SOURCES))


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0, "0m00s"), (59.9, "0m59s"), (61, "1m01s"), (3599, "59m59s"), (3600, "1h00m00s"),
     (90061, "25h01m01s")],
)  # fmt: skip
def test_uptime_format(seconds: float | None, shown: str) -> None:
    assert _format_uptime(seconds) == shown


# --- commands in messages: they run when pasted into a fresh shell ----------------------------------------


@pytest.mark.parametrize(
    ("root", "expected"),
    [("/var/lib/mailforge", "testhost ssh demo"), ("/tmp/my state", "testhost --state-dir '/tmp/my state' ssh demo")],
)
def test_a_printed_command_names_the_console_script_and_the_state_dir(root: str, expected: str) -> None:
    program = Path(sys.executable).absolute().with_name("mailforge")
    assert StateDir(root).command("ssh demo") == f"{program} {expected}"


def test_the_printed_console_script_exists() -> None:
    program = StateDir("/var/lib/mailforge").command("list").split()[0]
    assert Path(program).is_absolute() and Path(program).is_file()
