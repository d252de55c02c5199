"""`mailforge upgrade-check`: is this Debian 12 mail server ready for the in-place upgrade to Debian 13?

docs/upgrade-debian13.md lists the steps; this command checks, on the server, the ones that must be done
before the OS upgrade starts, and names the fix for each that is not: the server runs Debian 12 and was
deployed by this mailforge (its apt preferences keep Apache out, which the upgrade would otherwise pull in
with PHP 8.4), Dovecot is stopped and masked (Dovecot 2.4 refuses 2.3's configuration, which would break
dovecot-core's package script), no package is on hold, dpkg has nothing half-installed, and /var has room
for the downloads. Exit codes: 0 ready, 1 not ready, 2 the server could not be asked.

One SSH round trip (mailforge/remote.py) gathers the facts; `evaluate` is pure and unit-tested.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from mailforge import remote

FROM, TO = "bookworm", "trixie"
APT_PREFERENCES = "/etc/apt/preferences.d/mailforge-web"
# The upgrade downloads and unpacks every package of the release at once (apt's cache and the new files
# side by side); Debian's release notes ask to check room first. 2 GiB covers a mailforge server with margin
# (its download is about 400 MB).
MIN_FREE_MB = 2048
# Each fact on one line, KEY=value, from one shell script: values never contain newlines.
PROBE = f"""
. /etc/os-release; echo "codename=$VERSION_CODENAME"
echo "dovecot_active=$(systemctl is-active dovecot.service 2>/dev/null)"
echo "dovecot_enabled=$(systemctl is-enabled dovecot.service 2>/dev/null)"
echo "apt_preferences=$(test -f {APT_PREFERENCES} && echo yes || echo no)"
echo "free_mb=$(df --output=avail -m /var | tail -1 | tr -d ' ')"
echo "held=$(apt-mark showhold | tr '\\n' ' ')"
echo "audit=$(dpkg --audit 2>/dev/null | grep -c '^ ')"
echo "queue=$(postqueue -j 2>/dev/null | wc -l)"
"""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def evaluate(facts: dict[str, str]) -> list[Check]:
    """Every check in the order an operator works through them."""
    codename = facts.get("codename", "")
    free = int(facts.get("free_mb") or 0)
    held = facts.get("held", "").split()
    half = int(facts.get("audit") or 0)
    dovecot_held = facts.get("dovecot_enabled") == "masked" and facts.get("dovecot_active") != "active"
    return [
        Check(
            "release",
            codename == FROM,
            f"Debian {codename or 'unknown'}",
            "already on Debian 13: run the deploy (docs/upgrade-debian13.md, step 6)"
            if codename == TO
            else f"this upgrade starts from Debian 12 ({FROM}) only",
        ),
        Check(
            "deployed by this mailforge",
            facts.get("apt_preferences") == "yes",
            f"{APT_PREFERENCES} {'present' if facts.get('apt_preferences') == 'yes' else 'missing'}",
            "run this mailforge's deploy on Debian 12 first: its apt preferences keep Apache out of the upgrade",
        ),
        Check(
            "Dovecot held",
            dovecot_held,
            f"dovecot.service {facts.get('dovecot_active') or 'unknown'}, {facts.get('dovecot_enabled') or 'unknown'}",
            "systemctl stop dovecot.service dovecot.socket && systemctl mask dovecot.service "
            "(Dovecot 2.4 refuses 2.3's configuration; Postfix queues mail meanwhile)",
        ),
        Check("no package on hold", not held, " ".join(held) or "none", f"apt-mark unhold {' '.join(held)}"),
        Check("dpkg consistent", half == 0, f"{half} package(s) not fully installed", "dpkg --configure -a"),
        Check(
            "room in /var",
            free >= MIN_FREE_MB,
            f"{free} MB free",
            f"free at least {MIN_FREE_MB} MB in /var (apt-get clean, old logs)",
        ),
    ]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "upgrade-check",
        help="is a Debian 12 server ready for the in-place upgrade to Debian 13 (docs/upgrade-debian13.md)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    remote.add_arguments(
        p,
        "which server",
        inventory="option",
        host_help="the server over SSH (default: this machine)",
        testhost_help="a mailforge test host (`mailforge testhost list`)",
        inventory_help="HOST of this pyinfra inventory, over SSH as pyinfra reaches it",
        sudo_help="run the probe with sudo -n",
    )
    p.add_argument("--json", action="store_true", help="the checks as JSON")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        runner = remote.runner_for(remote.target_from(args, inventory="option"), args)
        probe = runner.run(["sh", "-c", PROBE])
    except (remote.TargetError, OSError) as exc:
        print(f"mailforge upgrade-check: {exc}", file=sys.stderr)
        return 2
    facts = parse(probe.stdout)
    if probe.returncode != 0 or "codename" not in facts:
        print(
            f"mailforge upgrade-check: the probe failed on {runner.describe()}: {probe.stderr.strip()}", file=sys.stderr
        )
        return 2
    checks = evaluate(facts)
    ready = all(check.ok for check in checks)
    if args.json:
        print(
            json.dumps({"ready": ready, "queue": int(facts.get("queue") or 0), "checks": [asdict(c) for c in checks]})
        )
    else:
        for check in checks:
            line = f"{'ok ' if check.ok else 'FIX'}  {check.name}: {check.detail}"
            print(line if check.ok or not check.fix else f"{line}\n     -> {check.fix}")
        verdict = "Ready" if ready else "Not ready"
        print(f"{verdict} for the upgrade to Debian 13; {facts.get('queue', '?')} message(s) queued.")
    return 0 if ready else 1
