"""File churn on this machine's root file system against a journaled ext4 (why test hosts get their own disk).

    .venv/bin/python -m bench.disk_churn [--files 20000] [--rounds 2]

A mail server creates and deletes small files all the time (queue files, Maildir files, Dovecot's uidlist
and index rewritten by rename). Each round creates --files files of 1 KiB, rewrites a 3 KiB list by rename
after each, and keeps only the newest 2,000, in a directory on the root file system and in one on a journaled
ext4 made the way a test host's disk is (mailforge.testhost.hosts: a sparse file, loop-mounted), the two in
alternating order (ABBA). It prints the median CPU time (user + system, of the churning process) and wall
time of each, and their ratio. Needs root (mount).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mailforge.testhost import hosts

KEEP = 2000


def churn(directory: Path, files: int) -> tuple[float, float]:
    """CPU and wall seconds of one round in `directory` (emptied afterwards)."""
    work = directory / "churn"
    work.mkdir()
    cpu, wall = time.process_time(), time.monotonic()
    for i in range(files):
        (work / f"m{i}").write_bytes(b"x" * 1024)
        (work / "list.lock").write_bytes(b"y" * 3072)
        os.rename(work / "list.lock", work / "list")
        if i >= KEEP:
            os.unlink(work / f"m{i - KEEP}")
    result = time.process_time() - cpu, time.monotonic() - wall
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000, help="files created per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per file system, in ABBA order")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/disk_churn.py needs root (mount)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="mf-bench-disk-") as tmp:
        root_side = Path(tmp) / "root"
        root_side.mkdir()
        journaled = hosts._mount_disk(Path(tmp))
        if journaled == Path(tmp):
            print("could not make a loop-mounted ext4 here", file=sys.stderr)
            return 1
        try:
            sides = {"root file system": root_side, "journaled ext4": journaled}
            results: dict[str, list[tuple[float, float]]] = {label: [] for label in sides}
            for index in range(args.rounds):
                for label in sides if index % 2 == 0 else reversed(list(sides)):
                    results[label].append(churn(sides[label], args.files))
                    cpu, wall = results[label][-1]
                    print(f"  {label}: cpu {cpu:.2f} s, wall {wall:.2f} s", flush=True)
        finally:
            subprocess.run(["umount", str(journaled)], check=False)
    print(f"\n{args.files} files per round, {args.rounds} rounds per side (ABBA); medians:")
    medians = {label: [statistics.median(r[k] for r in rounds) for k in (0, 1)] for label, rounds in results.items()}
    for label, (cpu, wall) in medians.items():
        print(f"{label:<20} cpu {cpu:7.2f} s   wall {wall:7.2f} s")
    (root_cpu, root_wall), (ext4_cpu, ext4_wall) = medians.values()
    print(f"{'ratio root / ext4':<20} cpu {root_cpu / ext4_cpu:7.2f}     wall {root_wall / ext4_wall:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
