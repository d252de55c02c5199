"""Faults with messages in flight (issue 8): for each fault, messages injected, delivered, duplicated, lost,
and the time to full recovery.

    .venv/bin/python -m bench.faults [-n 500] [--no-deploy-kill]

"flt-bench" is deployed once; then, one after the other, N messages stream into its port 25 (paced at
lab/faults.py's RATE, retried on 4xx and failed connections as a sending MTA does) while a fault is
put in place a third of the way in and repaired (the same harness as tests/e2e/test_faults.py):

  none (baseline)    no fault: the floor the recovery times are compared with, measured in this run
  dovecot-stopped    `systemctl stop dovecot` until two thirds are accepted, then start
  mariadb-stopped    `systemctl stop mariadb` for 10 s, then start (Postfix answers 451 4.3.0 meanwhile)
  reboot             `systemctl reboot` inside the host; back when SSH and every service answer
  queue-disk-full    Postfix's queue on a small tmpfs, filled to 8 MiB free for 10 s (452 4.3.1)
  maildir-disk-full  /var/vmail on a small tmpfs, filled up until two thirds are accepted
  deploy-killed      a fresh host "flt-bkill": its first deploy SIGKILLed mid-apt, re-run at once while the
                     N messages wait to get in; recovery counts from the kill (so it includes the re-run)

Recovery = from the repair (service started, space freed, reboot issued, deploy killed) to the moment
every accepted message is in the Maildir and the queue is empty, deferred mail being flushed every 30 s
(`postqueue -f`, as an operator would). The ratio column divides it by the baseline's. Target: lost = 0 and
duplicated = 0 in every row. Needs root; hosts are removed even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from lab import faults
from lab.faults import KILL_AT
from lab.mail import DEPLOY_ENV, server_data
from lab.provision import run_deploy, write_inventory
from lab.teardown import torn_down
from mailforge.testhost import StateDir, TesthostError, hosts

HOST, KILL_HOST = "flt-bench", "flt-bkill"


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=500, help="messages per fault")
    parser.add_argument("--no-deploy-kill", action="store_true", help="skip the killed-deploy row (a fresh host)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/faults.py needs root (test hosts)", file=sys.stderr)
        return 1
    state = StateDir()
    names = [HOST] + ([] if args.no_deploy_kill else [KILL_HOST])
    rows: list[faults.Outcome] = []
    started = time.monotonic()
    with torn_down(state, names), tempfile.TemporaryDirectory(prefix="mf-bench-faults-") as tmp:
        host = hosts.up(HOST, state=state, log=lambda _m: None)
        inventory = write_inventory(
            Path(tmp) / "inventory.py", [(host.name, host.address, server_data(host.fqdn, {}))], state.ssh_key
        )
        print(f"deploying {HOST} ({load()}) ...", flush=True)
        result = run_deploy(inventory, env=DEPLOY_ENV)
        if not result.ok:
            raise TesthostError(f"the deploy failed:\n{result.explain()}")
        faults.name_the_client(host)
        for fault in [faults.BASELINE, *faults.FAULTS.values()]:
            print(f"{fault.name} ({load()}) ...", flush=True)
            rows.append(faults.run_fault(host, fault, f"b{uuid.uuid4().hex[:8]}", args.messages))
            print(f"  {describe(rows[-1])}", flush=True)
        if not args.no_deploy_kill:
            kill_host = hosts.up(KILL_HOST, state=state, log=lambda _m: None)
            kill_inventory = write_inventory(
                Path(tmp) / "kill.py",
                [(kill_host.name, kill_host.address, server_data(kill_host.fqdn, {}))],
                state.ssh_key,
            )
            print(f"deploy-killed: killing the first deploy at {KILL_AT} ({load()}) ...", flush=True)
            killed, rerun, outcome = faults.run_killed_deploy(
                kill_host, kill_inventory, DEPLOY_ENV, KILL_AT, f"b{uuid.uuid4().hex[:8]}", args.messages
            )
            print(f"  killed at {killed.operation!r} after {killed.seconds:.0f} s; re-run ok={rerun.ok} "
                  f"changed={rerun.changed}", flush=True)  # fmt: skip
            rows.append(outcome)
            print(f"  {describe(outcome)}", flush=True)
    report(rows, args.messages, time.monotonic() - started)
    return 0


def describe(o: faults.Outcome) -> str:
    i = o.injection
    return (
        f"accepted {len(i.accepted)}/{i.n}, 4xx {dict(i.tempfails)}, 5xx {len(i.permfails)}, "
        f"connection errors {i.connection_errors}, fault lasted {o.fault_s:.1f} s, bounced {o.bounced_lines}, "
        f"notices to the sender {o.notices}, damage {o.damage or 'none'}"
    )


def report(rows: list[faults.Outcome], n: int, total_s: float) -> None:
    baseline = rows[0].recovery_s if rows else float("nan")
    print()
    print(f"N = {n} messages per fault at {faults.RATE:.0f}/s from {faults.THREADS} SMTP sessions; whole bench "
          f"{total_s:.0f} s; {load()}.")  # fmt: skip
    print(f"{faults.HEADER}{'ratio':>8}  target lost = 0, duplicated = 0")
    for o in rows:
        verdict = "ok" if o.lost == 0 and o.duplicated == 0 and o.recovered and o.not_accepted == 0 else "MISSED"
        print(f"{o.row()}{o.recovery_s / baseline:>8.1f}  {verdict}")
    print("(refused: never accepted by the deadline; recovery ratio: against the no-fault baseline row)")


if __name__ == "__main__":
    sys.exit(main())
