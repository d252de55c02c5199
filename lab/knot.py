"""knotd (Debian's Knot DNS) serving zone files on loopback addresses and a free high port."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


class Knot:
    """One knotd process: ``zones`` maps an origin (no trailing dot) to zone file text."""

    def __init__(self, workdir: Path, zones: dict[str, str], addresses: list[str], port: int) -> None:
        self.workdir = workdir
        self.addresses = addresses
        self.port = port
        self.zones = zones
        zonedir = workdir / "zones"
        zonedir.mkdir(parents=True, exist_ok=True)
        (workdir / "run").mkdir(exist_ok=True)
        for origin, text in zones.items():
            (zonedir / f"{origin}.zone").write_text(text)
        listen = ", ".join(f"{a}@{port}" for a in addresses)
        zone_lines = "\n".join(f'  - domain: "{origin}"\n    file: "{origin}.zone"' for origin in zones)
        self.config = workdir / "knot.conf"
        self.config.write_text(
            f"""server:
    rundir: "{workdir}/run"
    listen: [ {listen} ]
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{workdir}/db"
template:
  - id: default
    storage: "{zonedir}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    # Scenario zones are broken on purpose; only knotd's mandatory checks apply.
    semantic-checks: off
zone:
{zone_lines}
"""
        )
        self.log = (workdir / "knotd.log").open("w")
        self.proc = subprocess.Popen(["knotd", "-c", str(self.config)], stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        probe = next(iter(self.zones))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"knotd exited: {(self.workdir / 'knotd.log').read_text()}")
            try:
                reply = dns.query.udp(dns.message.make_query(probe, "SOA"), self.addresses[0], 0.5, self.port)
                if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                    # every zone must have loaded: a zone with an error is left out by knotd, not fatal
                    self._check_all_loaded()
                    return
            except (OSError, dns.exception.Timeout):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"knotd did not answer: {(self.workdir / 'knotd.log').read_text()}")

    def _check_all_loaded(self) -> None:
        for origin in self.zones:
            for _ in range(50):
                reply = dns.query.udp(dns.message.make_query(origin, "SOA"), self.addresses[0], 1, self.port)
                if reply.answer:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"zone {origin} did not load: {(self.workdir / 'knotd.log').read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
