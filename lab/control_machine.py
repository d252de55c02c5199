"""A test host playing the control machine: the repository cloned onto it, and the Python packages of
requirements.lock carried in, so scripts/bootstrap.sh runs there as on a fresh server (issue 16).

Test hosts reach only the Debian mirror (DESIGN.md section 4), not PyPI: the lock's files, for the host's
Python, are downloaded here once into a wheelhouse (checked against the lock's hashes) and pip on the host is
pointed at it through its own environment variables (PIP_NO_INDEX, PIP_FIND_LINKS), with the bootstrap
script unchanged.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mailforge.testhost import Host

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# Where the clone and the wheelhouse go on the host.
CLONE = "/root/mailforge"
WHEELHOUSE = "/root/wheelhouse"
# What builds the lock's source-only packages (and the project's editable install) on the host: pip asks
# for setuptools in an isolated build environment, which the wheelhouse must then hold too.
BUILD_REQUIREMENTS = ("setuptools>=77", "wheel")
# Linux x86_64 wheels a CPython of Debian 12 or 13 accepts (glibc 2.36 / 2.41).
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def wheelhouse(python_version: str) -> Path:
    """The lock's files for CPython `python_version` ("3.13"), cached under build/ by the lock's content."""
    key = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    dest = ROOT / "build" / f"wheelhouse-cp{python_version.replace('.', '')}-{key}"
    if (dest / ".complete").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    target = ["--python-version", python_version, "--implementation", "cp"]
    target += ["--abi", f"cp{python_version.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
    for platform in PLATFORMS:
        target += ["--platform", platform]
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), *target]
    # --no-deps: the lock already lists every package; then pip allows source distributions (dkimpy and pyspf
    # publish no wheel), which the host builds itself. --prefer-binary: a wheel wherever one exists.
    subprocess.run([*pip, "--no-deps", "--prefer-binary", "--require-hashes", "-r", str(LOCK)], check=True)
    subprocess.run([*pip, "--no-deps", "--only-binary=:all:", *BUILD_REQUIREMENTS], check=True)
    (dest / ".complete").touch()
    return dest


def pins(text: str) -> dict[str, str]:
    """NAME==VERSION lines (a lock file, `pip freeze`), names normalised as PEP 503 does."""
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in PIN_RE.findall(text)}


def python_version(host: Host) -> str:
    return host.run("python3 -c 'import sys; print(*sys.version_info[:2], sep=\".\")'").stdout.strip()


def clone_onto(host: Host) -> None:
    """The repository's HEAD, cloned on the host with git, as an operator clones it (from a bundle: the host
    cannot reach where the repository is hosted)."""
    host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null", timeout=900)
    bundle = subprocess.run(["git", "-C", str(ROOT), "bundle", "create", "-", "HEAD"], capture_output=True, check=True)
    subprocess.run(host.ssh_argv("cat > /root/mailforge.bundle"), input=bundle.stdout, check=True, timeout=300)
    host.run(f"rm -rf {CLONE} && git clone -q /root/mailforge.bundle {CLONE}")


def carry_wheelhouse(host: Host, local: Path) -> None:
    tar = subprocess.run(["tar", "-C", str(local), "-c", "."], capture_output=True, check=True)
    host.run(f"rm -rf {WHEELHOUSE} && mkdir -p {WHEELHOUSE}")
    subprocess.run(host.ssh_argv(f"tar -C {WHEELHOUSE} -x"), input=tar.stdout, check=True, timeout=300)


def run_in_clone(host: Host, command: str, *, timeout: float) -> subprocess.CompletedProcess[str]:
    """`command` in the clone, with pip reading only the wheelhouse."""
    env = f"PIP_NO_INDEX=1 PIP_FIND_LINKS={WHEELHOUSE} PIP_DISABLE_PIP_VERSION_CHECK=1"
    return host.run(f"cd {CLONE} && {env} {command}", check=False, timeout=timeout)
