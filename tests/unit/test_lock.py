"""requirements.lock (what CI and scripts/bootstrap.sh install) agrees with pyproject.toml's ranges.

A dependency changed in pyproject.toml without `make lock` would be installed at the locked version, or not
at all: this catches it before a fresh machine does.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lab.control_machine import LOCK, PIN_RE, ROOT, pins


def _pins() -> dict[str, str]:
    return pins(LOCK.read_text())


def _declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["test"]]


@pytest.mark.parametrize("declared", _declared())
def test_locked_version_satisfies_pyproject(declared: str) -> None:
    requirement = Requirement(declared)
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"requirements.lock pins {requirement.name}=={pins[name]}, outside {declared!r}: run `make lock`"
    )


def test_every_pin_has_a_hash() -> None:
    text = LOCK.read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    pinned = [entry for entry in entries if PIN_RE.match(entry)]
    assert pinned and all("--hash=sha256:" in entry for entry in pinned)
