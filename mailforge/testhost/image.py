"""The cached Debian 12 base image every test host starts from.

Built once with debootstrap (about a minute) and stored as a tarball keyed on a hash of its recipe, so a
changed recipe builds a new image and an unchanged one is never rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

from mailforge.testhost import processes
from mailforge.testhost.errors import TesthostError
from mailforge.testhost.state import StateDir

SUITE = "bookworm"
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
RECIPE_VERSION = 1
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


def mirror_from_sources(text: str) -> str:
    """The first Debian mirror named in a deb822 sources file (the machine's own, reachable one)."""
    for match in re.finditer(r"^URIs:\s*(\S+)", text, re.MULTILINE):
        uri = match.group(1)
        if "security" not in uri:
            return uri
    raise TesthostError(f"no Debian mirror found in {HOST_SOURCES}; add a 'URIs:' line for the main archive")


def recipe(sources_text: str) -> dict[str, object]:
    return {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "variant": "minbase",
        "packages": list(PACKAGES),
        "mirror": mirror_from_sources(sources_text),
        "sources": sources_text,
        "apt_conf": APT_CONF,
    }


def recipe_hash(spec: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def host_sources_text() -> str:
    try:
        return HOST_SOURCES.read_text()
    except FileNotFoundError as exc:
        raise TesthostError(f"{HOST_SOURCES} is missing: test hosts copy this machine's Debian mirror") from exc


def ensure_base_image(state: StateDir, *, log=print) -> Path:  # type: ignore[no-untyped-def]
    """Return the cached image for the current recipe, building it first if needed."""
    sources = host_sources_text()
    spec = recipe(sources)
    image = state.images_dir / f"base-{recipe_hash(spec)}.tar"
    if image.exists():
        return image
    state.images_dir.mkdir(parents=True, exist_ok=True)
    log(f"testhost: building base image {image.name} with debootstrap (once, about a minute)")
    with tempfile.TemporaryDirectory(dir=state.images_dir, prefix=".build-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        # processes.run kills and reaps debootstrap on Ctrl-C, before the temporary directory goes.
        processes.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(PACKAGES),
                SUITE,
                str(rootfs),
                str(spec["mirror"]),
            ],
            what="debootstrap",
        )
        _finish_rootfs(rootfs, sources)
        partial = image.with_suffix(".partial")
        processes.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], what="packing the image")
        partial.replace(image)
    for old in state.images_dir.glob("base-*.tar"):
        if old != image:
            old.unlink()
    mounts = Path("/proc/self/mounts").read_text()
    for old_tree in state.images_dir.glob("base-*.d"):
        if old_tree != image.with_suffix(".d") and str(old_tree) not in mounts:  # hosts may still run on it
            shutil.rmtree(old_tree, ignore_errors=True)
    return image


def _finish_rootfs(rootfs: Path, sources: str) -> None:
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
