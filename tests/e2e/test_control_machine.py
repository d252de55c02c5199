"""Issue 16: the control machine on Debian 13. A trixie test host clones the repository, runs
scripts/bootstrap.sh (Debian packages from trixie's archive, the venv from requirements.lock with hashes, on
trixie's Python 3.13) and then the unit tests from the clone.

The host reaches Debian's mirror but not PyPI, so pip reads the lock's files from a wheelhouse carried in
(lab/control_machine.py); everything else is the script an operator runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from lab import control_machine
from mailforge.testhost import Host

NAME = "ctl-trixie"


@pytest.fixture(scope="module")
def control(make_host: Callable[..., Host]) -> Host:
    host = make_host(NAME, release="trixie")
    host.run("apt-get update -qq", timeout=900)
    control_machine.clone_onto(host)
    control_machine.carry_wheelhouse(host, control_machine.wheelhouse(control_machine.python_version(host)))
    return host


@pytest.fixture(scope="module")
def bootstrap(control: Host) -> subprocess.CompletedProcess[str]:
    return control_machine.run_in_clone(control, "scripts/bootstrap.sh", timeout=2400)


@pytest.fixture(scope="module")
def unit_tests(control: Host, bootstrap: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert bootstrap.returncode == 0, bootstrap.stderr[-3000:]
    return control_machine.run_in_clone(control, ".venv/bin/pytest tests/unit -q -p no:cacheprovider", timeout=1800)


def test_host_is_trixie_with_python_3_13(control: Host) -> None:
    assert "VERSION_CODENAME=trixie" in control.run("cat /etc/os-release").stdout.splitlines()
    assert control_machine.python_version(control) == "3.13"


def test_bootstrap_succeeds(bootstrap: subprocess.CompletedProcess[str]) -> None:
    assert bootstrap.returncode == 0, bootstrap.stdout[-2000:] + bootstrap.stderr[-3000:]


def test_venv_runs_trixie_python_with_the_locked_packages(control: Host, bootstrap: object) -> None:
    check = control_machine.run_in_clone(
        control, ".venv/bin/python -c 'import sys; print(sys.version_info[:2])' && .venv/bin/pip check", timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "(3, 13)" in check.stdout
    frozen = control_machine.run_in_clone(control, ".venv/bin/pip freeze --exclude-editable", timeout=120).stdout
    locked = control_machine.pins(control.run(f"cat {control_machine.CLONE}/requirements.lock").stdout)
    installed = control_machine.pins(frozen)
    assert installed and all(locked.get(name) == version for name, version in installed.items()), {
        name: (version, locked.get(name)) for name, version in installed.items() if locked.get(name) != version
    }


def test_second_bootstrap_changes_nothing(control: Host, bootstrap: object) -> None:
    again = control_machine.run_in_clone(control, "scripts/bootstrap.sh", timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "" and again.stderr == ""


def test_mailforge_command_works(control: Host, bootstrap: object) -> None:
    result = control_machine.run_in_clone(control, ".venv/bin/mailforge dns records --help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: mailforge dns records" in result.stdout


def test_unit_tests_pass_from_the_clone(unit_tests: subprocess.CompletedProcess[str]) -> None:
    summary = unit_tests.stdout.strip().splitlines()[-1] if unit_tests.stdout.strip() else ""
    assert unit_tests.returncode == 0, unit_tests.stdout[-4000:] + unit_tests.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
