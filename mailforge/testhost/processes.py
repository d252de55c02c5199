"""Finding and stopping the processes behind a test host, from /proc alone (no systemd on this machine)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from mailforge.testhost.errors import TesthostError


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def matching(*needles: str) -> list[int]:
    """Processes whose argv contains every needle as one whole argument."""
    return [pid for pid in pids() if pid != os.getpid() and set(needles) <= set(cmdline(pid))]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid_list: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pid_list):
            return True
        time.sleep(0.1)
    return not any(alive(p) for p in pid_list)


def kill(pid_list: list[int], sig: signal.Signals) -> None:
    for pid in pid_list:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def started_at(pid: int) -> float | None:
    """Wall-clock start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot)."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


def run(argv: Sequence[str], *, what: str) -> str:
    """Run a child to its end and return its stdout; its stderr only ever appears in our error message.

    On Ctrl-C the child is killed and reaped before the interrupt goes on: `subprocess.run` returns
    without reaping it, and a tar still unpacking would then race the cleanup that deletes its target.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        detail = (err.strip() or out.strip())[-2000:]
        raise TesthostError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{detail}")
    return out
