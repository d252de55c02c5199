"""Keeps one test host's systemd-nspawn running across reboots.

`systemctl reboot` inside a container makes systemd-nspawn exit with 133; a real server comes back after
a reboot, so this process starts the container again. Any other exit, or SIGTERM from `testhost down`,
ends it. Run as ``python -m mailforge.testhost.supervisor NAME ROOTFS NETNS``, detached, by `up`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

REBOOT_EXIT_CODE = 133  # systemd-nspawn(1): "the container requested a reboot"


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
        "--console=pipe",
        # nspawn's default (auto) links /etc/localtime to this machine's zone at every boot; a real server
        # keeps its own across a reboot, and the deploy after one must find nothing to change.
        "--timezone=off",
        "--quiet",
    ]


def main(argv: list[str]) -> int:
    name, rootfs, netns = argv
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
