"""Issues 2 and 16: `mailforge testhost` on bad input and faults, through the real CLI as operators run it.

Each refusal is one line on stderr, a non-zero exit, no traceback, and leaves every other host as it was.
This module keeps its hosts in its own state directory, so its `down --all` runs cannot reach the hosts
other modules run side by side (those live in the shared one; machine-wide claims protect them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailforge import releases
from mailforge.testhost import Host, StateDir, hosts, image, network, processes

MAILFORGE = Path(sys.executable).with_name("mailforge")
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def release_args(release: releases.Release) -> tuple[str, ...]:
    """`up`'s arguments for the module's release: none for the test hosts' default, so that `up` as operators
    type it most is what runs there."""
    return () if release.codename == releases.TEST_HOST_DEFAULT else ("--release", release.codename)


@pytest.fixture(scope="module")
def cli_state(tmp_path_factory: pytest.TempPathFactory, release: releases.Release) -> Iterator[StateDir]:
    """A state directory of this module's own, sharing the cached base image of the module's release (no second
    debootstrap)."""
    shared = StateDir()
    base = image.ensure_base_image(shared, release, log=lambda _m: None)
    state = StateDir(tmp_path_factory.mktemp("cli-state"))
    state.images_dir.mkdir(parents=True)
    (state.images_dir / base.name).symlink_to(base)
    yield state
    for name in state.names():
        hosts.down(name, state=state)


@pytest.fixture(scope="module")
def bystander(cli_state: StateDir, release: releases.Release) -> Iterator[Host]:
    """A running host that no refused command may touch."""
    hosts.down("cli-a", state=cli_state)
    yield hosts.up("cli-a", release=release.codename, state=cli_state, log=lambda _m: None)
    hosts.down("cli-a", state=cli_state)


def _snapshot(state: StateDir, host: Host) -> tuple[object, ...]:
    netns = network.PREFIX + host.name
    return (
        state.read_record(host.name),
        sorted(hosts._supervisor_pids(state, host.name)),
        sorted(hosts._container_inits(state, host.name)),  # its systemd: sshd forks come and go
        network.read_claim(netns),
        netns in network.existing_links(),
    )


@pytest.fixture(autouse=True)
def _bystander_untouched(cli_state: StateDir, bystander: Host) -> Iterator[None]:
    before = _snapshot(cli_state, bystander)
    yield
    assert _snapshot(cli_state, bystander) == before, "a command touched another host"


def mailforge(
    state: StateDir | Path, *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    root = state.root if isinstance(state, StateDir) else state
    argv = [*prefix, str(MAILFORGE), "testhost", "--state-dir", str(root), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def leftovers(state: StateDir, name: str, pids: list[int] = ()) -> list[str]:  # type: ignore[assignment]
    """What of host `name` still exists on this machine; `pids`: processes known to have been its own."""
    netns = network.PREFIX + name
    rootfs = str(state.host_dir(name) / "rootfs")
    found = []
    if netns in network.existing_netns():
        found.append("netns")
    if netns in network.existing_links():
        found.append("veth")
    if state.host_dir(name).exists():
        found.append("state dir")
    if network.read_claim(netns) is not None:
        found.append("claim")
    if any(rootfs in " ".join(processes.cmdline(pid)) for pid in processes.pids()):
        found.append("process")
    if any(processes.alive(pid) for pid in pids):
        found.append("container process")
    if str(state.host_dir(name)) in Path("/proc/self/mounts").read_text():
        found.append("mount")
    backing = [f.read_text() for f in Path("/sys/block").glob("loop*/loop/backing_file")]
    if any(f.startswith(str(state.host_dir(name)) + "/") for f in backing):
        found.append("loop device")
    return found


# --- the host's disk ------------------------------------------------------------------------------


def test_a_host_keeps_its_changes_on_its_own_journaled_ext4(cli_state: StateDir, bystander: Host) -> None:
    host_dir = cli_state.host_dir(bystander.name)
    mounts = {
        fields[1]: fields for fields in (line.split() for line in Path("/proc/self/mounts").read_text().splitlines())
    }
    assert mounts[str(host_dir / "disk")][2] == "ext4"
    assert f"upperdir={host_dir}/disk/upper" in mounts[str(host_dir / "rootfs")][3]
    superblock = subprocess.run(["dumpe2fs", "-h", str(host_dir / "disk.img")], capture_output=True, text=True)
    assert "has_journal" in superblock.stdout, superblock.stderr


# --- what `up` prints ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def up_output(cli_state: StateDir, release: releases.Release) -> Iterator[str]:
    hosts.down("cli-l", state=cli_state)
    result = mailforge(cli_state, "up", "cli-l", *release_args(release))
    assert result.returncode == 0, result.stderr
    yield result.stdout
    hosts.down("cli-l", state=cli_state)


def test_up_prints_a_login_command_that_works_in_a_fresh_shell(up_output: str) -> None:
    command = up_output.strip().partition("log in with: ")[2]
    fresh = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    result = subprocess.run(
        ["bash", "-c", command], cwd="/", env=fresh, input="hostname\n", capture_output=True, text=True, timeout=120
    )
    assert result.stdout.splitlines()[-1:] == ["cli-l"], (command, result.stderr)


# --- preconditions ---------------------------------------------------------------------------------

VERBS = [("up", "cli-n"), ("down", "cli-a"), ("down", "--all")]


@pytest.mark.parametrize("args", VERBS, ids=[" ".join(v) for v in VERBS])
def test_refuses_without_root(cli_state: StateDir, args: tuple[str, ...]) -> None:
    assert_refused(mailforge(cli_state, *args, prefix=NOBODY), "need root")


@pytest.fixture(scope="module")
def path_without_nspawn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with every command of this machine but systemd-nspawn (links, so nothing is copied)."""
    bin_dir = tmp_path_factory.mktemp("no-nspawn-bin")
    for directory in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        for tool in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else []:
            link = bin_dir / tool.name
            if tool.name != "systemd-nspawn" and not link.exists() and not link.is_symlink():
                link.symlink_to(tool)
    return str(bin_dir)


