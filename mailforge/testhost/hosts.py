"""Create, list and destroy test hosts (`mailforge testhost up|down|list`)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailforge import releases
from mailforge.testhost import image, network, processes
from mailforge.testhost.errors import TesthostError
from mailforge.testhost.state import HostRecord, StateDir

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,10}[a-z0-9]$")
SSH_TIMEOUT = 90.0
SUPERVISOR = "mailforge.testhost.supervisor"
# The size of a host's own disk (a sparse file: only what the host writes takes space on this machine).
DISK_BYTES = 16 * 1024**3
SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    # Test hosts are created and destroyed all day at the same addresses: pinning their keys is noise.
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=5",
)  # fmt: skip


@dataclass(frozen=True)
class Host:
    """A running test host as clients see it: where it is and how to log in."""

    name: str
    address: str
    ssh_key: Path
    state: str = "running"
    uptime: float | None = None
    index: int = 0
    release: str = releases.TEST_HOST_DEFAULT

    @property
    def fqdn(self) -> str:
        return f"{self.name}.example.test"

    def ssh_argv(self, command: Sequence[str] | str | None = None) -> list[str]:
        argv = ["ssh", "-i", str(self.ssh_key), *SSH_OPTIONS, f"root@{self.address}"]
        if command is not None:
            argv.append(command if isinstance(command, str) else subprocess.list2cmdline(list(command)))
        return argv

    def run(self, command: str, *, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host over SSH."""
        result = subprocess.run(self.ssh_argv(command), capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise TesthostError(
                f"{self.name}: `{command}` exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def start_script(self, script: Path, unit: str, *args: str) -> None:
        """Copy a Python script onto the host and run it there as a transient systemd unit (a test peer)."""
        self.run(f"cat > /root/{script.name} <<'EOF'\n{script.read_text()}\nEOF")
        self.run(f"systemd-run --unit={unit} python3 /root/{script.name} {' '.join(args)}")


# --- preconditions ---------------------------------------------------------------------------------


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise TesthostError(
            f"invalid test host name {name!r}: use 2-12 characters, lowercase letters, digits and '-', "
            "starting with a letter (it becomes a hostname and part of an interface name)"
        )


UP_TOOLS = ("systemd-nspawn", "debootstrap", "tar", "chroot", "nft", "ip", "ssh", "ssh-keygen", "dnsmasq")
# `down` must work on a machine where `up` cannot (a half-installed one is where leftovers come from).
DOWN_TOOLS = ("nft", "ip", "umount")


def check_prerequisites(tools: Sequence[str] = UP_TOOLS) -> None:
    if os.geteuid() != 0:
        raise TesthostError("test hosts need root (network namespaces, nftables, systemd-nspawn): run as root")
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        raise TesthostError(
            f"missing tools: {', '.join(missing)}; install them with `make bootstrap` "
            "(Debian packages systemd-container, debootstrap, nftables, iproute2, openssh-client)"
        )
    for feature in ("net", "pid", "mnt", "uts", "ipc"):
        if not Path(f"/proc/self/ns/{feature}").exists():
            raise TesthostError(f"this kernel lacks {feature} namespaces, which systemd-nspawn needs")
    # veth support shows itself when the first pair is made: `ip link add` fails with the kernel's reason.


# --- status ----------------------------------------------------------------------------------------


def _supervisor_pids(state: StateDir, name: str) -> list[int]:
    return processes.matching("-m", SUPERVISOR, name, str(state.host_dir(name) / "rootfs"))


def _nspawn_pids(state: StateDir, name: str) -> list[int]:
    return processes.matching("systemd-nspawn", f"--directory={state.host_dir(name) / 'rootfs'}")


def _container_inits(state: StateDir, name: str) -> list[int]:
    return [child for pid in _nspawn_pids(state, name) for child in processes.children(pid)]


def host_state(state: StateDir, record: HostRecord) -> tuple[str, float | None]:
    """running (booted, SSH answers), booting (container up, SSH not yet), stale (no supervisor)."""
    if not _supervisor_pids(state, record.name):
        return "stale", None
    inits = _container_inits(state, record.name)
    if not inits:
        return "booting", None
    started = processes.started_at(inits[0])
    uptime = time.time() - started if started else None
    return ("running" if _port_open(record.address, 22) else "booting"), uptime


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def list_hosts(state: StateDir | None = None) -> list[Host]:
    state = state or StateDir()
    hosts = []
    for name in state.names():
        record = state.read_record(name)
        if record is None:
            hosts.append(Host(name=name, address="-", ssh_key=state.ssh_key, state="incomplete"))
            continue
        status, uptime = host_state(state, record)
        hosts.append(Host(record.name, record.address, state.ssh_key, status, uptime, record.index, record.release))
    return hosts


def get(name: str, state: StateDir | None = None) -> Host:
    state = state or StateDir()
    check_name(name)  # the name becomes a path under the state directory
    record = state.read_record(name)
    if record is None:
        raise TesthostError(f"no test host named {name!r}; see `{state.command('list')}`")
    status, uptime = host_state(state, record)
    return Host(record.name, record.address, state.ssh_key, status, uptime, record.index, record.release)


# --- up --------------------------------------------------------------------------------------------


def _used_indexes(state: StateDir) -> set[int]:
    used = set()
    for name in state.names():
        record = state.read_record(name)
        if record:
            used.add(record.index)
    # Hosts of other state directories, including ones still booting, hold their index through a claim.
    used |= {claim.index for claim in network.claims()}
    # An address already configured on this machine (another tool, a leftover) is in use too.
    addrs = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    used |= {int(m) for m in re.findall(r"inet 10\.213\.(\d+)\.\d+/", addrs)}
    return used


def _plan(state: StateDir, name: str, index: int | None, release: str) -> HostRecord:
    """Check the name and index, creating nothing; called under both locks, before `_reserve`."""
    existing = state.read_record(name) if state.host_dir(name).exists() else None
    if state.host_dir(name).exists():
        status = host_state(state, existing)[0] if existing else "incomplete"
        hint = "" if status in ("running", "booting") else " (left by an interrupted or killed run)"
        raise TesthostError(
            f"test host {name!r} already exists and is {status}{hint}; "
            f"remove it first with `{state.command('down ' + name)}`"
        )
    netns = veth = network.PREFIX + name
    foreign = _foreign_owner(state, netns)
    if foreign:
        raise TesthostError(
            f"test host name {name!r} is in use by the state directory {foreign}; pick another name "
            f"or remove it with `mailforge testhost --state-dir {foreign} down {name}`"
        )
    if netns in network.existing_netns() or veth in network.existing_links():
        raise TesthostError(
            f"network namespace or interface {netns} already exists (a leftover?); "
            f"clean it with `{state.command('down --all')}`"
        )
    used = _used_indexes(state)
    if index is None:
        free = [i for i in range(1, network.MAX_INDEX + 1) if i not in used]
        if not free:
            raise TesthostError("all 254 test host addresses are in use; remove some hosts first")
        index = free[0]
    elif not 1 <= index <= network.MAX_INDEX:
        raise TesthostError(f"--index must be between 1 and {network.MAX_INDEX}, not {index}")
    elif index in used:
        raise TesthostError(
            f"index {index} (address {network.address(index)}) is already used by another test host "
            "or interface; pick another --index or leave it out to take the first free one"
        )
    record = HostRecord(
        name=name,
        index=index,
        address=network.address(index),
        gateway=network.gateway(index),
        netns=netns,
        veth=veth,
        created=time.time(),
        release=release,
    )
    return record


def _reserve(state: StateDir, record: HostRecord) -> None:
    """Take the name and index: the machine-wide claim first, then host.json."""
    network.claim(record.netns, state.root, record.index)
    state.write_record(record)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block is done, so a reservation is never half made or half undone.

    A SIGINT that arrived meanwhile is raised as KeyboardInterrupt as soon as the block ends.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _prepare_rootfs(state: StateDir, record: HostRecord, base: Path) -> Path:
    rootfs = state.host_dir(record.name) / "rootfs"
    rootfs.mkdir(mode=0o755)
    if not _mount_overlay(rootfs, base, _mount_disk(state.host_dir(record.name))):
        processes.run(["tar", "-C", str(rootfs), "--numeric-owner", "-xpf", str(base)], what="unpacking the base image")
    etc = rootfs / "etc"
    (etc / "hostname").write_text(record.name + "\n")
    (etc / "hosts").write_text(
        f"127.0.0.1\tlocalhost\n{record.address}\t{record.fqdn}\t{record.name}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    # The supervisor's resolver on the gateway (see supervisor.py): apt's mirror resolves through it; reverse
    # lookups of test addresses and reserved names are answered there and never leave this machine.
    (etc / "resolv.conf").unlink(missing_ok=True)  # may be a symlink in an image
    (etc / "resolv.conf").write_text(f"nameserver {record.gateway}\n")
    (etc / "machine-id").write_text("")  # systemd generates a unique one at first boot
    processes.run(["chroot", str(rootfs), "ssh-keygen", "-A"], what="generating SSH host keys")
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    public = state.ssh_key.with_suffix(".pub").read_text()
    (ssh_dir / "authorized_keys").write_text(public)
    (ssh_dir / "authorized_keys").chmod(0o600)
    return rootfs


def _mount_disk(host_dir: Path) -> Path:
    """The host's own disk: a journaled ext4 in a sparse file, loop-mounted; its writable layer lives there.

    A server's disk, not this machine's: this machine's root is an ext4 without a journal, where each new
    inode is searched past every inode deleted in the last half minute (the kernel's `recently_deleted()`
    in `find_inode_bit()`, used only without a journal), so a host that creates and deletes many files (a
    mail server: queue files, Maildir files, Dovecot's uidlist and index) pays several times the CPU it
    would on a journaled file system. Falls back to the state directory where loop devices are missing.
    The file is new and sparse, so its inode tables read as zeros: no background zeroing (noinit_itable).
    https://docs.kernel.org/admin-guide/ext4.html
    """
    disk, image_file = host_dir / "disk", host_dir / "disk.img"
    disk.mkdir(mode=0o755)
    with open(image_file, "wb") as sparse:
        sparse.truncate(DISK_BYTES)
    made = subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", str(image_file)],
        capture_output=True,
    )
    if made.returncode == 0:
        mounted = subprocess.run(["mount", "-o", "loop,noinit_itable", str(image_file), str(disk)], capture_output=True)
        if mounted.returncode == 0:
            return disk
    image_file.unlink()
    return host_dir


def _mount_overlay(rootfs: Path, base: Path, layers: Path) -> bool:
    """The host's root as an overlay of the shared unpacked image: instant, and only changes use disk.

    Its writable layer goes in `layers` (the host's disk). Falls back to unpacking the tarball where
    overlayfs is missing. `down` unmounts it (`_mounts_under`).
    https://docs.kernel.org/filesystems/overlayfs.html
    """
    lower = base.with_suffix(".d")
    if not (lower / ".complete").exists():
        return False
    upper, work = layers / "upper", layers / "work"
    upper.mkdir(mode=0o755)
    work.mkdir(mode=0o700)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    mounted = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(rootfs)], capture_output=True)
    return mounted.returncode == 0


