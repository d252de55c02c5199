"""lab.teardown.torn_down: several test hosts removed together, leftovers first, each one even when another
fails or the block raises (issue 15 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import teardown
from mailforge.testhost import StateDir
from mailforge.testhost.errors import TesthostError as Refused


@pytest.fixture
def downs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hosts.down call by name; "stuck" cannot be removed."""
    calls: list[str] = []

    def down(name: str, *, state: StateDir) -> bool:
        calls.append(name)
        if name == "stuck" and calls.count(name) > 1:
            raise Refused("stuck will not stop")
        return True

    monkeypatch.setattr(teardown.hosts, "down", down)
    return calls


def test_leftovers_go_first_and_every_host_at_the_end(tmp_path: Path, downs: list[str]) -> None:
    with teardown.torn_down(StateDir(tmp_path), ("a", "b")) as owned:
        assert downs == ["a", "b"]
        owned.add("c")
    assert downs == ["a", "b", "c", "a", "b", "c"]
    assert owned.errors == []


def test_a_host_that_will_not_go_is_reported_and_the_others_still_go(tmp_path: Path, downs: list[str]) -> None:
    reported: list[str] = []
    with teardown.torn_down(StateDir(tmp_path), ("a", "stuck", "b"), report=reported.append) as owned:
        pass
    assert downs[3:] == ["a", "stuck", "b"]
    assert owned.errors == reported == ["cleanup of stuck failed: stuck will not stop"]


def test_the_blocks_exception_survives_the_teardown(tmp_path: Path, downs: list[str]) -> None:
    with pytest.raises(KeyboardInterrupt), teardown.torn_down(StateDir(tmp_path), ("a",), report=None):
        raise KeyboardInterrupt
    assert downs == ["a", "a"]


def test_a_host_added_twice_goes_once(tmp_path: Path, downs: list[str]) -> None:
    with teardown.torn_down(StateDir(tmp_path)) as owned:
        owned.add("a")
        owned.add("a")
    assert owned.names == ["a"]
