"""Issue 15: one way to get a host's settings from an inventory FILE and HOST (mailforge/settings/inventory.py),
with group_data/ layered by pyinfra's own loader, as the deploy sees the host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailforge.settings.inventory import InventoryError, host_data, host_settings

DOMAINS = [{"domain": "example.org", "mailboxes": [{"address": "alice@example.org"}]}]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout-like directory: an inventory with two groups, and group_data for `all` and one group."""
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(
        f"mail_hostname = 'mail.example.org'\nmail_domains = {DOMAINS!r}\ndkim_selector = 'all'\nwebmail = 'none'\n"
    )
    (tmp_path / "group_data" / "eu.py").write_text("dkim_selector = 'eu'\nmail_timezone = 'Europe/Berlin'\n")
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "prod.py").write_text(
        "eu = [('mx1', {'mail_hostname': 'mx1.example.org'}), 'mx2']\nus = ['mx3']\n"
    )
    return tmp_path


def test_group_data_layers_under_the_host(project: Path) -> None:
    data = host_data(project / "inventories" / "prod.py", "mx1", cwd=project)
    assert (data["mail_hostname"], data["dkim_selector"], data["mail_timezone"]) == (
        "mx1.example.org",
        "eu",
        "Europe/Berlin",
    )


def test_a_host_of_another_group_gets_only_all(project: Path) -> None:
    data = host_data(project / "inventories" / "prod.py", "mx3", cwd=project)
    assert (data["mail_hostname"], data["dkim_selector"], "mail_timezone" in data) == ("mail.example.org", "all", False)


def test_settings_apply_the_defaults(project: Path) -> None:
    settings = host_settings(project / "inventories" / "prod.py", "mx2", cwd=project, environ={})
    assert (settings.base.hostname, settings.base.timezone, settings.dkim.selector) == (
        "mail.example.org",
        "Europe/Berlin",
        "eu",
    )
    assert settings.postfix.message_size_limit == 52428800  # a default no file sets


def test_group_data_beside_the_inventory_is_read_too(project: Path) -> None:
    # As pyinfra's command line: group_data/ of the directory it runs in, then the one beside the inventory.
    beside = project / "inventories" / "group_data"
    beside.mkdir()
    (beside / "us.py").write_text("dkim_selector = 'us'\n")
    data = host_data(project / "inventories" / "prod.py", "mx3", cwd=project)
    assert data["dkim_selector"] == "us"


def test_an_unknown_host_is_named_with_those_there_are(project: Path) -> None:
    with pytest.raises(InventoryError, match=r"has no host 'mx9' \(it has: mx1, mx2, mx3\)"):
        host_data(project / "inventories" / "prod.py", "mx9", cwd=project)


def test_a_missing_inventory_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no inventory file"):
        host_data(tmp_path / "nowhere.py", "mx1")


def test_an_inventory_that_fails_says_why(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("mailservers = ['mx1']\n1 / 0\n")
    with pytest.raises(InventoryError, match=r"ZeroDivisionError: division by zero \(in .*broken.py\)"):
        host_data(tmp_path / "broken.py", "mx1", cwd=tmp_path)


def test_loading_leaves_the_callers_process_unpatched(project: Path) -> None:
    # Importing pyinfra's command-line package monkey-patches the process with gevent: the loading runs in a child.
    code = (
        "import sys, socket; from mailforge.settings.inventory import host_data; "
        f"host_data({str(project / 'inventories' / 'prod.py')!r}, 'mx1', cwd={str(project)!r}); "
        "print('pyinfra_cli' in sys.modules, 'gevent' in sys.modules, socket.socket.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "socket"]
