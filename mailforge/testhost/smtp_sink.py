"""A plain SMTP receiver for a test host acting as a remote MX: stores each message raw in a directory.

Python 3.11's smtpd module (stdlib) is enough for a sink; it is not the product under test.
Usage: python3 smtp_sink.py DIRECTORY
"""

import asyncore
import pathlib
import sys
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import smtpd  # noqa: E402


class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):  # type: ignore[no-untyped-def]
        name = pathlib.Path(sys.argv[1]) / f"{time.time_ns()}.eml"
        body = data if isinstance(data, bytes) else data.encode()
        # The envelope and the connecting peer go beside the message, which is stored byte for byte.
        name.write_bytes(body)
        name.with_suffix(".env").write_text(f"{peer[0]} {mailfrom} {','.join(rcpttos)}\n")


pathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
Sink(("0.0.0.0", 25), None, decode_data=False)
asyncore.loop()
