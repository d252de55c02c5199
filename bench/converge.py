"""Cold converge of a fresh test host against the floor of plain `apt-get install` (issues 3 and 16), per release.

    .venv/bin/python -m bench.converge [--reruns 3] [--release bookworm --release trixie]

For each release (default: every supported one, one after the other, in the same run), two fresh test hosts
of that release boot side by side (bc-deploy, bc-floor). On bc-floor: `apt-get update` and one
`apt-get install --no-install-recommends` of exactly the packages the deploy installs (base, MariaDB,
PostfixAdmin, OpenSSL, Postfix, Dovecot, OpenDKIM, fail2ban, Nginx and PHP-FPM, Roundcube), with the
deploy's own debconf preseeds so nothing prompts: the
physical floor of getting this software onto a host of that release (package names as the release calls
them, mailforge/releases.py). On bc-deploy: the full deploy
(deploys/mailserver.py through `pyinfra`, as operators run it), then `--reruns` no-op re-runs.

The two cold installs run one after the other, never at once: on a 2-core machine two concurrent dpkg runs
(MariaDB's bootstrap, PHP, Dovecot's DH setup) slow each other down by unequal amounts. The deploy goes
first, so if the mirror's CDN caches anything for the second download the floor gains from it: the ratio
is, if anything, pessimistic. Figures come last, as ratios against the targets of issue 3
(deploy / floor <= 1.3; no-op re-run median <= 10 s). Needs root; hosts are removed even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploys import postfixadmin
from deploys.web import webmail
from lab.provision import ENTRY, ROOT, DeployResult, run_deploy, write_inventory
from lab.teardown import torn_down
from mailforge import releases
from mailforge.releases import Release
from mailforge.testhost import Host, StateDir, TesthostError, hosts

DEPLOY_HOST = "bc-deploy"
FLOOR_HOST = "bc-floor"
TARGET_RATIO = 1.3
TARGET_NOOP = 10.0
# The TLS component installs these two (deploys/tls.py); they are in base.PACKAGES as well.
TLS_PACKAGES = ["openssl", "ca-certificates"]
# deploys/postfix.py preseeds this answer before installing Postfix (mailforge writes main.cf itself).
# A row of pyinfra's closing table: "Component | Operation   Hosts  Success  Error  No Change".
_ROW = re.compile(r"^ {4}(\S.*? \| .*?)\s{2,}(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)
POSTFIX_DEBCONF = "postfix postfix/main_mailer_type select No configuration\n"


def components() -> list[str]:
    """The modules the entry imports from deploys/ and its packages (`from deploys import base, ...`, `from
    deploys.web import certbot, ...`), in its order, as module names under deploys ("base", "web.certbot").
    Names that are not modules (deploys.web's Tier, deploys.settings' settings_for) are left out."""
    tree = ast.parse((ROOT / ENTRY).read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "deploys":
            package = node.module.removeprefix("deploys").lstrip(".")
            for alias in node.names:
                name = f"{package}.{alias.name}" if package else alias.name
                if (ROOT / "deploys" / f"{name.replace('.', '/')}.py").exists():
                    found.append(name)
    return found


def packages(release: Release = releases.DEPLOY_DEFAULT) -> list[str]:
    """Every package the entry's components declare in PACKAGES (plus TLS's), each once.

    Read from the modules the entry imports, so a component added to the deploy is in the floor too.
    """
    found: list[str] = []
    for name in components():
        module = importlib.import_module(f"deploys.{name}")
        per_release = getattr(module, "packages", None)  # a component whose package names follow the release
        found += per_release(release) if callable(per_release) else getattr(module, "PACKAGES", [])
    return release.package_names(dict.fromkeys(found + TLS_PACKAGES))


def floor_command(release: Release = releases.DEPLOY_DEFAULT) -> str:
    preseed = POSTFIX_DEBCONF + postfixadmin.DEBCONF + webmail.ROUNDCUBE_DEBCONF
    install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " + " ".join(
        packages(release)
    )
    return (
        f"printf '%s' {shlex.quote(preseed)} | debconf-set-selections"
        " && apt-get update -q >/var/tmp/floor.log 2>&1"
        f" && {install} >>/var/tmp/floor.log 2>&1"
    )


def host_data() -> dict[str, Any]:
    return {
        "mail_hostname": "bc-deploy.example.test",
        # The pre-flight audit asks this machine's resolvers about example.test: no traffic leaves the test net.
        "mail_dns_preflight": "off",
        "mail_domains": [
            {
                "domain": "example.test",
                "mailboxes": [{"address": "alice@example.test", "name": "Alice", "quota_mb": 100}],
                "aliases": [{"address": "info@example.test", "goto": ["alice@example.test"]}],
            }
        ],
    }


def timed_deploy(inventory: Path) -> tuple[float, DeployResult]:
    started = time.monotonic()
    result = run_deploy(inventory)
    return time.monotonic() - started, result


def timed_floor(host: Host, command: str) -> float:
    started = time.monotonic()
    result = host.run(command, check=False, timeout=1800)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        log = host.run("tail -20 /var/tmp/floor.log", check=False).stdout
        raise TesthostError(f"the floor install failed (exit {result.returncode}):\n{log}")
    return elapsed


def changed_operations(output: str) -> list[str]:
    """Names of the operations pyinfra's closing table counts as changed ("Success" column not '-')."""
    return [m[0].strip() for m in _ROW.findall(output) if m[2] != "-"]


