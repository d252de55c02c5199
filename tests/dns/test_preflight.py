"""Issue 5: the deploy's pre-flight (mail_dns_preflight: off | warn | enforce) on knotd-served zones."""

from __future__ import annotations

import pytest

from mailforge.dns.client import DnsClient
from mailforge.dns.inputs import DomainDnsInputs
from mailforge.dns.preflight import decide, preflight

from .conftest import Lab
from .lab import SCENARIOS, scenario_addresses, spki_b64


def _inputs(lab: Lab, name: str) -> DomainDnsInputs:
    index = next(i for i, s in enumerate(SCENARIOS) if s.name == name)
    v4, v6 = scenario_addresses(index)
    domain = SCENARIOS[index].domain
    return DomainDnsInputs(
        domain=domain,
        hostname=f"mail.{domain}",
        ipv4=(v4,),
        ipv6=(v6,),
        dkim_public_key=spki_b64(lab.keys.main.public_key()),
    )


def _findings(lab: Lab, name: str):
    return preflight(_inputs(lab, name), DnsClient([lab.nameserver], timeout=3), lab.options())


def test_good_domain_has_no_findings(lab: Lab) -> None:
    assert _findings(lab, "good") == []


def test_enforce_stops_on_errors(lab: Lab) -> None:
    assert decide("enforce", _findings(lab, "spf-multiple")) is False


def test_enforce_lets_warnings_through(lab: Lab) -> None:
    assert decide("enforce", _findings(lab, "dmarc-none")) is True


@pytest.mark.parametrize("mode", ["off", "warn"])
def test_other_modes_never_stop(lab: Lab, mode: str) -> None:
    assert decide(mode, _findings(lab, "spf-multiple")) is True


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError):
        decide("strict", [])
