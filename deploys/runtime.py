"""What the deploy changes in pyinfra's runtime for speed, nothing else: the same operations, order and
hashes, reached faster. `deploys/mailserver.py` calls `install(host.connector)` before any operation.

- Operation order without `inspect.stack()`. In CLI mode pyinfra names every operation by the line numbers
  of the call stack from the deploy file down (`pyinfra.api.util.get_operation_order_from_stack`), and gets
  them with `inspect.stack()`, which also reads a line of source for every frame and searches `sys.modules`
  for each frame's module. With our stack depth and module count that was about a quarter of a no-op run.
  `install_operation_order()` puts in a walk of the same frames that reads only their file names and line
  numbers (`inspect.getframeinfo(frame, context=0)`, as pyinfra's own loop gets them), so the order and the
  operation hashes are the same (tests/unit/test_runtime_op_order.py compares the two).
  https://docs.python.org/3/library/inspect.html#the-interpreter-stack
- Each SSH packet of a pyinfra connection sent at once: TCP_NODELAY on the connection's socket. pyinfra runs
  every fact and command as a new SSH channel on one paramiko connection, and paramiko leaves Nagle's
  algorithm on. Opening a channel and sending its exec request are two small writes; Nagle holds the second
  until the first is acknowledged, and the server delays that acknowledgement (40 ms on Linux).
  bench/ssh_nodelay.py measures a command's round trip both ways; a no-op deploy runs about 230 commands.
  SSH sends whole packets, so nothing is gained by coalescing them. OpenSSH's own client sets the option on
  interactive sessions for the same reason.
  https://www.stuartcheshire.org/papers/NagleDelayedAck/ and tcp(7) on TCP_NODELAY.
"""

from __future__ import annotations

import importlib
import socket
import sys
from inspect import getframeinfo
from types import FrameType
from typing import Any

import pyinfra
from pyinfra.api import util

# The module, not the `operation` decorator that `pyinfra.api` exports under the same name.
OPERATION_MODULE = importlib.import_module("pyinfra.api.operation")


def install(connector: Any) -> None:
    """Both changes: the operation order (for this process) and TCP_NODELAY (on this host's connection)."""
    install_operation_order()
    disable_nagle(connector)


# -- operation order --------------------------------------------------------------------------------


def operation_order_from_stack(state: Any) -> list[int]:
    """pyinfra's `get_operation_order_from_stack`, for a caller in pyinfra (where the original is called)."""
    frames: list[FrameType] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    infos = [getframeinfo(f, context=0) for f in reversed(frames)]  # outermost first
    start = 0
    if state.current_deploy_filename:
        start = next(
            (i for i, info in enumerate(infos) if info.filename == state.current_deploy_filename),
            # pyinfra's loop ends on its own frame when no frame is the deploy file's: nothing after it counts.
            len(infos),
        )
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    line_numbers += [info.lineno for info in infos[start:] if not info.filename.startswith(util.PYINFRA_INSTALL_DIR)]
    return line_numbers


def install_operation_order() -> None:
    """Make pyinfra's operation decorator use `operation_order_from_stack` (it looks the name up per call)."""
    OPERATION_MODULE.get_operation_order_from_stack = operation_order_from_stack


# -- TCP_NODELAY ------------------------------------------------------------------------------------


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
