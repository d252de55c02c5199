"""Where the deploy leaves the zones to publish: ``build/dns/<inventory host>/<domain>.zone``.

Keyed by host, not by domain alone: a zone holds one server's own records (its MX target, its addresses
in A/AAAA and SPF, the DKIM key generated on it), so a second server, a staging host or a benchmark
deploying the same domain from the same checkout writes a different zone, and must not replace the first.

There is no per-domain "latest" path. Whichever host it named, it would be wrong for every other host of
the domain; a link kept only while exactly one host has a zone for the domain would still vanish or move
when a test or a benchmark deploys that domain elsewhere, leaving a reader (the demo, a script) the wrong
zone or none. Readers ask for "the zone of host H for domain D" through ``zone_path``, and nothing else
rebuilds the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .generate import domain_records, to_zone
from .inputs import DomainDnsInputs, MailDnsInputs

# The checkout's build/dns (mailforge is installed editable from the checkout; deploys/ is beside it).
BUILD_DNS = Path(__file__).resolve().parents[2] / "build" / "dns"


def host_dir(host: str, root: Path = BUILD_DNS) -> Path:
    """The directory of one inventory host's zones (a name such as "@vagrant/mailforge" stays one level)."""
    if host in {"", ".", ".."}:
        raise ValueError(f"{host!r} cannot name a directory of zones")
    return root / quote(host, safe="@")


def zone_path(host: str, domain: str, root: Path = BUILD_DNS) -> Path:
    """The zone the last deploy of inventory host `host` wrote for `domain`."""
    return host_dir(host, root) / f"{domain.lower().rstrip('.')}.zone"


@dataclass(frozen=True)
class ZoneFiles:
    written: list[Path]
    removed: list[Path]


def write_host_zones(settings: MailDnsInputs | DomainDnsInputs, host: str, root: Path = BUILD_DNS) -> ZoneFiles:
    """Write the host's zone for each of its domains; remove what would otherwise mislead a reader.

    Removed: zones in the host's directory for domains it no longer serves (they would still answer
    ``zone_path``), and ``<root>/<domain>.zone`` files of the older per-domain layout (each held whichever
    host had deployed last).
    """
    domains = (settings,) if isinstance(settings, DomainDnsInputs) else settings.domains
    directory = host_dir(host, root)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for inputs in domains:
        path = zone_path(host, inputs.domain, root)
        partial = path.with_name(f".{path.name}.tmp")
        partial.write_text(to_zone(inputs, domain_records(inputs)))
        partial.replace(path)  # a reader never sees half a zone
        written.append(path)
    stale = sorted(p for p in directory.glob("*.zone") if p not in written) + sorted(root.glob("*.zone"))
    for path in stale:
        path.unlink()
    return ZoneFiles(written, stale)
