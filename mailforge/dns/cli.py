"""`mailforge dns records` and `mailforge dns audit`."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from .findings import CODES, exit_code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dns_parser = subparsers.add_parser("dns", help="DNS records to publish, and an audit of what is published")
    sub = dns_parser.add_subparsers(dest="dns_command", required=True, metavar="SUBCOMMAND")
    _register_records(sub)
    _register_audit(sub)


def _register_records(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "records",
        help="print the records a mail domain needs (BIND zone fragment, JSON or a table)",
        description="Print every record one mail domain needs: A/AAAA, MX, SPF, DKIM, DMARC, MTA-STS, "
        "TLS-RPT, CAA, RFC 6186 SRV/autoconfig, and the PTR each sending IP needs.",
    )
    p.add_argument("--domain", required=True)
    p.add_argument("--hostname", required=True, help="the mail host's FQDN (MX target, HELO, PTR name)")
    p.add_argument("--ip", action="append", default=[], help="a server address, IPv4 or IPv6 (repeatable)")
    p.add_argument("--dkim-selector", default="mail")
    p.add_argument("--dkim-public-key", type=Path, help="file with the public key (PEM or the base64 p= value)")
    p.add_argument("--dkim-key-type", default="rsa", choices=("rsa", "ed25519"))
    p.add_argument("--dmarc-policy", default="quarantine", choices=("none", "quarantine", "reject"))
    p.add_argument("--dmarc-rua", action="append", default=[], help="aggregate report address (repeatable)")
    p.add_argument("--relay-spf-include", help="the relay provider's SPF domain")
    p.add_argument("--mta-sts-mode", default="enforce", choices=("enforce", "testing", "none", "off"))
    p.add_argument("--caa", action="append", default=[], help="a CA allowed to issue (e.g. letsencrypt.org)")
    p.add_argument("--ttl", type=int, default=3600)
    p.add_argument("--format", choices=("zone", "json", "table"), default="zone")
    p.add_argument("--output-dir", type=Path, help="also write <domain>.zone there")
    p.set_defaults(func=_records)


def _records(args: argparse.Namespace) -> int:
    import ipaddress

    from .generate import records, to_json, to_table, to_zone, write_zone_files
    from .inputs import DomainDnsInputs

    v4 = tuple(a for a in args.ip if ipaddress.ip_address(a).version == 4)
    v6 = tuple(a for a in args.ip if ipaddress.ip_address(a).version == 6)
    inputs = DomainDnsInputs(
        domain=args.domain,
        hostname=args.hostname,
        ipv4=v4,
        ipv6=v6,
        dkim_selector=args.dkim_selector,
        dkim_public_key=args.dkim_public_key.read_text() if args.dkim_public_key else None,
        dkim_key_type=args.dkim_key_type,
        dmarc_policy=args.dmarc_policy,
        dmarc_rua=tuple(args.dmarc_rua),
        relay_spf_include=args.relay_spf_include,
        mta_sts_mode=None if args.mta_sts_mode == "off" else args.mta_sts_mode,
        caa_issuers=tuple(args.caa),
        ttl=args.ttl,
    )
    recs = records(inputs)[inputs.domain.lower()]
    if args.format == "zone":
        sys.stdout.write(to_zone(inputs, recs))
    elif args.format == "json":
        sys.stdout.write(to_json(inputs) + "\n")
    else:
        sys.stdout.write(to_table(recs))
    if args.output_dir:
        for path in write_zone_files(inputs, args.output_dir):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _codes_epilog() -> str:
    lines = [
        "exit codes: 0 clean (info only), 1 warnings only, 2 errors, 3 something could not be checked",
        "(timeout, SERVFAIL: reported as 'unknown', never as a pass).",
        "",
        "finding codes (severity, meaning, rule):",
    ]
    for code, info in CODES.items():
        lines.append(f"  {code} [{info.severity}]")
        lines.extend(textwrap.wrap(info.summary, 100, initial_indent="      ", subsequent_indent="      "))
        lines.extend(textwrap.wrap(f"rule: {info.rule}", 100, initial_indent="      ", subsequent_indent="        "))
        lines.extend(textwrap.wrap(f"fix: {info.fix}", 100, initial_indent="      ", subsequent_indent="        "))
    return "\n".join(lines)


def _register_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="check what mail domains publish; every finding with its rule and fix",
        description="Audit the DNS of mail domains: NS, MX, host addresses, reverse DNS, SPF (evaluated for "
        "each server IP), DKIM, DMARC, MTA-STS, TLS-RPT and DNS blocklists.",
        epilog=_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("domains", nargs="+", metavar="DOMAIN")
    p.add_argument("--hostname", help="the mail host / HELO name (default: the first MX host)")
    p.add_argument("--ip", action="append", default=[], help="a sending IP of the server (repeatable)")
    p.add_argument(
        "--nameserver",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help="query these servers (repeatable; default: /etc/resolv.conf)",
    )
    p.add_argument("--authoritative", action="store_true", help="also query each listed NS and compare them")
    p.add_argument("--authoritative-port", type=int, default=53, help="port the listed NS answer on")
    p.add_argument("--dkim-selector", action="append", default=[], help="DKIM selector (repeatable; default mail)")
    p.add_argument(
        "--dkim-private-key",
        action="append",
        default=[],
        metavar="SELECTOR=PEMFILE",
        help="check that the published key matches this private key",
    )
    p.add_argument("--dnsbl", action="append", default=None, metavar="ZONE", help="IP blocklist zone (repeatable)")
    p.add_argument("--dnsbl-domain", action="append", default=None, metavar="ZONE", help="domain blocklist zone")
    p.add_argument("--no-dnsbl", action="store_true", help="skip blocklist checks")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per query (default 2)")
    p.add_argument("--parallel", type=int, default=32, help="domains audited at once (default 32)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=_audit)


def _nameservers(values: list[str]) -> list[tuple[str, int]]:
    from .client import parse_server

    if values:
        return [parse_server(v) for v in values]
    import dns.resolver

    # A private Resolver reading /etc/resolv.conf: dnspython's global default resolver stays untouched.
    return [(str(ns), 53) for ns in dns.resolver.Resolver(configure=True).nameservers]


def _audit(args: argparse.Namespace) -> int:
    from .auditor import DEFAULT_DNSBL_DOMAIN_ZONES, DEFAULT_DNSBL_IP_ZONES, AuditOptions, AuditTarget, audit
    from .report import json_report, text_report

    selectors = args.dkim_selector or ["mail"]
    dkim: dict[str, bytes | None] = dict.fromkeys(selectors)
    for item in args.dkim_private_key:
        selector, _, path = item.partition("=")
        dkim[selector] = Path(path).read_bytes()
    options = AuditOptions(
        authoritative=args.authoritative,
        authoritative_port=args.authoritative_port,
        dnsbl_ip_zones=() if args.no_dnsbl else tuple(args.dnsbl if args.dnsbl is not None else DEFAULT_DNSBL_IP_ZONES),
        dnsbl_domain_zones=()
        if args.no_dnsbl
        else tuple(args.dnsbl_domain if args.dnsbl_domain is not None else DEFAULT_DNSBL_DOMAIN_ZONES),
        parallel_domains=args.parallel,
    )
    targets = [AuditTarget(d, args.hostname, tuple(args.ip), dkim) for d in args.domains]
    results, queries = audit(targets, _nameservers(args.nameserver), options=options, timeout=args.timeout)
    sys.stdout.write(json_report(results, queries) + "\n" if args.json else text_report(results))
    return exit_code([f for findings in results.values() for f in findings])
