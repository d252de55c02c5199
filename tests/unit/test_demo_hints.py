"""The commands `make demo` prints run as printed in a fresh shell in the checkout, after `make bootstrap`.

Each program they name is a console script of this package in .venv/bin, a target of the Makefile, a bash
builtin, or a program of a Debian package that apt-packages.txt lists (so bootstrap installs it). That they
work against a deployed server is tests/e2e/test_foundation.py's part.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from lab.demo import ROOT, Hint, hints, write_private_json

DEMO_JSON = ROOT / "build" / "demo.json"
HINTS = hints(
    "demo",
    "10.213.249.2",
    DEMO_JSON,
    "alice@example.test",
    "bob@example.test",
    ("postfixadmin.example.test", "webmail.example.test"),
)
APT_PACKAGES = {
    line.strip()
    for line in (ROOT / "apt-packages.txt").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
}
CONSOLE_SCRIPTS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def substitutions(command: str) -> list[str]:
    """The commands inside each $( ... ), parentheses in single quotes (a jq filter's) left alone."""
    found, start = [], command.find("$(")
    while start != -1:
        depth, quoted = 0, False
        for end in range(start + 1, len(command)):
            char = command[end]
            if char == "'":
                quoted = not quoted
            elif not quoted and char in "()":
                depth += 1 if char == "(" else -1
                if depth == 0:
                    found.append(command[start + 2 : end])
                    break
        start = command.find("$(", start + 2)
    return found


def programs(command: str) -> list[tuple[str, str]]:
    """(program, first argument) of the command and of each $( ... ) inside it."""
    parts = [command, *substitutions(command)]
    return [(words[0], words[1] if len(words) > 1 else "") for words in (shlex.split(p) for p in parts)]


def installed_by_bootstrap(program: str, argument: str) -> bool:
    if program.startswith(".venv/bin/"):
        return program.removeprefix(".venv/bin/") in CONSOLE_SCRIPTS and (ROOT / program).is_file()
    if program == "make":
        return re.search(rf"^{re.escape(argument)}:", (ROOT / "Makefile").read_text(), re.MULTILINE) is not None
    if subprocess.run(["bash", "-c", f"type -t {program}"], capture_output=True, text=True).stdout == "builtin\n":
        return True
    path = shutil.which(program)
    if path is None:
        return False
    owner = subprocess.run(["dpkg-query", "-S", str(Path(path).resolve())], capture_output=True, text=True)
    return owner.stdout.split(":", 1)[0] in APT_PACKAGES


@pytest.mark.parametrize(
    ("program", "argument"), sorted({p for h in HINTS for p in programs(h.command)}), ids=lambda v: v or "-"
)
def test_every_program_is_there_after_bootstrap(program: str, argument: str) -> None:
    assert installed_by_bootstrap(program, argument)


@pytest.mark.parametrize("program", ["mailforge", ".venv/bin/nosuch", "nosuch-program"])
def test_the_check_refuses_what_a_fresh_shell_lacks(program: str) -> None:
    assert not installed_by_bootstrap(program, "")


def test_the_demo_json_is_named_relative_to_the_checkout() -> None:
    assert all(str(ROOT) not in h.command for h in HINTS)


def run_hint(hint: Hint, demo_json: Path) -> subprocess.CompletedProcess[str]:
    """As printed, in a fresh non-login shell in the checkout: a plain PATH, nothing activated."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(demo_json.parent)}
    return subprocess.run(["bash", "-c", hint.command], cwd=ROOT, env=env, capture_output=True, text=True)


def test_the_superadmin_password_command_prints_it(tmp_path: Path) -> None:
    demo_json = tmp_path / "demo.json"
    write_private_json(demo_json, {"postfixadmin_superadmin_password": "Sup3r-Example-Password"})
    [hint] = [
        h
        for h in hints("demo", "10.213.249.2", demo_json, "a@example.test", "b@example.test")
        if "superadmin" in h.label
    ]
    assert run_hint(hint, demo_json).stdout == "Sup3r-Example-Password\n"


def test_the_password_swaks_is_given_is_the_senders(tmp_path: Path) -> None:
    demo_json = tmp_path / "demo.json"
    accounts = [
        {"address": "alice@example.test", "password": "a-pass"},
        {"address": "bob@example.test", "password": "b-pass"},
    ]
    write_private_json(demo_json, {"accounts": accounts})
    [hint] = [
        h
        for h in hints("demo", "10.213.249.2", demo_json, "alice@example.test", "bob@example.test")
        if h.label == "send a message"
    ]
    [substitution] = substitutions(hint.command)
    assert run_hint(Hint("password", substitution), demo_json).stdout == "a-pass\n"


def test_the_demo_json_is_private(tmp_path: Path) -> None:
    demo_json = tmp_path / "demo.json"
    demo_json.write_text("{}")
    demo_json.chmod(0o644)
    write_private_json(demo_json, {"accounts": []})
    assert (demo_json.stat().st_mode & 0o777, json.loads(demo_json.read_text())) == (0o600, {"accounts": []})
