"""Certbot (tls_mode = "certbot"): one certificate for every name the host serves (TlsSettings.names),
obtained over HTTP-01 through Nginx's ACME webroot and renewed by Debian's certbot.timer. A deploy hook
reloads Postfix, Dovecot and Nginx after every renewal, so each daemon serves the new certificate.

Before Certbot runs, the control machine checks what the ACME server will: that every name resolves and that
port 80 of that address serves a probe file from the webroot. A name that does not resolve or a closed port
80 stops the run with the name, the cause and the fix, instead of Certbot's rate-limited failed orders.
https://eff-certbot.readthedocs.io/en/stable/using.html#webroot
"""

from __future__ import annotations

import http.client
import secrets
from io import StringIO

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, deploy, operation
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import apt, files, systemd

from deploys.templating import template
from deploys.tls import CertificateNames
from deploys.web import Tier
from deploys.web.nginx_php import reload_nginx
from mailforge.dns.lookup import NotResolved, ipv4_address
from mailforge.settings import TlsSettings

CA_BUNDLE = "/etc/mailforge/certbot/acme-ca.pem"
# Certbot runs every executable here after each successful renewal.
# https://eff-certbot.readthedocs.io/en/stable/using.html#renewing-certificates
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/mailforge-reload"
DROP_IN = "/etc/systemd/system/certbot.service.d/mailforge.conf"
# Under the ACME webroot (Tier.acme_root), where Nginx serves the challenge tokens on port 80.
CHALLENGES = ".well-known/acme-challenge"


def check_reachable(names: tuple[str, ...], probe: str, token: str, nameservers: tuple[tuple[str, int], ...]) -> None:
    """What HTTP-01 validation needs, checked from the control machine: each name resolves (A, mailforge.dns),
    and port 80 of its address serves the probe from the webroot. Raises with the name, the cause and the fix."""
    problems = []
    for name in names:
        try:
            address = ipv4_address(name, nameservers)
        except NotResolved as exc:
            problems.append(f"{exc}; fix: publish an A record for {name} pointing at this host (see `mailforge "
                            "dns records`)")  # fmt: skip
            continue
        conn = http.client.HTTPConnection(address, 80, timeout=10)
        try:
            conn.request("GET", f"/.well-known/acme-challenge/{probe}", headers={"Host": name})
            reply = conn.getresponse()
            body = reply.read().decode(errors="replace").strip()
            if reply.status != 200 or body != token:
                problems.append(f"http://{name}/.well-known/acme-challenge/ ({address}) answered {reply.status} "
                                "without the probe; fix: make sure this host's Nginx serves port 80 at that "
                                "address (no other server or proxy in front of it)")  # fmt: skip
        except OSError as exc:
            problems.append(f"port 80 of {name} ({address}) is unreachable: {exc}; fix: open port 80 to the "
                            "Internet (ACME's HTTP-01 challenge connects to it)")  # fmt: skip
        finally:
            conn.close()
    if problems:
        raise PyinfraError("Certbot cannot validate this host:\n  - " + "\n  - ".join(problems))


@operation()
def obtain(tls: TlsSettings, hostname: str, nameservers: tuple[tuple[str, int], ...], acme_root: str):
    assert tls.certbot is not None
    if host.get_fact(CertificateNames, path=tls.cert_file) == sorted(tls.names):
        host.noop(f"the certificate for {', '.join(tls.names)} exists (renewed by certbot.timer)")
        return
    probe, token = "mailforge-probe", secrets.token_hex(16)
    yield f"printf '%s\\n' {token} > {acme_root}/{CHALLENGES}/{probe}"
    yield FunctionCommand(check_reachable, (tls.names, probe, token, nameservers), {})
    yield f"rm -f {acme_root}/{CHALLENGES}/{probe}"
    account = ["--email", tls.certbot.email] if tls.certbot.email else ["--register-unsafely-without-email"]
    env = [f"REQUESTS_CA_BUNDLE={CA_BUNDLE}"] if tls.certbot.ca_bundle else []
    domains = [part for name in tls.names for part in ("-d", name)]
    # --expand: a changed set of names replaces the certificate under the same name (same file paths).
    yield StringCommand(*env, "certbot", "certonly", "--non-interactive", "--agree-tos", *account,
                        "--server", tls.certbot.server, "--webroot", "-w", acme_root, "--cert-name", hostname,
                        "--expand", *domains)  # fmt: skip
    # The first certificate, or new names: daemons already running switch to it now (renewals use the hook).
    yield HOOK


@deploy("Certbot")
def certbot(tls: TlsSettings, hostname: str, nameservers: tuple[tuple[str, int], ...], tier: Tier) -> None:
    if tls.certbot is None:
        return
    # The ACME server (and the reachability check before it) fetches the challenge from port 80: the port-80
    # site the tier has written so far must be live now, not at the tier's end (nginx_php.activate).
    reload_nginx(tier.nginx)
    # Reloaded for those: the tier's end reloads for what the components write from here on.
    tier.nginx = []
    apt.packages(name="Install Certbot", packages=["certbot"], no_recommends=True)
    if tls.certbot.ca_bundle:
        files.directory(name="Directory for the ACME server's CA", path="/etc/mailforge/certbot", mode="755")
        files.put(name="Trust the ACME server's CA", src=tls.certbot.ca_bundle, dest=CA_BUNDLE, mode="644")
        # Certbot talks to the ACME server through python-requests, which reads REQUESTS_CA_BUNDLE; the timer's
        # renewals need the same trust as this first run.
        dropin = files.put(
            name="Renewals trust the ACME server's CA",
            src=StringIO(f"[Service]\nEnvironment=REQUESTS_CA_BUNDLE={CA_BUNDLE}\n"),
            dest=DROP_IN,
            mode="644",
        )
        systemd.daemon_reload(name="Reload systemd units", _if=dropin.did_change)
    files.directory(name="Certbot's deploy hook directory", path=HOOK.rsplit("/", 1)[0], mode="755")
    template(HOOK, component="certbot", mode="755")
    obtain(name=f"Certificate for {', '.join(tls.names)}", tls=tls, hostname=hostname, nameservers=nameservers,
           acme_root=tier.acme_root)  # fmt: skip
    systemd.service(name="Renew with certbot.timer", service="certbot.timer", running=True, enabled=True)
