"""Issue 15 item 2: mailforge/remote.py, the one way the operations commands choose a host and run commands on it:
which host the options name, the runner each kind of host gets, SSH command lines, and runs on this machine."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailforge import remote
from mailforge.remote import (
    Destination,
    LocalRunner,
    SshRunner,
    Target,
    TargetError,
    inventory_host_data,
    runner_for,
    ssh_runner_for,
    ssh_runner_from_data,
    target_from,
)
from mailforge.testhost.state import STATE_ENV


def parser(inventory: remote.InventoryStyle) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    if inventory == "positional":
        p.add_argument("target", nargs="?")
    remote.add_arguments(p, "where", inventory=inventory, host_help="h", testhost_help="t", sudo_help="s")
    return p


def option_args(*argv: str) -> argparse.Namespace:
    return parser("option").parse_args(list(argv))


# -- which host the options name --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        ([], Target("local", "")),
        (["--host", "admin@192.0.2.1"], Target("ssh", "admin@192.0.2.1")),
        (["--testhost", "ops"], Target("testhost", "ops")),
        (["--inventory", "inv.py", "mail1"], Target("inventory", "mail1", "inv.py")),
    ],
    ids=["none-is-this-machine", "host", "testhost", "inventory"],
)
def test_option_style_target(argv: list[str], target: Target) -> None:
    assert target_from(option_args(*argv), inventory="option") == target


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--testhost", "a", "--host", "root@b"], "--testhost and --host name two different hosts: give one"),
        (["--host", "root@b", "--inventory", "inv.py", "m"], "--host and --inventory name two different hosts"),
        (["--testhost", "a", "--inventory", "inv.py", "m"], "--testhost and --inventory name two different hosts"),
    ],
)
def test_option_style_refuses_two_hosts(argv: list[str], message: str) -> None:
    with pytest.raises(TargetError, match=message):
        target_from(option_args(*argv), inventory="option")


def test_inventory_option_takes_the_file_and_the_host() -> None:
    with pytest.raises(SystemExit):
        option_args("--inventory", "inv.py")


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["mail1"], Target("inventory", "mail1", "inventories/prod.py")),
        (["mail1", "--inventory", "inv.py"], Target("inventory", "mail1", "inv.py")),
        (["--testhost", "bak-src"], Target("testhost", "bak-src")),
        (["--host", "root@192.0.2.1"], Target("ssh", "root@192.0.2.1")),
    ],
)
def test_positional_style_target(argv: list[str], target: Target) -> None:
    args = parser("positional").parse_args(argv)
    assert target_from(args, args.target, inventory="positional") == target


def test_positional_style_needs_a_host() -> None:
    args = parser("positional").parse_args([])
    with pytest.raises(TargetError, match=r"name the host once.*got none"):
        target_from(args, args.target, inventory="positional")


def test_label_is_the_address_part() -> None:
    assert Target("ssh", "admin@192.0.2.1").label == "192.0.2.1"


# -- runners for each kind of host ------------------------------------------------------------------


def test_this_machine_gets_a_local_runner() -> None:
    args = option_args("--sudo")
    runner = runner_for(target_from(args, inventory="option"), args)
    assert runner == LocalRunner(sudo=True)
    assert runner.describe() == "this machine"


def test_ssh_runner_carries_the_ssh_options() -> None:
    args = option_args("--host", "admin@192.0.2.1", "--ssh-key", "/k", "--ssh-port", "2222", "--sudo")
    runner = runner_for(target_from(args, inventory="option"), args)
    assert runner == SshRunner("admin@192.0.2.1", key="/k", port=2222, sudo=True)


def test_only_a_remote_host_for_commands_that_stream_over_ssh() -> None:
    args = option_args()
    with pytest.raises(TargetError, match="remote host"):
        ssh_runner_for(target_from(args, inventory="option"), args)


@pytest.fixture
def fake_resolver() -> Iterator[list[str]]:
    asked: list[str] = []

    def resolve(name: str) -> Destination:
        asked.append(name)
        if name != "known":
            raise TargetError(f"no fake host named {name!r}")
        return Destination("192.0.2.7", "root", "/fake/key", ("StrictHostKeyChecking=no",))

    saved = dict(remote._resolvers)
    remote.register("fakehost", resolve)
    yield asked
    remote._resolvers.clear()
    remote._resolvers.update(saved)


def test_a_registered_resolver_names_the_destination(fake_resolver: list[str]) -> None:
    args = option_args("--sudo")
    runner = runner_for(Target("fakehost", "known"), args)  # type: ignore[arg-type]
    assert runner == SshRunner("root@192.0.2.7", key="/fake/key", sudo=True, options=("StrictHostKeyChecking=no",))
    assert fake_resolver == ["known"]


def test_a_resolver_refuses_an_unknown_name(fake_resolver: list[str]) -> None:
    with pytest.raises(TargetError, match="no fake host named 'ghost'"):
        runner_for(Target("fakehost", "ghost"), option_args())  # type: ignore[arg-type]


def test_an_unregistered_kind_is_named() -> None:
    with pytest.raises(TargetError, match="--nosuchkind is not available"):
        remote.resolve("nosuchkind", "x")


def test_the_testhost_resolver_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operations code never imports mailforge.testhost: the installed entry point leads to it.
    monkeypatch.setattr(remote, "_resolvers", {})
    monkeypatch.setenv(STATE_ENV, str(tmp_path))  # an empty state directory
    with pytest.raises(TargetError, match="no test host named 'ghost'"):
        remote.resolve("testhost", "ghost")
    assert remote._resolvers["testhost"].__module__ == "mailforge.testhost.resolver"


# -- inventory hosts --------------------------------------------------------------------------------


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no group_data/ here: the inventory alone
    path = tmp_path / "inv.py"
    path.write_text(
        "mailservers = [('mail1', {'ssh_hostname': '192.0.2.10', 'ssh_user': 'admin', 'ssh_key': '/k'}),"
        " ('mail2', {})]\n"
    )
    return path


def test_inventory_host_reached_as_pyinfra_would(inventory: Path) -> None:
    args = option_args("--inventory", str(inventory), "mail1")
    runner = runner_for(target_from(args, inventory="option"), args)
    assert isinstance(runner, SshRunner)
    assert (runner.destination, runner.key) == ("admin@192.0.2.10", "/k")


def test_unknown_inventory_host_is_named_with_the_others(inventory: Path) -> None:
    with pytest.raises(TargetError, match=r"no host 'mail3' \(it has: mail1, mail2\)"):
        inventory_host_data(str(inventory), "mail3")


def test_missing_inventory_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no inventory file"):
        inventory_host_data(str(tmp_path / "none.py"), "mail1")


# -- SSH command lines ------------------------------------------------------------------------------


def test_ssh_argv_has_key_config_and_batch_mode():
    argv = SshRunner("root@10.213.1.2", key="/state/id_ed25519", config="/state/ssh_config").argv(["postqueue", "-j"])
    assert argv == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-F",
        "/state/ssh_config",
        "-i",
        "/state/id_ed25519",
        "-o",
        "IdentitiesOnly=yes",
        "--",
        "root@10.213.1.2",
        "postqueue -j",
    ]


def test_ssh_remote_command_is_quoted():
    argv = SshRunner("root@10.213.1.2").argv(["postcat", "-q", "X; rm -rf /"])
    assert shlex.split(argv[-1]) == ["postcat", "-q", "X; rm -rf /"]


def test_ssh_sudo_prefix():
    assert SshRunner("u@10.213.1.2", sudo=True).argv(["postqueue", "-j"])[-1] == "sudo -n postqueue -j"


def test_ssh_destination_from_inventory_data() -> None:
    runner = ssh_runner_from_data(
        "mail1",
        {"ssh_hostname": "192.0.2.10", "ssh_user": "admin", "ssh_port": 2222, "ssh_key": "/k",
         "ssh_known_hosts_file": "/dev/null", "ssh_strict_host_key_checking": "off", "_sudo": True},
    )  # fmt: skip
    argv = runner.argv(["true"])
    assert argv[-2:] == ["admin@192.0.2.10", "sudo -n true"]
    assert {"-p", "2222", "-i", "/k", "UserKnownHostsFile=/dev/null", "StrictHostKeyChecking=no"} <= set(argv)


def test_ssh_destination_defaults_to_the_host_name() -> None:
    assert ssh_runner_from_data("mail.example.org", {}).argv(["true"])[-2] == "mail.example.org"


# -- runs on this machine ---------------------------------------------------------------------------


def test_local_run_passes_stdin_and_returns_output() -> None:
    proc = LocalRunner().run(["tr", "a-z", "A-Z"], stdin="queue ids\n")
    assert (proc.returncode, proc.stdout) == (0, "QUEUE IDS\n")


def test_local_run_reports_failure_without_raising() -> None:
    proc = LocalRunner().run(["sh", "-c", "echo why >&2; exit 3"])
    assert (proc.returncode, proc.stderr) == (3, "why\n")


def test_local_run_argv_is_not_a_shell_line(tmp_path: Path) -> None:
    proc = LocalRunner().run(["echo", f"x; touch {tmp_path / 'injected'}"])
    assert proc.stdout.strip() == f"x; touch {tmp_path / 'injected'}"
    assert not (tmp_path / "injected").exists()


def test_queue_cli_runs_locally_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # A postqueue on PATH that prints an empty queue: `mailforge queue list` without a host runs it here.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "postqueue"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    from mailforge.cli import main

    assert main(["queue", "list"]) == 0
    assert "-- 0 message(s), 0 bytes" in capsys.readouterr().out
    assert (bin_dir / "args").read_text() == "-j\n"


# -- the operations code does not depend on the test-host code --------------------------------------

OPERATIONS = ["mailforge/remote.py", "mailforge/queue.py", "mailforge/queue_cli.py", "mailforge/backup"]


@pytest.mark.parametrize("where", OPERATIONS)
def test_operations_code_does_not_import_testhost(where: str) -> None:
    import ast

    root = Path(__file__).resolve().parents[2] / where
    for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            assert not [n for n in names if n.startswith("mailforge.testhost")], path
