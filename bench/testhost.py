"""Test host lifecycle: cold base-image build, warm `up` until SSH answers, `down`, and leaks over cycles.

    .venv/bin/python -m bench.testhost [--cycles 20] [--skip-cold]

Everything runs in temporary state directories, so the shared image cache and other people's hosts are
untouched. Figures come last, as ratios against the targets of issue 2 (warm up-to-SSH <= 10 s, down <= 5 s,
zero leaks); ratios below 1.0 meet the target. Needs root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mailforge.testhost import StateDir, hosts, image, network, processes

NAME = "bench-th"
TARGET_UP = 10.0
TARGET_DOWN = 5.0


def leaks(state: StateDir, fds_before: set[str]) -> list[str]:
    """Everything a removed host could leave behind, machine-wide where it is machine-wide."""
    netns = network.PREFIX + NAME
    found = []
    if netns in network.existing_netns():
        found.append("netns")
    if netns in network.existing_links():
        found.append("veth")
    if network.read_claim(netns) is not None:
        found.append("claim")
    if state.host_dir(NAME).exists():
        found.append("state dir")
    if any(str(state.root) in " ".join(processes.cmdline(pid)) for pid in processes.pids()):
        found.append("process")
    if str(state.root) in Path("/proc/self/mounts").read_text():
        found.append("mount")
    if network.nft_table_exists() and not network.any_test_host_left():
        found.append("nft table")
    extra_fds = set(os.listdir("/proc/self/fd")) - fds_before
    if extra_fds:
        found.append(f"{len(extra_fds)} fds")
    return found


def cold_build() -> float:
    """debootstrap + pack into an empty state directory: what the first `up` on a fresh machine pays."""
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="mf-bench-cold-") as tmp:
        started = time.monotonic()
        image.ensure_base_image(StateDir(tmp), log=lambda _m: None)
        return time.monotonic() - started


def warm_state(tmp: str) -> StateDir:
    """A state directory that shares the cached image (building it first if this machine has none)."""
    shared = StateDir()
    with shared.locked():
        base = image.ensure_base_image(shared, log=lambda _m: None)
    state = StateDir(tmp)
    state.images_dir.mkdir(parents=True)
    (state.images_dir / base.name).symlink_to(base)
    state.ensure_ssh_key()
    return state


def cycle(state: StateDir) -> tuple[float, float]:
    started = time.monotonic()
    hosts.up(NAME, state=state, log=lambda _m: None)  # returns once `ssh root@host true` succeeded
    booted = time.monotonic()
    hosts.down(NAME, state=state)
    return booted - started, time.monotonic() - booted


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--skip-cold", action="store_true", help="skip the ~70 s debootstrap measurement")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/testhost.py needs root", file=sys.stderr)
        return 1
    cold = None if args.skip_cold else cold_build()
    ups: list[float] = []
    downs: list[float] = []
    leaked: list[tuple[int, list[str]]] = []
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="mf-bench-") as tmp:
        state = warm_state(tmp)
        hosts.down(NAME, state=state)
        fds_before = set(os.listdir("/proc/self/fd"))
        for i in range(args.cycles):
            up_s, down_s = cycle(state)
            ups.append(up_s)
            downs.append(down_s)
            found = leaks(state, fds_before)
            if found:
                leaked.append((i + 1, found))
            print(f"cycle {i + 1:2d}: up {up_s:5.2f} s  down {down_s:5.2f} s  leaks {found or 'none'}", flush=True)
    report(cold, ups, downs, leaked)
    return 0


def report(cold: float | None, ups: list[float], downs: list[float], leaked: list[tuple[int, list[str]]]) -> None:
    print()
    print(f"{'figure':<34}{'median':>9}{'p90':>9}{'target':>9}{'ratio':>8}")
    if cold is not None:
        print(f"{'cold base image build (s)':<34}{cold:>9.1f}{'':>9}{'-':>9}{'-':>8}")
    for label, values, target in (("warm up until SSH answers (s)", ups, TARGET_UP), ("down (s)", downs, TARGET_DOWN)):
        median = statistics.median(values)
        print(f"{label:<34}{median:>9.2f}{p90(values):>9.2f}{target:>9.1f}{p90(values) / target:>8.2f}")
    print(f"{'cycles with leaks':<34}{len(leaked):>9d}{'':>9}{0:>9d}{'ok' if not leaked else 'FAIL':>8}")
    for number, found in leaked:
        print(f"  cycle {number}: {', '.join(found)}")
    print(f"(ratio = p90 / target, {len(ups)} cycles; below 1.0 meets the target)")


if __name__ == "__main__":
    sys.exit(main())
