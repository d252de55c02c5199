"""Issue 5: the deploy's DNS pre-flight and zone output, from real settings, against knotd on loopback."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api.exceptions import PyinfraError

from deploys import dns as dns_deploy
from mailforge.settings import Settings, load_settings

from .conftest import Lab
from .lab import SCENARIOS, scenario_addresses


def _settings(lab: Lab, scenario: str, mode: str) -> Settings:
    index = next(i for i, s in enumerate(SCENARIOS) if s.name == scenario)
    v4, v6 = scenario_addresses(index)
    domain = SCENARIOS[index].domain
    data: dict[str, Any] = {
        "mail_hostname": f"mail.{domain}",
        "mail_domains": [{"domain": domain, "mailboxes": [{"address": f"postmaster@{domain}"}]}],
        "mail_ipv4": [v4],
        "mail_ipv6": [v6],
        "mail_dns_preflight": mode,
        "dns_preflight_nameservers": [f"127.0.0.1:{lab.port}"],
    }
    return load_settings(data, environ={})


def test_enforce_passes_a_correct_zone(lab: Lab) -> None:
    dns_deploy.preflight(_settings(lab, "good", "enforce"), "mail")


def test_enforce_stops_the_run_on_errors(lab: Lab) -> None:
    with pytest.raises(PyinfraError, match="mail_dns_preflight"):
        dns_deploy.preflight(_settings(lab, "spf-multiple", "enforce"), "mail")


@pytest.mark.parametrize("mode", ["warn", "off"])
def test_other_modes_let_the_run_go_on(lab: Lab, mode: str) -> None:
    dns_deploy.preflight(_settings(lab, "spf-multiple", mode), "mail")


def test_zones_written_for_every_domain_and_alias_domain(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns_deploy, "ZONE_DIR", tmp_path)
    settings = _settings(lab, "good", "off")
    domain = settings.domains[0].domain
    aliased = replace(settings, domains=(replace(settings.domains[0], alias_domains=("alias.example.test",)),))
    written = dns_deploy.write_zones(aliased, "mail", {})
    assert sorted(written) == sorted(
        [tmp_path / "mail" / f"{domain}.zone", tmp_path / "mail" / "alias.example.test.zone"]
    )
    for path in written:
        assert f"IN MX 10 {settings.base.hostname}." in " ".join(path.read_text().split())
