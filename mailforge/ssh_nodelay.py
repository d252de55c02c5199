"""Send each SSH packet of a pyinfra connection at once: TCP_NODELAY on the connection's socket.

pyinfra runs every fact and command as a new SSH channel on one paramiko connection, and paramiko leaves
Nagle's algorithm on. Opening a channel and sending its exec request are two small writes; Nagle holds the
second until the first is acknowledged, and the server delays that acknowledgement (40 ms on Linux).
bench/ssh_nodelay.py measures a command's round trip both ways; a no-op deploy runs about 230 commands.
SSH sends whole packets, so nothing is gained by coalescing them. OpenSSH's own client sets the option on
interactive sessions for the same reason.
https://www.stuartcheshire.org/papers/NagleDelayedAck/ and tcp(7) on TCP_NODELAY.
"""

from __future__ import annotations

import socket
from typing import Any


def disable_nagle(connector: Any) -> bool:
    """Set TCP_NODELAY on a connected pyinfra SSH connector's TCP socket; False where there is none (the
    local or another connector, a ProxyCommand or jump-host channel, not connected yet)."""
    client = getattr(connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    # Duck-typed: under pyinfra's CLI the socket is gevent's; a ProxyCommand or a channel has no family.
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return False
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return True
