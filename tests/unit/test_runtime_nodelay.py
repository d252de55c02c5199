"""deploys.runtime turns Nagle off on a pyinfra SSH connection's TCP socket, and only there."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import paramiko
import pytest
from pyinfra.connectors.ssh import SSHConnector

from deploys.runtime import disable_nagle


@pytest.fixture
def tcp_socket() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        yield client
        client.close()
        accepted.close()


def connector(sock: Any) -> SimpleNamespace:
    """pyinfra's SSHConnector as disable_nagle reads it: .client (paramiko's SSHClient) -> transport -> sock."""
    transport = paramiko.Transport(sock)
    return SimpleNamespace(client=SimpleNamespace(get_transport=lambda: transport))


def nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_the_attribute_path_is_pyinfras_and_paramikos() -> None:
    assert "client" in SSHConnector.__annotations__
    assert hasattr(paramiko.SSHClient, "get_transport")
    with socket.socket() as sock:
        assert "sock" in paramiko.Transport(sock).__dict__


def test_a_tcp_connection_gets_nodelay(tcp_socket: socket.socket) -> None:
    assert nodelay(tcp_socket) == 0
    assert disable_nagle(connector(tcp_socket)) is True
    assert nodelay(tcp_socket) == 1


def test_a_unix_socket_is_left_alone() -> None:
    left, right = socket.socketpair()
    with left, right:
        assert disable_nagle(connector(left)) is False


def test_a_proxy_command_is_left_alone() -> None:
    proxy = paramiko.ProxyCommand("cat")
    try:
        assert disable_nagle(connector(proxy)) is False
    finally:
        proxy.close()
        if isinstance(proxy.process, subprocess.Popen):
            proxy.process.wait(timeout=10)


@pytest.mark.parametrize("not_connected", [SimpleNamespace(), SimpleNamespace(client=None)], ids=["local", "no-client"])
def test_no_connection_is_not_an_error(not_connected: SimpleNamespace) -> None:
    assert disable_nagle(not_connected) is False
