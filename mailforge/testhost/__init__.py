"""Disposable systemd-nspawn test hosts (DESIGN.md section 4).

A test host is a Debian root filesystem (of a release in mailforge/releases.py, Debian 12 by default) booted
by ``systemd-nspawn`` with real systemd as PID 1, inside its own network namespace, reachable from this
machine at ``10.213.N.2`` over a veth pair.
"""

from mailforge.testhost.errors import TesthostError
from mailforge.testhost.hosts import Host, down, down_all, list_hosts, up
from mailforge.testhost.state import StateDir

__all__ = ["Host", "StateDir", "TesthostError", "down", "down_all", "list_hosts", "up"]
