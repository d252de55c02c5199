"""Issue 5: each defect, alone in its own zone served by knotd, yields exactly its finding codes; the
zone `dns records` generates audits clean (scenario "good")."""

from __future__ import annotations

import pytest

from mailforge.dns.findings import Finding

from .lab import SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_codes(scenario_results: dict[str, list[Finding]], scenario) -> None:
    findings = scenario_results[scenario.domain]
    got = {f.code for f in findings}
    assert got == set(scenario.expected), "\n".join(f"{f.code}: {f.detail} [{f.seen}]" for f in findings)
