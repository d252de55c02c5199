"""Fixtures for e2e tests: real test hosts (systemd-nspawn), real pyinfra runs, testinfra over paramiko.

Each module owns its hosts (names unique per module, so xdist can run modules side by side) and they are
always torn down, even when a test fails.

Releases: every module runs on the test hosts' default release (mailforge/releases.py TEST_HOST_DEFAULT); a
module that names more in a module-level ``RELEASES = ("trixie", "bookworm")`` runs once per release, one after
the other (its hosts are made again for each). ``pytest --release NAME`` (repeatable) runs every module on
exactly those releases instead. Tests read the release through the ``release`` fixture.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import testinfra

from lab.mail import Server, server_of
from lab.provision import DeployResult, run_deploy, write_inventory
from lab.teardown import torn_down
from lab.web import ENV, MAIL_NAME, web_data
from mailforge import releases
from mailforge.testhost import Host, StateDir, hosts

pytestmark = pytest.mark.e2e


def pytest_addoption(parser: pytest.Parser) -> None:
    supported = [r.codename for r in releases.RELEASES if r.supported]
    parser.addoption(
        "--release",
        action="append",
        choices=supported,
        help="run every e2e module on this release of the test hosts (repeatable); "
        "default: the module's RELEASES, else " + releases.TEST_HOST_DEFAULT,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "release" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--release") or getattr(metafunc.module, "RELEASES", None)
    codenames = list(chosen or (releases.TEST_HOST_DEFAULT,))
    metafunc.parametrize(
        "release", [releases.by_codename(c) for c in codenames], ids=codenames, scope="module", indirect=True
    )


@pytest.fixture(scope="module")
def release(request: pytest.FixtureRequest) -> releases.Release:
    """The release this module's test hosts run (parametrized by pytest_generate_tests)."""
    value: releases.Release = request.param
    return value


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing browser test's report lists the screenshots it saved (``item.screenshots``,
    test_postfixadmin_ui.py)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    shots = getattr(item, "screenshots", None)
    if report.failed and shots:
        report.sections.append(("screenshots", "\n".join(str(p) for p in shots)))


@pytest.fixture(scope="session", autouse=True)
def _needs_root() -> None:
    # e2e tests are the proof the product works: they fail loudly instead of skipping.
    if os.geteuid() != 0:
        pytest.fail("e2e tests need root (network namespaces, systemd-nspawn); run `make test` as root")


@pytest.fixture(scope="session")
def state() -> StateDir:
    return StateDir()


@pytest.fixture(scope="module")
def make_host(state: StateDir, release: releases.Release) -> Iterator[Callable[..., Host]]:
    """Create test hosts for one module, of the module's release unless a test names one; every one of them
    is removed when the module (for that release) ends."""
    with torn_down(state, report=None) as owned:

        def _make(name: str, index: int | None = None, *, release: str = release.codename) -> Host:
            owned.add(name)  # a host of this name left by a killed earlier run would make `up` refuse
            return hosts.up(name, release=release, index=index, state=state, log=lambda _m: None)

        yield _make
    assert not owned.errors, owned.errors


def infra(host: Host) -> testinfra.host.Host:
    return testinfra.get_host(f"paramiko://root@{host.address}", ssh_identity_file=str(host.ssh_key))


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


# --- a deployed web host (lab.web's settings) for the web modules: each names its own host in WEB_HOST ---------


@pytest.fixture(scope="module")
def web_host(make_host: Callable[..., Host], request: pytest.FixtureRequest) -> Host:
    return make_host(request.module.WEB_HOST)


@pytest.fixture(scope="module")
def web_inventory(web_host: Host, module_tmp: Path, state: StateDir) -> Path:
    entry = (web_host.name, web_host.address, web_data())
    return write_inventory(module_tmp / "web_inventory.py", [entry], state.ssh_key)


@pytest.fixture(scope="module")
def web_deployed(web_inventory: Path) -> DeployResult:
    result = run_deploy(web_inventory, env=ENV)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def web_server(web_deployed: DeployResult, web_host: Host, module_tmp: Path) -> Server:
    return server_of(web_host, MAIL_NAME, module_tmp)


@pytest.fixture(scope="module")
def web(web_deployed: DeployResult, web_host: Host) -> testinfra.host.Host:
    """The deployed web host, through testinfra."""
    return infra(web_host)
