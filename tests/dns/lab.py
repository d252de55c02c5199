"""Scenario zones for the audit tests: one zone per scenario, each the generated good zone with one defect.

Every scenario domain is ``<name>.example.test``; its server uses 10.213.5.N and 2001:db8:213::N. The
records start from ``mailforge.dns.records`` output, so the "good" scenario is the round trip: what
``dns records`` prints, served by knotd, audits clean.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailforge.dns.generate import domain_records, txt_value
from mailforge.dns.inputs import DomainDnsInputs

Row = tuple[str, str, str, str]  # owner (absolute), type, value (zone-file syntax), zone (absolute)
PARENT = "example.test"
REVERSE4 = "5.213.10.in-addr.arpa."
REVERSE6 = "0.0.0.0.3.1.2.0.8.b.d.0.1.0.0.2.ip6.arpa."
DNSBL_ZONE = "dnsbl.example.test"
DBL_ZONE = "dbl.example.test"
RELAY_ZONE = "relay.example.test"
REPORTS_ZONE = "reports.example.test"
SECONDARY_ADDRESS = "127.0.0.3"


def _rsa(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def spki_b64(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class Keys:
    main: rsa.RSAPrivateKey = field(default_factory=lambda: _rsa(2048))
    other: rsa.RSAPrivateKey = field(default_factory=lambda: _rsa(2048))
    weak: rsa.RSAPrivateKey = field(default_factory=lambda: _rsa(1024))

    @property
    def short_public_b64(self) -> str:
        # cryptography will not generate keys under 1024 bits; a 768-bit public modulus is all a key
        # record holds, and any odd modulus of that size loads as one.
        modulus = (1 << 767) | (0xC0FFEE << 300) | 1
        return spki_b64(rsa.RSAPublicNumbers(65537, modulus).public_key())


@dataclass
class Ctx:
    domain: str  # absolute
    v4: str
    v6: str
    keys: Keys
    rows: list[Row]

    def n(self, name: str) -> str:
        return f"{name}.{self.domain}" if name != "@" else self.domain

    def drop(self, rtype: str, owner: str = "@", prefix: str = "") -> Ctx:
        own = self.n(owner)
        self.rows = [r for r in self.rows if not (r[0] == own and r[1] == rtype and r[2].startswith(prefix))]
        return self

    def add(self, owner: str, rtype: str, value: str, zone: str | None = None) -> Ctx:
        self.rows.append((self.n(owner) if not owner.endswith(".") else owner, rtype, value, zone or self.domain))
        return self

    def set(self, owner: str, rtype: str, value: str, prefix: str = "") -> Ctx:
        return self.drop(rtype, owner, prefix).add(owner, rtype, value)

    def spf(self, text: str) -> Ctx:
        return self.drop("TXT", "@", '"v=spf1').add("@", "TXT", txt_value(text))

    def txt(self, owner: str, text: str, prefix: str) -> Ctx:
        return self.drop("TXT", owner, prefix).add(owner, "TXT", txt_value(text))

    def ptr4(self, *targets: str) -> Ctx:
        rev = ipaddress.ip_address(self.v4).reverse_pointer + "."
        self.rows = [r for r in self.rows if r[0] != rev]
        self.rows.extend((rev, "PTR", t, REVERSE4) for t in targets)
        return self

    def dkim(self, value: str) -> Ctx:
        return self.drop("TXT", "mail._domainkey").add("mail._domainkey", "TXT", value)


Mutation = Callable[[Ctx], object]


@dataclass(frozen=True)
class Scenario:
    name: str
    mutate: Mutation
    expected: frozenset[str]
    hostname: str | None = None  # audit with this HELO name (relative to the domain)
    private_key: str = "main"  # which private key the audit compares against ("" for none)

    @property
    def domain(self) -> str:
        return f"{self.name}.{PARENT}"


def _s(name: str, mutate: Mutation, *codes: str, **kw: str) -> Scenario:
    return Scenario(name, mutate, frozenset(codes), **kw)


SCENARIOS: list[Scenario] = [
    _s("good", lambda c: c),
    _s("relay", lambda c: c.spf(f"v=spf1 mx include:_spf.{RELAY_ZONE} -all")),
    _s("ns-single", lambda c: c.drop("NS", "@", "ns2"), "NS_TOO_FEW"),
    _s("ns-inconsistent", lambda c: c.set("ns2", "A", SECONDARY_ADDRESS), "NS_INCONSISTENT"),
    _s("ns-lame", lambda c: c.set("ns2", "A", SECONDARY_ADDRESS), "NS_NOT_AUTHORITATIVE"),
    _s("mx-missing", lambda c: c.drop("MX").spf(f"v=spf1 a:{c.n('mail')} -all"), "MX_MISSING"),
    _s("mx-null", lambda c: c.set("@", "MX", "0 .").spf(f"v=spf1 a:{c.n('mail')} -all"), "MX_NULL"),
    _s("mx-null-others", lambda c: c.add("@", "MX", "0 ."), "MX_NULL_WITH_OTHERS"),
    _s(
        "mx-null-preference",
        lambda c: c.set("@", "MX", "10 .").spf(f"v=spf1 a:{c.n('mail')} -all"),
        "MX_NULL",
        "MX_NULL_PREFERENCE",
    ),
    _s("mx-ip", lambda c: c.set("@", "MX", f"10 {c.v4}.").spf(f"v=spf1 a:{c.n('mail')} -all"), "MX_TARGET_IP"),
    _s(
        "mx-cname",
        lambda c: c.set("@", "MX", f"10 {c.n('alias')}").add("alias", "CNAME", c.n("mail")),
        "MX_TARGET_CNAME",
    ),
    _s(
        "mx-doubled",
        lambda c: c.set("@", "MX", f"10 {c.n('mail')}{c.domain}").spf(f"v=spf1 a:{c.n('mail')} -all"),
        "MX_TARGET_DOUBLED",
    ),
    _s("mx-no-address", lambda c: c.add("@", "MX", f"20 {c.n('nowhere')}"), "MX_TARGET_NO_ADDRESS"),
    _s(
        "mx-mismatch",
        lambda c: (
            c.set("@", "MX", f"10 {c.n('mx2')}").add("mx2", "A", "10.213.6.1").spf(f"v=spf1 a:{c.n('mail')} -all")
        ),
        "MX_ADDRESS_MISMATCH",
    ),
    _s("host-no-address", lambda c: c, "HOST_NO_ADDRESS", "PTR_HELO_MISMATCH", hostname="helo"),
    # The host's A record still points at an old server: every check that uses it says so.
    _s(
        "host-mismatch",
        lambda c: c.set("mail", "A", "10.213.6.2"),
        "HOST_ADDRESS_MISMATCH",
        "MX_ADDRESS_MISMATCH",
        "PTR_NOT_FORWARD_CONFIRMED",
        "SPF_IP_NOT_PASS",
    ),
    _s("ptr-missing", lambda c: c.ptr4(), "PTR_MISSING"),
    _s("ptr-not-confirmed", lambda c: c.ptr4(c.n("unrelated")), "PTR_NOT_FORWARD_CONFIRMED"),
    _s("ptr-helo-mismatch", lambda c: c.ptr4(c.n("smtp")).add("smtp", "A", c.v4), "PTR_HELO_MISMATCH"),
    _s("ptr-multiple", lambda c: c.ptr4(c.n("mail"), c.n("smtp")).add("smtp", "A", c.v4), "PTR_MULTIPLE"),
    _s("spf-missing", lambda c: c.drop("TXT", "@", '"v=spf1'), "SPF_MISSING"),
    _s("spf-multiple", lambda c: c.add("@", "TXT", '"v=spf1 a -all"'), "SPF_MULTIPLE_RECORDS"),
    _s("spf-syntax", lambda c: c.spf("v=spf1 mx ip4:10.213.5.300 -all"), "SPF_SYNTAX"),
    _s(
        "spf-misjoined",
        lambda c: c.drop("TXT", "@", '"v=spf1').add("@", "TXT", '"v=spf1 mx" "-all"'),
        "SPF_STRINGS_MISJOINED",
    ),
    # The joined text is valid SPF, but not the record the strings spell: "include:...test-all".
    _s(
        "spf-misjoined-valid",
        lambda c: c.drop("TXT", "@", '"v=spf1').add("@", "TXT", f'"v=spf1 mx include:_spf.{RELAY_ZONE}" "-all"'),
        "SPF_STRINGS_MISJOINED",
    ),
    _s("spf-split-ok", lambda c: c.drop("TXT", "@", '"v=spf1').add("@", "TXT", '"v=spf1 mx " "-all"')),
    _s(
        "spf-not-ascii",
        lambda c: c.drop("TXT", "@", '"v=spf1').add("@", "TXT", '"v=spf1 mx\\194\\160-all"'),
        "SPF_NOT_ASCII",
    ),
    _s(
        "spf-lookups",
        lambda c: c.spf(f"v=spf1 mx include:{c.n('_spf')} -all").add(
            "_spf", "TXT", txt_value("v=spf1 " + " ".join([f"a:{c.n('mail')}"] * 10) + " -all")
        ),
        "SPF_TOO_MANY_LOOKUPS",
    ),
    _s(
        "spf-void",
        lambda c: c.spf(f"v=spf1 mx a:{c.n('v1')} a:{c.n('v2')} a:{c.n('v3')} -all"),
        "SPF_TOO_MANY_VOID_LOOKUPS",
    ),
    _s(
        "spf-include-none",
        lambda c: c.spf(f"v=spf1 mx include:{c.n('nospf')} -all").add("nospf", "TXT", '"hello"'),
        "SPF_INCLUDE_NO_SPF",
    ),
    _s("spf-plus-all", lambda c: c.spf("v=spf1 mx +all"), "SPF_PLUS_ALL", "SPF_TEST_IP_PASSES"),
    _s("spf-neutral-all", lambda c: c.spf("v=spf1 mx ?all"), "SPF_NEUTRAL_ALL"),
    _s("spf-no-all", lambda c: c.spf("v=spf1 mx"), "SPF_NO_ALL"),
    _s("spf-ptr", lambda c: c.spf("v=spf1 ptr -all"), "SPF_PTR_USED"),
    _s("spf-ip-not-pass", lambda c: c.spf("v=spf1 ip4:10.213.99.1 -all"), "SPF_IP_NOT_PASS"),
    _s("spf-too-broad", lambda c: c.spf("v=spf1 ip4:0.0.0.0/0 ip6:::/0 -all"), "SPF_TEST_IP_PASSES"),
    _s(
        "spf-redirect-none",
        lambda c: c.spf(f"v=spf1 redirect={c.n('gone')}").add("gone", "A", c.v4),
        "SPF_INCLUDE_NO_SPF",
    ),
    _s("dkim-missing", lambda c: c.drop("TXT", "mail._domainkey"), "DKIM_MISSING"),
    _s("dkim-multiple", lambda c: c.add("mail._domainkey", "TXT", '"v=DKIM1; p="'), "DKIM_MULTIPLE"),
    _s("dkim-syntax", lambda c: c.dkim('"v=DKIM1; k=rsa; p"'), "DKIM_SYNTAX"),
    _s("dkim-revoked", lambda c: c.dkim('"v=DKIM1; k=rsa; p="'), "DKIM_REVOKED"),
    _s(
        "dkim-truncated",
        lambda c: c.dkim('"' + f"v=DKIM1; k=rsa; p={spki_b64(c.keys.main.public_key())}"[:255] + '"'),
        "DKIM_TRUNCATED",
    ),
    _s("dkim-invalid", lambda c: c.dkim('"v=DKIM1; k=rsa; p=bm90IGEga2V5"'), "DKIM_KEY_INVALID"),
    _s(
        "dkim-short",
        lambda c: c.dkim(txt_value(f"v=DKIM1; k=rsa; p={c.keys.short_public_b64}")),
        "DKIM_KEY_TOO_SHORT",
        private_key="",
    ),
    _s(
        "dkim-weak",
        lambda c: c.dkim(txt_value(f"v=DKIM1; k=rsa; p={spki_b64(c.keys.weak.public_key())}")),
        "DKIM_KEY_WEAK",
        private_key="weak",
    ),
    _s(
        "dkim-testing",
        lambda c: c.dkim(txt_value(f"v=DKIM1; k=rsa; t=y; p={spki_b64(c.keys.main.public_key())}")),
        "DKIM_TESTING",
    ),
    _s(
        "dkim-mismatch",
        lambda c: c.dkim(txt_value(f"v=DKIM1; k=rsa; p={spki_b64(c.keys.other.public_key())}")),
        "DKIM_KEY_MISMATCH",
    ),
    _s("dmarc-missing", lambda c: c.drop("TXT", "_dmarc"), "DMARC_MISSING"),
    _s("dmarc-multiple", lambda c: c.add("_dmarc", "TXT", '"v=DMARC1; p=none"'), "DMARC_MULTIPLE_RECORDS"),
    _s("dmarc-syntax", lambda c: c.txt("_dmarc", "v=DMARC1; p=block", '"v=DMARC1'), "DMARC_SYNTAX"),
    _s(
        "dmarc-none",
        lambda c: c.txt("_dmarc", f"v=DMARC1; p=none; rua=mailto:d@{c.domain[:-1]}", ""),
        "DMARC_POLICY_NONE",
    ),
    _s(
        "dmarc-pct",
        lambda c: c.txt("_dmarc", f"v=DMARC1; p=reject; pct=50; rua=mailto:d@{c.domain[:-1]}", ""),
        "DMARC_PCT_PARTIAL",
    ),
    _s(
        "dmarc-unknown-tag",
        lambda c: c.txt("_dmarc", f"v=DMARC1; p=reject; rua=mailto:d@{c.domain[:-1]}; foo=bar", ""),
        "DMARC_UNKNOWN_TAG",
    ),
    _s("dmarc-no-rua", lambda c: c.txt("_dmarc", "v=DMARC1; p=reject", ""), "DMARC_NO_RUA"),
    _s(
        "dmarc-bad-uri",
        lambda c: c.txt("_dmarc", f"v=DMARC1; p=reject; rua=d@{c.domain[:-1]}", ""),
        "DMARC_REPORT_URI_INVALID",
    ),
    _s(
        "dmarc-external",
        lambda c: c.txt("_dmarc", f"v=DMARC1; p=reject; rua=mailto:agg@{REPORTS_ZONE}", ""),
        "DMARC_EXTERNAL_REPORT_UNAUTHORIZED",
    ),
    _s(
        "dmarc-external-ok",
        lambda c: c.txt("_dmarc", f"v=DMARC1; p=reject; rua=mailto:agg@{REPORTS_ZONE}", "").add(
            f"{c.domain}_report._dmarc.{REPORTS_ZONE}.", "TXT", '"v=DMARC1"', REPORTS_ZONE + "."
        ),
    ),
    _s("mtasts-missing", lambda c: c.drop("TXT", "_mta-sts"), "MTASTS_MISSING"),
    _s("mtasts-syntax", lambda c: c.txt("_mta-sts", "v=STSv1; id=not-valid!", ""), "MTASTS_SYNTAX"),
    _s("mtasts-multiple", lambda c: c.add("_mta-sts", "TXT", '"v=STSv1; id=abc"'), "MTASTS_MULTIPLE"),
    _s("tlsrpt-missing", lambda c: c.drop("TXT", "_smtp._tls"), "TLSRPT_MISSING"),
    _s("tlsrpt-syntax", lambda c: c.txt("_smtp._tls", "v=TLSRPTv1; rua=tls@example.test", ""), "TLSRPT_SYNTAX"),
    _s("dnsbl-listed", lambda c: c, "DNSBL_LISTED"),
    _s("dnsbl-domain", lambda c: c, "DNSBL_DOMAIN_LISTED"),
    _s("dnsbl-refused", lambda c: c, "DNSBL_QUERY_REFUSED"),
]


def scenario_addresses(index: int) -> tuple[str, str]:
    return f"10.213.5.{index + 1}", f"2001:db8:213::{index + 1:x}"


def scenario_rows(index: int, scenario: Scenario, keys: Keys) -> list[Row]:
    v4, v6 = scenario_addresses(index)
    domain = scenario.domain
    inputs = DomainDnsInputs(
        domain=domain,
        hostname=f"mail.{domain}",
        ipv4=(v4,),
        ipv6=(v6,),
        dkim_public_key=spki_b64(keys.main.public_key()),
        dmarc_rua=(f"dmarc@{domain}",),
        caa_issuers=("letsencrypt.org",),
        relay_spf_include=f"_spf.{RELAY_ZONE}" if scenario.name == "relay" else None,
    )
    rows: list[Row] = [(r.name, r.rtype, r.value, r.zone) for r in domain_records(inputs)]
    origin = domain + "."
    rows += [
        (origin, "NS", f"ns1.{origin}", origin),
        (origin, "NS", f"ns2.{origin}", origin),
        (f"ns1.{origin}", "A", "127.0.0.1", origin),
        (f"ns2.{origin}", "A", "127.0.0.2", origin),
    ]
    ctx = Ctx(origin, v4, v6, keys, rows)
    scenario.mutate(ctx)
    return ctx.rows


def soa(origin: str, serial: int = 1) -> str:
    return f"$TTL 300\n{origin} 300 IN SOA ns1.{origin} hostmaster.{origin} {serial} 3600 600 86400 300\n"


def zone_file(origin: str, rows: list[Row], serial: int = 1) -> str:
    body = "".join(f"{o} 300 IN {t} {v}\n" for o, t, v, z in rows if z == origin)
    return soa(origin, serial) + body


def _infra_zone(origin: str) -> list[Row]:
    return [
        (origin, "NS", f"ns1.{origin}", origin),
        (origin, "NS", f"ns2.{origin}", origin),
        (f"ns1.{origin}", "A", "127.0.0.1", origin),
        (f"ns2.{origin}", "A", "127.0.0.2", origin),
    ]


def build_zones(keys: Keys) -> tuple[dict[str, str], dict[str, str]]:
    """-> (zones for the main server on 127.0.0.1/127.0.0.2, zones for the secondary on 127.0.0.3)."""
    all_rows: list[Row] = []
    origins: set[str] = set()
    for index, scenario in enumerate(SCENARIOS):
        all_rows += scenario_rows(index, scenario, keys)
        origins.add(scenario.domain + ".")
    extra = {
        REVERSE4: [],
        REVERSE6: [],
        DNSBL_ZONE + ".": [],
        DBL_ZONE + ".": [],
        RELAY_ZONE + ".": [(f"_spf.{RELAY_ZONE}.", "TXT", '"v=spf1 ip4:10.213.99.0/24 -all"', RELAY_ZONE + ".")],
        REPORTS_ZONE + ".": [],
    }
    by_name = {s.name: i for i, s in enumerate(SCENARIOS)}
    for name, code in (("dnsbl-listed", "127.0.0.2"), ("dnsbl-refused", "127.255.255.254")):
        v4 = scenario_addresses(by_name[name])[0]
        owner = ".".join(reversed(v4.split("."))) + f".{DNSBL_ZONE}."
        extra[DNSBL_ZONE + "."].append((owner, "A", code, DNSBL_ZONE + "."))
    extra[DBL_ZONE + "."].append((f"dnsbl-domain.{PARENT}.{DBL_ZONE}.", "A", "127.0.1.2", DBL_ZONE + "."))
    for origin, rows in extra.items():
        all_rows += _infra_zone(origin) + rows
        origins.add(origin)
    main = {o.rstrip("."): zone_file(o, all_rows) for o in sorted(origins)}
    # The secondary serves a stale copy of ns-inconsistent (older serial, other MX) and not ns-lame at all.
    stale = f"ns-inconsistent.{PARENT}."
    stale_rows = [r for r in all_rows if r[3] == stale and r[1] != "MX"] + [(stale, "MX", f"10 old.{stale}", stale)]
    secondary = {stale.rstrip("."): zone_file(stale, stale_rows, serial=0)}
    return main, secondary
