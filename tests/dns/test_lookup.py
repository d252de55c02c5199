"""mailforge.dns.lookup: the single lookups the deploy makes (Certbot's pre-check), against knotd on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailforge.dns.lookup import NotResolved, ipv4_address, system_nameservers

from .conftest import Lab
from .lab import SCENARIOS, scenario_addresses

GOOD = next(i for i, s in enumerate(SCENARIOS) if s.name == "good")


def test_the_host_name_resolves_to_its_address(lab: Lab) -> None:
    domain = SCENARIOS[GOOD].domain
    assert ipv4_address(f"mail.{domain}", [lab.nameserver]) == scenario_addresses(GOOD)[0]


def test_a_name_without_an_address_says_why(lab: Lab) -> None:
    name = f"nowhere.{SCENARIOS[GOOD].domain}"
    with pytest.raises(NotResolved) as raised:
        ipv4_address(name, [lab.nameserver])
    assert (raised.value.name, raised.value.reason, str(raised.value)) == (
        name,
        "NXDOMAIN",
        f"{name} does not resolve (NXDOMAIN)",
    )


def test_system_nameservers_in_resolv_conf_order(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.test\nnameserver 10.213.0.1\nnameserver ::1\nnameserver\n")
    assert system_nameservers(conf) == (("10.213.0.1", 53), ("::1", 53))


def test_no_resolv_conf_means_no_nameservers(tmp_path: Path) -> None:
    assert system_nameservers(tmp_path / "missing") == ()
