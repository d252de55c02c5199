"""`--testhost NAME` for the operations commands (mailforge/remote.py): a test host's address and the project's
key, from the state directory. Registered under the ``mailforge.remote`` entry-point group (pyproject.toml), so
remote.py finds it without importing the test-host code."""

from __future__ import annotations

from mailforge.remote import Destination, TargetError
from mailforge.testhost import hosts
from mailforge.testhost.errors import TesthostError

# Test hosts are recreated all day at the same addresses: pinning their host keys is noise (as in testhost ssh).
SSH_OPTIONS = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")


def destination(name: str) -> Destination:
    try:
        host = hosts.get(name)
    except TesthostError as exc:
        raise TargetError(str(exc)) from exc
    return Destination(host.address, "root", str(host.ssh_key), SSH_OPTIONS)
