"""testssl.sh (Debian 12's package, 3.0.x) against one test host: one process per port, all at once, and the
verdict on its findings.

Network hygiene: ``--ip ADDRESS --nodns none`` connects to the test host's address, with the host name used
only as SNI and for the certificate's name check, and looks up no name at all (no A/AAAA/MX/CAA/PTR query).
Without ``--phone-out`` testssl fetches no OCSP responder, CRL or key-compromise list (the local CA's CRL
is fetched by test_tls_policy.py itself, from the test host). So testssl only ever talks to the test host.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Port -> how to reach TLS there (STARTTLS for SMTP on 25 and 587; implicit TLS elsewhere).
TARGETS: dict[int, tuple[str, ...]] = {25: ("-t", "smtp"), 465: (), 587: ("-t", "smtp"), 993: (), 443: ()}
# Protocols, cipher categories, forward secrecy, server preference, server defaults (the certificate) and
# every vulnerability check. Left out for time: client simulation (-c) and per-cipher listings (-e, -E); and
# HTTP headers (-h), which tests/e2e/test_web_tier.py checks itself.
CHECKS = ("-p", "-s", "-f", "-P", "-S", "-U")
# Findings every complete run has: a run that lost its connection part-way would lack some.
EXPECTED = (
    "SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3",
    "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA",
    "cipherlist_AVERAGE", "cipherlist_STRONG", "cipher_order", "cert_chain_of_trust", "cert_trust",
    "heartbleed", "CCS", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS", "POODLE_SSL",
    "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4",
)  # fmt: skip
# testssl's categories of suites weaker than AEAD: when all say "not offered", every suite is strong.
WEAK_CATEGORIES = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                   "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")  # fmt: skip
SERIOUS = ("HIGH", "CRITICAL")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    finding: str


@dataclass(frozen=True)
class Report:
    port: int
    returncode: int
    json_file: Path
    log_file: Path
    findings: tuple[Finding, ...]

    def by_id(self) -> dict[str, Finding]:
        return {f.id: f for f in self.findings}


def command(address: str, name: str, port: int, cafile: Path, json_file: Path, log_file: Path) -> list[str]:
    return [
        "testssl", "--quiet", "--color", "0", "--warnings", "off",
        "--ip", address, "--nodns", "none",  # this address only; no DNS lookups
        "--add-ca", str(cafile),  # the host's own CA, so the chain of trust is judged too
        "--connect-timeout", "30", "--openssl-timeout", "30",
        *TARGETS[port], *CHECKS,
        "--jsonfile", str(json_file), "--logfile", str(log_file),
        f"{name}:{port}",
    ]  # fmt: skip


def run_all(
    address: str, name: str, cafile: Path, directory: Path, ports: Sequence[int] = tuple(TARGETS)
) -> dict[int, Report]:
    """Every port at once (testssl spends most of its time waiting on handshakes), each in its own process."""
    directory.mkdir(parents=True, exist_ok=True)
    running = {}
    for port in ports:
        json_file, log_file = directory / f"testssl-{port}.json", directory / f"testssl-{port}.log"
        for old in (json_file, log_file):
            old.unlink(missing_ok=True)  # testssl refuses to overwrite
        argv = command(address, name, port, cafile, json_file, log_file)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        running[port] = (proc, json_file, log_file)
    reports = {}
    for port, (proc, json_file, log_file) in running.items():
        returncode = proc.wait(timeout=3600)
        found = json.loads(json_file.read_text()) if json_file.exists() else []
        findings = tuple(Finding(f["id"], f["severity"], f["finding"]) for f in found)
        reports[port] = Report(port, returncode, json_file, log_file, findings)
    return reports


def serious(findings: Sequence[Finding]) -> list[Finding]:
    """The HIGH and CRITICAL findings: issue 8 allows none, and none is excused. (The server orders the suites,
    mailforge/tls_policy.py, and the local CA's certificate names its CRL, deploys/tls.py.)"""
    return [f for f in findings if f.severity in SERIOUS]


def summary(reports: Mapping[int, Report]) -> str:
    """The testssl verdict per port, for the artifact (testssl 3.0 has no letter grade; 3.2 added one)."""
    lines = []
    for port, report in sorted(reports.items()):
        counts = {s: sum(f.severity == s for f in report.findings) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")}
        lines.append(f"port {port}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f"  ({report.json_file})")
        lines += [f"    {f.severity:8} {f.id}: {f.finding}" for f in report.findings if f.severity in counts]
    return "\n".join(lines) + "\n"