def _start(state: StateDir, record: HostRecord, rootfs: Path) -> None:
    log = open(state.host_dir(record.name) / "console.log", "ab")  # noqa: SIM115 (handed to the child)
    with log:
        subprocess.Popen(
            [sys.executable, "-m", SUPERVISOR, record.name, str(rootfs), record.netns, record.gateway],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C in the terminal that ran `up` must not reach a host already up.
            start_new_session=True,
            close_fds=True,
        )


def wait_for_ssh(host: Host, timeout: float = SSH_TIMEOUT, console: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host.address, 22):
            probe = subprocess.run(host.ssh_argv("true"), capture_output=True, timeout=30)
            if probe.returncode == 0:
                return
        time.sleep(0.2)
    tail = ""
    if console and console.exists():
        tail = "\nlast console lines:\n" + "\n".join(console.read_text(errors="replace").splitlines()[-20:])
    raise TesthostError(f"{host.name} did not answer SSH on {host.address} within {timeout:.0f}s{tail}")


def up(
    name: str,
    *,
    release: str = releases.TEST_HOST_DEFAULT,
    index: int | None = None,
    state: StateDir | None = None,
    log: Callable[[str], None] = print,
) -> Host:
    """Create and boot a host of `release` (a codename in mailforge/releases.py); on any failure or
    interrupt, remove what was made and re-raise."""
    state = state or StateDir()
    check_name(name)
    try:
        debian = releases.by_codename(release)
    except releases.UnknownRelease as exc:
        raise TesthostError(str(exc)) from None
    check_prerequisites()
    record: HostRecord | None = None
    try:
        # Locks first, then the deferral: Ctrl-C while waiting for another run's lock still works.
        with state.locked(), network.machine_lock(), _sigint_deferred():
            planned = _plan(state, name, index, debian.codename)
            # From here on the cleanup below runs: a Ctrl-C that slipped in just before the deferral
            # (Python runs its handler a few instructions late) can land inside `_reserve`.
            record = planned
            _reserve(state, record)
        with state.locked():
            state.ensure_ssh_key()
        base = image.ensure_base_image(state, debian, log=log)  # one debootstrap at a time: its own lock
        record = dataclasses.replace(record, image=base.name)
        state.write_record(record)
        with network.machine_lock():  # the table, and an image's unpacked tree, are shared machine-wide
            image.ensure_base_tree(base)
            network.ensure_nft_table()
        rootfs = _prepare_rootfs(state, record, base)
        network.create(record.netns, record.veth, record.index)
        _start(state, record, rootfs)
        host = Host(record.name, record.address, state.ssh_key, "running", 0.0, record.index, record.release)
        wait_for_ssh(host, console=state.host_dir(name) / "console.log")
    except BaseException:
        # Ctrl-C included: leave nothing behind that a later `down --all` would have to find. Only what
        # this run reserved: a refusal (name taken) must not remove the host that holds the name.
        if record is not None:
            with _sigint_deferred():  # a second Ctrl-C must not cut the cleanup short
                down(name, state=state)
        raise
    return host


