"""Run a command on a server: this machine, any SSH destination, an inventory host or a test host.

One place for the operations commands (`mailforge queue`, `mailforge backup` / `restore`, and every later
one) to choose the host and run commands there:

- the runners: `LocalRunner` (this machine) and `SshRunner` (the system ssh client);
- `add_arguments`: the argparse options that name the host (``--host USER@ADDR``, ``--inventory``,
  ``--testhost NAME``, the SSH options and ``--sudo``);
- `target_from` (which host the options name) and `runner_for` (the runner for it).

Test hosts are not known here: the test-host area registers a resolver under the ``mailforge.remote``
entry-point group (pyproject.toml), so operations code never imports ``mailforge.testhost`` and the
operations CLI works where the test-host code is absent or unusable (another machine, no root).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal, Protocol

# -- runners ----------------------------------------------------------------------------------------


class Runner(Protocol):
    def run(self, argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]: ...

    def describe(self) -> str: ...


@dataclass
class LocalRunner:
    sudo: bool = False
    timeout: float = 120

    def run(self, argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        full = ["sudo", "-n", *argv] if self.sudo else list(argv)
        return subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=self.timeout, check=False)

    def describe(self) -> str:
        return "this machine"


@dataclass
class SshRunner:
    """Runs commands on ``destination`` (``user@host``) with the system ssh client.

    The remote command is one string that the remote shell splits: it is built with ``shlex.join``,
    so queue IDs and options cannot inject shell syntax. ``BatchMode`` makes a missing key fail fast
    instead of prompting for a password.
    """

    destination: str
    key: str | None = None
    config: str | None = None
    port: int | None = None
    sudo: bool = False
    options: tuple[str, ...] = ()
    timeout: float = 120
    ssh: str = "ssh"

    def argv(self, argv: Sequence[str]) -> list[str]:
        cmd = [self.ssh, "-o", "BatchMode=yes"]
        if self.config:
            cmd += ["-F", self.config]
        if self.key:
            cmd += ["-i", self.key, "-o", "IdentitiesOnly=yes"]
        if self.port:
            cmd += ["-p", str(self.port)]
        for opt in self.options:
            cmd += ["-o", opt]
        remote = ["sudo", "-n", *argv] if self.sudo else list(argv)
        return [*cmd, "--", self.destination, shlex.join(remote)]

    def run(self, argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv), input=stdin, capture_output=True, text=True, timeout=self.timeout, check=False
        )

    def describe(self) -> str:
        return self.destination


# -- which host -------------------------------------------------------------------------------------


class TargetError(ValueError):
    """The options do not name one usable host; the message says which and how to fix it."""


Kind = Literal["local", "ssh", "inventory", "testhost"]


@dataclass(frozen=True)
class Target:
    kind: Kind
    name: str  # the inventory host, test host or USER@ADDR ("" for this machine)
    inventory: str | None = None

    @property
    def label(self) -> str:
        return self.name.rsplit("@", 1)[-1]


# How a command spells "an inventory host": `mailforge queue ... --inventory FILE HOST` (an option taking
# both), or `mailforge backup HOST [--inventory FILE]` (a positional host, the file defaulting).
InventoryStyle = Literal["option", "positional"]
DEFAULT_INVENTORY = "inventories/prod.py"


def add_arguments(
    parser: argparse.ArgumentParser,
    title: str,
    *,
    inventory: InventoryStyle,
    host_help: str,
    testhost_help: str,
    inventory_help: str | None = None,
    sudo_help: str,
) -> argparse._ArgumentGroup:
    """The options that name the host and how to reach it, as one group of ``parser`` (returned, so a command
    can add its own options of the same kind)."""
    g = parser.add_argument_group(title)
    if inventory == "positional":
        g.add_argument("--inventory", metavar="FILE", help=inventory_help)
        g.add_argument("--testhost", metavar="NAME", help=testhost_help)
        g.add_argument("--host", metavar="USER@ADDR", help=host_help)
    else:
        g.add_argument("--host", metavar="USER@ADDR", help=host_help)
        g.add_argument("--testhost", metavar="NAME", help=testhost_help)
        g.add_argument("--inventory", nargs=2, metavar=("FILE", "HOST"), help=inventory_help)
    g.add_argument("--ssh-key", metavar="PATH", help="private key for --host")
    g.add_argument("--ssh-config", metavar="PATH", help="ssh_config file for --host")
    g.add_argument("--ssh-port", type=int, metavar="PORT")
    g.add_argument("--sudo", action="store_true", help=sudo_help)
    return g


def target_from(args: argparse.Namespace, host: str | None = None, *, inventory: InventoryStyle) -> Target:
    """The host the options of `add_arguments` name, with the same ``inventory`` style.

    "option": at most one of --host, --testhost, --inventory FILE HOST; none means this machine.
    "positional": exactly one of HOST (the command's positional inventory host, ``host``), --testhost, --host.
    """
    if inventory == "option":
        file, inventory_host = args.inventory or (None, None)
        given = [n for n, v in (("--testhost", args.testhost), ("--host", args.host), ("--inventory", file)) if v]
        if len(given) > 1:
            raise TargetError(f"{' and '.join(given)} name two different hosts: give one")
        if file:
            return Target("inventory", inventory_host, file)
        if args.testhost:
            return Target("testhost", args.testhost)
        if args.host:
            return Target("ssh", args.host)
        return Target("local", "")
    given = [n for n, v in (("HOST", host), ("--testhost", args.testhost), ("--host", args.host)) if v]
    if len(given) != 1:
        raise TargetError(
            "name the host once: HOST (with --inventory), --testhost NAME or --host USER@ADDR; "
            f"got {' and '.join(given) or 'none'}"
        )
    if args.inventory and not host:
        raise TargetError("--inventory goes with HOST (an inventory host), not with --testhost or --host")
    if host:
        return Target("inventory", host, args.inventory or DEFAULT_INVENTORY)
    if args.testhost:
        return Target("testhost", args.testhost)
    return Target("ssh", args.host)


# -- test hosts (and any other kind of named host) through registered resolvers ----------------------


@dataclass(frozen=True)
class Destination:
    """Where a named host is and how to log in: what a resolver returns."""

    address: str
    user: str = "root"
    key: str | None = None
    options: tuple[str, ...] = ()


Resolver = Callable[[str], Destination]
ENTRY_POINT_GROUP = "mailforge.remote"
_resolvers: dict[str, Resolver] = {}


def register(kind: str, resolver: Resolver) -> None:
    """Make ``kind`` (e.g. "testhost") resolvable; what the entry points do, and tests may do directly."""
    _resolvers[kind] = resolver


def resolve(kind: str, name: str) -> Destination:
    """``name``'s destination through the resolver registered for ``kind`` (loaded from the entry points on
    first use). A resolver raises TargetError for a name it does not know."""
    if kind not in _resolvers:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=kind):
            register(kind, ep.load())
            break
        else:
            raise TargetError(f"--{kind} is not available: mailforge's {kind} area is not installed")
    return _resolvers[kind](name)


# -- inventory hosts --------------------------------------------------------------------------------


def inventory_host_data(inventory: str, name: str, *, cwd: Path | None = None) -> dict[str, Any]:
    """An inventory host's data as pyinfra sees it (the inventory with group_data/ of ``cwd``, by default the
    current directory, as `pyinfra INVENTORY ...` run there would): mailforge.settings' one inventory loader."""
    from mailforge.settings.inventory import InventoryError, host_data  # starts pyinfra: only when needed

    try:
        return host_data(inventory, name, cwd=cwd)
    except InventoryError as exc:
        raise TargetError(str(exc)) from None


