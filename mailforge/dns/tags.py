"""The tag=value list shared by DKIM (RFC 6376 section 3.2), DMARC (RFC 7489 section 6.4), MTA-STS
(RFC 8461 section 3.1) and TLS-RPT (RFC 8460 section 3)."""

from __future__ import annotations

import re

_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class TagListError(ValueError):
    """The text is not a well-formed tag list."""


def parse_tag_list(text: str) -> list[tuple[str, str]]:
    """``a=1; b = 2;`` -> [("a", "1"), ("b", "2")]; a trailing ``;`` is allowed, duplicates are not."""
    if any(ord(ch) > 0x7E or (ord(ch) < 0x20 and ch not in "\t\r\n") for ch in text):
        raise TagListError("non-ASCII or control characters")
    parts = text.split(";")
    if parts and not parts[-1].strip():
        parts = parts[:-1]
    seen: set[str] = set()
    tags: list[tuple[str, str]] = []
    for part in parts:
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not _TAG_NAME.match(name):
            raise TagListError(f"{part.strip()!r} is not name=value")
        if name.lower() in seen:
            raise TagListError(f"tag {name!r} appears twice")
        seen.add(name.lower())
        tags.append((name, value.strip()))
    return tags
