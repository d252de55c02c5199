"""DMARC policy records (RFC 7489 section 6.3/6.4, RFC 9091 np=): strict parsing and validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .tags import TagListError, parse_tag_list

POLICIES = frozenset({"none", "quarantine", "reject"})
KNOWN_TAGS = frozenset({"v", "p", "sp", "np", "adkim", "aspf", "pct", "fo", "rf", "ri", "rua", "ruf"})
_MAILTO = re.compile(r"^mailto:(?P<local>[^@\s,;!]+)@(?P<domain>[A-Za-z0-9.\-]+\.[A-Za-z0-9\-]+)(?:!\d+[kmgtKMGT]?)?$")


class DmarcError(ValueError):
    """The record breaks RFC 7489 section 6.4."""


@dataclass(frozen=True)
class ReportUri:
    uri: str
    domain: str | None  # the mailto: destination domain; None when the URI is not a valid mailto:


@dataclass(frozen=True)
class DmarcRecord:
    tags: dict[str, str]
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    unknown_tags: tuple[str, ...] = field(default=())

    @property
    def policy(self) -> str:
        return self.tags["p"]

    @property
    def pct(self) -> int:
        return int(self.tags.get("pct", "100"))


def is_dmarc(text: str) -> bool:
    """Section 6.6.3: records not starting with "v=DMARC1" are discarded."""
    return re.match(r"^v\s*=\s*DMARC1\s*(;|$)", text) is not None


def _uris(value: str) -> tuple[ReportUri, ...]:
    out: list[ReportUri] = []
    for raw in value.split(","):
        uri = raw.strip()
        match = _MAILTO.match(uri)
        out.append(ReportUri(uri, match.group("domain").lower().rstrip(".") if match else None))
    return tuple(out)


def parse(text: str) -> DmarcRecord:
    """Parse one DMARC record; raises ``DmarcError`` and nothing else."""
    if not is_dmarc(text):
        raise DmarcError("the record must start with 'v=DMARC1'")
    try:
        pairs = parse_tag_list(text)
    except TagListError as exc:
        raise DmarcError(str(exc)) from exc
    tags = {name.lower(): value for name, value in pairs}
    if tags.get("p") is None:
        raise DmarcError("the required p= tag is missing (section 6.3)")
    if pairs[1][0].lower() != "p":
        raise DmarcError("p= must directly follow v=DMARC1 (section 6.4 ABNF)")
    for tag in ("p", "sp", "np"):
        if tag in tags and tags[tag].lower() not in POLICIES:
            raise DmarcError(f"{tag}={tags[tag]!r}: expected none, quarantine or reject")
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag].lower() not in ("r", "s"):
            raise DmarcError(f"{tag}={tags[tag]!r}: expected r or s")
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        raise DmarcError(f"pct={tags['pct']!r}: expected an integer 0-100")
    if "fo" in tags and not re.fullmatch(r"[01ds](:[01ds])*", tags["fo"].replace(" ", "")):
        raise DmarcError(f"fo={tags['fo']!r}: expected 0, 1, d or s, separated by ':'")
    if "rf" in tags and not re.fullmatch(r"[A-Za-z0-9\-]+(:[A-Za-z0-9\-]+)*", tags["rf"]):
        raise DmarcError(f"rf={tags['rf']!r}: expected report formats separated by ':'")
    if "ri" in tags and not (tags["ri"].isdigit() and int(tags["ri"]) < 2**32):
        raise DmarcError(f"ri={tags['ri']!r}: expected a 32-bit unsigned integer")
    for tag in ("rua", "ruf"):
        if tag in tags and not tags[tag]:
            raise DmarcError(f"{tag}= is empty")
    unknown = tuple(name for name, _ in pairs if name.lower() not in KNOWN_TAGS)
    return DmarcRecord(
        tags={k: v.lower() if k in ("p", "sp", "np", "adkim", "aspf") else v for k, v in tags.items()},
        rua=_uris(tags["rua"]) if "rua" in tags else (),
        ruf=_uris(tags["ruf"]) if "ruf" in tags else (),
        unknown_tags=unknown,
    )


def is_external(policy_domain: str, destination: str) -> bool:
    """Section 7.1: a destination outside the policy domain needs its authorization record.

    Approximated without a public-suffix list: same domain, or one a subdomain of the other, is internal.
    """
    a, b = policy_domain.lower().rstrip("."), destination.lower().rstrip(".")
    return not (a == b or a.endswith("." + b) or b.endswith("." + a))
