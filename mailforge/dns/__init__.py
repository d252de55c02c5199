"""DNS for mail: the records to publish and an audit of what is published.

    records(settings)                       -> {domain: [Record, ...]}   (mailforge.dns.generate)
    audit(targets, nameservers)             -> ({domain: [Finding]}, queries sent)   (mailforge.dns.auditor)
    preflight(settings, client)             -> [Finding]                 (mailforge.dns.preflight)

``settings`` is a ``MailDnsInputs`` (or one ``DomainDnsInputs``), built from the deploy's settings.
Pure code: no pyinfra import here (DESIGN.md section 1).
"""

from .auditor import AuditOptions, AuditTarget, audit
from .findings import CODES, Finding, Severity, exit_code
from .generate import Record, records, write_zone_files
from .inputs import DomainDnsInputs, MailDnsInputs
from .preflight import decide, preflight

__all__ = [
    "CODES",
    "AuditOptions",
    "AuditTarget",
    "DomainDnsInputs",
    "Finding",
    "MailDnsInputs",
    "Record",
    "Severity",
    "audit",
    "decide",
    "exit_code",
    "preflight",
    "records",
    "write_zone_files",
]