# --- down ------------------------------------------------------------------------------------------


def _stop_processes(state: StateDir, name: str, netns: str, grace: float) -> None:
    supervisors = _supervisor_pids(state, name)
    processes.kill(supervisors, signal.SIGTERM)  # orderly poweroff through nspawn
    everything = supervisors + _nspawn_pids(state, name)
    if not processes.wait_gone(everything, grace):
        # Killing the container's PID 1 makes the kernel kill every process in its PID namespace.
        processes.kill(_container_inits(state, name), signal.SIGKILL)
        processes.kill(everything + _nspawn_pids(state, name), signal.SIGKILL)
    # A container whose nspawn was killed (kill -9 of a run) lives on, parentless: find it by namespace.
    strays = network.netns_pids(netns) if netns in network.existing_netns() else []
    processes.kill(strays, signal.SIGKILL)
    everything += strays
    if not processes.wait_gone(everything, 5):
        raise TesthostError(f"processes of {name} did not exit: {everything}")


def _nspawn_directory(pid: int) -> str:
    args = processes.cmdline(pid)
    return next((arg.split("=", 1)[1] for arg in args if arg.startswith("--directory=")), "")


def _foreign_owner(state: StateDir, netns: str) -> str | None:
    """Who, other than this state directory, owns `netns` (a path to show), or None if it is ours/nobody's."""
    claim = network.read_claim(netns)
    if claim is not None:
        return None if claim.state_dir == str(state.root) or claim.orphaned else claim.state_dir
    # Unclaimed: made by hand or left by a killed run, unless a container still runs in it (a host of
    # a run older than claims): that one is someone's live host, not a leftover.
    ours = str(state.hosts_dir) + "/"
    for pid in processes.matching("systemd-nspawn", f"--network-namespace-path=/run/netns/{netns}"):
        directory = _nspawn_directory(pid)
        if not directory.startswith(ours):
            return directory or f"the systemd-nspawn process {pid}"
    return None


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path) + "/"
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].encode().decode("unicode_escape")
        if target == str(path) or target.startswith(prefix):
            found.append(target)
    return sorted(found, key=len, reverse=True)


