"""Pre-flight for the deploy: audit the published DNS against what the deploy is about to configure.

``mail_dns_preflight`` (the deploy's setting):
  off      no check
  warn     (default) findings are printed; the deploy goes on
  enforce  any error-level finding stops the run before any host is touched

``preflight`` is pure apart from its DNS queries (made through the ``DnsClient`` passed in): the deploy
calls ``decide(mode, findings)`` to know whether to stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .auditor import AuditOptions, AuditTarget, audit_many
from .client import DnsClient
from .findings import Finding, Severity
from .inputs import DomainDnsInputs, MailDnsInputs

MODES = ("off", "warn", "enforce")


def targets_from_inputs(settings: MailDnsInputs | DomainDnsInputs) -> list[AuditTarget]:
    domains: Sequence[DomainDnsInputs] = (settings,) if isinstance(settings, DomainDnsInputs) else settings.domains
    # The DKIM record is only expected once the deploy has a key to publish.
    return [
        AuditTarget(
            domain=d.domain,
            hostname=d.hostname,
            ips=d.addresses,
            dkim={d.dkim_selector: None} if d.dkim_public_key else {},
        )
        for d in domains
    ]


def preflight(
    settings: MailDnsInputs | DomainDnsInputs,
    client: DnsClient,
    options: AuditOptions | None = None,
) -> list[Finding]:
    """Every finding for every mail domain of the deploy (domain order kept)."""

    async def run() -> dict[str, list[Finding]]:
        return await audit_many(client, targets_from_inputs(settings), options)

    return [f for findings in asyncio.run(run()).values() for f in findings]


def decide(mode: str, findings: Sequence[Finding]) -> bool:
    """True when the deploy may go on."""
    if mode not in MODES:
        raise ValueError(f"mail_dns_preflight={mode!r}: expected one of {', '.join(MODES)}")
    if mode != "enforce":
        return True
    return not any(f.severity is Severity.ERROR for f in findings)
