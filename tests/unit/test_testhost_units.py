"""Issues 2 and 16: the pure parts of `mailforge testhost`: names, the mirror, the image recipe per release,
what a new image replaces, uptime display."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from mailforge import releases
from mailforge.testhost import StateDir, hosts, image
from mailforge.testhost.cli import _format_uptime
from mailforge.testhost.errors import TesthostError as HostError
from mailforge.testhost.state import FIRST_FIELDS, HostRecord  # "Test..." names look like test classes

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


BOOKWORM = releases.by_codename("bookworm")
TRIXIE = releases.by_codename("trixie")


def test_recipe_hash_is_stable() -> None:
    assert image.recipe_hash(image.recipe(BOOKWORM, SOURCES)) == image.recipe_hash(image.recipe(BOOKWORM, SOURCES))


def test_recipe_hash_changes_with_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    before = image.recipe_hash(image.recipe(BOOKWORM, SOURCES))
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "less"))
    assert image.recipe_hash(image.recipe(BOOKWORM, SOURCES)) != before


def test_recipe_hash_changes_with_the_mirror() -> None:
    other = SOURCES.replace("http://deb.debian.org/debian\n", "http://mirror.example/debian\n")
    assert image.recipe_hash(image.recipe(BOOKWORM, other)) != image.recipe_hash(image.recipe(BOOKWORM, SOURCES))


def test_recipe_hash_differs_per_release() -> None:
    assert image.recipe_hash(image.recipe(TRIXIE, SOURCES)) != image.recipe_hash(image.recipe(BOOKWORM, SOURCES))


@pytest.mark.parametrize("release", releases.RELEASES, ids=lambda r: r.codename)
def test_image_name_names_its_release(release: releases.Release) -> None:
    assert image.image_name(image.recipe(release, SOURCES)).startswith(f"base-{release.codename}-")


# --- the image's apt sources: its own release's suites, whatever this machine runs ----------------------


def _stanzas(text: str) -> list[dict[str, str]]:
    return [dict(line.split(": ", 1) for line in block.splitlines()) for block in text.strip().split("\n\n")]


@pytest.mark.parametrize("release", releases.RELEASES, ids=lambda r: r.codename)
def test_image_sources_name_the_release_and_its_updates(release: releases.Release) -> None:
    main = _stanzas(str(image.recipe(release, SOURCES)["sources"]))[0]
    assert (main["URIs"], main["Suites"]) == (
        "http://deb.debian.org/debian",
        f"{release.codename} {release.codename}-updates",
    )


@pytest.mark.parametrize("release", releases.RELEASES, ids=lambda r: r.codename)
def test_image_sources_name_the_release_security_suite(release: releases.Release) -> None:
    security = _stanzas(str(image.recipe(release, SOURCES)["sources"]))[1]
    assert (security["URIs"], security["Suites"]) == (
        "http://deb.debian.org/debian-security",
        f"{release.codename}-security",
    )


@pytest.mark.parametrize("release", releases.RELEASES, ids=lambda r: r.codename)
def test_image_sources_are_signed_by_the_release_keyring(release: releases.Release) -> None:
    stanzas = _stanzas(str(image.recipe(release, SOURCES)["sources"]))
    assert {s["Signed-By"] for s in stanzas} == {release.keyring}


def test_image_sources_of_trixie_name_no_bookworm_suite() -> None:
    assert "bookworm" not in str(image.recipe(TRIXIE, SOURCES)["sources"])


def test_security_mirror_is_the_machines_own() -> None:
    own = SOURCES.replace("http://deb.debian.org/debian-security", "http://security.example/debian-security")
    assert image.security_mirror_from_sources(own) == "http://security.example/debian-security"


def test_security_mirror_without_one_listed_is_the_mirrors_sibling() -> None:
    main_only = SOURCES.split("\n\n")[0].replace("deb.debian.org", "mirror.example")
    assert image.security_mirror_from_sources(main_only) == "http://mirror.example/debian-security"


# --- what a new image replaces: never another release's ------------------------------------------------

OLD_BOOKWORM = "base-bookworm-0123456789abcdef"
NEW_BOOKWORM = "base-bookworm-fedcba9876543210"
TRIXIE_IMAGE = "base-trixie-00112233aabbccdd"
IMAGES_DIR = [
    f"{OLD_BOOKWORM}.tar", f"{OLD_BOOKWORM}.d", f"{NEW_BOOKWORM}.tar", f"{NEW_BOOKWORM}.d",
    f"{TRIXIE_IMAGE}.tar", f"{TRIXIE_IMAGE}.d",
    "base-6ffd9863d40e9f15.tar", "base-6ffd9863d40e9f15.d",  # the layout before releases
    f"{NEW_BOOKWORM}.partial", ".build-x1y2z3", ".build.lock",
]  # fmt: skip


def test_a_new_image_replaces_its_own_releases_older_recipes() -> None:
    assert image.superseded(IMAGES_DIR, f"{NEW_BOOKWORM}.tar") == [f"{OLD_BOOKWORM}.d", f"{OLD_BOOKWORM}.tar"]


def test_a_new_image_keeps_another_releases_image() -> None:
    assert image.superseded(IMAGES_DIR, f"{TRIXIE_IMAGE}.tar") == []


@pytest.mark.parametrize("kept", ["base-6ffd9863d40e9f15.tar", "base-6ffd9863d40e9f15.d", ".build-x1y2z3"])
def test_a_new_image_leaves_names_of_other_layouts(kept: str) -> None:
    assert kept not in image.superseded(IMAGES_DIR, f"{NEW_BOOKWORM}.tar")


def test_superseded_refuses_a_current_name_that_is_no_image() -> None:
    with pytest.raises(ValueError, match="not an image name"):
        image.superseded(IMAGES_DIR, "rootfs.tar")


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


# --- host.json: readable by older checkouts sharing the state directory ---------------------------------

RECORD = HostRecord(
    "rel-a", 7, "10.213.7.2", "10.213.7.1", "mf-rel-a", "mf-rel-a", 0.0, release="trixie", image="base-trixie-x.tar"
)


def test_a_record_reads_back_with_its_release(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.write_record(RECORD)
    assert state.read_record("rel-a") == RECORD


def test_host_json_holds_only_the_fields_every_version_reads(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.write_record(RECORD)
    assert sorted(json.loads((state.host_dir("rel-a") / "host.json").read_text())) == sorted(FIRST_FIELDS)


def test_a_record_made_before_releases_reads_as_bookworm(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.write_record(RECORD)
    (state.host_dir("rel-a") / "release.json").unlink()
    assert state.read_record("rel-a") == dataclasses.replace(RECORD, release="bookworm", image="")


def test_a_record_with_keys_of_a_newer_version_is_read(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.write_record(RECORD)
    (state.host_dir("rel-a") / "release.json").write_text('{"release": "trixie", "image": "", "arch": "arm64"}')
    assert state.read_record("rel-a") == dataclasses.replace(RECORD, image="")
