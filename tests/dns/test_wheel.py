"""Issue 15 item 10: the operations CLI works without a checkout. A wheel built from the package's own files
(pyproject.toml, README.md, mailforge/) installs into a fresh venv; run from a directory that is not a checkout,
its `mailforge` answers --help for each operations command, audits a domain served by the local knotd, summarizes
a mail log, runs the queue command here and finds test hosts through its entry point.

One wheel build and one venv for the module (pip may fetch setuptools and the dependencies from its cache or
the configured index); about 20 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailforge.cli import main

from .conftest import Lab
from .lab import SCENARIOS, scenario_addresses

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "tests" / "unit" / "data" / "logs" / "scenarios.log"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory that is not a checkout: nothing of the repository is importable from it."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `mailforge` script of a fresh venv holding only the wheel and its declared dependencies."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "mailforge", source / "mailforge", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(base / "dist"), str(source)], check=True, timeout=600)
    (wheel,) = (base / "dist").glob("mailforge-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install", str(wheel)],
        check=True,
        timeout=600,
    )
    return venv / "bin" / "mailforge"


def run(installed: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(installed), *args], cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def test_the_installed_package_is_the_wheels(installed: Path, outside: Path) -> None:
    python = installed.with_name("python")
    where = subprocess.run(
        [str(python), "-c", "import mailforge, sys; print(mailforge.__file__)"],
        cwd=outside,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed.parent.parent)), where
    assert not where.startswith(str(ROOT) + "/mailforge")


@pytest.mark.parametrize(
    "command",
    [
        ["dns"],
        ["dns", "audit"],
        ["dns", "records"],
        ["logs"],
        ["logs", "trace"],
        ["logs", "summary"],
        ["queue"],
        ["queue", "list"],
        ["queue", "delete"],
        ["backup"],
        ["restore"],
    ],
    ids=" ".join,
)
def test_help(installed: Path, outside: Path, command: list[str]) -> None:
    result = run(installed, outside, *command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: mailforge {' '.join(command)}")


def test_dns_audit_against_the_local_knot_server(installed: Path, outside: Path, lab: Lab) -> None:
    index = next(i for i, s in enumerate(SCENARIOS) if s.name == "spf-multiple")
    v4, v6 = scenario_addresses(index)
    domain = SCENARIOS[index].domain
    result = run(installed, outside, "dns", "audit", domain, "--hostname", f"mail.{domain}", "--ip", v4, "--ip", v6,
                 "--nameserver", f"127.0.0.1:{lab.port}", "--json")  # fmt: skip
    assert result.returncode == 2, result.stderr  # an error-level finding
    (found,) = json.loads(result.stdout)["domains"].values()
    assert "SPF_MULTIPLE_RECORDS" in [f["code"] for f in found["findings"]]


def test_logs_summary_of_a_mail_log_matches_the_checkouts(
    installed: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(installed, outside, "logs", "summary", "--json", str(LOG))
    assert result.returncode == 0, result.stderr
    assert main(["logs", "summary", "--json", str(LOG)]) == 0
    assert json.loads(result.stdout) == json.loads(capsys.readouterr().out)


def test_queue_runs_postfixs_tools_on_this_machine(installed: Path, outside: Path) -> None:
    # A postqueue on PATH that reports an empty queue: no Postfix needed to see the command run it.
    bin_dir = outside / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "postqueue").write_text('#!/bin/sh\n[ "$1" = -j ]\n')
    (bin_dir / "postqueue").chmod(0o755)
    result = run(installed, outside, "queue", "list", env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "-- 0 message(s), 0 bytes" in result.stdout


@pytest.mark.parametrize("command", [["queue", "list"], ["backup", "--no-encryption"]], ids=" ".join)
def test_testhost_names_are_resolved_through_the_entry_point(
    installed: Path, outside: Path, command: list[str]
) -> None:
    state = outside / "state"
    state.mkdir(exist_ok=True)
    result = run(installed, outside, *command, "--testhost", "ghost", env={"MAILFORGE_STATE_DIR": str(state)})
    assert result.returncode == 2
    assert "no test host named 'ghost'" in result.stderr