def test_up_refuses_without_systemd_nspawn(cli_state: StateDir, path_without_nspawn: str) -> None:
    result = mailforge(cli_state, "up", "cli-n", env={**os.environ, "PATH": path_without_nspawn})
    assert_refused(result, "missing tools: systemd-nspawn", "make bootstrap")


# --- names and indexes -----------------------------------------------------------------------------

BAD_NAMES = {
    "uppercase": "Cli-x",
    "too long": "cli-abcdefghi",
    "leading digit": "1cli",
    "trailing dash": "cli-",
    "empty": "",
}


@pytest.mark.parametrize("verb", ["up", "down", "ssh"])
@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_refuses_invalid_name(cli_state: StateDir, verb: str, name: str) -> None:
    assert_refused(mailforge(cli_state, verb, name), "invalid test host name")


def test_up_refuses_a_name_in_use(cli_state: StateDir, bystander: Host) -> None:
    assert_refused(mailforge(cli_state, "up", bystander.name), "already exists and is running")


def test_up_refuses_an_index_in_use(cli_state: StateDir, bystander: Host) -> None:
    result = mailforge(cli_state, "up", "cli-c", "--index", str(bystander.index))
    assert_refused(result, f"index {bystander.index}", "already used")
    assert leftovers(cli_state, "cli-c") == []


@pytest.mark.parametrize("index", ["0", "255", "-1"])
def test_up_refuses_an_index_out_of_range(cli_state: StateDir, index: str) -> None:
    result = mailforge(cli_state, "up", "cli-c", "--index", index)
    assert_refused(result, "--index must be between 1 and 254")
    assert leftovers(cli_state, "cli-c") == []


def test_up_refuses_an_unknown_release(cli_state: StateDir) -> None:
    result = mailforge(cli_state, "up", "cli-c", "--release", "sid")
    assert_refused(result, "unknown release 'sid'; known: bookworm, trixie")
    assert leftovers(cli_state, "cli-c") == []


def test_list_shows_a_hosts_release(cli_state: StateDir, bystander: Host, release: releases.Release) -> None:
    result = mailforge(cli_state, "list")
    rows = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:]}
    assert rows[bystander.name] == release.codename, result.stdout + result.stderr


def test_down_refuses_an_unknown_host(cli_state: StateDir) -> None:
    assert_refused(mailforge(cli_state, "down", "cli-u"), "no test host named 'cli-u'")


# --- a host left by a killed run -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stale(cli_state: StateDir, release: releases.Release) -> Iterator[tuple[str, list[int]]]:
    """cli-s with its supervisor and systemd-nspawn killed by SIGKILL; its container lives on, parentless."""
    name = "cli-s"
    hosts.down(name, state=cli_state)
    hosts.up(name, release=release.codename, state=cli_state, log=lambda _m: None)
    container = network.netns_pids(network.PREFIX + name)
    killed = hosts._supervisor_pids(cli_state, name) + hosts._nspawn_pids(cli_state, name)
    processes.kill(killed, signal.SIGKILL)
    assert processes.wait_gone(killed, 10)
    yield name, container
    hosts.down(name, state=cli_state)


