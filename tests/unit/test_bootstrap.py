"""scripts/bootstrap.sh names each missing Debian package once, spaced, and installs exactly those.

The script runs for real in a copy of the checkout; dpkg-query, apt-get, debconf-set-selections and id are
stand-ins on PATH (the real ones would change this machine), answering as dpkg does for installed ("ii"),
removed ("rc") and never-seen packages (no output, exit 1).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APT_LIST = """# a comment line
pkg-installed
pkg-removed

pkg-unknown
pkg-removed
"""
STUBS = {
    # Like dpkg-query -W -f=FORMAT PKG...: FORMAT per known package (${Package}, ${db:Status-Abbrev}), exit 1
    # when any is unknown.
    "dpkg-query": """#!/bin/bash
format='${Package}\\t${Status}\\n'; rc=0
for arg in "$@"; do
  case "$arg" in
    -W) ;;
    -f=*) format="${arg#-f=}" ;;
    pkg-installed|pkg-removed)
      status=ii; [ "$arg" = pkg-removed ] && status=rc
      out="${format//'${Package}'/$arg}"; out="${out//'${db:Status-Abbrev}'/$status }"; printf "$out" ;;
    *) echo "dpkg-query: no packages found matching $arg" >&2; rc=1 ;;
  esac
done
exit $rc
""",
    "apt-get": '#!/bin/bash\necho "$*" >> "$STUB_LOG"\n',
    "debconf-set-selections": "#!/bin/bash\ncat > /dev/null\n",
    "id": "#!/bin/bash\necho 0\n",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    checkout = tmp_path_factory.mktemp("checkout")
    (checkout / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", checkout / "scripts" / "bootstrap.sh")
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / name, checkout / name)
    (checkout / "apt-packages.txt").write_text(APT_LIST)
    # The .venv is up to date for this pyproject.toml and lock: the script's Python half has nothing to do.
    inputs = (checkout / "pyproject.toml").read_bytes() + (checkout / "requirements.lock").read_bytes()
    stamp = hashlib.sha256(inputs).hexdigest()[:16]
    (checkout / ".venv").mkdir()
    (checkout / ".venv" / f".stamp-{stamp}").touch()
    stubs = checkout / "stubs"
    stubs.mkdir()
    for name, text in STUBS.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    log = checkout / "apt-get.log"
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "STUB_LOG": str(log), "LC_ALL": "C"}
    proc = subprocess.run(
        ["bash", str(checkout / "scripts" / "bootstrap.sh")], capture_output=True, text=True, env=env, check=False
    )
    return proc, log.read_text().splitlines() if log.exists() else []


def test_message_names_each_missing_package_once(
    run: tuple[subprocess.CompletedProcess[str], list[str]],
) -> None:
    proc, _ = run
    assert (proc.returncode, proc.stdout) == (0, "bootstrap: apt-get install pkg-removed pkg-unknown\n"), proc.stderr


def test_apt_get_installs_exactly_the_missing_packages(
    run: tuple[subprocess.CompletedProcess[str], list[str]],
) -> None:
    _, calls = run
    assert calls[-1] == "install -y -qq --no-install-recommends pkg-removed pkg-unknown"
