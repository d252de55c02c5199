"""DNS: audit what is published before touching the host (pre-flight), and write the zones to publish.

Both run on the control machine. The pre-flight runs while operations are being prepared, so `enforce` stops
the run before any operation executes. The zones component (the entry's last) writes
build/dns/<inventory host>/<domain>.zone (mailforge.dns.zonefiles says why per host) with the DKIM keys that
exist, and again after a run generated new ones; `mailforge dns records` prints the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pyinfra import logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import python
from pyinfra.operations.util import any_changed

from deploys import dkim
from mailforge.dns.client import DnsClient
from mailforge.dns.findings import Finding
from mailforge.dns.lookup import system_nameservers
from mailforge.dns.preflight import decide
from mailforge.dns.preflight import preflight as audit_published
from mailforge.dns.report import text_report
from mailforge.dns.zonefiles import BUILD_DNS, write_host_zones
from mailforge.settings import Settings

ZONE_DIR = BUILD_DNS


def preflight(settings: Settings, host_name: str) -> None:
    if settings.dns.preflight == "off":
        return
    servers = settings.dns.nameservers or system_nameservers()
    findings = audit_published(settings.dns_inputs(), DnsClient(servers))
    by_domain: dict[str, list[Finding]] = {}
    for finding in findings:
        by_domain.setdefault(finding.domain, []).append(finding)
    if findings:
        logger.warning(f"DNS pre-flight for {host_name}:\n{text_report(by_domain)}")
    if not decide(settings.dns.preflight, findings):
        raise PyinfraError(
            f"DNS pre-flight found errors for {host_name} (mail_dns_preflight = 'enforce'); fix the records above, "
            "see `mailforge dns records`, or set mail_dns_preflight = 'warn'"
        )


def write_zones(settings: Settings, host_name: str, dkim_keys: Mapping[str, str]) -> list[Path]:
    """The zones to publish for this inventory host, with these DKIM keys (domain -> p= value)."""
    files = write_host_zones(settings.dns_inputs(dkim_keys), host_name, ZONE_DIR)
    for path in files.removed:
        logger.info(f"Removed {path}: a zone of a domain {host_name} no longer serves, or of the old per-domain layout")
    return files.written


def rewrite_zones_with_new_keys(settings: Settings, host_name: str) -> None:
    """Run at execution time, after a first run generated DKIM keys: read them now and rewrite the zones."""
    keys = dkim.public_keys_now(settings.dkim, settings.domain_names)
    for zone in write_zones(settings, host_name, keys):
        logger.info(f"DNS records to publish: {zone}")


@deploy("DNS zones")
def zones(settings: Settings, host_name: str, new_keys: list[OperationMeta]) -> None:
    """`new_keys`: the DKIM component's key generations; when one ran, the zones are written again with it."""
    # Written now, while operations are prepared, with the keys the host has (a fact): the zones are there even
    # when the run stops later.
    write_zones(settings, host_name, dkim.public_keys(settings.dkim, settings.domain_names))
    python.call(
        name="Write the DNS zones with the new DKIM keys",
        function=rewrite_zones_with_new_keys,
        settings=settings,
        host_name=host_name,
        _if=any_changed(*new_keys),
    )
