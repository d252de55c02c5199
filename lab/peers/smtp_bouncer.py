"""A remote MX for a test host that refuses some recipients permanently, as big providers do:

- a recipient whose local part starts with ``nouser`` is refused at RCPT with ``550 5.1.1`` (no such user);
- a message to a recipient whose local part starts with ``dmarc`` is refused after DATA with ``550 5.7.26``
  (Gmail's wording for a DMARC failure);
- anything else is accepted and dropped.

A peer, not the product under test; aiosmtpd (Debian's python3-aiosmtpd).
Usage: python3 smtp_bouncer.py [PORT]
"""

import sys
import time

from aiosmtpd.controller import Controller

UNKNOWN = "550 5.1.1 The email account that you tried to reach does not exist."
DMARC = (
    "550 5.7.26 Unauthenticated email from example.test is not accepted due to domain's DMARC policy."
    " Please contact the administrator of example.test domain if this was a legitimate mail."
)


def local_part(address: str) -> str:
    return address.strip("<>").split("@", 1)[0].lower()


class Bouncer:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if local_part(address).startswith("nouser"):
            return UNKNOWN
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if any(local_part(r).startswith("dmarc") for r in envelope.rcpt_tos):
            return DMARC
        return "250 2.0.0 Ok: dropped"


Controller(Bouncer(), hostname="0.0.0.0", port=int(sys.argv[1]) if len(sys.argv) > 1 else 25).start()
while True:
    time.sleep(3600)
