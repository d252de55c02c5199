"""Accept TCP connections on the given ports and greet each with b"hello" (run inside a test namespace)."""

import selectors
import socket
import sys

selector = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen()
    selector.register(server, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in selector.select():
        conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
        conn.sendall(b"hello")
        conn.close()
