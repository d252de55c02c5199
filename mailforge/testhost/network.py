"""Network plumbing for test hosts: a namespace and veth pair per host, and one nftables table for all.

Addresses: host N is 10.213.N.2/24 inside its namespace (interface eth0), with 10.213.N.1 on this
machine's side of the veth as its gateway. The `mailforge` nftables table masquerades the whole
10.213.0.0/16 (a narrower rule made apt hang; DESIGN.md section 4) and lets test hosts out only on DNS
and HTTP(S), for apt. Everything else leaving 10.213.0.0/16 is dropped, SMTP above all, so no test can
ever hand a message to a real mail server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailforge.testhost.errors import TesthostError

NETWORK = "10.213.0.0/16"
NFT_TABLE = "mailforge"
PREFIX = "mf-"  # netns and host-side veth names: mf-<host name>, at most 15 characters (IFNAMSIZ - 1)
MAX_INDEX = 254
# Machine-wide, not per state directory: names, addresses and the nft table are shared by every state
# directory on this machine. /run is emptied at boot, exactly like the namespaces the claims describe.
RUN_DIR = Path("/run/mailforge")
CLAIMS_DIR = RUN_DIR / "claims"

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


@dataclass(frozen=True)
class Claim:
    """Which state directory made (or is making) the namespace and veth `mf-<name>`, at which index."""

    netns: str
    state_dir: str
    index: int

    @property
    def orphaned(self) -> bool:
        # A state directory deleted while its host lived (a test's temp dir): nobody can `down` it but us.
        return not Path(self.state_dir, "hosts").is_dir()


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Serialises claims and the nft table between every state directory on this machine."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUN_DIR / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim(netns: str, state_dir: Path, index: int) -> None:
    """Record, before creating it, that this state directory owns `netns`; refuse if another one does."""
    CLAIMS_DIR.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"netns": netns, "state_dir": str(state_dir.resolve()), "index": index})
    try:
        fd = os.open(CLAIMS_DIR / netns, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        owner = read_claim(netns)
        where = owner.state_dir if owner else "another run"
        raise TesthostError(
            f"{netns} is already in use by the test host state directory {where}; "
            f"use another name, or `mailforge testhost --state-dir {where} down {netns[len(PREFIX) :]}`"
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(body + "\n")


def read_claim(netns: str) -> Claim | None:
    try:
        return Claim(**json.loads((CLAIMS_DIR / netns).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        # Half-written by a run killed mid-write: it protects nothing, treat it as absent.
        return None


def claims() -> list[Claim]:
    if not CLAIMS_DIR.is_dir():
        return []
    found = (read_claim(p.name) for p in CLAIMS_DIR.iterdir())
    return [c for c in found if c is not None]


def release(netns: str) -> None:
    (CLAIMS_DIR / netns).unlink(missing_ok=True)


def any_test_host_left() -> bool:
    """Whether any test host of any state directory still exists (claimed or with a namespace)."""
    return bool(claims()) or any(n.startswith(PREFIX) for n in existing_netns())


def netns_pids(netns: str) -> list[int]:
    """Every process living in the namespace: a container's whole process tree, whoever its parent is."""
    result = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()] if result.returncode == 0 else []


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