def test_list_shows_a_killed_host_as_stale(cli_state: StateDir, stale: tuple[str, list[int]]) -> None:
    result = mailforge(cli_state, "list")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[2] for line in result.stdout.splitlines()[1:]}
    assert rows[stale[0]] == "stale"


def test_up_of_a_stale_host_points_at_down(cli_state: StateDir, stale: tuple[str, list[int]]) -> None:
    assert_refused(mailforge(cli_state, "up", stale[0]), "stale", f"down {stale[0]}")


def test_down_removes_a_stale_host_completely(cli_state: StateDir, stale: tuple[str, list[int]]) -> None:
    name, container = stale
    result = mailforge(cli_state, "down", name)
    assert result.returncode == 0, result.stderr
    assert leftovers(cli_state, name, container) == []


def test_up_refuses_a_host_json_without_processes(cli_state: StateDir) -> None:
    record = hosts.HostRecord("cli-r", 250, network.address(250), network.gateway(250), "mf-cli-r", "mf-cli-r", 0.0)
    cli_state.write_record(record)
    try:
        assert_refused(mailforge(cli_state, "up", "cli-r"), "stale", "down cli-r")
    finally:
        hosts.down("cli-r", state=cli_state)


# --- interrupted `up` ------------------------------------------------------------------------------


def _reserved(state: StateDir, name: str) -> bool:
    return (state.host_dir(name) / "host.json").exists()


def _extracting(state: StateDir, name: str) -> bool:
    return (state.host_dir(name) / "rootfs" / "usr").exists()


def _booting(state: StateDir, name: str) -> bool:
    console = state.host_dir(name) / "console.log"
    return console.exists() and console.stat().st_size > 0


# Ctrl-C at each stage of `up`: Python still starting, name reserved, rootfs being unpacked, container
# booting. Stages are detected from the files `up` writes, not guessed from delays.
STAGES: dict[str, Callable[[StateDir, str], bool]] = {
    "starting": lambda _state, _name: True,
    "reserved": _reserved,
    "extracting": _extracting,
    "booting": _booting,
}


@pytest.fixture(params=list(STAGES))
def interrupted(
    request: pytest.FixtureRequest, cli_state: StateDir, release: releases.Release
) -> Iterator[tuple[str, int, str]]:
    """`up` sent SIGINT at one stage; yields the name, the exit code and stderr."""
    name = f"cli-i{list(STAGES).index(request.param)}"
    reached = STAGES[request.param]
    proc = subprocess.Popen(
        [str(MAILFORGE), "testhost", "--state-dir", str(cli_state.root), "up", name, *release_args(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C in a terminal, whatever this run inherited: a shell without job control starts background
        # jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not reached(cli_state, name) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if request.param == "starting":
        time.sleep(0.2)  # inside the interpreter's imports
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    yield name, proc.returncode, stderr
    hosts.down(name, state=cli_state)


def test_interrupted_up_says_so_once(interrupted: tuple[str, int, str]) -> None:
    _, returncode, stderr = interrupted
    assert returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines() == [stderr.strip()]
    assert "interrupted" in stderr


def test_interrupted_up_leaves_nothing(cli_state: StateDir, interrupted: tuple[str, int, str]) -> None:
    assert leftovers(cli_state, interrupted[0]) == []


# --- down --all ------------------------------------------------------------------------------------


@pytest.fixture
def hand_made_leftover() -> Iterator[str]:
    """mf-cli-h: a namespace and veth pair as a killed run leaves them, with no state directory at all."""
    netns = "mf-cli-h"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "link", "add", netns, "type", "veth", "peer", "name", "eth0", "netns", netns], check=True)
    yield "cli-h"
    subprocess.run(["ip", "link", "del", netns], capture_output=True)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def test_down_all_removes_leftovers_without_a_state_dir(
    tmp_path: Path, cli_state: StateDir, hand_made_leftover: str
) -> None:
    result = mailforge(tmp_path / "empty-state", "down", "--all")
    assert result.returncode == 0, result.stderr
    assert leftovers(cli_state, hand_made_leftover) == []


def test_down_all_leaves_other_state_dirs_hosts_running(tmp_path: Path, cli_state: StateDir, bystander: Host) -> None:
    result = mailforge(tmp_path / "empty-state", "down", "--all")
    assert result.returncode == 0, result.stderr
    assert hosts.get(bystander.name, cli_state).state == "running"
