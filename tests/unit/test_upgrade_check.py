"""mailforge upgrade-check's verdicts from the facts its probe gathers (mailforge/upgrade_check.py)."""

from __future__ import annotations

import pytest

from mailforge.upgrade_check import evaluate, parse

READY = {
    "codename": "bookworm",
    "dovecot_active": "inactive",
    "dovecot_enabled": "masked",
    "apt_preferences": "yes",
    "free_mb": "9000",
    "held": "",
    "audit": "0",
    "queue": "3",
}


def failing(facts: dict[str, str]) -> list[str]:
    return [check.name for check in evaluate(facts) if not check.ok]


def test_a_prepared_server_is_ready() -> None:
    assert failing(READY) == []


@pytest.mark.parametrize(
    ("change", "failed", "fix"),
    [
        ({"codename": "trixie"}, "release", "run the deploy"),
        ({"codename": "bullseye"}, "release", "Debian 12 (bookworm) only"),
        ({"apt_preferences": "no"}, "deployed by this mailforge", "deploy on Debian 12 first"),
        ({"dovecot_enabled": "enabled"}, "Dovecot held", "systemctl mask dovecot.service"),
        ({"dovecot_active": "active"}, "Dovecot held", "systemctl stop dovecot.service"),
        ({"held": "postfix mariadb-server "}, "no package on hold", "apt-mark unhold postfix mariadb-server"),
        ({"audit": "2"}, "dpkg consistent", "dpkg --configure -a"),
        ({"free_mb": "900"}, "room in /var", "2048 MB"),
    ],
)
def test_each_unmet_step_is_named_with_its_fix(change: dict[str, str], failed: str, fix: str) -> None:
    checks = {check.name: check for check in evaluate({**READY, **change})}
    assert failing({**READY, **change}) == [failed]
    assert fix in checks[failed].fix


def test_probe_output_is_read_line_by_line() -> None:
    text = "codename=bookworm\nheld=\nfree_mb=12\nnoise without a key\n"
    assert parse(text) == {"codename": "bookworm", "held": "", "free_mb": "12"}


def test_missing_facts_fail_rather_than_pass() -> None:
    assert set(failing({})) == {
        "release",
        "deployed by this mailforge",
        "Dovecot held",
        "room in /var",
    }
