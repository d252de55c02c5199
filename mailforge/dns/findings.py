"""Audit findings: a stable code, a severity, what was seen, the rule it breaks and the fix.

Every code is declared once in ``CODES`` (the catalogue printed by ``mailforge dns audit --help``); a
finding carries the specifics (the record seen, the address concerned) on top of that catalogue entry.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    # The check could not be made (timeout, SERVFAIL): never reported as a pass.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Code:
    severity: Severity
    summary: str
    rule: str
    fix: str


E, W, INFO, U = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.UNKNOWN

CODES: dict[str, Code] = {
    # -- DNS transport -------------------------------------------------------------------------------
    "DNS_QUERY_FAILED": Code(
        U,
        "a query timed out or the server answered SERVFAIL/REFUSED: the check could not be made",
        "RFC 1035 section 4.1.1 (RCODE); RFC 7208 section 2.6.6 (temperror)",
        "Make sure every authoritative server answers; run the audit again.",
    ),
    # -- NS --------------------------------------------------------------------------------------------
    "NS_MISSING": Code(
        E,
        "the domain has no NS records",
        "RFC 1034 section 4.2.1 (every zone has NS records at its apex)",
        "Delegate the domain to your DNS provider's name servers at the registrar.",
    ),
    "NS_TOO_FEW": Code(
        W,
        "fewer than two name servers",
        "RFC 1034 section 4.1; RFC 2182 section 5 (at least two, on separate networks)",
        "Publish at least two NS records on different networks.",
    ),
    "NS_INCONSISTENT": Code(
        E,
        "the authoritative servers give different answers (serial, MX or TXT)",
        "RFC 1034 section 4.3.5 (secondaries must stay in sync with the primary)",
        "Fix zone transfers (NOTIFY/AXFR) so every listed name server serves the same zone.",
    ),
    "NS_NOT_AUTHORITATIVE": Code(
        E,
        "a listed name server does not answer authoritatively for the zone (lame delegation)",
        "RFC 1034 section 4.3.1 (AA bit); RFC 8499 section 7 (lame delegation)",
        "Load the zone on that server or remove it from the NS set.",
    ),
    "NS_UNREACHABLE": Code(
        U,
        "a listed name server did not answer",
        "RFC 1034 section 4.1",
        "Check that the server runs and port 53 (UDP and TCP) is open.",
    ),
    # -- MX --------------------------------------------------------------------------------------------
    "MX_MISSING": Code(
        E,
        "no MX record: senders fall back to the domain's A record",
        "RFC 5321 section 5.1 (implicit MX)",
        "Publish `DOMAIN. MX 10 MAILHOST.` (mailforge dns records prints it).",
    ),
    "MX_NULL": Code(
        W,
        "null MX: the domain declares that it accepts no mail",
        "RFC 7505 section 3",
        "Remove the `MX 0 .` record if this domain should receive mail.",
    ),
    "MX_NULL_WITH_OTHERS": Code(
        E,
        "a null MX is published together with other MX records",
        "RFC 7505 section 3 (a null MX MUST be the only MX record)",
        "Keep either the null MX (no mail) or the real MX records, not both.",
    ),
    "MX_NULL_PREFERENCE": Code(
        W,
        "a null MX with a preference other than 0",
        "RFC 7505 section 3 (preference 0)",
        "Publish the null MX as `MX 0 .`.",
    ),
    "MX_TARGET_IP": Code(
        E,
        "the MX target is an IP address, not a host name",
        "RFC 1035 section 3.3.9; RFC 5321 section 5.1 (EXCHANGE is a domain name)",
        "Point the MX at a host name that has A/AAAA records (e.g. `mail.DOMAIN.`).",
    ),
    "MX_TARGET_CNAME": Code(
        E,
        "the MX target is an alias (CNAME)",
        "RFC 2181 section 10.3 (MX must not point to an alias); RFC 5321 section 5.1",
        "Point the MX at the canonical host name, the one with the A/AAAA records.",
    ),
    "MX_TARGET_DOUBLED": Code(
        E,
        "the MX target repeats the zone name: a trailing dot is missing in the zone file",
        "RFC 1035 section 5.1 (names without a trailing dot are relative to $ORIGIN)",
        "Write the target with a trailing dot (`mail.example.org.`), or relative (`mail`).",
    ),
    "MX_TARGET_NO_ADDRESS": Code(
        E,
        "the MX target has no A or AAAA record",
        "RFC 5321 section 5.1",
        "Publish A/AAAA records for the MX host.",
    ),
    "MX_ADDRESS_MISMATCH": Code(
        E,
        "the MX hosts do not resolve to the declared server addresses",
        "RFC 5321 section 5.1",
        "Update the MX host's A/AAAA records to the server's addresses (or fix --ip).",
    ),
    # -- the mail host ---------------------------------------------------------------------------------
    "HOST_NO_ADDRESS": Code(
        E,
        "the mail host name has no A or AAAA record",
        "RFC 5321 section 4.1.1.1 (the HELO name should resolve)",
        "Publish A (and AAAA) records for the mail host name.",
    ),
    "HOST_ADDRESS_MISMATCH": Code(
        E,
        "the mail host name does not resolve to a declared server address",
        "RFC 5321 section 4.1.1.1",
        "Set the host name's A/AAAA records to the server's addresses.",
    ),
    # -- reverse DNS ------------------------------------------------------------------------------------
    "PTR_MISSING": Code(
        E,
        "a sending IP has no PTR record: many receivers reject such mail",
        "RFC 1912 section 2.1; M3AAWG outbound best practices; RFC 8601 section 2.7.3 (iprev)",
        "Ask the owner of the IP range (your hosting provider) to set the PTR to the mail host name.",
    ),
    "PTR_NOT_FORWARD_CONFIRMED": Code(
        E,
        "the PTR name does not resolve back to the sending IP (no forward-confirmed reverse DNS)",
        "RFC 8601 section 3 (iprev); RFC 1912 section 2.1",
        "Make the PTR name's A/AAAA record contain the IP, or change the PTR to the mail host name.",
    ),
    "PTR_HELO_MISMATCH": Code(
        W,
        "the PTR name differs from the HELO host name",
        "RFC 5321 section 4.1.4; M3AAWG outbound best practices",
        "Set the PTR to the HELO name (postfix myhostname) or the HELO name to the PTR name.",
    ),
    "PTR_MULTIPLE": Code(
        W,
        "a sending IP has several PTR records",
        "RFC 1912 section 2.1 (one PTR per address)",
        "Keep one PTR record: the mail host name.",
    ),
    # -- SPF --------------------------------------------------------------------------------------------
    "SPF_MISSING": Code(
        E,
        "no SPF record: receivers cannot tell which hosts may send for the domain",
        "RFC 7208 section 4.5",
        "Publish one TXT record `v=spf1 mx -all` (mailforge dns records prints it).",
    ),
    "SPF_MULTIPLE_RECORDS": Code(
        E,
        "more than one SPF record: every SPF check returns permerror",
        "RFC 7208 section 4.5 (multiple records -> permerror)",
        "Merge the records into a single `v=spf1 ...` TXT record.",
    ),
    "SPF_SYNTAX": Code(
        E,
        "the SPF record has a syntax error: every SPF check returns permerror",
        "RFC 7208 section 12 (ABNF), section 4.6",
        "Correct the term shown; the grammar is in RFC 7208 section 12.",
    ),
    "SPF_STRINGS_MISJOINED": Code(
        E,
        "the SPF record is split into strings at a point without a space; they are joined as-is",
        "RFC 7208 section 3.3 (strings are concatenated without spaces)",
        "End each string with a space (or start the next one with one) between terms.",
    ),
    "SPF_NOT_ASCII": Code(
        E,
        "the SPF record contains non-ASCII or control characters",
        "RFC 7208 section 3.1 (7-bit ASCII); section 4.6.1 (terms separated by spaces only)",
        "Retype the record: remove invisible characters (BOM, non-breaking space, newline).",
    ),
    "SPF_TOO_MANY_LOOKUPS": Code(
        E,
        "the SPF include tree can need more than 10 DNS-querying terms: permerror",
        "RFC 7208 section 4.6.4 (10 terms: include, a, mx, ptr, exists, redirect)",
        "Replace includes/a/mx with ip4:/ip6: ranges, or drop unused includes.",
    ),
    "SPF_TOO_MANY_VOID_LOOKUPS": Code(
        E,
        "more than two SPF lookups return no answer (void): permerror",
        "RFC 7208 section 4.6.4 (void lookup limit of 2)",
        "Remove terms that point at names with no records.",
    ),
    "SPF_INCLUDE_NO_SPF": Code(
        E,
        "an include: or redirect= target has no SPF record: permerror",
        "RFC 7208 section 5.2 (include of none -> permerror), section 6.1",
        "Fix the target's name or remove the term.",
    ),
    "SPF_PLUS_ALL": Code(
        E,
        "`+all` lets every host on the Internet send as the domain",
        "RFC 7208 section 5.1",
        "End the record with `-all` (or `~all` while testing).",
    ),
    "SPF_NEUTRAL_ALL": Code(
        W,
        "`?all` asserts nothing about other senders",
        "RFC 7208 section 8.2",
        "End the record with `-all` (or `~all`).",
    ),
    "SPF_NO_ALL": Code(
        W,
        "the record has no `all` and no `redirect=`: the default result is neutral",
        "RFC 7208 section 4.7",
        "End the record with `-all`.",
    ),
    "SPF_PTR_USED": Code(
        W,
        "the `ptr` mechanism is slow, unreliable and SHOULD NOT be used",
        "RFC 7208 section 5.5",
        "Replace `ptr` with ip4:/ip6: or a/mx terms.",
    ),
    "SPF_PERMERROR": Code(
        E,
        "SPF evaluation ends in permerror",
        "RFC 7208 section 2.6.7",
        "Fix the errors reported with it; receivers treat permerror like a failed check.",
    ),
    "SPF_IP_NOT_PASS": Code(
        E,
        "a declared server IP does not evaluate to `pass`: its mail fails SPF",
        "RFC 7208 section 4 (check_host)",
        "Add the IP (ip4:/ip6:) or the mail host (a:/mx) to the SPF record.",
    ),
    "SPF_TEST_IP_PASSES": Code(
        E,
        "an address from a documentation range evaluates to `pass`: the record allows far too much",
        "RFC 7208 section 5 (mechanisms); RFC 5737 / RFC 3849 (documentation ranges)",
        "Narrow the ranges (no /0, /8 ...) and end with `-all`.",
    ),
    # -- DKIM -------------------------------------------------------------------------------------------
    "DKIM_MISSING": Code(
        E,
        "no DKIM key record for the selector",
        "RFC 6376 section 3.6.2.1",
        "Publish SELECTOR._domainkey.DOMAIN TXT from `mailforge dns records`.",
    ),
    "DKIM_MULTIPLE": Code(
        E,
        "several TXT records at the DKIM selector: verifiers may pick either",
        "RFC 6376 section 3.6.2.2",
        "Keep one key record per selector.",
    ),
    "DKIM_SYNTAX": Code(
        E,
        "the DKIM key record does not parse",
        "RFC 6376 section 3.6.1 (tag=value list), section 3.2",
        "Republish the record exactly as `mailforge dns records` prints it.",
    ),
    "DKIM_REVOKED": Code(
        E,
        "the DKIM key is revoked (empty p=): signatures with this selector fail",
        "RFC 6376 section 3.6.1 (p= empty means revoked)",
        "Publish the current public key, or stop signing with this selector.",
    ),
    "DKIM_KEY_INVALID": Code(
        E,
        "the p= value is not a valid public key",
        "RFC 6376 section 3.6.1 (p= is base64 of the DER SubjectPublicKeyInfo)",
        "Republish the key; check that nothing was cut or added.",
    ),
    "DKIM_TRUNCATED": Code(
        E,
        "the DKIM key looks cut at 255 characters (one TXT string holds at most 255 bytes)",
        "RFC 1035 section 3.3.14 (character-string <= 255 bytes); RFC 6376 section 3.6.2.2",
        "Split the value into several quoted strings of at most 255 bytes in one TXT record.",
    ),
    "DKIM_KEY_TOO_SHORT": Code(
        E,
        "the RSA key is shorter than 1024 bits: verifiers must not accept it",
        "RFC 8301 section 3.2",
        "Generate a 2048-bit key and publish it under a new selector.",
    ),
    "DKIM_KEY_WEAK": Code(
        W,
        "the RSA key is shorter than 2048 bits",
        "RFC 8301 section 3.2 (signers SHOULD use at least 2048 bits)",
        "Generate a 2048-bit key and publish it under a new selector.",
    ),
    "DKIM_TESTING": Code(
        W,
        "t=y: the key is in testing mode, verifiers may ignore failures",
        "RFC 6376 section 3.6.1 (t= flags)",
        "Remove t=y once signing works.",
    ),
    "DKIM_SHA1_ONLY": Code(
        W,
        "h= allows only sha1, which verifiers no longer accept",
        "RFC 8301 section 3.1",
        "Remove h= or set h=sha256.",
    ),
    "DKIM_SERVICE_NOT_EMAIL": Code(
        E,
        "s= does not include email: the key cannot verify mail",
        "RFC 6376 section 3.6.1 (s= service type)",
        "Remove s= or set s=email.",
    ),
    "DKIM_KEY_MISMATCH": Code(
        E,
        "the published key does not match the server's private key: every signature fails",
        "RFC 6376 section 6.1.3",
        "Publish the public key of the private key in use (mailforge dns records).",
    ),
    # -- DMARC ------------------------------------------------------------------------------------------
    "DMARC_MISSING": Code(
        E,
        "no DMARC record at _dmarc",
        "RFC 7489 section 6.1",
        'Publish `_dmarc.DOMAIN TXT "v=DMARC1; p=quarantine; rua=mailto:..."`.',
    ),
    "DMARC_MULTIPLE_RECORDS": Code(
        E,
        "more than one DMARC record: receivers ignore DMARC for the domain",
        "RFC 7489 section 6.6.3 (step 5)",
        "Keep exactly one `v=DMARC1` record at _dmarc.",
    ),
    "DMARC_SYNTAX": Code(
        E,
        "the DMARC record has a syntax error or an invalid tag value",
        "RFC 7489 section 6.4 (ABNF), section 6.3 (tags)",
        "Correct the tag shown; `v=DMARC1` must come first and `p=` second.",
    ),
    "DMARC_UNKNOWN_TAG": Code(
        W,
        "the DMARC record has a tag receivers ignore",
        "RFC 7489 section 6.3 (unknown tags MUST be ignored)",
        "Remove or correct the tag (typo?).",
    ),
    "DMARC_POLICY_NONE": Code(
        W,
        "p=none: receivers are asked to take no action on failing mail",
        "RFC 7489 section 6.3 (p=)",
        "Move to p=quarantine, then p=reject, once reports show your mail aligns.",
    ),
    "DMARC_PCT_PARTIAL": Code(
        W,
        "pct below 100: the policy applies to part of the failing mail only",
        "RFC 7489 section 6.3 (pct=)",
        "Raise pct to 100 (or drop the tag).",
    ),
    "DMARC_NO_RUA": Code(
        INFO,
        "no rua=: you will receive no aggregate reports",
        "RFC 7489 section 7.2",
        "Add rua=mailto:dmarc-reports@DOMAIN.",
    ),
    "DMARC_REPORT_URI_INVALID": Code(
        E,
        "a rua/ruf entry is not a mailto: URI",
        "RFC 7489 section 6.2 (DMARC URIs), section 6.3",
        "Write each destination as mailto:address@domain.",
    ),
    "DMARC_EXTERNAL_REPORT_UNAUTHORIZED": Code(
        E,
        "reports go to another domain that has not authorized them: receivers drop the reports",
        "RFC 7489 section 7.1",
        'Publish `DOMAIN._report._dmarc.DESTINATION TXT "v=DMARC1"` in the destination\'s zone.',
    ),
    # -- MTA-STS / TLS-RPT ------------------------------------------------------------------------------
    "MTASTS_MISSING": Code(
        INFO,
        "no MTA-STS record: senders cannot require TLS to reach you",
        "RFC 8461 section 3.1",
        "Publish _mta-sts TXT and the policy file (mailforge dns records).",
    ),
    "MTASTS_SYNTAX": Code(
        E,
        "the MTA-STS TXT record is invalid (v=STSv1; id=1-32 alphanumerics)",
        "RFC 8461 section 3.1",
        'Publish `_mta-sts.DOMAIN TXT "v=STSv1; id=20240101T000000"`.',
    ),
    "MTASTS_MULTIPLE": Code(
        E,
        "several MTA-STS TXT records: senders treat MTA-STS as not implemented",
        "RFC 8461 section 3.1",
        "Keep exactly one v=STSv1 record.",
    ),
    "TLSRPT_MISSING": Code(
        INFO,
        "no TLS-RPT record: you will receive no TLS failure reports",
        "RFC 8460 section 3",
        'Publish `_smtp._tls.DOMAIN TXT "v=TLSRPTv1; rua=mailto:..."`.',
    ),
    "TLSRPT_SYNTAX": Code(
        E,
        "the TLS-RPT record is invalid",
        "RFC 8460 section 3 (v=TLSRPTv1; rua=mailto:/https: URIs)",
        'Publish `_smtp._tls.DOMAIN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@DOMAIN"`.',
    ),
    # -- DNSBL ------------------------------------------------------------------------------------------
    "DNSBL_LISTED": Code(
        E,
        "a sending IP is listed on a DNS blocklist",
        "RFC 5782 section 2.1 (127.0.0.2+ answers mean listed)",
        "Find the listing reason on the list's web site, fix it, then request delisting.",
    ),
    "DNSBL_DOMAIN_LISTED": Code(
        E,
        "the domain is listed on a domain blocklist",
        "RFC 5782 section 2.3",
        "Find the listing reason on the list's web site, fix it, then request delisting.",
    ),
    "DNSBL_QUERY_REFUSED": Code(
        U,
        "the blocklist answered with an error code (127.255.255.x): not a listing, but no answer either",
        "RFC 5782 section 2.1; Spamhaus return codes (127.255.255.252-255 = query refused)",
        "Query the list through your own resolver (public resolvers are refused), then re-run.",
    ),
}


@dataclass(frozen=True)
class Finding:
    code: str
    domain: str
    detail: str
    seen: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise KeyError(f"undeclared finding code {self.code}")

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    @property
    def rule(self) -> str:
        return CODES[self.code].rule

    @property
    def fix(self) -> str:
        return CODES[self.code].fix

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.update(severity=str(self.severity), rule=self.rule, fix=self.fix)
        return data


EXIT_CLEAN, EXIT_WARNINGS, EXIT_ERRORS, EXIT_UNKNOWN = 0, 1, 2, 3


def exit_code(findings: list[Finding]) -> int:
    """0 clean (info only), 1 warnings only, 2 errors, 3 something could not be checked.

    Errors win over "unknown": a definite problem is reported as such even when another check failed.
    """
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        return EXIT_ERRORS
    if Severity.UNKNOWN in severities:
        return EXIT_UNKNOWN
    if Severity.WARNING in severities:
        return EXIT_WARNINGS
    return EXIT_CLEAN
