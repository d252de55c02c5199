"""MTA-STS discovery records (RFC 8461 section 3.1) and TLS-RPT records (RFC 8460 section 3)."""

from __future__ import annotations

import re

from .tags import TagListError, parse_tag_list

_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


class StsError(ValueError):
    """The MTA-STS or TLS-RPT record is invalid."""


def is_sts(text: str) -> bool:
    return text.startswith("v=STSv1")


def is_tlsrpt(text: str) -> bool:
    return text.startswith("v=TLSRPTv1")


def parse_sts(text: str) -> str:
    """-> the policy id. ``v=STSv1; id=...`` with v first (section 3.1)."""
    try:
        pairs = parse_tag_list(text)
    except TagListError as exc:
        raise StsError(str(exc)) from exc
    if not pairs or pairs[0] != ("v", "STSv1"):
        raise StsError("the record must start with v=STSv1")
    tags = dict(pairs)
    if "id" not in tags:
        raise StsError("id= is required")
    if not _STS_ID.match(tags["id"]):
        raise StsError(f"id={tags['id']!r}: 1 to 32 letters and digits")
    return tags["id"]


def parse_tlsrpt(text: str) -> list[str]:
    """-> the rua URIs (mailto: or https:), section 3."""
    try:
        pairs = parse_tag_list(text)
    except TagListError as exc:
        raise StsError(str(exc)) from exc
    if not pairs or pairs[0] != ("v", "TLSRPTv1"):
        raise StsError("the record must start with v=TLSRPTv1")
    tags = dict(pairs)
    if "rua" not in tags:
        raise StsError("rua= is required")
    uris = [u.strip() for u in tags["rua"].split(",")]
    for uri in uris:
        if not re.match(r"^(mailto:[^@\s]+@[^@\s]+|https://\S+)$", uri):
            raise StsError(f"rua entry {uri!r} is neither mailto: nor https:")
    return uris
