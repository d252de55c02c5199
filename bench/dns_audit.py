"""Benchmark: `mailforge dns audit` against checkdmarc on the same N domains, in one run.

Everything happens inside a network namespace this script creates, whose only interface is loopback:
knotd serves N generated zones (a mix of good domains and the usual defects) on 127.0.0.1:5300, and a
delaying proxy on 127.0.0.1:53 adds 20 ms to every query and counts them (no netem qdisc on this
kernel). Both tools query the proxy; neither can reach any other address, whatever they try (checkdmarc
also fetches MTA-STS policies over HTTPS: inside the namespace that fails at once).

Printed last: wall time, queries sent, peak memory (max RSS) of each tool, their ratios, and the SPF and
DMARC verdict of both tools for every domain, with each disagreement listed and explained.

Usage (root): .venv/bin/python -m bench.dns_audit [--domains 200] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROXY = ("127.0.0.1", 53)
KNOT_PORT = 5300
PARENT = "bench.example.test"
RELAY = f"_spf.relay.{PARENT}"
REPORTS = f"reports.{PARENT}"
DNSBL = f"dnsbl.{PARENT}"
MF_ARGS = ("--dnsbl", DNSBL, "--dnsbl-domain", DNSBL, "--timeout", "2")
TIME_LIMIT = 420  # seconds for each tool: the whole run stays well under 10 minutes

# The mix: half good domains (some through a relay include), half one defect each.
KINDS = [
    "good",
    "good",
    "good-relay",
    "good",
    "good-relay",
    "good",
    "good",
    "good",
    "spf-multiple",
    "spf-syntax",
    "spf-lookups",
    "spf-void",
    "spf-include-none",
    "spf-misjoined",
    "spf-plus-all",
    "spf-missing",
    "dmarc-missing",
    "dmarc-syntax",
    "dmarc-multiple",
    "dmarc-none",
    "dmarc-external",
    "dmarc-bad-uri",
    "mx-missing",
    "ptr-missing",
]


def kind_of(index: int) -> str:
    return KINDS[index % len(KINDS)]


def address(index: int) -> str:
    return f"10.213.{10 + index // 250}.{index % 250 + 1}"


# -- zones ---------------------------------------------------------------------------------------------


def _txt(text: str) -> str:
    from mailforge.dns.generate import txt_value

    return txt_value(text)


def domain_zone(index: int, dkim_b64: str) -> tuple[str, str, list[str]]:
    """-> (origin, zone text, PTR lines for the reverse zone)."""
    from mailforge.dns.generate import domain_records
    from mailforge.dns.inputs import DomainDnsInputs

    kind = kind_of(index)
    domain = f"d{index:04d}-{kind}.{PARENT}"
    origin = domain + "."
    ip = address(index)
    inputs = DomainDnsInputs(
        domain=domain,
        hostname=f"mail.{domain}",
        ipv4=(ip,),
        dkim_public_key=dkim_b64,
        dmarc_rua=(f"dmarc@{domain}",),
        relay_spf_include=RELAY if kind == "good-relay" else None,
    )
    rows = [(r.name, r.rtype, r.value) for r in domain_records(inputs) if r.zone == origin]
    ptrs = [f"{r.name} 300 IN PTR {r.value}" for r in domain_records(inputs) if r.rtype == "PTR"]

    def drop(name: str, rtype: str, prefix: str = "") -> None:
        rows[:] = [r for r in rows if not (r[0] == name and r[1] == rtype and r[2].startswith(prefix))]

    def spf(text: str) -> None:
        drop(origin, "TXT", '"v=spf1')
        rows.append((origin, "TXT", _txt(text) if text else ""))

    def dmarc(text: str) -> None:
        drop(f"_dmarc.{origin}", "TXT")
        rows.append((f"_dmarc.{origin}", "TXT", _txt(text)))

    if kind == "spf-multiple":
        rows.append((origin, "TXT", '"v=spf1 a -all"'))
    elif kind == "spf-syntax":
        spf("v=spf1 mx ip4:10.213.300.1 -all")
    elif kind == "spf-lookups":
        spf(f"v=spf1 mx include:_spf.{domain} -all")
        rows.append((f"_spf.{origin}", "TXT", _txt("v=spf1 " + " ".join([f"a:mail.{domain}"] * 10) + " -all")))
    elif kind == "spf-void":
        spf(f"v=spf1 mx a:v1.{domain} a:v2.{domain} a:v3.{domain} -all")
    elif kind == "spf-include-none":
        spf(f"v=spf1 mx include:nospf.{domain} -all")
    elif kind == "spf-misjoined":
        drop(origin, "TXT", '"v=spf1')
        rows.append((origin, "TXT", '"v=spf1 mx" "-all"'))
    elif kind == "spf-plus-all":
        spf("v=spf1 mx +all")
    elif kind == "spf-missing":
        drop(origin, "TXT", '"v=spf1')
    elif kind == "dmarc-missing":
        drop(f"_dmarc.{origin}", "TXT")
    elif kind == "dmarc-syntax":
        dmarc("v=DMARC1; p=block")
    elif kind == "dmarc-multiple":
        rows.append((f"_dmarc.{origin}", "TXT", '"v=DMARC1; p=none"'))
    elif kind == "dmarc-none":
        dmarc(f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}")
    elif kind == "dmarc-external":
        dmarc(f"v=DMARC1; p=reject; rua=mailto:agg@{REPORTS}")
    elif kind == "dmarc-bad-uri":
        dmarc(f"v=DMARC1; p=reject; rua=dmarc@{domain}")
    elif kind == "mx-missing":
        drop(origin, "MX")
        spf(f"v=spf1 a:mail.{domain} -all")
    elif kind == "ptr-missing":
        ptrs = []
    rows += [(origin, "NS", f"ns1.{origin}"), (origin, "NS", f"ns2.{origin}")]
    rows += [(f"ns1.{origin}", "A", "127.0.0.1"), (f"ns2.{origin}", "A", "127.0.0.2")]
    return origin, _zone(origin, rows), ptrs


def _zone(origin: str, rows: list[tuple[str, str, str]]) -> str:
    head = f"$TTL 300\n{origin} 300 IN SOA ns1.{origin} hostmaster.{origin} 1 3600 600 86400 300\n"
    return head + "".join(f"{n} 300 IN {t} {v}\n" for n, t, v in rows)


def build_zones(count: int) -> tuple[dict[str, str], list[str]]:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    dkim_b64 = base64.b64encode(der).decode()
    zones: dict[str, str] = {}
    domains: list[str] = []
    reverse: dict[str, list[str]] = {}
    for index in range(count):
        origin, text, ptrs = domain_zone(index, dkim_b64)
        zones[origin] = text
        domains.append(origin.rstrip("."))
        rev_origin = ".".join(reversed(address(index).split(".")[:3])) + ".in-addr.arpa."
        reverse.setdefault(rev_origin, []).extend(ptrs)
    infra = [(f"ns1.{PARENT}.", "A", "127.0.0.1"), (f"ns2.{PARENT}.", "A", "127.0.0.2")]
    for origin, lines in reverse.items():
        zones[origin] = _zone(origin, [(origin, "NS", f"ns1.{PARENT}.")]) + "".join(line + "\n" for line in lines)
    zones[f"{PARENT}."] = _zone(f"{PARENT}.", [(f"{PARENT}.", "NS", f"ns1.{PARENT}."), *infra])
    zones[f"relay.{PARENT}."] = _zone(
        f"relay.{PARENT}.",
        [(f"relay.{PARENT}.", "NS", f"ns1.{PARENT}."), (f"{RELAY}.", "TXT", '"v=spf1 ip4:10.213.99.0/24 -all"')],
    )
    zones[f"{REPORTS}."] = _zone(f"{REPORTS}.", [(f"{REPORTS}.", "NS", f"ns1.{PARENT}.")])
    zones[f"{DNSBL}."] = _zone(f"{DNSBL}.", [(f"{DNSBL}.", "NS", f"ns1.{PARENT}.")])
    return {o.rstrip("."): t for o, t in zones.items()}, domains


# -- the delaying, counting proxy ------------------------------------------------------------------------


class DelayProxy:
    """UDP and TCP on PROXY: wait ``delay`` seconds, forward to knotd, relay the answer; count queries."""

    def __init__(self, delay: float, upstream: tuple[str, int]) -> None:
        self.delay = delay
        self.upstream = upstream
        self.count = 0
        self.pending: set[asyncio.Future[None]] = set()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _forward_udp(self, data: bytes) -> bytes | None:
        await asyncio.sleep(self.delay)
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, self.upstream)
            await loop.sock_sendall(sock, data)
            return await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
        except (OSError, TimeoutError):
            return None
        finally:
            sock.close()

    async def _start(self) -> None:
        proxy = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                proxy.count += 1

                async def reply() -> None:
                    answer = await proxy._forward_udp(data)
                    if answer is not None:
                        self.transport.sendto(answer, addr)  # type: ignore[attr-defined]

                task = asyncio.ensure_future(reply())
                proxy.pending.add(task)  # keep a reference until it is done
                task.add_done_callback(proxy.pending.discard)

        await self.loop.create_datagram_endpoint(Udp, local_addr=PROXY)

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readexactly(2)
                    query = await reader.readexactly(struct.unpack("!H", head)[0])
                    proxy.count += 1
                    await asyncio.sleep(proxy.delay)
                    up_r, up_w = await asyncio.open_connection(*proxy.upstream)
                    up_w.write(head + query)
                    await up_w.drain()
                    size = struct.unpack("!H", await up_r.readexactly(2))[0]
                    answer = await up_r.readexactly(size)
                    up_w.close()
                    writer.write(struct.pack("!H", size) + answer)
                    await writer.drain()
            except (asyncio.IncompleteReadError, OSError):
                writer.close()

        await asyncio.start_server(tcp, *PROXY)


# -- running the tools -----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    wall: float
    queries: int
    max_rss_mb: float
    output: str


def run_tool(name: str, argv: list[str], proxy: DelayProxy) -> Run:
    proxy.count = 0
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        deadline = start + TIME_LIMIT
        while True:
            pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"{name} ran over {TIME_LIMIT}s")
            time.sleep(0.05)
        wall = time.monotonic() - start
        out.seek(0)
        return Run(name, wall, proxy.count, usage.ru_maxrss / 1024, out.read().decode())


SPF_INVALID = {
    "SPF_MISSING",
    "SPF_MULTIPLE_RECORDS",
    "SPF_SYNTAX",
    "SPF_STRINGS_MISJOINED",
    "SPF_NOT_ASCII",
    "SPF_TOO_MANY_LOOKUPS",
    "SPF_TOO_MANY_VOID_LOOKUPS",
    "SPF_INCLUDE_NO_SPF",
    "SPF_PERMERROR",
}
DMARC_INVALID = {"DMARC_MISSING", "DMARC_MULTIPLE_RECORDS", "DMARC_SYNTAX", "DMARC_REPORT_URI_INVALID"}

# Disagreements shown to be checkdmarc's error (or a deliberate difference), by domain kind, with the
# reason printed next to each. The last 200-domain run had none, so nothing is excused here: any
# disagreement is printed as UNEXPLAINED.
EXPLANATIONS: dict[str, str] = {}


def verdicts_mailforge(output: str) -> dict[str, tuple[bool, bool, str]]:
    data = json.loads(output)
    out = {}
    for domain, result in data["domains"].items():
        codes = {f["code"] for f in result["findings"]}
        spf_codes = sorted(codes & SPF_INVALID) or ["-"]
        dmarc_codes = sorted(codes & DMARC_INVALID) or ["-"]
        out[domain] = (not codes & SPF_INVALID, not codes & DMARC_INVALID, f"{spf_codes} {dmarc_codes}")
    return out


def verdicts_checkdmarc(output: str) -> dict[str, tuple[bool, bool, str]]:
    data = json.loads(output)
    items = data if isinstance(data, list) else [data]
    out = {}
    for item in items:
        spf, dmarc = item.get("spf", {}), item.get("dmarc", {})
        detail = f"spf: {spf.get('error', '-')} | dmarc: {dmarc.get('error', '-')}"
        out[item["domain"].rstrip(".").lower()] = (bool(spf.get("valid")), bool(dmarc.get("valid")), detail)
    return out


def inside(args: argparse.Namespace) -> None:
    from lab.knot import Knot

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = Path(tempfile.mkdtemp(prefix="mf-dnsbench-"))
    zones, domains = build_zones(args.domains)
    knot = Knot(work / "knot", zones, ["127.0.0.1"], KNOT_PORT)
    proxy = DelayProxy(args.delay_ms / 1000, ("127.0.0.1", KNOT_PORT))
    try:
        py = sys.executable
        mf = run_tool(
            "mailforge",
            [py, "-m", "mailforge.cli", "dns", "audit", *domains, "--nameserver", "127.0.0.1:53", "--json", *MF_ARGS],
            proxy,
        )
        cd = run_tool(
            "checkdmarc",
            [str(Path(py).parent / "checkdmarc"), *domains, "-n", "127.0.0.1", "-t", "2", "-f", "json"],
            proxy,
        )
    finally:
        knot.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(args, domains, mf, cd)


def report(args: argparse.Namespace, domains: list[str], mf: Run, cd: Run) -> None:
    ours, theirs = verdicts_mailforge(mf.output), verdicts_checkdmarc(cd.output)
    disagreements = []
    for domain in domains:
        o, t = ours[domain], theirs.get(domain, (None, None, "missing from checkdmarc output"))
        kind = domain.split(".")[0].split("-", 1)[1]
        for label, oi, ti in (("SPF", o[0], t[0]), ("DMARC", o[1], t[1])):
            if oi != ti:
                disagreements.append((domain, label, oi, ti, o[2], t[2], EXPLANATIONS.get(kind, "UNEXPLAINED")))
    print(
        f"domains: {len(domains)} ({len(set(kind_of(i) for i in range(len(domains))))} kinds), "
        f"{args.delay_ms} ms added per query, loopback only, in a private network namespace"
    )
    print()
    print(f"{'':12} {'wall s':>8} {'queries':>8} {'max RSS MB':>11}")
    for run in (mf, cd):
        print(f"{run.name:12} {run.wall:8.2f} {run.queries:8d} {run.max_rss_mb:11.1f}")
    print()
    print(f"verdicts compared: {2 * len(domains)} (SPF and DMARC validity per domain)")
    for d, label, oi, ti, od, td, why in disagreements:
        print(f"  DISAGREE {d} {label}: mailforge valid={oi} checkdmarc valid={ti}")
        print(f"           mailforge: {od}")
        print(f"           checkdmarc: {td}")
        print(f"           why: {why}")
    for label, i in (("SPF", 0), ("DMARC", 1)):
        bad_ours = sum(1 for d in domains if not ours[d][i])
        bad_theirs = sum(1 for d in domains if d in theirs and not theirs[d][i])
        print(f"  {label} invalid: mailforge {bad_ours}, checkdmarc {bad_theirs} of {len(domains)} domains")
    unexplained = sum(1 for x in disagreements if x[-1] == "UNEXPLAINED")
    print(f"disagreements: {len(disagreements)} (unexplained: {unexplained})")
    print()
    print(f"speed: mailforge is {cd.wall / mf.wall:.1f}x faster than checkdmarc (wall time, same run)")
    print(f"queries: mailforge sent {mf.queries / max(cd.queries, 1):.2f}x checkdmarc's")
    print(f"memory: mailforge peak RSS is {mf.max_rss_mb / cd.max_rss_mb:.2f}x checkdmarc's")


def ensure_checkdmarc() -> None:
    """The `bench` extra (checkdmarc) is installed by the bench itself, before leaving the network."""
    if importlib.util.find_spec("checkdmarc") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{REPO}[bench]"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=20)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
        return
    if os.geteuid() != 0:
        raise SystemExit("bench/dns_audit.py needs root (it creates a network namespace)")
    ensure_checkdmarc()
    netns = f"mfdnsbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        cmd = ["ip", "netns", "exec", netns, sys.executable, __file__, "--inside"]
        cmd += ["--domains", str(args.domains), "--delay-ms", str(args.delay_ms)]
        subprocess.run(cmd, check=True, env=env, timeout=2 * TIME_LIMIT + 60)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


if __name__ == "__main__":
    main()