def down(name: str, *, state: StateDir | None = None, grace: float = 8.0) -> bool:
    """Stop and delete a host and everything it made. Returns False if there was nothing to remove.

    Never touches a namespace another state directory owns (see `_foreign_owner`).
    """
    state = state or StateDir()
    host_dir = state.host_dir(name)
    record = _record_or_none(state, name)
    netns = record.netns if record else network.PREFIX + name
    veth = record.veth if record else network.PREFIX + name
    foreign = _foreign_owner(state, netns)
    if foreign and not host_dir.exists():
        raise TesthostError(
            f"test host {name!r} is not in {state.root}: it belongs to {foreign}; "
            f"use `mailforge testhost --state-dir {foreign} down {name}`"
        )
    found = host_dir.exists() or (
        not foreign
        and (
            netns in network.existing_netns()
            or veth in network.existing_links()
            or network.read_claim(netns) is not None
        )
    )
    _stop_processes(state, name, "" if foreign else netns, grace)
    if not foreign:
        network.destroy(netns, veth)
        network.release(netns)
    # The root (an overlay whose writable layer is on the disk) before the disk itself.
    for path in (host_dir / "rootfs", host_dir / "disk"):
        for target in _mounts_under(path):
            subprocess.run(["umount", "-l", target], capture_output=True)
        if _mounts_under(path):
            raise TesthostError(f"{path} still has mounts; not deleting it (umount them, then run down again)")
    shutil.rmtree(host_dir, ignore_errors=True)
    if host_dir.exists():
        raise TesthostError(f"could not delete {host_dir} (something still writes into it?); run down again")
    _remove_nft_table_if_unused()
    return found


