"""The cached Debian base images test hosts start from: one per release (mailforge/releases.py) and recipe.

Built once with debootstrap (a minute or a few) and stored as a tarball named after its release and a hash of
its recipe, so a changed recipe builds a new image, an unchanged one is never rebuilt, and the images of
different releases live side by side.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from mailforge import releases
from mailforge.releases import Release
from mailforge.testhost import network, processes
from mailforge.testhost.errors import TesthostError
from mailforge.testhost.state import StateDir, file_lock

# Just enough for systemd as PID 1, SSH and pyinfra (which needs a POSIX shell, Python is for testinfra).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "python3",
    "openssh-server",
    "sudo",
)
# A server without a network answer must not stall apt for minutes: fail fast and let the caller retry.
APT_CONF = 'Acquire::http::Timeout "30";\nAcquire::Retries "3";\n'
# Bump when the post-debootstrap steps below change, so cached images are rebuilt.
# 2: apt sources written for the image's own release (were this machine's file, copied).
RECIPE_VERSION = 2
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# base-<release>-<recipe hash>.tar, and beside it the unpacked tree base-<release>-<recipe hash>.d
IMAGE_RE = re.compile(r"^base-(?P<release>[a-z]+)-(?P<hash>[0-9a-f]{16})\.(?:tar|d)$")


def _uris(text: str) -> list[str]:
    return re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE)


def mirror_from_sources(text: str) -> str:
    """The first Debian mirror named in a deb822 sources file (the machine's own, reachable one)."""
    for uri in _uris(text):
        if "security" not in uri:
            return uri
    raise TesthostError(f"no Debian mirror found in {HOST_SOURCES}; add a 'URIs:' line for the main archive")


def security_mirror_from_sources(text: str) -> str:
    """The security archive named in this machine's sources, else the mirror's sibling (deb.debian.org's layout)."""
    for uri in _uris(text):
        if "security" in uri:
            return uri
    return mirror_from_sources(text).rstrip("/") + "-security"


def sources_for(release: Release, mirror: str, security_mirror: str) -> str:
    """The image's /etc/apt/sources.list.d/debian.sources: its own suite, -updates and -security (deb822).

    Written as a Debian installer writes it for that release. https://wiki.debian.org/SourcesList
    """
    stanza = "Types: deb\nURIs: {uri}\nSuites: {suites}\nComponents: main\nSigned-By: {keyring}\n"
    suite = release.codename
    return (
        stanza.format(uri=mirror, suites=f"{suite} {suite}-updates", keyring=release.keyring)
        + "\n"
        + stanza.format(uri=security_mirror, suites=f"{suite}-security", keyring=release.keyring)
    )


def recipe(release: Release, host_sources: str) -> dict[str, object]:
    mirror = mirror_from_sources(host_sources)
    return {
        "version": RECIPE_VERSION,
        "suite": release.codename,
        "variant": "minbase",
        "packages": list(PACKAGES),
        "mirror": mirror,
        "sources": sources_for(release, mirror, security_mirror_from_sources(host_sources)),
        "apt_conf": APT_CONF,
    }


def recipe_hash(spec: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def image_name(spec: dict[str, object]) -> str:
    return f"base-{spec['suite']}-{recipe_hash(spec)}.tar"


def superseded(names: Iterable[str], current: str) -> list[str]:
    """What a newly built image `current` replaces among the images directory's `names`: the same release's
    images and unpacked trees of other recipes.

    Never another release's (hosts of both run side by side), never `current`'s own tree, and never a name
    of another layout (builds in progress, images of older mailforge versions that hosts may still use).
    """
    this = IMAGE_RE.match(current)
    if this is None:
        raise ValueError(f"{current!r} is not an image name")
    stale = []
    for name in names:
        match = IMAGE_RE.match(name)
        if match and match["release"] == this["release"] and match["hash"] != this["hash"]:
            stale.append(name)
    return sorted(stale)


def host_sources_text() -> str:
    try:
        return HOST_SOURCES.read_text()
    except FileNotFoundError as exc:
        raise TesthostError(f"{HOST_SOURCES} is missing: test hosts use this machine's Debian mirror") from exc


def _build_lock(state: StateDir) -> contextlib.AbstractContextManager[None]:
    """One debootstrap at a time per state directory; its own lock, so a build of minutes never holds up
    `up` and `down` of hosts on images already built."""
    return file_lock(state.images_dir / ".build.lock")


def ensure_base_image(state: StateDir, release: Release | None = None, *, log: Callable[[str], None] = print) -> Path:
    """Return the cached image of `release` (default: the test hosts' default) for the current recipe,
    building it first if needed."""
    release = release or releases.by_codename(releases.TEST_HOST_DEFAULT)
    spec = recipe(release, host_sources_text())
    image = state.images_dir / image_name(spec)
    if image.exists():
        return image
    with _build_lock(state):
        if image.exists():  # built by the run we waited for
            return image
        log(f"testhost: building the {release.name} base image {image.name} with debootstrap (once, minutes)")
        with tempfile.TemporaryDirectory(dir=state.images_dir, prefix=".build-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            # processes.run kills and reaps debootstrap on Ctrl-C, before the temporary directory goes.
            processes.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=" + ",".join(PACKAGES),
                    release.codename,
                    str(rootfs),
                    str(spec["mirror"]),
                ],
                what="debootstrap",
            )
            _finish_rootfs(rootfs, release, str(spec["sources"]))
            partial = image.with_suffix(".partial")
            processes.run(
                ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], what="packing the image"
            )
            partial.replace(image)
        # Trees are unpacked under the machine lock (hosts.up): never delete one while it is being made.
        with network.machine_lock():
            _remove_superseded(state, image)
    return image


def _remove_superseded(state: StateDir, image: Path) -> None:
    mounts = Path("/proc/self/mounts").read_text()
    for name in superseded((p.name for p in state.images_dir.iterdir()), image.name):
        old = state.images_dir / name
        if old.is_dir():
            if str(old) not in mounts:  # hosts still running on it keep it (their overlay's lower layer)
                shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def _finish_rootfs(rootfs: Path, release: Release, sources: str) -> None:
    # A wrong keyring in the release table would only show as `apt-get update` failing on every host.
    if not (rootfs / release.keyring.lstrip("/")).is_file():
        shipped = ", ".join(sorted(p.name for p in (rootfs / "usr/share/keyrings").glob("*")))
        raise TesthostError(
            f"{release.name} has no {release.keyring} (it has: {shipped}); correct its keyring in mailforge/releases.py"
        )
    # Each host gets its own SSH host keys at creation; an image must not carry any.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    (rootfs / "etc/apt/apt.conf.d/80mailforge-timeouts").write_text(APT_CONF)
    # debootstrap leaves the package lists of its own run: drop them so the image is smaller and a host
    # always starts from `apt-get update` like a fresh cloud server does.
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)
    # No host tty to log in on: the console getty only fills console.log with prompts.
    (rootfs / "etc/systemd/system/console-getty.service").symlink_to("/dev/null")


def ensure_base_tree(image: Path) -> Path:
    """The image unpacked once beside its tarball: the shared, read-only lower layer of every host's rootfs."""
    tree = image.with_suffix(".d")
    if (tree / ".complete").exists():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir()
    processes.run(["tar", "-C", str(tree), "--numeric-owner", "-xpf", str(image)], what="unpacking the base image")
    (tree / ".complete").touch()
    return tree
