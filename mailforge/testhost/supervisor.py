"""Keeps one test host's systemd-nspawn running across reboots, and its DNS resolver beside it.

`systemctl reboot` inside a container makes systemd-nspawn exit with 133; a real server comes back after
a reboot, so this process starts the container again. Any other exit, or SIGTERM from `testhost down`,
ends it. Run as ``python -m mailforge.testhost.supervisor NAME ROOTFS NETNS [RESOLVER]``, detached, by `up`.

RESOLVER is the host's gateway address: a dnsmasq listens there for the host's queries (its resolv.conf
names it). It forwards what apt needs to this machine's resolvers, but answers the names tests use itself,
with NXDOMAIN: reverse lookups of private addresses (Postfix looks up every client) and the reserved
RFC 2606/6761 names. So test traffic, DNS included, never leaves the machine for those names.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from types import FrameType

REBOOT_EXIT_CODE = 133  # systemd-nspawn(1): "the container requested a reboot"
# Answered locally (NXDOMAIN), never forwarded: private reverse zones and names reserved for tests/examples.
LOCAL_ZONES = (
    "10.in-addr.arpa", "168.192.in-addr.arpa", *(f"{n}.172.in-addr.arpa" for n in range(16, 32)),
    "test", "example", "invalid", "localhost", "example.com", "example.net", "example.org",
)  # fmt: skip
PR_SET_PDEATHSIG = 1  # prctl(2)


def nspawn_argv(name: str, rootfs: str, netns: str) -> list[str]:
    return [
        "systemd-nspawn",
        "--boot",
        f"--directory={rootfs}",
        f"--machine={name}",
        # There is no systemd on this machine to register with or to create a scope unit in.
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{netns}",
        # nspawn grants CAP_NET_ADMIN with --private-network only, not with a namespace path (systemd 252):
        # without it nft inside fails ("Operation not permitted") and the firewall cannot be tested. The
        # container has a network namespace of its own, so the capability reaches only its own rules.
        "--capability=CAP_NET_ADMIN",
        "--console=pipe",
        # Keep the host's own resolv.conf (naming its resolver, written by `up`); nspawn would copy ours in.
        "--resolv-conf=off",
        # nspawn's default (auto) links /etc/localtime to this machine's zone at every boot; a real server
        # keeps its own across a reboot, and the deploy after one must find nothing to change.
        "--timezone=off",
        "--quiet",
    ]


def resolver_argv(address: str, port: int = 53, upstreams: tuple[str, ...] = ()) -> list[str]:
    """dnsmasq(8) in the foreground on `address` only; upstreams: this machine's /etc/resolv.conf, or these."""
    return [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        f"--listen-address={address}",
        f"--port={port}",
        "--bind-dynamic",  # only that address, even while the veth is still coming up
        "--no-hosts",  # this machine's /etc/hosts is not the test hosts' business
        "--pid-file=",
        "--log-facility=-",  # to the supervisor's output, the host's console.log
        "--user=nobody",
        *(["--no-resolv", *(f"--server={u}" for u in upstreams)] if upstreams else []),
        *(f"--local=/{zone}/" for zone in LOCAL_ZONES),
    ]


def _die_with_parent() -> None:
    """In the child: SIGKILL when the supervisor dies, even by SIGKILL, so no resolver outlives its host."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str]) -> int:
    name, rootfs, netns, *resolver = argv
    dns = None
    if resolver:
        dns = subprocess.Popen(resolver_argv(resolver[0]), stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    try:
        return supervise(name, rootfs, netns)
    finally:
        if dns is not None:
            dns.terminate()
            dns.wait()


def supervise(name: str, rootfs: str, netns: str) -> int:
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            # nspawn turns SIGTERM into an orderly poweroff of the container (--kill-signal default).
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while not stopping:  # `down` may arrive before the first start: then never boot at all
        print(f"supervisor: starting {name} at {time.strftime('%Y-%m-%dT%H:%M:%S')}", flush=True)
        child = subprocess.Popen(nspawn_argv(name, rootfs, netns), stdin=subprocess.DEVNULL)
        if stopping:  # SIGTERM landed while Popen ran, before `child` was set for on_term to see
            child.send_signal(signal.SIGTERM)
        code = child.wait()
        print(f"supervisor: {name} exited with {code}", flush=True)
        if code != REBOOT_EXIT_CODE or stopping:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
