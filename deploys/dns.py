"""DNS: audit what is published before touching the host (pre-flight), and write the zone to publish.

Both run on the control machine while operations are being prepared, so `enforce` stops the run before any
operation executes. The zones land in build/dns/<inventory host>/<domain>.zone (mailforge.dns.zonefiles says
why per host); `mailforge dns records` prints the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api.exceptions import PyinfraError

from mailforge.dns.client import DnsClient
from mailforge.dns.preflight import decide
from mailforge.dns.preflight import preflight as audit_published
from mailforge.dns.report import text_report
from mailforge.dns.zonefiles import BUILD_DNS, write_host_zones
from mailforge.settings import Settings

ZONE_DIR = BUILD_DNS


def system_nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[tuple[str, int], ...]:
    lines = resolv_conf.read_text().splitlines() if resolv_conf.exists() else []
    return tuple((line.split()[1], 53) for line in lines if line.startswith("nameserver") and len(line.split()) > 1)


def preflight(settings: Settings, host_name: str) -> None:
    if settings.dns.preflight == "off":
        return
    servers = settings.dns.nameservers or system_nameservers()
    findings = audit_published(settings.dns_inputs(), DnsClient(servers))
    by_domain: dict[str, list] = {}
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
    """The zones to publish for this inventory host, with the DKIM keys known while operations are prepared."""
    files = write_host_zones(settings.dns_inputs(dkim_keys), host_name, ZONE_DIR)
    for path in files.removed:
        logger.info(f"Removed {path}: a zone of a domain {host_name} no longer serves, or of the old per-domain layout")
    return files.written


def rewrite_zones_with_new_keys(settings: Settings, host_name: str, key_paths: Mapping[str, str]) -> None:
    """Run at execution time, after a first run generated DKIM keys: read them now and rewrite the zones."""
    keys = {}
    for domain, path in key_paths.items():
        ok, output = host.run_shell_command(f"openssl pkey -in {path} -pubout -outform DER | base64 -w0")
        if ok and output.stdout.strip():
            keys[domain] = output.stdout.strip()
    for zone in write_zones(settings, host_name, keys):
        logger.info(f"DNS records to publish: {zone}")
