"""Fixtures: knotd serving every scenario zone on loopback, and one concurrent audit of them all."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.knot import Knot, free_port
from mailforge.dns.auditor import AuditOptions, AuditTarget, audit_many
from mailforge.dns.client import DnsClient
from mailforge.dns.findings import Finding

from .lab import DBL_ZONE, DNSBL_ZONE, SCENARIOS, SECONDARY_ADDRESS, Keys, build_zones, pem


@dataclass
class Lab:
    port: int
    keys: Keys
    zones: dict[str, str]

    @property
    def nameserver(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def options(self) -> AuditOptions:
        return AuditOptions(
            authoritative=True,
            authoritative_port=self.port,
            dnsbl_ip_zones=(DNSBL_ZONE,),
            dnsbl_domain_zones=(DBL_ZONE,),
        )


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if shutil.which("knotd") is None:
        pytest.fail("knotd is missing: run scripts/bootstrap.sh (apt-packages.txt lists knot)")
    keys = Keys()
    main_zones, secondary_zones = build_zones(keys)
    base = Path(tmp_path_factory.mktemp("knot"))
    port = free_port()
    main = Knot(base / "main", main_zones, ["127.0.0.1", "127.0.0.2"], port)
    try:
        secondary = Knot(base / "secondary", secondary_zones, [SECONDARY_ADDRESS], port)
    except Exception:
        main.stop()
        raise
    yield Lab(port, keys, main_zones)
    secondary.stop()
    main.stop()


def scenario_target(lab: Lab, name: str) -> AuditTarget:
    scenario = next(s for s in SCENARIOS if s.name == name)
    key = {"main": lab.keys.main, "weak": lab.keys.weak}.get(scenario.private_key)
    hostname = f"{scenario.hostname or 'mail'}.{scenario.domain}"
    from .lab import scenario_addresses

    index = SCENARIOS.index(scenario)
    return AuditTarget(scenario.domain, hostname, scenario_addresses(index), {"mail": pem(key) if key else None})


@pytest.fixture(scope="session")
def scenario_results(lab: Lab) -> dict[str, list[Finding]]:
    """Every scenario audited in one concurrent run, as `mailforge dns audit a b c ...` does."""
    targets = [scenario_target(lab, s.name) for s in SCENARIOS]

    async def run() -> dict[str, list[Finding]]:
        client = DnsClient([lab.nameserver], timeout=3.0)
        return await audit_many(client, targets, lab.options())

    return asyncio.run(run())