def failed(what: str, result: DeployResult) -> int:
    log = Path(tempfile.gettempdir()) / "mailforge-bench-converge.log"
    log.write_text(result.output)
    print(result.output[-3000:], file=sys.stderr)
    print(f"{what} failed (exit {result.returncode}); full output in {log}", file=sys.stderr)
    return 1


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass(frozen=True)
class Figures:
    release: str
    deploy_s: float
    floor_s: float
    reruns: list[float]
    changed: list[int]


def main() -> int:
    supported = [r.codename for r in releases.RELEASES if r.supported]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=3, help="no-op re-runs to time (the median is reported)")
    parser.add_argument(
        "--release", action="append", choices=supported, help=f"repeatable; default: all of {', '.join(supported)}"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/converge.py needs root (test hosts)", file=sys.stderr)
        return 1
    figures = []
    for codename in args.release or supported:
        found = measure(releases.by_codename(codename), args.reruns)
        if found is None:
            return 1
        figures.append(found)
    for found in figures:
        report(found)
    return 0


def measure(release: Release, reruns_wanted: int) -> Figures | None:
    floor = floor_command(release)  # before any host exists: a component that does not import stops us here
    state = StateDir()
    names = (DEPLOY_HOST, FLOOR_HOST)
    with torn_down(state, names):
        with ThreadPoolExecutor(max_workers=2) as pool:  # leaving the block waits for both, even on Ctrl-C
            futures = [
                pool.submit(hosts.up, name, release=release.codename, state=state, log=lambda _m: None)
                for name in names
            ]
            deploy_host, floor_host = (f.result() for f in futures)
        with tempfile.TemporaryDirectory(prefix="mf-bench-converge-") as tmp:
            inventory = write_inventory(
                Path(tmp) / "inventory.py", [(deploy_host.name, deploy_host.address, host_data())], state.ssh_key
            )
            print(f"== {release.name}", flush=True)
            print(f"components: {', '.join(components())}; packages: {' '.join(packages(release))}", flush=True)
            print(f"cold deploy on {deploy_host.name} ({load()}) ...", flush=True)
            deploy_s, cold = timed_deploy(inventory)
            if not cold.ok:
                failed("the cold deploy", cold)
                return None
            print(f"  {deploy_s:.1f} s, {cold.operations} operations, {cold.changed} changed", flush=True)
            print(f"floor apt-get install on {floor_host.name} ({load()}) ...", flush=True)
            floor_s = timed_floor(floor_host, floor)
            print(f"  {floor_s:.1f} s", flush=True)
            reruns: list[float] = []
            changed: list[int] = []
            for i in range(reruns_wanted):
                elapsed, again = timed_deploy(inventory)
                if not again.ok:
                    failed("a re-run", again)
                    return None
                reruns.append(elapsed)
                changed.append(again.changed)
                print(f"no-op re-run {i + 1}: {elapsed:.1f} s, {again.changed} changed", flush=True)
                for op in changed_operations(again.output):
                    print(f"  changed: {op}", flush=True)
    return Figures(release.name, deploy_s, floor_s, reruns, changed)


def report(found: Figures) -> None:
    ratio = found.deploy_s / found.floor_s
    noop = statistics.median(found.reruns)
    print()
    print(f"{found.release}: cold installs ran one after the other (deploy first, then floor), never at once:")
    print("on 2 cores two concurrent dpkg runs distort each other.")
    print(f"{'figure':<40}{'value':>9}{'target':>9}{'ratio':>8}")
    print(f"{'cold deploy (s)':<40}{found.deploy_s:>9.1f}{'':>9}{'':>8}")
    print(f"{'floor: apt-get update + install (s)':<40}{found.floor_s:>9.1f}{'':>9}{'':>8}")
    verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
    print(f"{'deploy / floor':<40}{ratio:>9.2f}{TARGET_RATIO:>9.1f}{ratio / TARGET_RATIO:>8.2f}  {verdict}")
    verdict = "ok" if noop <= TARGET_NOOP else "MISSED"
    label = f"no-op re-run, median of {len(found.reruns)} (s)"
    print(f"{label:<40}{noop:>9.1f}{TARGET_NOOP:>9.1f}{noop / TARGET_NOOP:>8.2f}  {verdict}")
    print(f"{'operations changed by each re-run':<40}{' '.join(map(str, found.changed)):>9}{0:>9d}")
    print("(ratio column = value / target; at most 1.00 meets the target)")


if __name__ == "__main__":
    sys.exit(main())
