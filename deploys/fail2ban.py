"""fail2ban, Debian's package: bans an address that keeps failing to log in, in nftables.

Jails and where each reads (Debian 12 has no rsyslog by default: the journal is the system log):
- postfix-sasl: SASL failures on submission (587, 465), from /var/log/mail.log, which Postfix writes itself
  (maillog_file, postlogd) with the client address smtpd saw. Port 25 (postscreen, then smtpd) offers no AUTH,
  so there is nothing to guess there.
- dovecot: IMAP login failures (143, 993), from the journal: Dovecot logs to syslog (log_path = syslog). Debian's
  filter plus filter.d/dovecot.local for Dovecot 2.4's form of the line (Debian 13).
- postfixadmin-auth: failed logins to PostfixAdmin's admin and user pages, from Nginx's access log of PostfixAdmin
  (filter and reasons in templates/fail2ban/filter.d/postfixadmin-auth.conf.j2).
- roundcube-auth (webmail = roundcube): Debian's filter on /var/log/roundcube/errors.log ("IMAP Error: Login
  failed for ... from <client>"). RainLoop and SnappyMail are not covered.
- sshd: Debian's own jail, switched to the journal (it reads /var/log/auth.log otherwise, which nothing
  writes here, and fail2ban would not start at all).

A mail or web jail bans the address from every mail and web port (one password opens SMTP, IMAP and the
webmail alike), never from SSH, which only the sshd jail bans. Bans go into fail2ban's own table (inet
f2b-table, actions nftables-multiport/-allports), beside the firewall's table: neither reload touches the other.
"""

from __future__ import annotations

from typing import Any

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from deploys.service import check_then_reload
from deploys.templating import template
from mailforge.releases import Release
from mailforge.settings import FIREWALL_PORTS, Fail2banSettings, WebSettings

# python3-systemd: the journal backend; python3-pyinotify: log files are read as they grow, not polled.
PACKAGES = ["fail2ban", "python3-systemd", "python3-pyinotify", "nftables"]
# Every port a mailbox password opens (SMTP, IMAP, the web apps); SSH stays out of the mail jails' bans.
BANNED_PORTS = tuple(port for port in FIREWALL_PORTS if port != 22)
POSTFIXADMIN_ACCESS_LOG = "/var/log/nginx/postfixadmin.access.log"
ROUNDCUBE_ERRORS_LOG = "/var/log/roundcube/errors.log"
LOOPBACK = ("127.0.0.1/8", "::1")


def jail_context(settings: Fail2banSettings, web: WebSettings, release: Release) -> dict[str, Any]:
    """What templates/fail2ban/jail.d/mailforge.local.j2 reads."""
    return {
        "postfix_backend": release.fail2ban_postfix_backend,
        "settings": settings,
        "ignoreip": " ".join((*LOOPBACK, *settings.ignoreip)),
        "ports": ",".join(str(p) for p in BANNED_PORTS),
        "postfixadmin_log": POSTFIXADMIN_ACCESS_LOG,
        "roundcube_log": ROUNDCUBE_ERRORS_LOG if web.webmail == "roundcube" else "",
    }


@deploy("fail2ban")
def fail2ban(settings: Fail2banSettings, web: WebSettings, roundcube_user: str, release: Release) -> None:
    """`roundcube_user`: Roundcube's PHP-FPM pool user (deploys/web/), which writes the roundcube-auth jail's log."""
    apt.packages(name="Install fail2ban", packages=PACKAGES, no_recommends=True)
    # fail2ban refuses to start while a jail's log file is missing. Postfix writes mail.log when it starts
    # (deploys/postfix.py makes sure it runs); made here too, with the group that reads logs (adm).
    files.file(name="Postfix's /var/log/mail.log", path="/var/log/mail.log", user="root", group="adm", mode="640")
    roundcube = web.webmail == "roundcube"
    if roundcube:
        # Roundcube creates its log at its first error.
        files.file(name=f"Roundcube's {ROUNDCUBE_ERRORS_LOG}", path=ROUNDCUBE_ERRORS_LOG, user=roundcube_user,
                   group="adm", mode="640")  # fmt: skip
    changes = [
        template("/etc/fail2ban/jail.d/mailforge.local", component="fail2ban", **jail_context(settings, web, release)),
        template("/etc/fail2ban/filter.d/postfixadmin-auth.conf", component="fail2ban"),
        # Dovecot 2.4's failed-login line, which Debian's dovecot filter does not know (see the template).
        template("/etc/fail2ban/filter.d/dovecot.local", component="fail2ban"),
    ]
    # `fail2ban-client -t` reads every jail, filter and action as the server would, without touching it.
    check_then_reload("fail2ban", "fail2ban", "fail2ban-client -t", changes, restart=release.fail2ban_restart)
