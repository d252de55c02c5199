"""The cost of DKIM signing on the outbound path: N messages submitted on 587, signed by OpenDKIM, relayed to a
receiving test host; then the same with the milter switched off, on the same hosts, in the same run.

    .venv/bin/python -m bench.outbound [-n 400]

Prints messages/s and p50/p99 submission-to-stored latency for both, and the ratio (signing / unsigned).
Two test hosts: "bo-srv" (the deploy) and "bo-mx" (a sink storing raw messages). Needs root.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
import uuid
from pathlib import Path

from lab import peers
from lab.mail import Server, message, smtp
from lab.provision import run_deploy, write_inventory
from lab.teardown import torn_down
from mailforge.testhost import Host, StateDir, hosts

PASSWORD_ENV, PASSWORD = "MAILFORGE_BENCH_PASSWORD", "Bench-Outbound-2026!"
SINK = "/var/lib/sink"


def setup(state: StateDir, tmp: Path) -> tuple[Host, Host, Server]:
    server, mx = hosts.up("bo-srv", state=state), hosts.up("bo-mx", state=state)
    peers.start(mx, peers.SMTP_SINK, "sink", SINK, listens_on=25)
    data = {
        "mail_hostname": "mail.bench.test",
        "mail_domains": [
            {"domain": "bench.test", "mailboxes": [{"address": "a@bench.test", "password_env": PASSWORD_ENV}]}
        ],
        "postfix_transport_maps": {"remote.test": f"smtp:[{mx.address}]:25"},
    }
    result = run_deploy(write_inventory(tmp / "bench.py", [(server.name, server.address, data)], state.ssh_key),
                        env={PASSWORD_ENV: PASSWORD})  # fmt: skip
    if not result.ok:
        raise SystemExit(result.output[-3000:])
    cafile = tmp / "ca.crt"
    cafile.write_text(server.run("cat /etc/mailforge/ca/ca.crt").stdout)
    return server, mx, Server(server.address, "mail.bench.test", str(cafile))


def run_batch(server: Server, mx: Host, count: int, label: str) -> tuple[float, list[float]]:
    """Submit `count` messages in one authenticated session; wait until the sink stored them all."""
    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    sent: dict[str, float] = {}
    start = time.time()
    with smtp(server, 587) as client:
        client.starttls(context=server.tls())
        client.login("a@bench.test", PASSWORD)
        for i in range(count):
            msg = message("a@bench.test", "sink@remote.test", body=f"{tag} {i}")
            del msg["Subject"]
            msg["Subject"] = f"{tag}-{i:05d}"
            sent[msg["Subject"]] = time.time()
            client.send_message(msg)
    deadline = time.time() + 600
    stored: dict[str, float] = {}
    while time.time() < deadline and len(stored) < count:
        time.sleep(1)
        # One pass over the sink on the MX: store time (mtime) and subject of this batch's messages.
        script = (
            "import pathlib,sys\n"
            f"for p in pathlib.Path('{SINK}').glob('*.eml'):\n"
            "    head = p.read_bytes()[:4096].decode(errors='replace')\n"
            "    s = [l for l in head.splitlines() if l.startswith('Subject: ')]\n"
            f"    if s and '{tag}-' in s[0]: print(p.stat().st_mtime, s[0])\n"
        )
        out = mx.run(f"python3 -c {shlex.quote(script)}", check=False).stdout
        for line in out.splitlines():
            stamp, _, subject = line.partition(" Subject: ")
            stored[subject.strip()] = float(stamp.split()[0])
    elapsed = max(stored.values(), default=time.time()) - start
    latencies = [stored[s] - t for s, t in sent.items() if s in stored]
    lost = count - len(latencies)
    if lost:
        print(f"{label}: {lost} of {count} messages not stored within 10 minutes")
    return count / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=400, help="messages per batch")
    args = parser.parse_args()
    state = StateDir()
    with tempfile.TemporaryDirectory() as tmp, torn_down(state, ("bo-srv", "bo-mx")):
        server_host, mx, server = setup(state, Path(tmp))
        run_batch(server, mx, 20, "warmup")  # postscreen cache, TLS session cache, process pools
        signed_rate, signed_lat = run_batch(server, mx, args.n, "signed")
        server_host.run("postconf -e 'smtpd_milters =' 'non_smtpd_milters =' && postfix reload")
        plain_rate, plain_lat = run_batch(server, mx, args.n, "unsigned")
        signed_ok = mx.run(f"grep -l '^DKIM-Signature' {SINK}/*.eml | wc -l").stdout.strip()
    print(f"\nN = {args.n} messages per batch, one SMTP session each, 587 -> Postfix -> remote MX (sink)")
    print(f"messages carrying a DKIM-Signature at the sink: {signed_ok} (the signed batch and the warm-up)")
    print(f"{'path':<22}{'msg/s':>8}{'p50 s':>9}{'p99 s':>9}")
    for label, rate, lat in (("DKIM signing", signed_rate, signed_lat), ("no milter", plain_rate, plain_lat)):
        print(f"{label:<22}{rate:>8.1f}{pct(lat, 0.5):>9.3f}{pct(lat, 0.99):>9.3f}")
    print(f"throughput ratio signing/unsigned: {signed_rate / plain_rate:.2f}")
    print(f"p99 latency ratio signing/unsigned: {pct(signed_lat, 0.99) / pct(plain_lat, 0.99):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