def _record_or_none(state: StateDir, name: str) -> HostRecord | None:
    """host.json if readable; a corrupt one must not stop `down`, which is how it gets removed."""
    try:
        return state.read_record(name)
    except TesthostError:
        return None


def _remove_nft_table_if_unused() -> None:
    # The table serves the hosts of every state directory: it goes with the machine's last one.
    with network.machine_lock():
        if not network.any_test_host_left():
            network.remove_nft_table()


def down_all(state: StateDir | None = None) -> list[str]:
    """Remove every host of this state directory, and leftovers that no live state directory owns.

    Leftovers: claims of this state directory without a host directory, claims of deleted state
    directories, and `mf-*` namespaces/veths without a claim or a container (made by hand, or by a killed
    run). Hosts of other state directories, running or booting, are left alone: tests run side by side.
    """
    state = state or StateDir()
    names = set(state.names())
    for claim in network.claims():
        if claim.state_dir == str(state.root) or claim.orphaned:
            names.add(claim.netns[len(network.PREFIX) :])
    interfaces = network.existing_netns() | network.existing_links()
    for netns in sorted(n for n in interfaces if n.startswith(network.PREFIX)):
        if _foreign_owner(state, netns) is None:
            names.add(netns[len(network.PREFIX) :])
    removed = [name for name in sorted(names) if down(name, state=state)]
    _remove_nft_table_if_unused()
    return removed
