"""Mail path throughput and latency: a mailforge host against stock Debian Postfix + Dovecot (issue 3).

    .venv/bin/python -m bench.mailpath [-n 2000] [--mailboxes 20] [--rounds 4] [--latency-messages 500]

Three fresh test hosts boot side by side and are set up at the same time (setup is not measured):

- bm-mf: the mailforge deploy with --mailboxes mailboxes, bench01@example.test ... (Postfix with postscreen
  on port 25, proxy:mysql lookups of PostfixAdmin's tables, LMTP into Dovecot, quota).
- bm-stock: `apt-get install postfix dovecot-imapd` with Debian's answers ("Internet Site"), local users
  `bench01` ..., and `home_mailbox = Maildir/` so that Postfix's local(8) stores a Maildir too. The target
  (0.8) is against this host.
- bm-lmtp, the LMTP floor: bm-stock's setup plus `dovecot-lmtpd`, with Postfix handing every local
  delivery to Dovecot over LMTP (`mailbox_transport`) as the mail core must (issue 3: "delivery to Dovecot
  over LMTP"), and nothing else: no postscreen, no SQL, no milter, no quota, no fail2ban. mailforge does
  all it does and more, so its ratio to bm-stock shows what the target can ask of an LMTP design here, and
  mailforge's ratio to it is the cost of everything mailforge adds on top.

The messages are spread evenly over the mailboxes, as an MX receives them. --mailboxes 1 is the stress case
of one mailbox taking every message: Dovecot then re-reads that Maildir's dovecot-uidlist (one line per
message) on each delivery, a cost that grows with the mailbox, while local(8) keeps no index at all.

Each host then gets, one host at a time (never two at once: on 2 cores they would share the CPUs):

1. warm-up: one message through the same path (not counted). A client new to postscreen waits out the
   pregreet test on its first connection (postscreen_greet_wait, 6 s); every later connection of that
   client is passed straight to smtpd from postscreen's cache. A real MX sees that cost once per client
   per day, so it is reported here as the warm-up figure and kept out of throughput.
2. throughput: Postfix's own `smtp-source` on this machine injects N messages of 1 KiB over 20 parallel
   sessions (a new connection per message) to port 25: messages/s from the start of injection to the last
   Maildir file (its ctime: rename into new/ or Dovecot's utime, whichever is later). The N messages go in
   --rounds batches, in ABCCBA order between the hosts (mailforge, stock, floor, floor, stock, mailforge,
   ...), so a machine that gets busier or quieter during the run weighs on all alike; the figure is the
   median batch rate.
   The CPU each systemd unit on the host used during the batches is reported per message.
3. latency: a Python client (8 threads, a connection per message) sends messages carrying a header with
   their send time, taken when the connection opens; latency is that time to the Maildir file's ctime
   (this machine and the test hosts share one kernel clock).

All hosts are reached from outside, on the address an MX is reached on: injecting over 127.0.0.1 would
skip postscreen on bm-mf (mynetworks is exempt), so the figure would not be the one a real sender sees.
Every host resolves this machine's address from /etc/hosts, so smtpd's reverse lookup costs the same on
each and sends no DNS query out. Lost = injected messages that are not in the Maildir once the queue is empty
or delivery has stalled for a minute. Figures come last, as ratios against the stock host (target:
throughput at least 0.8 of stock, zero lost) and against the LMTP floor. Needs root; hosts are removed even
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shlex
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.provision import run_deploy, write_inventory
from lab.teardown import torn_down
from mailforge.testhost import Host, StateDir, TesthostError, hosts

MF_HOST = "bm-mf"
STOCK_HOST = "bm-stock"
LMTP_HOST = "bm-lmtp"
CLIENT_NAME = "bench-client.example.test"
SENDER = "sender@bench.test"
HEADER = "X-Mailforge-Bench"
TARGET_RATIO = 0.8
SESSIONS = 20
LATENCY_THREADS = 8
MESSAGE_BYTES = 1024
STALL_SECONDS = 60.0
# Dovecot as packaged (system users from passwd), plus what LMTP delivery needs: the listener inside
# Postfix's chroot, and user names without the domain Postfix's lmtp client sends in RCPT TO.
# https://doc.dovecot.org/2.3/configuration_manual/howto/postfix_dovecot_lmtp/
LMTP_CONF = """protocols = $protocols lmtp
mail_location = maildir:~/Maildir
auth_username_format = %Ln
service lmtp {
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
"""


@dataclass(frozen=True)
class Target:
    """One host under test: where to send, and which Maildir receives."""

    label: str
    host: Host
    recipients: tuple[str, ...]
    maildirs: str  # a shell glob matching every recipient's Maildir


@dataclass
class Figures:
    warmup_s: float = 0.0
    injected: int = 0
    delivered: int = 0
    rates: list[float] = field(default_factory=list)  # messages/s of each throughput batch
    latencies: list[float] = field(default_factory=list)
    latency_sent: int = 0
    latency_lost: int = 0
    send_errors: int = 0
    cpu_s: Counter[str] = field(default_factory=Counter)  # systemd unit -> CPU seconds in throughput batches

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    @property
    def lost(self) -> int:
        return self.injected - self.delivered + self.latency_lost


# --- setup -----------------------------------------------------------------------------------------


def local_parts(mailboxes: int) -> list[str]:
    return [f"bench{i:02d}" for i in range(1, mailboxes + 1)]


def mf_data(mailboxes: int) -> dict[str, Any]:
    return {
        "mail_hostname": f"{MF_HOST}.example.test",
        # The pre-flight audit asks this machine's resolvers about example.test: no traffic leaves the test net.
        "mail_dns_preflight": "off",
        "mail_domains": [
            {
                "domain": "example.test",
                "mailboxes": [
                    {"address": f"{user}@example.test", "name": user, "quota_mb": 10240}
                    for user in local_parts(mailboxes)
                ],
            }
        ],
    }


def name_the_client(host: Host) -> None:
    """This machine's address on the host's link resolves from /etc/hosts (forward and reverse)."""
    gateway = host.address.rsplit(".", 1)[0] + ".1"
    host.run(f"echo '{gateway} {CLIENT_NAME} bench-client' >> /etc/hosts")


def setup_mailforge(host: Host, state: StateDir, tmp: Path, mailboxes: int) -> None:
    inventory = write_inventory(tmp / "inventory.py", [(host.name, host.address, mf_data(mailboxes))], state.ssh_key)
    result = run_deploy(inventory)
    if not result.ok:
        (tmp.parent / "mailforge-bench-mailpath-deploy.log").write_text(result.output)
        raise TesthostError(f"the mailforge deploy failed:\n{result.output[-3000:]}")


def setup_stock(host: Host, mailboxes: int) -> None:
    preseed = (
        "postfix postfix/main_mailer_type select Internet Site\n"
        f"postfix postfix/mailname string {host.name}.example.test\n"
    )
    host.run(
        f"printf '%s' {shlex.quote(preseed)} | debconf-set-selections"
        " && apt-get update -q >/var/tmp/setup.log 2>&1"
        " && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix dovecot-imapd >>/var/tmp/setup.log 2>&1"
        " && postconf -e home_mailbox=Maildir/"
        f" && for user in {' '.join(local_parts(mailboxes))}; do useradd -m $user; done"
        " && systemctl restart postfix",
        timeout=1200,
    )


def setup_lmtp_floor(host: Host, mailboxes: int) -> None:
    setup_stock(host, mailboxes)
    host.run(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-lmtpd >>/var/tmp/setup.log 2>&1"
        f" && printf '%s' {shlex.quote(LMTP_CONF)} > /etc/dovecot/conf.d/99-lmtp.conf"
        " && doveconf -n >/dev/null && systemctl restart dovecot"
        " && postconf -e mailbox_transport=lmtp:unix:private/dovecot-lmtp && postfix reload",
        timeout=1200,
    )


# --- measuring -------------------------------------------------------------------------------------


def ctimes(target: Target) -> list[float]:
    out = target.host.run(f"find {target.maildirs}/new -type f -printf '%C@\\n' 2>/dev/null || true").stdout
    return [float(line) for line in out.split()]


def stamped(target: Target) -> dict[str, tuple[float, float]]:
    """id -> (send time from the header, ctime of the Maildir file), for every bench message delivered."""
    new = f"{target.maildirs}/new"
    script = f"find {new} -type f -printf '%C@ %p\\n' && echo -- && grep -H '^{HEADER}:' -r {new} || true"
    out = target.host.run(script).stdout
    files, _, headers = out.partition("--\n")
    changed = {name: float(ts) for ts, name in (line.split(" ", 1) for line in files.splitlines())}
    found = {}
    for line in headers.splitlines():
        path, _, value = line.partition(f":{HEADER}: ")
        ident, sent = value.split()
        found[ident] = (float(sent), changed[path])
    return found


def wait_delivered(target: Target, expected: int, since: float) -> list[float]:
    """ctimes of the files delivered after `since`, once there are `expected` of them or delivery stalls."""
    last_count, last_change = -1, time.monotonic()
    while True:
        times = [t for t in ctimes(target) if t >= since]
        if len(times) >= expected:
            return times
        if len(times) != last_count:
            last_count, last_change = len(times), time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS:
            return times
        time.sleep(1.0)


def message(recipient: str, ident: str, sent: float) -> str:
    body = ("x" * 71 + "\r\n") * (MESSAGE_BYTES // 73)
    return (
        f"From: <{SENDER}>\r\nTo: <{recipient}>\r\nSubject: mailpath bench {ident}\r\n"
        f"Message-ID: <{ident}@bench.test>\r\n{HEADER}: {ident} {sent:.6f}\r\n\r\n{body}"
    )


def send(target: Target, ident: str, recipient: str) -> None:
    sent = time.time()
    with smtplib.SMTP(target.host.address, 25, timeout=60, local_hostname=CLIENT_NAME) as client:
        client.sendmail(SENDER, [recipient], message(recipient, ident, sent))


def warm_up(target: Target) -> float:
    started = time.time()
    send(target, f"warmup-{uuid.uuid4().hex}", target.recipients[0])
    times = wait_delivered(target, 1, started)
    return max(times) - started if times else float("nan")


# Every process's CPU time (its own and its reaped children's: fields 14-17 of /proc/PID/stat), by the
# systemd unit it runs in. A unit's sum only grows, as long as its processes are reaped inside the unit.
# https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
CPU_BY_UNIT = (
    "for p in /proc/[0-9]*; do u=$(sed -n 's/^[0-9]*:name=systemd:.*\\///p' $p/cgroup 2>/dev/null); "
    # After the command name (which may hold spaces): fields 14-17 are the 12th to 15th.
    't=$(sed "s/.*) //" $p/stat 2>/dev/null | cut -d" " -f12-15); [ -n "$t" ] && echo "${u:-?} $t"; done; '
    "getconf CLK_TCK"
)
# The bench's own SSH sessions (polling the Maildirs), not the mail path.
NOT_MAIL_PATH = ("ssh.service", "?")


def cpu_by_unit(host: Host) -> Counter[str]:
    """CPU seconds used so far by each systemd unit's processes on the host."""
    lines = host.run(CPU_BY_UNIT).stdout.split("\n")
    ticks = float(lines[-2] if lines[-1] == "" else lines[-1])
    used: Counter[str] = Counter()
    for line in lines:
        fields = line.split()
        if len(fields) == 5:
            used[fields[0]] += sum(int(value) for value in fields[1:]) / ticks
    return used


def throughput(target: Target, n: int, figures: Figures) -> None:
    # One smtp-source per mailbox, all at once, sharing SESSIONS sessions and the n messages between them.
    count = len(target.recipients)
    sessions = max(1, SESSIONS // count)
    cpu_before = cpu_by_unit(target.host)
    started = time.time()
    sources = []
    for index, recipient in enumerate(target.recipients):
        share = n // count + (1 if index < n % count else 0)
        argv = ["smtp-source", "-s", str(sessions), "-l", str(MESSAGE_BYTES), "-m", str(share), "-M", CLIENT_NAME]
        argv += ["-f", SENDER, "-t", recipient, f"{target.host.address}:25"]
        sources.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for source in sources:
        _, stderr = source.communicate(timeout=1800)
        if source.returncode != 0:
            figures.send_errors += 1
            print(f"  smtp-source exited {source.returncode}: {stderr.strip()[-500:]}", flush=True)
    injected_s = time.time() - started
    times = wait_delivered(target, n, started)
    seconds = (max(times) - started) if times else 0.0
    figures.cpu_s.update(cpu_by_unit(target.host))
    figures.cpu_s.subtract(cpu_before)
    figures.injected += n
    figures.delivered += len(times)
    figures.rates.append(len(times) / seconds if seconds else 0.0)
    print(
        f"  {target.label} ({load()}): {n} injected in {injected_s:.1f} s, {len(times)} in the Maildir after "
        f"{seconds:.1f} s: {figures.rates[-1]:.0f} msg/s",
        flush=True,
    )


def latency(target: Target, count: int, figures: Figures) -> None:
    idents = [f"lat-{i}-{uuid.uuid4().hex[:12]}" for i in range(count)]
    errors: list[str] = []
    lock = threading.Lock()

    def one(ident: str) -> None:
        try:
            send(target, ident, target.recipients[int(ident.split("-")[1]) % len(target.recipients)])
        except (OSError, smtplib.SMTPException) as exc:
            with lock:
                errors.append(f"{ident}: {exc}")

    started = time.time()
    with ThreadPoolExecutor(max_workers=LATENCY_THREADS) as pool:
        list(pool.map(one, idents))
    wait_delivered(target, count - len(errors), started)
    found = stamped(target)
    figures.latency_sent = count - len(errors)
    figures.send_errors += len(errors)
    figures.latencies = [found[i][1] - found[i][0] for i in idents if i in found]
    figures.latency_lost = figures.latency_sent - len(figures.latencies)
    for line in errors[:5]:
        print(f"  send failed: {line}", flush=True)
    p50, p99 = percentiles(figures.latencies)
    print(f"  {target.label}: {len(figures.latencies)}/{count} delivered, p50 {p50:.3f} s, p99 {p99:.3f} s", flush=True)


def percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def queue_state(target: Target) -> str:
    return target.host.run("postqueue -p | tail -1", check=False).stdout.strip()


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(targets: tuple[Target, ...], n: int, rounds: int, latency_messages: int) -> dict[str, Figures]:
    results = {target.label: Figures() for target in targets}
    for target in targets:
        results[target.label].warmup_s = warm_up(target)
        print(f"{target.label} warm-up message: {results[target.label].warmup_s:.2f} s to the Maildir", flush=True)
    batch = max(1, n // rounds)
    for index in range(rounds):
        for target in targets if index % 2 == 0 else reversed(targets):  # ABC CBA ...
            throughput(target, batch, results[target.label])
    for target in targets:
        latency(target, latency_messages, results[target.label])
        print(f"  {target.label} queue afterwards: {queue_state(target)}", flush=True)
    return results


# --- main ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--messages", type=int, default=2000, help="messages for the throughput run")
    parser.add_argument("--mailboxes", type=int, default=20, help="mailboxes the messages are spread over")
    parser.add_argument("--rounds", type=int, default=4, help="throughput batches per host, in ABCCBA order")
    parser.add_argument("--latency-messages", type=int, default=500, help="messages for the latency run")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/mailpath.py needs root (test hosts)", file=sys.stderr)
        return 1
    state = StateDir()
    names = (MF_HOST, STOCK_HOST, LMTP_HOST)
    results: dict[str, Figures] = {}
    started = time.monotonic()
    with torn_down(state, names):
        with ThreadPoolExecutor(max_workers=3) as pool:  # leaving the block waits for all, even on Ctrl-C
            mf_host, stock_host, lmtp_host = (
                f.result() for f in [pool.submit(hosts.up, n, state=state, log=lambda _m: None) for n in names]
            )
        for host in (mf_host, stock_host, lmtp_host):
            name_the_client(host)
        print(f"setting up {MF_HOST} (mailforge deploy), {STOCK_HOST} and {LMTP_HOST} (stock Debian) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="mf-bench-mailpath-") as tmp, ThreadPoolExecutor(3) as pool:
            jobs = [
                pool.submit(setup_mailforge, mf_host, state, Path(tmp), args.mailboxes),
                pool.submit(setup_stock, stock_host, args.mailboxes),
                pool.submit(setup_lmtp_floor, lmtp_host, args.mailboxes),
            ]
            for job in jobs:
                job.result()
        print(f"  ready after {time.monotonic() - started:.0f} s", flush=True)
        for host in (stock_host, lmtp_host):
            settings = host.run("postconf -h mydestination mailbox_transport").stdout.split("\n")
            print(f"  {host.name} mydestination: {settings[0]}; mailbox_transport: {settings[1] or '-'}", flush=True)
        users = local_parts(args.mailboxes)
        targets = (
            Target("mailforge", mf_host, tuple(f"{u}@example.test" for u in users), "/var/vmail/example.test/bench*"),
            stock_target("stock", stock_host, users),
            stock_target("lmtp-floor", lmtp_host, users),
        )
        results = measure(targets, args.messages, args.rounds, args.latency_messages)
    report(results, args.messages, args.mailboxes, args.rounds, args.latency_messages, time.monotonic() - started)
    return 0


def stock_target(label: str, host: Host, users: list[str]) -> Target:
    return Target(label, host, tuple(f"{u}@{host.name}.example.test" for u in users), "/home/bench*/Maildir")


def report(
    results: dict[str, Figures], n: int, mailboxes: int, rounds: int, latency_messages: int, total_s: float
) -> None:
    mf, stock, floor = results["mailforge"], results["stock"], results["lmtp-floor"]
    print()
    print(f"N = {n} messages of {MESSAGE_BYTES} B over {mailboxes} mailboxes by smtp-source ({SESSIONS} sessions)")
    print(f"for throughput; {latency_messages} by a Python client ({LATENCY_THREADS} threads) for latency;")
    print(f"throughput: median of {rounds} batches per host in ABCCBA order; whole bench {total_s:.0f} s.")
    print(
        f"{'figure':<22}{'mailforge':>10}{'stock':>9}{'lmtp-floor':>11}{'mf/stock':>9}{'floor/stock':>12}{'mf/floor':>9}"
    )

    def row(label: str, a: float, b: float, c: float, digits: int) -> str:
        ratios = "".join(f"{x / y if y else float('nan'):>{w}.2f}" for x, y, w in ((a, b, 9), (c, b, 12), (a, c, 9)))
        return f"{label:<22}{a:>10.{digits}f}{b:>9.{digits}f}{c:>11.{digits}f}{ratios}"

    ratio = mf.rate / stock.rate if stock.rate else float("nan")
    verdict = "ok" if ratio >= TARGET_RATIO else "MISSED"
    print(row("throughput (msg/s)", mf.rate, stock.rate, floor.rate, 1) + f"  target mf/stock >= 0.8: {verdict}")
    for label, index in (("latency p50 (s)", 0), ("latency p99 (s)", 1)):
        a, b, c = (percentiles(f.latencies)[index] for f in (mf, stock, floor))
        print(row(label, a, b, c, 3))
    print(f"{'warm-up message (s)':<22}{mf.warmup_s:>10.2f}{stock.warmup_s:>9.2f}{floor.warmup_s:>11.2f}")
    verdict = "ok" if mf.lost == 0 else "MISSED"
    print(f"{'lost messages':<22}{mf.lost:>10d}{stock.lost:>9d}{floor.lost:>11d}  target 0: {verdict}")
    print(f"{'send errors':<22}{mf.send_errors:>10d}{stock.send_errors:>9d}{floor.send_errors:>11d}")
    print("(stock: local(8) into Maildir, the target's peer; lmtp-floor: the same Postfix delivering through")
    print(" Dovecot LMTP and nothing else, which mailforge can only add to. Latency ratios: lower is better.)")
    print()
    print("CPU per message in the throughput batches (ms), by systemd unit:")
    for label, figures in results.items():
        per_message = {
            unit: 1000 * seconds / figures.delivered
            for unit, seconds in figures.cpu_s.items()
            if unit not in NOT_MAIL_PATH and figures.delivered
        }
        top = sorted(per_message.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{unit.removesuffix('.service')} {ms:.2f}" for unit, ms in top if ms >= 0.05)
        print(f"  {label:<10} {sum(per_message.values()):6.2f}  ({shown})")


if __name__ == "__main__":
    sys.exit(main())
