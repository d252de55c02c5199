"""One SSH command's round trip through pyinfra's connector, with Nagle's algorithm on (paramiko's default)
and off (deploys/runtime.py, what deploys/mailserver.py sets). Each fact of a deploy is such a command.

    .venv/bin/python -m bench.ssh_nodelay [--commands 100] [--rounds 4]

A fresh test host (bn-ssh) boots; two pyinfra SSH connections to it run `true` --commands times per round,
the two alternating round by round (ABBA), one with TCP_NODELAY set. Prints the median milliseconds per
command of each and their ratio. Needs root; the host is removed even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.host import Host as PyinfraHost

from deploys.runtime import disable_nagle
from mailforge.testhost import StateDir, hosts

HOST = "bn-ssh"


def connect(address: str, ssh_key: str) -> PyinfraHost:
    """A connected pyinfra host (its SSH connector), as the CLI makes it."""
    data = {
        "ssh_user": "root",
        "ssh_key": ssh_key,
        # A fresh host's key each run: not worth remembering.
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
    }
    inventory = Inventory(([address], {}), override_data=data)
    state = State(inventory, Config())
    connect_all(state)
    return inventory.get_host(address)


def round_ms(host: PyinfraHost, commands: int) -> float:
    """Median milliseconds of `true` over `commands` runs."""
    times = []
    for _ in range(commands):
        start = time.perf_counter()
        ok, _ = host.run_shell_command("true")
        times.append((time.perf_counter() - start) * 1000)
        if not ok:
            raise RuntimeError("`true` failed on the test host")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=100, help="commands per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per connection, in ABBA order")
    args = parser.parse_args()
    state = StateDir()
    hosts.down(HOST, state=state)
    try:
        test_host = hosts.up(HOST, state=state, log=lambda message: None)
        sides = {"Nagle on": connect(test_host.address, str(state.ssh_key)),
                 "TCP_NODELAY": connect(test_host.address, str(state.ssh_key))}  # fmt: skip
        if not disable_nagle(sides["TCP_NODELAY"].connector):
            print("the connection has no TCP socket to set TCP_NODELAY on", file=sys.stderr)
            return 1
        results: dict[str, list[float]] = {label: [] for label in sides}
        for index in range(args.rounds):
            for label in sides if index % 2 == 0 else reversed(list(sides)):
                results[label].append(round_ms(sides[label], args.commands))
                print(f"  {label}: {results[label][-1]:.1f} ms", flush=True)
        for side in sides.values():
            side.disconnect()
    finally:
        hosts.down(HOST, state=state)
    medians = {label: statistics.median(values) for label, values in results.items()}
    print(f"\n`true` over one pyinfra SSH connection, {args.commands} commands x {args.rounds} rounds (ABBA)")
    for label, value in medians.items():
        print(f"{label:<12} {value:7.1f} ms per command (median of round medians)")
    print(f"{'ratio':<12} {medians['Nagle on'] / medians['TCP_NODELAY']:7.1f} (Nagle on / TCP_NODELAY)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
