"""DKIM signing with OpenDKIM (deploys/dkim.py): one RSA key per domain, generated on the host once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # DKIM selector: the record is published at <selector>._domainkey.<domain>; change it to rotate keys.
    "dkim_selector": "mail",
    # RSA key size; 2048 is what receivers expect today (1024 is weak, 4096 does not fit some DNS UIs).
    "dkim_key_bits": 2048,
}


@dataclass(frozen=True)
class DkimSettings:
    selector: str
    bits: int


def read_dkim(read: Reader) -> DkimSettings:
    selector = read.string("dkim_selector", "mail").lower()
    if selector and not re.match(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z", selector):
        read.problem("dkim_selector", f"{selector!r} is not a DNS label", "use letters, digits and '-', e.g. 's2026'")
    return DkimSettings(selector=selector, bits=read.integer("dkim_key_bits", 1024, maximum=16384))
