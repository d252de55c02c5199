"""Benchmark `mailforge logs` against its peers, in one run (issue 7).

1. summary: a synthetic log of 1,000,000 lines (mailforge.logs.synthetic: inbound through amavis + LMTP,
   submission, deferrals, bounces, rejects, SASL failures, IMAP, noise) summarised by pflogsumm (Debian
   package) and by `mailforge logs summary`: wall time, peak memory (ru_maxrss of each command, see run()), the
   main counts, which must agree. Memory is also measured on a quarter of the log: flat means equal.
2. trace: one queue ID in a ~1 GB log (copies of a generated block, each with its own queue-ID prefix),
   `mailforge logs trace` against the time `grep -F` needs to read the file twice (page cache warm). The
   trace itself reads the file with `grep -F` (mailforge/logs/scan.py): once for the queue ID, plus a
   partial pass per round of re-queued IDs.

Prints figures, never asserts on time. Temporary files are removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailforge.logs.synthetic import write

LINES = 1_000_000
TRACE_TARGET_BYTES = 1024**3
BLOCK_LINES = 400_000
MAILFORGE = [sys.executable, "-m", "mailforge.cli"]
COUNTS = ("received", "delivered", "deferred", "bounced", "rejected")


# The child's own peak memory: ru_maxrss from wait4() on a direct child of this (large) process would be at
# least this process's own peak, because the kernel carries the spawning process's high-water mark into
# the child across exec. A small helper forks the command instead and reports the command's wall time and
# peak, so neither the helper's start nor this process's memory is counted.
_MEASURE = (
    "import os, sys, time\n"
    "t0 = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "with open(sys.argv[1], 'w') as fh:\n"
    "    fh.write(f'{time.perf_counter() - t0} {usage.ru_maxrss}')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run(argv: list[str], stdout_path: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one command."""
    fd, report = tempfile.mkstemp(prefix="mailforge-bench-")
    os.close(fd)
    out = open(stdout_path, "w") if stdout_path else subprocess.PIPE  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURE, report, *argv], stdout=out, stderr=subprocess.DEVNULL, text=True
        )
        text = proc.stdout.read() if proc.stdout else ""
        proc.wait()
        if stdout_path:
            out.close()
            text = stdout_path.read_text()
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{argv[0]} failed ({proc.returncode})")
        wall, rss = Path(report).read_text().split()
    finally:
        os.unlink(report)
    return float(wall), int(rss), text


def best(argv: list[str], repeat: int = 2) -> tuple[float, int, str]:
    """Best wall time of a few runs (the machine is shared); the peak memory of the last."""
    results = [run(argv) for _ in range(repeat)]
    return min(r[0] for r in results), results[-1][1], results[-1][2]


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


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="mailforge-bench-"))
    try:
        log, quarter = tmp / "mail.log", tmp / "quarter.log"
        t0 = time.perf_counter()
        n = write(str(log), LINES)
        write(str(quarter), LINES // 4)
        gen = time.perf_counter() - t0
        size_mb = log.stat().st_size / 1e6

        pf_wall, pf_rss, pf_out = best(["pflogsumm", str(log)])
        mf_wall, mf_rss, mf_out = best([*MAILFORGE, "logs", "summary", "--json", str(log)])
        _, mf_rss_q, _ = run([*MAILFORGE, "logs", "summary", "--json", str(quarter)])
        ours = json.loads(mf_out)["counts"]
        theirs = pflogsumm_counts(pf_out)

        t0 = time.perf_counter()
        big, qid = build_big_log(tmp)
        build = time.perf_counter() - t0
        big_gb = big.stat().st_size / 1024**3
        run(["cat", str(big)], stdout_path=tmp / "null")  # warm the page cache for everyone
        (tmp / "null").unlink()
        grep1, _, _ = run(["grep", "-F", "-c", qid, str(big)])
        grep2, _, _ = run(["grep", "-F", "-c", qid, str(big)])
        tr_wall, tr_rss, tr_out = best([*MAILFORGE, "logs", "trace", "--json", qid, str(big)])
        # The same trace in a process that imports only mailforge.logs (the CLI adds argparse and its own start).
        lib = f"from mailforge.logs import trace_files; trace_files({qid!r}, [{str(big)!r}])"
        lib_wall, _, _ = best([sys.executable, "-c", lib])
        traces = json.loads(tr_out)["traces"]
        verdict = traces[0]["verdict"] if traces else {}

        print(f"synthetic log: {n} lines, {size_mb:.0f} MB (generated in {gen:.1f} s)")
        print("summary              wall s   peak MiB")
        print(f"  pflogsumm        {pf_wall:8.2f} {pf_rss / 1024:10.0f}")
        print(f"  mailforge        {mf_wall:8.2f} {mf_rss / 1024:10.0f}")
        print("counts        pflogsumm  mailforge")
        for k in COUNTS:
            mark = "" if theirs[k] == ours[k] else "   <-- differs"
            print(f"  {k:<10} {theirs[k]:>10} {ours[k]:>10}{mark}")
        print(
            f"trace: {big_gb:.2f} GiB log ({big.stat().st_size // (size_mb * 1e6 / n):.0f} lines, built in "
            f"{build:.1f} s), queue ID {qid}: {len(traces)} journey(s), verdict "
            f"{verdict.get('outcome')} ({verdict.get('cause')}), trace peak {tr_rss / 1024:.0f} MiB"
        )
        print(f"  grep -F, two reads: {grep1:.2f} s + {grep2:.2f} s = {grep1 + grep2:.2f} s")
        print(f"  mailforge logs trace (CLI):                     {tr_wall:.2f} s")
        print(f"  trace_files() in its own python process:        {lib_wall:.2f} s")
        print("RESULTS")
        print(f"  summary speed: mailforge is {pf_wall / mf_wall:.2f}x pflogsumm (target >= 2x)")
        print(
            f"  summary memory: {mf_rss / 1024:.0f} MiB for 1M lines vs {mf_rss_q / 1024:.0f} MiB for 250k "
            f"lines: ratio {mf_rss / mf_rss_q:.2f} (flat = 1.0)"
        )
        agree = all(theirs[k] == ours[k] for k in COUNTS)
        print(f"  main counts agree with pflogsumm: {'yes' if agree else 'NO'}")
        print(
            f"  trace time / (2 x grep read): CLI {tr_wall / (grep1 + grep2):.2f}, "
            f"library {lib_wall / (grep1 + grep2):.2f} (target < 1)"
        )
        return 0 if agree else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
