"""Issue 8: the server survives its own faults with messages in flight, and a deploy killed half-way.

"flt" is deployed once. For each fault, MESSAGES messages with unique Message-IDs stream into port 25 (a
paced client that retries on 4xx and on failed connections, as a sending MTA does); a third of the way in
the host is broken, then repaired, and the harness (lab/faults.py, shared with bench/faults.py)
waits until every accepted message is in the mailbox and the queue is empty. Every fault must end with
each message delivered exactly once, none bounced, nothing damaged, and must have been felt (deferrals or
4xx replies), or the test proved nothing.

"flt-kill" is a fresh host whose first deploy is SIGKILLed while it installs PostfixAdmin (faults.KILL_AT):
the apt-get it started keeps running on the host, holding dpkg's lock. It is re-run at once while
MESSAGES messages wait to get in (refused connections until Postfix is up): the re-run must converge, the
run after it must change nothing, every message must arrive once, and mail and IMAP must work. This runs in
a thread beside the faults, to keep the module's wall time down.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import faults
from lab.mail import ALICE_PASSWORD, DEPLOY_ENV, fetch, message, server_data, server_of, smtp
from lab.provision import DeployResult, run_deploy, write_inventory
from mailforge.testhost import Host, StateDir

MESSAGES = 500  # per fault, paced at faults.RATE (25/s): about 20 s of mail in flight
FAULTS = list(faults.FAULTS)
# What shows that each fault took effect.
FELT: dict[str, Callable[[faults.Outcome], bool]] = {
    "dovecot-stopped": lambda o: "dovecot-lmtp" in o.log and "status=deferred" in o.log,
    "mariadb-stopped": lambda o: any(k.startswith("451 4.3.0") for k in o.injection.tempfails),
    "reboot": lambda o: o.injection.connection_errors > 0,
    "queue-disk-full": lambda o: any(k.startswith("452 4.3.1") for k in o.injection.tempfails),
    "maildir-disk-full": lambda o: "dovecot-lmtp" in o.log and "dsn=4." in o.log and "status=deferred" in o.log,
}


@dataclass(frozen=True)
class KillScenario:
    killed: faults.KilledDeploy
    rerun: DeployResult
    outcome: faults.Outcome  # the messages sent from the kill on
    third: DeployResult


@pytest.fixture(scope="module")
def hosts_pair(make_host: Callable[..., Host]) -> tuple[Host, Host]:
    return make_host("flt"), make_host("flt-kill")


@pytest.fixture(scope="module")
def kill_scenario(hosts_pair: tuple[Host, Host], module_tmp: Path, state: StateDir) -> Iterator[Future[KillScenario]]:
    """Started first, in a thread: the killed deploy, its re-run and the run after (minutes of apt)."""
    target = hosts_pair[1]
    inventory = write_inventory(
        module_tmp / "kill_inventory.py",
        [(target.name, target.address, server_data(target.fqdn, {}))],
        state.ssh_key,
    )

    def scenario() -> KillScenario:
        run = f"kill-{uuid.uuid4().hex[:6]}"
        killed, rerun, outcome = faults.run_killed_deploy(target, inventory, DEPLOY_ENV, faults.KILL_AT, run, MESSAGES)
        third = run_deploy(inventory, env=DEPLOY_ENV) if rerun.ok else rerun
        return KillScenario(killed, rerun, outcome, third)

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(scenario)
        yield future
        # The hosts go down after this fixture: let the deploys finish first.
        failed = future.exception(timeout=3600)
        if failed is not None:
            print(f"\nthe killed-deploy scenario failed: {failed!r}")


@pytest.fixture(scope="module")
def flt(hosts_pair: tuple[Host, Host], kill_scenario: Future[KillScenario], module_tmp: Path, state: StateDir) -> Host:
    host = hosts_pair[0]
    inventory = write_inventory(
        module_tmp / "flt_inventory.py", [(host.name, host.address, server_data(host.fqdn, {}))], state.ssh_key
    )
    result = run_deploy(inventory, env=DEPLOY_ENV)
    assert result.ok, result.explain()
    faults.name_the_client(host)
    return host


@pytest.fixture(scope="module")
def outcomes(flt: Host) -> Callable[[str], faults.Outcome]:
    """Each fault is exercised once, on first use; its tests then read the same outcome."""
    done: dict[str, faults.Outcome] = {}

    def outcome(name: str) -> faults.Outcome:
        if name not in done:
            done[name] = faults.run_fault(flt, faults.FAULTS[name], f"{name}-{uuid.uuid4().hex[:6]}", MESSAGES)
            print(f"\n{faults.HEADER}\n{done[name].row()}")
        return done[name]

    return outcome


def _summary(o: faults.Outcome) -> str:
    i = o.injection
    return (
        f"{o.fault}: accepted {len(i.accepted)}/{i.n}, delivered {o.delivered}, duplicated {o.duplicated}, "
        f"lost {o.lost}, gave up {len(i.gave_up)}, 5xx {i.permfails}, 4xx {dict(i.tempfails)}, "
        f"connection errors {i.connection_errors}, ambiguous {sorted(i.ambiguous)}, queue {o.queue_left}"
    )


# --- faults with messages in flight ----------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_was_felt(outcomes: Callable[[str], faults.Outcome], fault: str) -> None:
    o = outcomes(fault)
    assert FELT[fault](o), _summary(o)


@pytest.mark.parametrize("fault", FAULTS)
def test_every_message_is_accepted_and_delivered(outcomes: Callable[[str], faults.Outcome], fault: str) -> None:
    o = outcomes(fault)
    assert o.recovered, _summary(o)
    assert (o.not_accepted, o.lost, o.queue_left) == (0, 0, 0), _summary(o)


@pytest.mark.parametrize("fault", FAULTS)
def test_no_message_is_delivered_twice(outcomes: Callable[[str], faults.Outcome], fault: str) -> None:
    o = outcomes(fault)
    trail = "\n".join(f"{i}:\n  " + "\n  ".join(lines) for i, lines in o.duplicate_trail.items())
    assert o.duplicated == 0, f"{_summary(o)}\n{trail}"


@pytest.mark.parametrize("fault", FAULTS)
def test_nothing_is_bounced(outcomes: Callable[[str], faults.Outcome], fault: str) -> None:
    o = outcomes(fault)
    bounced = [line for line in o.log.splitlines() if "status=bounced" in line][:5]
    assert (o.injection.permfails, bounced, o.notices) == ({}, [], 0), _summary(o)


@pytest.mark.parametrize("fault", FAULTS)
def test_nothing_is_damaged(outcomes: Callable[[str], faults.Outcome], fault: str) -> None:
    assert outcomes(fault).damage == []


def test_reboot_brings_every_service_back(outcomes: Callable[[str], faults.Outcome], flt: Host) -> None:
    outcomes("reboot")
    enabled = flt.run(f"systemctl is-enabled {' '.join(faults.SERVICES)}", check=False).stdout.split()
    assert faults.services_active(flt)
    assert enabled == ["enabled"] * len(faults.SERVICES)


# --- a deploy killed half-way ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed(kill_scenario: Future[KillScenario]) -> KillScenario:
    return kill_scenario.result(timeout=3600)


def test_deploy_was_killed_mid_run(killed: KillScenario) -> None:
    print(f"\nkilled at {killed.killed.operation!r}, {killed.killed.seconds:.0f} s into the run")
    assert killed.killed.operation == faults.KILL_AT[0]
    assert "Grand total" not in killed.killed.output  # it never reached its summary


def test_rerun_after_kill_converges(killed: KillScenario) -> None:
    assert killed.rerun.ok, killed.rerun.explain()
    assert killed.rerun.changed > 0  # the killed run had left work undone


def test_run_after_the_rerun_changes_nothing(killed: KillScenario) -> None:
    assert killed.third.ok, killed.third.explain()
    assert killed.third.changed == 0, killed.third.explain()


def test_mail_sent_during_the_rerun_arrives_once(killed: KillScenario) -> None:
    o = killed.outcome
    print(f"\n{faults.HEADER}\n{o.row()}")
    assert o.recovered, _summary(o)
    assert (o.not_accepted, o.lost, o.duplicated, o.injection.permfails, o.bounced_lines) == (0, 0, 0, {}, 0), _summary(
        o
    )


def test_killed_then_rerun_host_delivers_and_serves_imap(
    killed: KillScenario, hosts_pair: tuple[Host, Host], module_tmp: Path
) -> None:
    target = hosts_pair[1]
    server = server_of(target, target.fqdn, module_tmp)
    msg = message("sender@remote.test", "alice@example.test")
    with smtp(server) as client:
        client.send_message(msg)
    got = fetch(server, "alice@example.test", ALICE_PASSWORD, msg["Subject"], timeout=60)
    assert got is not None
