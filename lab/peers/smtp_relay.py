"""A smarthost for the relay tests (the peer, not the product): STARTTLS required, then SASL AUTH
(PLAIN/LOGIN) against one user, then every message is forwarded to the next hop and logged with the
authenticated user. Runs on a test host with Debian's python3-aiosmtpd.

Usage: python3 smtp_relay.py USER PASSWORD NEXTHOP_ADDRESS CERT KEY LOGFILE
"""

import smtplib
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD, NEXTHOP, CERT, KEY, LOG = sys.argv[1:7]


def log(line: str) -> None:
    with open(LOG, "a") as out:
        out.write(f"{time.strftime('%H:%M:%S')} {line}\n")


def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
        USER,
        PASSWORD,
    )
    log(f"auth {'ok' if ok else 'failed'} user={auth_data.login.decode()} from={session.peer[0]}")
    # handled=False: aiosmtpd then answers 535 itself (with its default, handled=True, it answers nothing).
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class Forward:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with smtplib.SMTP(NEXTHOP, 25, timeout=30) as nexthop:
            nexthop.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        log(f"relayed user={session.login_data.decode()} from=<{envelope.mail_from}> to={envelope.rcpt_tos}")
        return "250 2.0.0 relayed"


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(CERT, KEY)
controller = Controller(
    Forward(),
    hostname="0.0.0.0",
    port=587,
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=True,
)
controller.start()
log("listening on 587")
while True:
    time.sleep(3600)
