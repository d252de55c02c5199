"""Network plumbing for test hosts: a namespace and veth pair per host, and one nftables table for all.

Addresses: host N is 10.213.N.2/24 inside its namespace (interface eth0), with 10.213.N.1 on this
machine's side of the veth as its gateway. The `mailforge` nftables table masquerades the whole
10.213.0.0/16 (a narrower rule made apt hang; DESIGN.md section 4) and lets test hosts out only on DNS
and HTTP(S), for apt. Everything else leaving 10.213.0.0/16 is dropped, SMTP above all, so no test can
ever hand a message to a real mail server.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mailforge.testhost.errors import TesthostError

NETWORK = "10.213.0.0/16"
NFT_TABLE = "mailforge"
PREFIX = "mf-"  # netns and host-side veth names: mf-<host name>, at most 15 characters (IFNAMSIZ - 1)
MAX_INDEX = 254

NFT_RULESET = f"""
table ip {NFT_TABLE} {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {NETWORK} ip daddr != {NETWORK} masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    ip saddr {NETWORK} ip daddr {NETWORK} accept
    ip daddr {NETWORK} ct state established,related accept
    ip saddr {NETWORK} udp dport 53 accept
    ip saddr {NETWORK} tcp dport {{ 53, 80, 443 }} accept
    ip saddr {NETWORK} counter drop
  }}
}}
"""


def address(index: int) -> str:
    return f"10.213.{index}.2"


def gateway(index: int) -> str:
    return f"10.213.{index}.1"


def run(argv: list[str], *, what: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise TesthostError(f"{what} failed: {' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def existing_netns() -> set[str]:
    netns_dir = Path("/run/netns")
    return {p.name for p in netns_dir.iterdir()} if netns_dir.is_dir() else set()


def existing_links() -> set[str]:
    return {p.name for p in Path("/sys/class/net").iterdir()}


def ensure_nft_table() -> None:
    """Create the NAT/filter table once (idempotent) and enable forwarding for it."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    if subprocess.run(["nft", "list", "table", "ip", NFT_TABLE], capture_output=True).returncode == 0:
        return
    result = subprocess.run(["nft", "-f", "-"], input=NFT_RULESET, capture_output=True, text=True)
    if result.returncode != 0:
        raise TesthostError(f"cannot load the nftables rules for test hosts: {result.stderr.strip()}")


def nft_table_exists() -> bool:
    return subprocess.run(["nft", "list", "table", "ip", NFT_TABLE], capture_output=True).returncode == 0


def remove_nft_table() -> None:
    if nft_table_exists():
        run(["nft", "delete", "table", "ip", NFT_TABLE], what="removing the nftables table")


def create(netns: str, veth: str, index: int) -> None:
    """Namespace + veth; the guest side is eth0 with its address and route set before boot."""
    run(["ip", "netns", "add", netns], what="creating the network namespace")
    run(
        ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns],
        what="creating veth",
    )
    run(["ip", "addr", "add", f"{gateway(index)}/24", "dev", veth], what="addressing the veth")
    run(["ip", "link", "set", veth, "up"], what="bringing the veth up")
    ns = ["ip", "-n", netns]
    run([*ns, "addr", "add", f"{address(index)}/24", "dev", "eth0"], what="addressing eth0")
    run([*ns, "link", "set", "lo", "up"], what="bringing lo up")
    run([*ns, "link", "set", "eth0", "up"], what="bringing eth0 up")
    run([*ns, "route", "add", "default", "via", gateway(index)], what="adding the default route")


def destroy(netns: str, veth: str) -> None:
    """Remove what `create` made; absent pieces are fine (a half-made host, or a second `down`)."""
    if veth in existing_links():
        run(["ip", "link", "del", veth], what="deleting the veth")
    if netns in existing_netns():
        run(["ip", "netns", "del", netns], what="deleting the network namespace")
