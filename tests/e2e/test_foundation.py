"""Issue 2: a test host is created, provisioned by the real deploy over SSH, checked by testinfra,
rebooted, and destroyed without leftovers; two hosts reach each other and nothing outside but apt's ports.

Issue 14: one run deploys the same domain to both hosts; each keeps its own zone to publish (its DKIM key,
itself as MX), and the commands `make demo` prints work as printed against a deployed host.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import demo, peers
from lab.provision import ROOT, DeployResult, run_deploy, write_inventory
from mailforge.dns.zonefiles import BUILD_DNS, zone_path
from mailforge.testhost import Host, StateDir, hosts, network
from tests.e2e.conftest import infra

# A stand-in for "the Internet": a namespace this test creates and owns. Not "mf-": that prefix is the
# test hosts', and `testhost down --all` removes unclaimed "mf-" namespaces as leftovers.
OUTSIDE_NETNS = "mfx-fndwan"
OUTSIDE_ADDR = "10.214.0.2"
# group_data/all.py's domain and mailbox: both hosts serve it.
DOMAIN = "example.org"
POSTMASTER = f"postmaster@{DOMAIN}"
DKIM_KEY = f"/etc/opendkim/keys/{DOMAIN}/mail.private"
# A fresh non-login shell: the PATH Debian gives root, nothing activated (the state directory kept, where a
# run keeps its test hosts elsewhere).
FRESH_SHELL = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    **{k: v for k, v in os.environ.items() if k == "MAILFORGE_STATE_DIR"},
}


@pytest.fixture(scope="module")
def pair(make_host) -> tuple[Host, Host]:  # type: ignore[no-untyped-def]
    return make_host("fnd-a"), make_host("fnd-b")


@pytest.fixture(scope="module")
def inventory(pair: tuple[Host, Host], module_tmp: Path, state: StateDir) -> Path:
    """Both hosts, one domain: two servers of example.org, as a second server or a staging host would be."""
    return write_inventory(
        module_tmp / "foundation.py",
        [(h.name, h.address, {"mail_hostname": h.fqdn, "mail_ipv4": [h.address]}) for h in pair],
        state.ssh_key,
    )


@pytest.fixture(scope="module")
def first_deploy(inventory: Path) -> DeployResult:
    result = run_deploy(inventory)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def host_a(pair: tuple[Host, Host], first_deploy: DeployResult):  # type: ignore[no-untyped-def]
    return infra(pair[0])


def test_first_deploy_changes_the_host(first_deploy: DeployResult) -> None:
    assert first_deploy.changed > 0


def test_systemd_is_pid_1(host_a) -> None:  # type: ignore[no-untyped-def]
    assert host_a.check_output("ps -p 1 -o comm=") == "systemd"
    assert host_a.run("systemctl is-system-running --wait").stdout.strip() in {"running", "degraded"}


def test_sshd_listens_on_22(host_a, pair: tuple[Host, Host]) -> None:  # type: ignore[no-untyped-def]
    assert host_a.socket("tcp://0.0.0.0:22").is_listening


@pytest.mark.parametrize("command", ["hostname", "hostname -f", "cat /etc/mailname"])
def test_host_name_is_the_mail_hostname(host_a, command: str) -> None:  # type: ignore[no-untyped-def]
    assert host_a.check_output(command) == "fnd-a.example.test"


def test_timezone_is_set(host_a) -> None:  # type: ignore[no-untyped-def]
    assert host_a.check_output("readlink /etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert host_a.check_output("cat /etc/timezone") == "UTC"


def test_second_deploy_changes_nothing(first_deploy: DeployResult, inventory: Path) -> None:
    again = run_deploy(inventory)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()


def _zone_rows(host: Host) -> set[tuple[str, str, str]]:
    """(owner, type, value) of each record in the zone the deploy wrote for this host."""
    lines = zone_path(host.name, DOMAIN).read_text().splitlines()
    rows = (line.split(None, 4) for line in lines if line and not line.startswith((";", "$")))
    return {(row[0], row[3], row[4]) for row in rows if len(row) == 5}


@pytest.mark.parametrize("index", [0, 1], ids=["fnd-a", "fnd-b"])
def test_each_hosts_zone_publishes_its_own_dkim_key(
    pair: tuple[Host, Host], first_deploy: DeployResult, index: int
) -> None:
    host = pair[index]
    public = host.run(f"openssl pkey -in {DKIM_KEY} -pubout -outform DER | base64 -w0").stdout.strip()
    [value] = [v for name, rtype, v in _zone_rows(host) if (name, rtype) == (f"mail._domainkey.{DOMAIN}.", "TXT")]
    assert f"p={public}" in "".join(value.split('"')[1::2])  # the strings of one TXT record, joined


@pytest.mark.parametrize("index", [0, 1], ids=["fnd-a", "fnd-b"])
def test_each_hosts_zone_names_it_as_the_mx(pair: tuple[Host, Host], first_deploy: DeployResult, index: int) -> None:
    host = pair[index]
    assert {v for name, rtype, v in _zone_rows(host) if (name, rtype) == (f"{DOMAIN}.", "MX")} == {f"10 {host.fqdn}."}


def test_no_zone_is_keyed_by_the_domain_alone(first_deploy: DeployResult) -> None:
    # Whichever host it named, it would be wrong for the other (mailforge/dns/zonefiles.py says why).
    assert not (BUILD_DNS / f"{DOMAIN}.zone").exists()


@pytest.fixture(scope="module")
def demo_hints(pair: tuple[Host, Host], first_deploy: DeployResult, module_tmp: Path) -> dict[str, demo.Hint]:
    """The commands `make demo` prints, for fnd-a, with a demo.json written as the demo writes it."""
    host = pair[0]
    accounts = demo.read_accounts(host)
    demo_json = module_tmp / "demo.json"
    demo.write_private_json(
        demo_json,
        {
            "accounts": [{"address": a, "password": p} for a, p in sorted(accounts.items())],
            "postfixadmin_superadmin_password": demo.read_superadmin_password(host),
        },
    )
    return {h.label: h for h in demo.hints(host.name, host.address, demo_json, POSTMASTER, POSTMASTER)}


def _run_as_printed(hint: demo.Hint, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", hint.command], cwd=ROOT, env=FRESH_SHELL, input=stdin, capture_output=True, text=True
    )


def test_printed_login_command_reaches_the_host(demo_hints: dict[str, demo.Hint]) -> None:
    result = _run_as_printed(demo_hints["log in"], stdin="hostname -f\n")
    assert result.stdout.splitlines()[-1:] == ["fnd-a.example.test"], result.stderr


def test_printed_swaks_command_submits_a_message(demo_hints: dict[str, demo.Hint]) -> None:
    result = _run_as_printed(demo_hints["send a message"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


def test_printed_superadmin_password_is_the_superadmins(
    pair: tuple[Host, Host], demo_hints: dict[str, demo.Hint]
) -> None:
    password = _run_as_printed(demo_hints["superadmin password"]).stdout.strip()
    query = "SELECT password FROM admin WHERE superadmin = 1"
    stored = pair[0].run(f'mysql --batch --skip-column-names postfixadmin -e "{query}"').stdout.strip()
    assert pair[0].run(f"doveadm pw -t '{stored}' -p '{password}'", check=False).returncode == 0


@pytest.mark.parametrize("direction", [(0, 1), (1, 0)])
def test_two_hosts_reach_each_other(pair: tuple[Host, Host], direction: tuple[int, int]) -> None:
    source, target = pair[direction[0]], pair[direction[1]]
    assert source.run(f"ping -c1 -W2 {target.address}", check=False).returncode == 0


@pytest.fixture(scope="module")
def outside() -> Iterator[str]:
    """A namespace at 10.214.0.2 with listeners on 25, 53, 80 and 443: what test hosts may reach outside."""
    hosts_side = "mfx-fndwan"
    subprocess.run(["ip", "netns", "del", OUTSIDE_NETNS], capture_output=True)
    subprocess.run(["ip", "link", "del", hosts_side], capture_output=True)
    for argv in (
        ["ip", "netns", "add", OUTSIDE_NETNS],
        ["ip", "link", "add", hosts_side, "type", "veth", "peer", "name", "eth0", "netns", OUTSIDE_NETNS],
        ["ip", "addr", "add", "10.214.0.1/24", "dev", hosts_side],
        ["ip", "link", "set", hosts_side, "up"],
        ["ip", "-n", OUTSIDE_NETNS, "addr", "add", f"{OUTSIDE_ADDR}/24", "dev", "eth0"],
        ["ip", "-n", OUTSIDE_NETNS, "link", "set", "eth0", "up"],
        ["ip", "-n", OUTSIDE_NETNS, "route", "add", "default", "via", "10.214.0.1"],
    ):
        subprocess.run(argv, check=True)
    listener = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            OUTSIDE_NETNS,
            "python3",
            str(peers.TCP_LISTENER),
            "25",
            "53",
            "80",
            "443",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert listener.stdout is not None and listener.stdout.readline().strip() == "listening"
    yield OUTSIDE_ADDR
    listener.terminate()
    listener.wait(10)
    subprocess.run(["ip", "link", "del", hosts_side], capture_output=True)
    subprocess.run(["ip", "netns", "del", OUTSIDE_NETNS], capture_output=True)


def _connects(host: Host, address: str, port: int) -> bool:
    probe = f"timeout 4 bash -c 'exec 3<>/dev/tcp/{address}/{port} && head -c5 <&3'"
    result = host.run(probe, check=False)
    return result.returncode == 0 and result.stdout == "hello"


@pytest.mark.parametrize("port", [53, 80, 443])
def test_hosts_reach_outside_only_for_dns_and_http(pair: tuple[Host, Host], outside: str, port: int) -> None:
    assert _connects(pair[1], outside, port)


@pytest.mark.parametrize("port", [25, 465, 587])
def test_hosts_never_reach_outside_smtp(pair: tuple[Host, Host], outside: str, port: int) -> None:
    assert not _connects(pair[1], outside, port)


def test_reboot_inside_comes_back(pair: tuple[Host, Host], host_a) -> None:  # type: ignore[no-untyped-def]
    host = pair[0]
    host.run("touch /run/before-reboot")
    host.run("systemctl reboot", check=False)
    # A timeout, not a speed target: a deployed server's boot (MariaDB, PHP-FPM, Dovecot...) on this 2-core
    # machine, with other test hosts busy, can take longer than a minute.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # /run is a fresh tmpfs after a real reboot
        probe = host.run("test ! -e /run/before-reboot && systemctl is-system-running --wait", check=False)
        if probe.returncode == 0:
            break
        time.sleep(1)
    else:
        pytest.fail("host did not come back from reboot within 180 s")
    assert host.run("ps -p 1 -o comm=").stdout.strip() == "systemd"
    assert hosts.get(host.name).state == "running"


def _leftovers(state: StateDir, host: Host) -> list[str]:
    found = []
    if network.PREFIX + host.name in network.existing_netns():
        found.append("netns")
    if network.PREFIX + host.name in network.existing_links():
        found.append("veth")
    if state.host_dir(host.name).exists():
        found.append("state dir / rootfs")
    rootfs = str(state.host_dir(host.name) / "rootfs")
    if any(rootfs in " ".join(hosts.processes.cmdline(pid)) for pid in hosts.processes.pids()):
        found.append("process")
    if rootfs in Path("/proc/self/mounts").read_text():
        found.append("mount")
    return found


def test_down_leaves_nothing(make_host, state: StateDir) -> None:  # type: ignore[no-untyped-def]
    host = make_host("fnd-c")
    assert _leftovers(state, host) == ["netns", "veth", "state dir / rootfs", "process", "mount"]  # all seen
    assert hosts.down(host.name, state=state)
    assert _leftovers(state, host) == []
    # The shared nftables table goes with the machine's last host (of any state directory), and only then.
    assert network.nft_table_exists() == network.any_test_host_left()