def ssh_runner_from_data(name: str, data: Mapping[str, Any]) -> SshRunner:
    """The SSH destination pyinfra would use for an inventory host (its ssh_* data)."""
    address = data.get("ssh_hostname") or name
    user = data.get("ssh_user")
    options = []
    if data.get("ssh_known_hosts_file"):
        options.append(f"UserKnownHostsFile={data['ssh_known_hosts_file']}")
    strict = data.get("ssh_strict_host_key_checking")
    if strict:
        options.append(f"StrictHostKeyChecking={'no' if strict == 'off' else strict}")
    return SshRunner(
        f"{user}@{address}" if user else str(address),
        key=data.get("ssh_key"),
        port=data.get("ssh_port"),
        sudo=bool(data.get("_sudo")),
        options=(*options, "LogLevel=ERROR"),
    )


# -- the runner for a target ------------------------------------------------------------------------


def runner_for(target: Target, args: argparse.Namespace, data: Mapping[str, Any] | None = None) -> Runner:
    """The runner for ``target``, with the SSH options of ``args`` (`add_arguments`). An inventory host's
    ``data`` is looked up unless the caller already has it."""
    if target.kind == "local":
        return LocalRunner(sudo=args.sudo)
    if target.kind == "ssh":
        return SshRunner(target.name, key=args.ssh_key, config=args.ssh_config, port=args.ssh_port, sudo=args.sudo)
    if target.kind == "inventory":
        assert target.inventory is not None
        if data is None:
            data = inventory_host_data(target.inventory, target.name)
        return ssh_runner_from_data(target.name, data)
    found = resolve(target.kind, target.name)
    return SshRunner(
        f"{found.user}@{found.address}",
        key=args.ssh_key or found.key,
        config=args.ssh_config,
        port=args.ssh_port,
        sudo=args.sudo,
        options=found.options,
    )


def ssh_runner_for(target: Target, args: argparse.Namespace, data: Mapping[str, Any] | None = None) -> SshRunner:
    """`runner_for` where only a remote host makes sense (backup streams over ssh's stdin and stdout)."""
    runner = runner_for(target, args, data)
    if not isinstance(runner, SshRunner):
        raise TargetError("this command runs on a remote host: name one")
    return runner
