"""Benchmark `mailforge logs` against its peers, in one run (issue 7).

1. summary: a synthetic log of 1,000,000 lines (mailforge.logs.synthetic: inbound through amavis + LMTP,
   submission, deferrals, bounces, rejects, SASL failures, IMAP, noise) summarised by pflogsumm (Debian
   package) and by `mailforge logs summary`: wall time, CPU time, peak memory (ru_maxrss, see run()), the
   main counts, which must agree. The machine is shared, so the tools run in rounds, each round running
   every command once in an order that alternates; the speed figure is the median over rounds of
   pflogsumm's wall time divided by mailforge's in the same round. mailforge runs as it does by default,
   two processes for a large file (mailforge/logs/parallel.py; pflogsumm is single-threaded), and with
   --jobs 1. Memory is also measured on a quarter of the log: flat means equal.
2. trace: one queue ID in a ~1 GB log (copies of a generated block, each with its own queue-ID prefix),
   `mailforge logs trace` against the time `grep -F` needs to read the file twice (page cache warm). The
   trace itself reads the file with `grep -F` (mailforge/logs/scan.py): once for the queue ID, plus a
   partial pass per round of re-queued IDs.

Prints figures, never asserts on time. Temporary files are removed at the end. `--quick`: the summary alone
(1 only, no memory ratio); `--rounds N`; `--compare CHECKOUT`: also the summary (--jobs 1) of another checkout
with its own .venv (a worktree of the commit before a change), in the same rounds, and its speed against this
one's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import NamedTuple

from mailforge.logs.synthetic import write

LINES = 1_000_000
TRACE_TARGET_BYTES = 1024**3
BLOCK_LINES = 400_000
MAILFORGE = [sys.executable, "-m", "mailforge.cli"]
COUNTS = ("received", "delivered", "deferred", "bounced", "rejected")
ROUNDS = 5


# The child's own peak memory: ru_maxrss from wait4() on a direct child of this (large) process would be at
# least this process's own peak, because the kernel carries the spawning process's high-water mark into
# the child across exec. A small helper forks the command instead and reports the command's wall time,
# CPU time and peak, so neither the helper's start nor this process's memory is counted. For a command
# that forks (mailforge's second process) wait4() counts the CPU time of both and the larger peak.
_MEASURE = (
    "import os, sys, time\n"
    "t0 = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "with open(sys.argv[1], 'w') as fh:\n"
    "    fh.write(f'{time.perf_counter() - t0} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


class Measured(NamedTuple):
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss: int  # peak, KiB
    out: str


def run(argv: list[str], stdout_path: Path | None = None) -> Measured:
    """Wall and CPU seconds, peak RSS and stdout of one command."""
    fd, report = tempfile.mkstemp(prefix="mailforge-bench-")
    os.close(fd)
    out = open(stdout_path, "w") if stdout_path else subprocess.PIPE  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURE, report, *argv], stdout=out, stderr=subprocess.DEVNULL, text=True
        )
        text = proc.stdout.read() if proc.stdout else ""
        proc.wait()
        if stdout_path and not isinstance(out, int):
            out.close()
            text = stdout_path.read_text()
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{argv[0]} failed ({proc.returncode})")
        wall, cpu, rss = Path(report).read_text().split()
    finally:
        os.unlink(report)
    return Measured(float(wall), float(cpu), int(rss), text)


def best(argv: list[str], repeat: int = 2) -> Measured:
    """Best wall time of a few runs (the machine is shared); the rest from the last."""
    results = [run(argv) for _ in range(repeat)]
    return results[-1]._replace(wall=min(r.wall for r in results))


def rounds(commands: dict[str, list[str]], n: int) -> dict[str, list[Measured]]:
    """Each command once per round, the order turned round every round, so that a busy moment of the
    shared machine weighs on all of them alike."""
    out: dict[str, list[Measured]] = {name: [] for name in commands}
    names = list(commands)
    for i in range(n):
        for name in names if i % 2 == 0 else names[::-1]:
            out[name].append(run(commands[name]))
    return out


def pflogsumm_counts(text: str) -> dict[str, int]:
    out = {}
    for label in COUNTS:
        m = re.search(rf"^\s+(\d+)(k?)\s+{label}\b", text, re.M)
        out[label] = int(m.group(1)) * (1000 if m and m.group(2) else 1) if m else -1
    return out


def build_big_log(tmp: Path) -> tuple[Path, str]:
    """~1 GB: copies of one block whose queue IDs start with "QQ", replaced by each copy's hex number."""
    block_path = tmp / "block.log"
    write(str(block_path), BLOCK_LINES, seed=11, prefix="QQ")
    block = block_path.read_bytes()
    block_path.unlink()
    assert block.count(b"QQ") == len(re.findall(rb"QQ[0-9A-F]{8}", block)), "QQ must only occur in queue IDs"
    copies = max(1, TRACE_TARGET_BYTES // len(block))
    target_copy = copies // 2
    m = re.search(
        rb"(QQ[0-9A-F]{8}): to=<[^>]*>, relay=[^,]+, delay=[\d.]+, delays=[\d./]+, dsn=[\d.]+, "
        rb"status=deferred",
        block,
    )
    assert m is not None
    qid = m.group(1).replace(b"QQ", b"%02X" % target_copy).decode()
    big = tmp / "big.log"
    with open(big, "wb") as fh:
        for k in range(copies):
            fh.write(block.replace(b"QQ", b"%02X" % k))
    return big, qid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logs", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of the summary (default {ROUNDS})")
    parser.add_argument(
        "--quick", action="store_true", help="the summary's speed and counts alone (no memory ratio, no trace)"
    )
    parser.add_argument(
        "--compare",
        metavar="CHECKOUT",
        help="also run `logs summary --jobs 1` of another checkout of mailforge (with its own .venv, e.g. the "
        "commit before a change) in every round, and print its speed next to this one's",
    )
    args = parser.parse_args(argv)
    n_rounds = args.rounds
    tmp = Path(tempfile.mkdtemp(prefix="mailforge-bench-"))
    try:
        log, quarter = tmp / "mail.log", tmp / "quarter.log"
        t0 = time.perf_counter()
        n = write(str(log), LINES)
        if not args.quick:
            write(str(quarter), LINES // 4)
        gen = time.perf_counter() - t0
        size_mb = log.stat().st_size / 1e6

        summary = [*MAILFORGE, "logs", "summary", "--json"]
        commands = {
            "pflogsumm": ["pflogsumm", str(log)],
            "mailforge": [*summary, str(log)],  # the default: two processes for a large file
            "mailforge --jobs 1": [*summary, "--jobs", "1", str(log)],
        }
        if args.compare:
            # -P: the other checkout's own mailforge (its .venv's install), not the one in the current directory.
            other = [str(Path(args.compare, ".venv/bin/python")), "-P", "-m", "mailforge.cli"]
            commands["compared --jobs 1"] = [*other, "logs", "summary", "--json", "--jobs", "1", str(log)]
        measured = rounds(commands, n_rounds)
        ours = json.loads(measured["mailforge"][-1].out)
        theirs = pflogsumm_counts(measured["pflogsumm"][-1].out)
        same = ours == json.loads(measured["mailforge --jobs 1"][-1].out)
        same_compared = not args.compare or ours == json.loads(measured["compared --jobs 1"][-1].out)
        pf = measured["pflogsumm"]
        ratio = {
            name: sorted(p.wall / m.wall for p, m in zip(pf, ms, strict=True))
            for name, ms in measured.items()
            if name != "pflogsumm"
        }
        cpu_ratio = {name: median(p.cpu for p in pf) / median(m.cpu for m in ms) for name, ms in measured.items()}

        print(f"synthetic log: {n} lines, {size_mb:.0f} MB (generated in {gen:.1f} s)")
        print(f"summary: {n_rounds} rounds, each command once per round in alternating order; medians over rounds")
        print("                        wall s    cpu s  peak MiB   processes")
        for name, ms in measured.items():
            procs = "1" if name != "mailforge" else "2 (one per half of the file)"
            print(
                f"  {name:<20} {median(m.wall for m in ms):7.2f} {median(m.cpu for m in ms):8.2f} "
                f"{max(m.rss for m in ms) / 1024:9.0f}   {procs}"
            )
        for name, rs in ratio.items():
            print(f"  pflogsumm wall / {name} wall, per round: " + " ".join(f"{r:.2f}" for r in rs))
        if args.compare:
            per_round = sorted(
                c.wall / m.wall
                for c, m in zip(measured["compared --jobs 1"], measured["mailforge --jobs 1"], strict=True)
            )
            print(
                "  compared --jobs 1 wall / mailforge --jobs 1 wall, per round: "
                + " ".join(f"{r:.3f}" for r in per_round)
            )
        print("counts        pflogsumm  mailforge")
        for k in COUNTS:
            mark = "" if theirs[k] == ours["counts"][k] else "   <-- differs"
            print(f"  {k:<10} {theirs[k]:>10} {ours['counts'][k]:>10}{mark}")
        if not args.quick:
            quarter_rss = [run([*summary, str(quarter)]).rss for _ in range(2)]
            t0 = time.perf_counter()
            big, qid = build_big_log(tmp)
            build = time.perf_counter() - t0
            big_gb = big.stat().st_size / 1024**3
            run(["cat", str(big)], stdout_path=tmp / "null")  # warm the page cache for everyone
            (tmp / "null").unlink()
            grep1 = run(["grep", "-F", "-c", qid, str(big)]).wall
            grep2 = run(["grep", "-F", "-c", qid, str(big)]).wall
            tr_wall, _, tr_rss, tr_out = best([*MAILFORGE, "logs", "trace", "--json", qid, str(big)])
            # The same trace in a process that imports only mailforge.logs (the CLI adds argparse and its start).
            lib = f"from mailforge.logs import trace_files; trace_files({qid!r}, [{str(big)!r}])"
            lib_wall = best([sys.executable, "-c", lib]).wall
            traces = json.loads(tr_out)["traces"]
            verdict = traces[0]["verdict"] if traces else {}
            print(
                f"trace: {big_gb:.2f} GiB log ({big.stat().st_size // (size_mb * 1e6 / n):.0f} lines, built in "
                f"{build:.1f} s), queue ID {qid}: {len(traces)} journey(s), verdict "
                f"{verdict.get('outcome')} ({verdict.get('cause')}), trace peak {tr_rss / 1024:.0f} MiB"
            )
            print(f"  grep -F, two reads: {grep1:.2f} s + {grep2:.2f} s = {grep1 + grep2:.2f} s")
            print(f"  mailforge logs trace (CLI):                     {tr_wall:.2f} s")
            print(f"  trace_files() in its own python process:        {lib_wall:.2f} s")
        print("RESULTS")
        for name, rs in ratio.items():
            print(
                f"  summary speed, {name}: {median(rs):.2f}x pflogsumm's (median of {n_rounds} rounds, "
                f"{rs[0]:.2f}-{rs[-1]:.2f}; CPU time {cpu_ratio[name]:.2f}x) (target >= 2x)"
            )
        if args.compare:
            cpu = median(c.cpu for c in measured["compared --jobs 1"]) / median(
                m.cpu for m in measured["mailforge --jobs 1"]
            )
            print(
                f"  mailforge --jobs 1 vs the compared checkout's: {median(per_round):.3f}x its speed (median of "
                f"{n_rounds} rounds, {per_round[0]:.3f}-{per_round[-1]:.3f}; CPU time {cpu:.3f}x) (1.0 = the same)"
            )
        if not args.quick:
            mf_rss = max(m.rss for m in measured["mailforge"])
            print(
                f"  summary memory: {mf_rss / 1024:.0f} MiB for 1M lines vs {max(quarter_rss) / 1024:.0f} MiB for "
                f"250k lines: ratio {mf_rss / max(quarter_rss):.2f} (flat = 1.0)"
            )
        agree = all(theirs[k] == ours["counts"][k] for k in COUNTS)
        print(f"  main counts agree with pflogsumm: {'yes' if agree else 'NO'}")
        print(f"  one and two processes give the same summary: {'yes' if same else 'NO'}")
        if args.compare:
            print(f"  the compared checkout gives the same summary: {'yes' if same_compared else 'NO'}")
        if not args.quick:
            print(
                f"  trace time / (2 x grep read): CLI {tr_wall / (grep1 + grep2):.2f}, "
                f"library {lib_wall / (grep1 + grep2):.2f} (target < 1)"
            )
        return 0 if agree and same and same_compared else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
