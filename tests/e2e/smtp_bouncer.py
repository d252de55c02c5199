"""A remote MX for a test host that refuses some recipients permanently, as big providers do:

- a recipient whose local part starts with ``nouser`` is refused at RCPT with ``550 5.1.1`` (no such user);
- a message to a recipient whose local part starts with ``dmarc`` is refused after DATA with ``550 5.7.26``
  (Gmail's wording for a DMARC failure);
- anything else is accepted and dropped.

Python 3.11's smtpd module (stdlib) is enough; it is not the product under test.
Usage: python3 smtp_bouncer.py [PORT]
"""

import asyncore
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import smtpd  # noqa: E402

UNKNOWN = "550 5.1.1 The email account that you tried to reach does not exist."
DMARC = (
    "550 5.7.26 Unauthenticated email from example.test is not accepted due to domain's DMARC policy."
    " Please contact the administrator of example.test domain if this was a legitimate mail."
)


def local_part(address: str) -> str:
    return address.strip("<>").split("@", 1)[0].lower()


class Channel(smtpd.SMTPChannel):
    def smtp_RCPT(self, arg):  # type: ignore[no-untyped-def]
        address = self._getaddr(self._strip_command_keyword("TO:", arg))[0] if arg else None
        if self.mailfrom and address and local_part(address).startswith("nouser"):
            self.push(UNKNOWN)
            return
        super().smtp_RCPT(arg)


class Bouncer(smtpd.SMTPServer):
    channel_class = Channel

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):  # type: ignore[no-untyped-def]
        if any(local_part(r).startswith("dmarc") for r in rcpttos):
            return DMARC
        return None


Bouncer(("0.0.0.0", int(sys.argv[1]) if len(sys.argv) > 1 else 25), None, decode_data=False)
asyncore.loop()
