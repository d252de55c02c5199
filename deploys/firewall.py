"""Host firewall: nftables, on by default. Inbound, only SSH, mail and web ports (FIREWALL_PORTS in
mailforge/settings/) plus `firewall_extra_ports` are open; loopback, replies to the host's own connections and
rate-limited ping pass; everything else is dropped. So MariaDB (3306), Dovecot's and Postfix's internal services
(LMTP, auth, policy and milter sockets) are never reachable from outside, even were one of them to listen on
every address.

The rules are one table of mailforge's own, `inet mailforge_filter`, in /etc/nftables.d/mailforge.nft, which
deletes and redefines that table in a single transaction. There is no `flush ruleset` anywhere, so fail2ban's
table (its bans) and any table of the operator's survive every apply. /etc/nftables.conf, which nftables.service
loads at boot and on reload, includes /etc/nftables.d/*.nft: the place for the operator's own tables.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, deploy, operation
from pyinfra.operations import apt, files

from deploys.service import check_then_reload
from deploys.templating import template
from mailforge.settings import FIREWALL_PORTS, FirewallSettings

TABLE = "inet mailforge_filter"
CONF = "/etc/nftables.conf"
RULES = "/etc/nftables.d/mailforge.nft"


class NftTableExists(FactBase[bool]):
    """Whether an nftables table is loaded ("inet mailforge_filter"); False where nft is not installed."""

    default = bool

    def command(self, table: str) -> StringCommand:
        return StringCommand(f"nft list table {table} >/dev/null 2>&1 && echo yes || echo no")

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[0] == "yes"


@operation()
def table_absent(table: str):
    if not host.get_fact(NftTableExists, table=table):
        host.noop(f"no nftables table {table}")
        return
    yield f"nft delete table {table}"


def port_rules(settings: FirewallSettings) -> list[tuple[int, str]]:
    """(port, what listens there) for each open port: one rule each, the comment shown by `nft list ruleset`."""
    return [(port, FIREWALL_PORTS.get(port, "firewall_extra_ports")) for port in settings.ports]


@deploy("Firewall")
def firewall(settings: FirewallSettings) -> None:
    if not settings.enabled:
        files.file(name=f"Remove {RULES}", path=RULES, present=False)
        table_absent(name=f"Unload the table {TABLE}", table=TABLE)
        return
    apt.packages(name="Install nftables", packages=["nftables"], no_recommends=True)
    files.directory(name="Directory of nftables tables", path="/etc/nftables.d", mode="755")
    changes = [
        template(CONF, component="firewall", mode="755"),
        template(RULES, component="firewall", mode="644", ports=port_rules(settings)),
    ]
    # nft -c runs the whole transaction in check mode: a rejected file leaves the loaded rules as they were.
    # The reload (`nft -f /etc/nftables.conf`, nftables.service) swaps mailforge's table in atomically.
    check_then_reload("nftables", "nftables", f"nft -c -f {CONF}", changes)
