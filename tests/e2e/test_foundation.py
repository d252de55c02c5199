"""Issue 2: a test host is created, provisioned by the real deploy over SSH, checked by testinfra,
rebooted, and destroyed without leftovers; two hosts reach each other and nothing outside but apt's ports.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailforge.provision import DeployResult, run_deploy, write_inventory
from mailforge.testhost import Host, StateDir, hosts, network
from tests.e2e.conftest import infra

# A stand-in for "the Internet": a namespace this test creates and owns. Not "mf-": that prefix is the
# test hosts', and `testhost down --all` removes unclaimed "mf-" namespaces as leftovers.
OUTSIDE_NETNS = "mfx-fndwan"
OUTSIDE_ADDR = "10.214.0.2"


@pytest.fixture(scope="module")
def pair(make_host) -> tuple[Host, Host]:  # type: ignore[no-untyped-def]
    return make_host("fnd-a"), make_host("fnd-b")


@pytest.fixture(scope="module")
def inventory(pair: tuple[Host, Host], module_tmp: Path, state: StateDir) -> Path:
    a = pair[0]
    return write_inventory(
        module_tmp / "foundation.py", [(a.name, a.address, {"mail_hostname": a.fqdn})], state.ssh_key
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
            str(Path(__file__).with_name("tcp_listener.py")),
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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # /run is a fresh tmpfs after a real reboot
        probe = host.run("test ! -e /run/before-reboot && systemctl is-system-running --wait", check=False)
        if probe.returncode == 0:
            break
        time.sleep(1)
    else:
        pytest.fail("host did not come back from reboot within 60 s")
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
