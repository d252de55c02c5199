"""``records(settings)``: every DNS record a mail domain needs, and where each one must be published.

Records in the mail domain's zone go into the BIND fragment as records; records that belong to another
zone (the PTR in the provider's reverse zone, the report authorization in a foreign domain, the host's
A/AAAA when the host lives in another domain) are listed as comments there and flagged in JSON.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import dns.reversename

from .dmarc import is_external
from .inputs import DomainDnsInputs, MailDnsInputs

TXT_CHUNK = 255  # RFC 1035 section 3.3: a character-string holds at most 255 octets


@dataclass(frozen=True)
class Record:
    name: str  # absolute, with the trailing dot
    rtype: str
    value: str  # presentation format, as in a zone file
    purpose: str
    zone: str  # the zone it must be published in (absolute)

    def in_zone(self, origin: str) -> bool:
        return self.zone == origin

    def line(self, ttl: int) -> str:
        return f"{self.name}\t{ttl}\tIN\t{self.rtype}\t{self.value}"


def _abs(name: str) -> str:
    return name if name.endswith(".") else name + "."


def txt_value(text: str) -> str:
    """A TXT value as quoted strings of at most 255 bytes each (split, never cut)."""
    raw = text.encode("ascii")
    chunks = [raw[i : i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]
    return " ".join('"' + c.decode().replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def dkim_p_value(public_key: str) -> str:
    """The p= value from base64 DER or a PEM public key."""
    if "-----BEGIN" in public_key:
        body = re.sub(r"-----[^-]+-----", "", public_key)
        return re.sub(r"\s+", "", body)
    return re.sub(r"\s+", "", public_key)


def mta_sts_policy(inputs: DomainDnsInputs) -> str:
    """The policy file served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461 section 3.2)."""
    mode = inputs.mta_sts_mode or "none"
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {inputs.hostname.rstrip('.')}\r\nmax_age: 604800\r\n"


def mta_sts_id(inputs: DomainDnsInputs) -> str:
    """A policy id that changes exactly when the policy file changes (RFC 8461 section 3.1)."""
    if inputs.mta_sts_id:
        return inputs.mta_sts_id
    return hashlib.sha256(mta_sts_policy(inputs).encode()).hexdigest()[:32]


def _mailto(addresses: tuple[str, ...]) -> str:
    return ",".join(f"mailto:{a}" for a in addresses)


def domain_records(inputs: DomainDnsInputs) -> list[Record]:
    domain = _abs(inputs.domain.lower())
    host = _abs(inputs.hostname.lower())
    host_zone = domain if host == domain or host.endswith("." + domain) else _abs(host.split(".", 1)[1])
    out: list[Record] = []

    def add(name: str, rtype: str, value: str, purpose: str, zone: str = domain) -> None:
        out.append(Record(name, rtype, value, purpose, zone))

    for addr in inputs.ipv4:
        add(host, "A", addr, "mail host address (MX target, HELO name)", host_zone)
    for addr in inputs.ipv6:
        add(host, "AAAA", ipaddress.IPv6Address(addr).compressed, "mail host address (MX target, HELO name)", host_zone)
    add(domain, "MX", f"10 {host}", "where mail for the domain is delivered (RFC 5321 section 5.1)")

    # SPF: the MX hosts send the domain's mail; a relay adds its own include (RFC 7208 section 5.2).
    spf = "v=spf1 mx"
    if inputs.relay_spf_include:
        spf += f" include:{inputs.relay_spf_include.rstrip('.')}"
    add(domain, "TXT", txt_value(spf + " -all"), "SPF: who may send as the domain (RFC 7208)")

    if inputs.dkim_public_key:
        key = f"v=DKIM1; k={inputs.dkim_key_type}; p={dkim_p_value(inputs.dkim_public_key)}"
        add(f"{inputs.dkim_selector}._domainkey.{domain}", "TXT", txt_value(key), "DKIM public key (RFC 6376)")

    dmarc = f"v=DMARC1; p={inputs.dmarc_policy}"
    if inputs.dmarc_rua:
        dmarc += f"; rua={_mailto(inputs.dmarc_rua)}"
    dmarc += f"; adkim={inputs.dmarc_alignment}; aspf={inputs.dmarc_alignment}"
    add(f"_dmarc.{domain}", "TXT", txt_value(dmarc), "DMARC policy (RFC 7489)")
    for dest in sorted({a.rpartition("@")[2].lower() for a in inputs.dmarc_rua}):
        if is_external(inputs.domain, dest):
            zone = _abs(dest)
            add(
                f"{domain}_report._dmarc.{zone}",
                "TXT",
                txt_value("v=DMARC1"),
                "authorizes DMARC reports for the domain to go to this other domain (RFC 7489 section 7.1)",
                zone,
            )

    if inputs.mta_sts_mode is not None:
        add(f"_mta-sts.{domain}", "TXT", txt_value(f"v=STSv1; id={mta_sts_id(inputs)}"), "MTA-STS (RFC 8461)")
        add(f"mta-sts.{domain}", "CNAME", host, "serves the MTA-STS policy over HTTPS (RFC 8461 section 3.2)")
    tlsrpt_rua = inputs.tlsrpt_rua or inputs.dmarc_rua
    if tlsrpt_rua:
        add(f"_smtp._tls.{domain}", "TXT", txt_value(f"v=TLSRPTv1; rua={_mailto(tlsrpt_rua)}"), "TLS-RPT (RFC 8460)")

    for issuer in inputs.caa_issuers:
        add(domain, "CAA", f'0 issue "{issuer}"', "only this CA may issue certificates (RFC 8659)")

    # Client autoconfiguration: RFC 6186 SRV records (RFC 8314: implicit TLS preferred), the target "."
    # says "not offered" for the cleartext variants; Thunderbird's autoconfig host name.
    add(f"_submissions._tcp.{domain}", "SRV", f"0 1 465 {host}", "mail submission, implicit TLS (RFC 8314)")
    add(f"_submission._tcp.{domain}", "SRV", f"0 1 587 {host}", "mail submission, STARTTLS (RFC 6186)")
    add(f"_imaps._tcp.{domain}", "SRV", f"0 1 993 {host}", "IMAP, implicit TLS (RFC 8314)")
    # Port 143 stays open (STARTTLS before login) for old clients; discovery steers new ones to 993.
    add(f"_imap._tcp.{domain}", "SRV", "0 0 0 .", "IMAP: use implicit TLS on 993 (RFC 8314 section 5.1)")
    add(f"_pop3._tcp.{domain}", "SRV", "0 0 0 .", "POP3 not offered (RFC 6186 section 3.4)")
    add(f"autoconfig.{domain}", "CNAME", host, "Thunderbird autoconfiguration host")

    for addr in inputs.addresses:
        reverse = dns.reversename.from_address(addr).to_text()
        add(reverse, "PTR", host, "reverse DNS of a sending IP: set it at the IP's provider", _reverse_zone(addr))
    return out


def _reverse_zone(addr: str) -> str:
    ip = ipaddress.ip_address(addr)
    labels = dns.reversename.from_address(addr).to_text().split(".")
    keep = 1 if ip.version == 4 else 16  # the /24 or /64 the provider usually delegates
    return ".".join(labels[keep:])


def records(settings: MailDnsInputs | DomainDnsInputs) -> dict[str, list[Record]]:
    """Every record each mail domain needs, keyed by domain."""
    domains = (settings,) if isinstance(settings, DomainDnsInputs) else settings.domains
    return {d.domain.lower(): domain_records(d) for d in domains}


# -- output formats ---------------------------------------------------------------------------------------


def to_zone(inputs: DomainDnsInputs, recs: list[Record]) -> str:
    """A BIND zone fragment for the domain: its own records, then the others as comments."""
    origin = _abs(inputs.domain.lower())
    lines = [f"; mailforge: records for {origin} (paste into the zone, keep the trailing dots)"]
    for rec in recs:
        if rec.in_zone(origin):
            lines.append(f"; {rec.purpose}")
            lines.append(rec.line(inputs.ttl))
    foreign = [r for r in recs if not r.in_zone(origin)]
    if foreign:
        lines.append(";")
        lines.append("; Publish these in other zones (they are not part of this one):")
        for rec in foreign:
            lines.append(f";   zone {rec.zone}: {rec.purpose}")
            lines.append(";   " + rec.line(inputs.ttl))
    return "\n".join(lines) + "\n"


def to_json(settings: MailDnsInputs | DomainDnsInputs) -> str:
    data = {d: [{**asdict(r), "ttl": _ttl(settings, d)} for r in recs] for d, recs in records(settings).items()}
    return json.dumps(data, indent=2, sort_keys=True)


def _ttl(settings: MailDnsInputs | DomainDnsInputs, domain: str) -> int:
    domains = (settings,) if isinstance(settings, DomainDnsInputs) else settings.domains
    return next(d.ttl for d in domains if d.domain.lower() == domain)


def to_table(recs: list[Record]) -> str:
    rows = [("NAME", "TYPE", "VALUE", "ZONE")] + [(r.name, r.rtype, r.value, r.zone) for r in recs]
    widths = [min(max(len(row[i]) for row in rows), 48) for i in range(3)]
    out = []
    for row in rows:
        out.append("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip())
    return "\n".join(out) + "\n"


def write_zone_files(settings: MailDnsInputs | DomainDnsInputs, directory: Path) -> list[Path]:
    """Write ``<directory>/<domain>.zone`` for each domain (`dns records --output-dir`; the deploy: zonefiles)."""
    domains = (settings,) if isinstance(settings, DomainDnsInputs) else settings.domains
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for inputs in domains:
        path = directory / f"{inputs.domain.lower()}.zone"
        path.write_text(to_zone(inputs, domain_records(inputs)))
        written.append(path)
    return written
