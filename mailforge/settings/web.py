"""The web tier as the deploys see it: one WebSettings from the keys of nginx_php.py, postfixadmin_ui.py and
webmail.py (each keeps its own DEFAULTS and checks)."""

from __future__ import annotations

from dataclasses import dataclass

from mailforge.settings import postfixadmin_ui, webmail
from mailforge.settings.common import FQDN_RE, Reader
from mailforge.settings.domains import MailDomain
from mailforge.settings.nginx_php import Machine, read_fpm_max_children


@dataclass(frozen=True)
class WebSettings:
    """The web tier (deploys/web/: nginx_php.py, postfixadmin_ui.py, webmail.py): names, apps, PHP-FPM pools."""

    postfixadmin_hostname: str
    webmail_hostname: str
    webmail: str  # roundcube | rainloop | snappymail | none
    superadmin: str  # PostfixAdmin superadmin login (a mail address)
    superadmin_password: str | None  # from the environment; None: generated on the host
    fpm_max_children: int  # per pool: nginx_php_fpm_max_children, or sized from the host (fpm_children)
    fpm_max_requests: int
    hsts_max_age: int
    # Where PostfixAdmin's "Add default mail aliases" sends postmaster@<new domain> (abuse@, hostmaster@ and
    # webmaster@ go to that postmaster@), and its admin_email: a mailbox or alias declared here; "" when the
    # server declares no mailbox at all (no default aliases then).
    default_aliases_to: str = ""
    # RainLoop/SnappyMail only: the pinned upstream release archive and its admin panel password.
    webmail_version: str = ""
    webmail_archive_url: str = ""
    webmail_archive_sha256: str = ""
    webmail_admin_password: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.postfixadmin_hostname,) + ((self.webmail_hostname,) if self.webmail != "none" else ())


def read_web(read: Reader, hostname: str, domains: list[MailDomain], machine: Machine) -> WebSettings:
    derived = hostname if FQDN_RE.match(hostname) else "mail.example.org"
    pfa = postfixadmin_ui.read_hostname(read, derived)
    webmail_name = webmail.read_hostname(read, postfixadmin_ui.sibling(derived, "webmail"))
    app = webmail.read_webmail(read)
    names = [hostname, pfa] + ([webmail_name] if app != "none" else [])
    for key, name in (("postfixadmin_hostname", pfa), ("webmail_hostname", webmail_name)):
        if name and names.count(name) > 1:
            read.problem(key, f"{name} is also another name this host serves", "give each web app a name of its own")
            break
    superadmin, password = postfixadmin_ui.read_superadmin(read, domains)
    archive = webmail.read_archive(read, app)
    pools = 1 if app == "none" else 2  # PostfixAdmin's and the webmail's
    fpm_max_children = read_fpm_max_children(read, machine, pools)
    return WebSettings(
        postfixadmin_hostname=pfa,
        webmail_hostname=webmail_name,
        webmail=app,
        superadmin=superadmin,
        superadmin_password=password,
        fpm_max_children=fpm_max_children,
        fpm_max_requests=read.integer("nginx_php_fpm_max_requests", 0),
        hsts_max_age=read.integer("nginx_php_hsts_max_age", 0),
        webmail_version=archive.version,
        webmail_archive_url=archive.url,
        webmail_archive_sha256=archive.sha256,
        webmail_admin_password=archive.admin_password,
        default_aliases_to=postfixadmin_ui.read_default_aliases_to(read, superadmin, domains),
    )
