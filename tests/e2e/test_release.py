"""Issue 16: test hosts per Debian release, and the deploy refusing a release it does not support before any
change.

A trixie host boots from the trixie base image (built once per machine by debootstrap, cached beside
bookworm's), answers SSH, and its apt sources are trixie's own (the deploy onto trixie is tests/e2e/test_trixie.py).
A bullseye host (Debian 11, built by the same recipe) is a release the table (mailforge/releases.py) knows but
does not support: the deploy reads its /etc/os-release and stops before any operation, saying why.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.testhost import Host, StateDir

MAILFORGE = Path(sys.executable).with_name("mailforge")
NAME = "rel-trixie"
OLD = "rel-bullseye"
DATA = {
    "mail_hostname": "mail.example.test",
    "mail_domains": [{"domain": "example.test", "mailboxes": [{"address": "alice@example.test"}]}],
}
# Where the deploy leaves its marks first: packages, their state, and configuration.
WATCHED = "/etc /usr /var/lib/dpkg /var/lib/apt /var/cache/apt"


@pytest.fixture(scope="module")
def trixie(make_host: Callable[..., Host]) -> Host:
    return make_host(NAME, release="trixie")


@pytest.fixture(scope="module")
def apt_update(trixie: Host) -> subprocess.CompletedProcess[str]:
    return trixie.run("apt-get update", check=False)


@pytest.fixture(scope="module")
def bullseye(make_host: Callable[..., Host]) -> Host:
    return make_host(OLD, release="bullseye")


@pytest.fixture(scope="module")
def refused(bullseye: Host, state: StateDir, module_tmp: Path) -> tuple[DeployResult, str, str]:
    """The deploy run once onto the bullseye host: its result, and the host's packages before and after it.

    After apt-get update (so the package lists are there to install from, as on any fresh server).
    """
    assert bullseye.run("apt-get update", check=False).returncode == 0
    packages = "dpkg-query -W -f '${Package} ${Version} ${Status}\\n'"
    before = bullseye.run(f"touch /root/.before-deploy && {packages}").stdout
    inventory = write_inventory(module_tmp / "inventory.py", [(OLD, bullseye.address, DATA)], state.ssh_key)
    result = run_deploy(inventory, timeout=600)
    return result, before, bullseye.run(packages).stdout


# --- the host ------------------------------------------------------------------------------------------


def test_trixie_host_runs_trixie(trixie: Host) -> None:
    assert "VERSION_CODENAME=trixie" in trixie.run("cat /etc/os-release").stdout.splitlines()


def test_trixie_host_boots_to_running_with_no_failed_unit(trixie: Host) -> None:
    # --wait: until the boot has finished; "running" means no unit failed (systemctl(1)).
    assert trixie.run("systemctl is-system-running --wait", check=False).stdout.strip() == "running"


def test_trixie_host_updates_its_package_lists(apt_update: subprocess.CompletedProcess[str]) -> None:
    assert apt_update.returncode == 0, apt_update.stdout + apt_update.stderr


def test_trixie_host_package_lists_carry_no_warning(apt_update: subprocess.CompletedProcess[str]) -> None:
    # A wrong keyring or suite is a "W:" line (or an "E:" one) even where apt still exits 0.
    assert [line for line in apt_update.stderr.splitlines() if line[:2] in ("W:", "E:")] == []


@pytest.mark.parametrize("suite", ["trixie", "trixie-updates", "trixie-security"])
def test_trixie_host_reads_its_releases_suites(trixie: Host, apt_update: object, suite: str) -> None:
    assert f"n={suite}," in trixie.run("apt-cache policy").stdout


@pytest.mark.parametrize(("name", "codename"), [(NAME, "trixie"), (OLD, "bullseye")], ids=["trixie", "bullseye"])
def test_list_shows_the_hosts_release(trixie: Host, bullseye: Host, name: str, codename: str) -> None:
    result = subprocess.run([str(MAILFORGE), "testhost", "list"], capture_output=True, text=True, timeout=120)
    rows = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:]}
    assert rows[name] == codename, result.stdout + result.stderr


def test_bullseye_host_runs_bullseye(bullseye: Host) -> None:
    assert "VERSION_CODENAME=bullseye" in bullseye.run("cat /etc/os-release").stdout.splitlines()


# --- the deploy refuses an unsupported release ---------------------------------------------------------


def test_deploy_onto_bullseye_fails(refused: tuple[DeployResult, str, str]) -> None:
    assert refused[0].returncode != 0, refused[0].output


@pytest.mark.parametrize(
    "fragment",
    [
        "host rel-bullseye runs Debian GNU/Linux 11 (bullseye)",
        "not supported yet: Debian 11 is past its regular security support; deploy onto Debian 12 or 13",
        "Supported: Debian 12 (bookworm), Debian 13 (trixie).",
    ],
    ids=["release found", "why", "supported"],
)
def test_deploy_refusal_says(refused: tuple[DeployResult, str, str], fragment: str) -> None:
    assert fragment in refused[0].output, refused[0].output


def test_deploy_refusal_comes_before_any_operation(refused: tuple[DeployResult, str, str]) -> None:
    # pyinfra prints its per-host table of operations once it has run any; a refusal while the deploy file
    # is read comes before that.
    assert "Grand total" not in refused[0].output, refused[0].output


def test_deploy_refusal_installs_or_removes_no_package(refused: tuple[DeployResult, str, str]) -> None:
    _, before, after = refused
    assert after == before


def test_deploy_refusal_changes_no_file(bullseye: Host, refused: object) -> None:
    changed = bullseye.run(f"find {WATCHED} -xdev -newer /root/.before-deploy").stdout
    assert changed.split() == []


def test_deploy_refusal_lists_inventory_problems_too(bullseye: Host, state: StateDir, module_tmp: Path) -> None:
    """One run names every problem: the release, and bad data in the same inventory."""
    bad = {**DATA, "mail_hostname": "not a host name"}
    inventory = write_inventory(module_tmp / "bad_inventory.py", [(OLD, bullseye.address, bad)], state.ssh_key)
    output = run_deploy(inventory, timeout=600).output
    assert "mail_hostname: 'not a host name'" in output and "Debian GNU/Linux 11 (bullseye)" in output, output
