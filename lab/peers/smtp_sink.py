"""A plain SMTP receiver for a test host acting as a remote MX: stores each message raw in a directory, the
envelope and the connecting peer beside it. A peer, not the product under test; aiosmtpd (Debian's
python3-aiosmtpd), as the stdlib's smtpd is gone from Python 3.12.

Usage: python3 smtp_sink.py DIRECTORY
"""

import pathlib
import sys
import time

from aiosmtpd.controller import Controller

DIRECTORY = pathlib.Path(sys.argv[1])


class Sink:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        name = DIRECTORY / f"{time.time_ns()}.eml"
        # Byte for byte as received, with LF line ends (as the files have always been read: dkimpy, email).
        name.write_bytes(envelope.original_content.replace(b"\r\n", b"\n"))
        name.with_suffix(".env").write_text(f"{session.peer[0]} {envelope.mail_from} {','.join(envelope.rcpt_tos)}\n")
        return "250 2.0.0 Ok: stored"


DIRECTORY.mkdir(parents=True, exist_ok=True)
Controller(Sink(), hostname="0.0.0.0", port=25).start()
while True:
    time.sleep(3600)
