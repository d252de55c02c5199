"""Web tier throughput: the PHP-FPM pool settings mailforge ships against Debian's defaults (issues 4, 14).

    .venv/bin/python -m bench.web [--duration 10] [--connections 32] [--rounds 2]

One fresh test host (bench-web) with the full deploy. `wrk` (Debian's package) runs on the host itself
against its own Nginx over HTTPS, by name (the names map to 127.0.0.1 in its /etc/hosts), so SNI picks the
right server block and no benchmark traffic leaves the host. Two pages: Roundcube's login page and
PostfixAdmin's login page, both rendered by PHP. Each is measured with the pools as deployed (sized from
the host's CPUs and memory, mailforge/settings/nginx_php.py fpm_children) and with the same pools switched to Debian's
www.conf process settings (pm = dynamic, max_children 5, start 2, min/max spare 1/3, no max_requests), in the
same run on the same host, in ABBA order over --rounds rounds (ours, Debian, Debian, ours, ...), so that a
machine getting busier or quieter during the run weighs on both sides alike. Figures come last: median
requests/s and p99 latency per side, as ratios against Debian's defaults. No assertions. Needs root; the host
is removed even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

from lab.provision import run_deploy, write_inventory
from lab.web import ENV, PFA_NAME, WEBMAIL_NAME, web_data
from mailforge.testhost import Host, StateDir, hosts

HOST = "bench-web"
PAGES = {"webmail login": f"https://{WEBMAIL_NAME}/", "postfixadmin login": f"https://{PFA_NAME}/login.php"}
POOLS = ("postfixadmin", "roundcube")
Runs = dict[str, dict[str, list[tuple[float, float]]]]  # side -> page -> [(req/s, p99 ms)]
# Debian 12's /etc/php/8.2/fpm/pool.d/www.conf process manager settings.
DEBIAN_PM = {"pm.max_children": "5", "pm.start_servers": "2", "pm.min_spare_servers": "1",
             "pm.max_spare_servers": "3", "pm.max_requests": "0"}  # fmt: skip


def wrk(host: Host, url: str, duration: int, connections: int) -> tuple[float, float]:
    """(requests/s, p99 ms) of one wrk run on the host."""
    out = host.run(f"wrk -t2 -c{connections} -d{duration}s --latency {url}", timeout=duration + 120).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses; wrk said:\n{out}")
    return rps, p99


def set_pools(host: Host, settings: dict[str, str]) -> None:
    for pool in POOLS:
        path = f"/etc/php/8.2/fpm/pool.d/{pool}.conf"
        for key, value in settings.items():
            host.run(f"sed -i 's/^{re.escape(key)} = .*/{key} = {value}/' {path}")
    host.run("php-fpm8.2 -t 2>/dev/null && systemctl reload php8.2-fpm && sleep 2")


def measure(host: Host, duration: int, connections: int) -> dict[str, tuple[float, float]]:
    for url in PAGES.values():
        wrk(host, url, 3, connections)  # warm up OPcache and the freshly reloaded pools
    return {page: wrk(host, url, duration, connections) for page, url in PAGES.items()}


def abba(host: Host, sides: dict[str, dict[str, str]], rounds: int, duration: int, connections: int) -> Runs:
    """Each side measured `rounds` times, in ABBA order."""
    runs: Runs = {s: {p: [] for p in PAGES} for s in sides}
    names = list(sides)
    for index in range(rounds):
        for side in names if index % 2 == 0 else reversed(names):
            set_pools(host, sides[side])
            for page, figures in measure(host, duration, connections).items():
                runs[side][page].append(figures)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds: each side runs this many times")
    args = parser.parse_args()
    state = StateDir()
    hosts.down(HOST, state=state)
    try:
        host = hosts.up(HOST, state=state, log=lambda _m: None)
        with tempfile.TemporaryDirectory() as tmp:
            inventory = write_inventory(Path(tmp) / "inv.py", [(host.name, host.address, web_data())], state.ssh_key)
            result = run_deploy(inventory, env=ENV)
        if not result.ok:
            raise SystemExit(result.explain())
        host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null")
        host.run(f"echo '127.0.0.1 {WEBMAIL_NAME} {PFA_NAME}' >> /etc/hosts")
        shipped_pm = {
            key: host.run(f"sed -n 's/^{re.escape(key)} = //p' /etc/php/8.2/fpm/pool.d/roundcube.conf").stdout.strip()
            for key in DEBIAN_PM
        }
        runs = abba(host, {"ours": shipped_pm, "debian": DEBIAN_PM}, args.rounds, args.duration, args.connections)
    finally:
        hosts.down(HOST, state=state)
    print(f"pools as shipped: {shipped_pm}")
    print(f"Debian's www.conf: {DEBIAN_PM}")
    print(f"wrk: {args.connections} connections, {args.duration} s per page, {args.rounds} ABBA rounds per side,")
    print("on the host itself over HTTPS; figures are medians over the rounds")
    print(f"{'page':<20} {'req/s ours':>11} {'req/s debian':>13} {'ratio':>6} {'p99 ours':>10} {'p99 debian':>11}")
    for page in PAGES:
        rps, p99 = (statistics.median(f[i] for f in runs["ours"][page]) for i in (0, 1))
        base_rps, base_p99 = (statistics.median(f[i] for f in runs["debian"][page]) for i in (0, 1))
        print(f"{page:<20} {rps:>11.1f} {base_rps:>13.1f} {rps / base_rps:>5.2f}x {p99:>8.1f}ms {base_p99:>9.1f}ms"
              f"  (p99 ratio {p99 / base_p99:.2f}x)")  # fmt: skip
        for side in ("ours", "debian"):
            print(f"    {side} runs: " + ", ".join(f"{r:.0f} req/s {p:.0f} ms" for r, p in runs[side][page]))


if __name__ == "__main__":
    main()
