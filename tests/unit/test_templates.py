"""Rendered templates: each starts with the managed-by header, and Postfix's own parser accepts main.cf."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

from deploys.dovecot import SPECIAL_USE_FOLDERS
from deploys.templating import TEMPLATES, header
from deploys.web.webmail import special_use_folders
from mailforge.settings import load_settings

SETTINGS = load_settings(
    {
        "mail_hostname": "mail.example.org",
        "mail_domains": [{"domain": "example.org", "mailboxes": [{"address": "a@example.org"}]}],
        "postfix_transport_maps": {"example.net": "smtp:[192.0.2.25]:25"},
    },
    environ={},
)
# Keys the web tier's templates read (nginx/, php/, roundcube/), as deploys/web/nginx_php.py and friends pass them.
WEB_CONTEXT: dict[str, object] = {
    "names": SETTINGS.tls.names,
    "acme_root": "/var/www/acme",
    "hostname": SETTINGS.base.hostname,
    "landing": SETTINGS.web.webmail_hostname,
    "hsts_max_age": 31536000,
    "root": "/usr/share/postfixadmin/public",
    "denied": ["/data"],
    "denied_patterns": ["^/snappymail/v/[^/]+/app/"],
    "app": "postfixadmin",
    "pool_user": "postfixadmin",
    "pool_group": "www-data",
    "max_children": 16,
    "start_servers": 4,
    "min_spare": 2,
    "max_spare": 8,
    "max_requests": 500,
    "php_admin": [("upload_max_filesize", "25M")],
    "php": "8.2",
    # Nginx 1.22's HTTP/2 (the listen parameter); tests/unit/test_trixie_templates.py renders 1.26's.
    "http2": " http2",
    "http2_directive": False,
    "error_log": "/var/log/php-fpm/postfixadmin/error.log",
    "custom_css": "/etc/postfixadmin/mailforge.css",
    "footer_name": SETTINGS.web.webmail_hostname,
    "footer_link": f"https://{SETTINGS.web.webmail_hostname}/",
    "default_aliases": [("abuse", "postmaster"), ("postmaster", "a@example.org")],
    "admin_email": "a@example.org",
    "cafile": SETTINGS.tls.ca_file,
    "special_use": special_use_folders(),
}
# Keys the firewall and fail2ban templates read, as deploys/firewall.py and deploys/fail2ban.py pass them.
SECURITY_CONTEXT: dict[str, object] = {
    "ports": [(22, "SSH"), (25, "SMTP"), (8443, "firewall_extra_ports")],
    "ignoreip": "127.0.0.1/8 ::1 192.0.2.10",
    "postfixadmin_log": "/var/log/nginx/postfixadmin.access.log",
    "roundcube_log": "/var/log/roundcube/errors.log",
    "postfix_backend": "",  # Debian 12's (mailforge/releases.py)
}
# Keys the local CA's CRL templates read (and the port-80 site), as deploys/tls.py and nginx_php.py pass them.
CRL_CONTEXT: dict[str, object] = {
    "crl_name": "mailforge-ca.crl",
    "crl_root": "/var/www/mailforge-ca",
    "crl_file": "/var/www/mailforge-ca/mailforge-ca.crl",
    "crl_days": 30,
    "ca_dir": "/etc/mailforge/ca",
    "ca_file": SETTINGS.tls.ca_file,
    "script": "/etc/mailforge/ca/refresh-crl",
}
ALL = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.j2"))


def render(name: str, **context: object) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    component = name.split("/", 1)[0]
    return env.get_template(name if name.endswith(".j2") else f"{name}.j2").render(
        managed_header=header(component),
        settings=getattr(SETTINGS, component, SETTINGS.postfix),
        tls=SETTINGS.tls,
        database="postfixadmin",
        routes=SETTINGS.postfix.transport_maps,
        password_scheme="ARGON2I",
        entries=[("example.org", "mail", "/etc/opendkim/keys/example.org/mail.private")],
        socket="local:/var/spool/postfix/opendkim/opendkim.sock",
        relay=SETTINGS.postfix.relay,
        folders=SPECIAL_USE_FOLDERS,
        ffdhe_groups=False,  # Debian 12's Postfix (mailforge/releases.py)
        **{**WEB_CONTEXT, **SECURITY_CONTEXT, **CRL_CONTEXT, **context},
    )


@pytest.mark.parametrize("name", ALL)
def test_template_starts_with_the_managed_header(name: str) -> None:
    lines = render(name).splitlines()
    first = lines[1] if lines[0].startswith("#!") else lines[0]  # a script's header follows its shebang
    assert "Managed by mailforge (deploys/" in first and "local edits are overwritten" in first


@pytest.mark.parametrize("name", ALL)
def test_template_renders_the_same_twice(name: str) -> None:
    # No timestamps or random values: a second deploy must find nothing to change.
    assert render(name) == render(name)


def test_postconf_accepts_main_cf_without_warnings(tmp_path: Path) -> None:
    if shutil.which("postconf") is None:
        pytest.fail("postconf is missing: run scripts/bootstrap.sh (apt-packages.txt lists postfix)")
    (tmp_path / "main.cf").write_text(render("postfix/main.cf"))
    (tmp_path / "master.cf").write_text(render("postfix/master.cf"))
    result = subprocess.run(["postconf", "-c", str(tmp_path), "-n"], capture_output=True, text=True)
    assert result.returncode == 0
    # The SQL map files exist only on the host; any other warning (an unknown or misspelt parameter) fails.
    warnings = [w for w in result.stderr.splitlines() if 'configuration "/etc/postfix/sql/' not in w]
    assert warnings == []
    assert "myhostname = mail.example.org" in result.stdout


def test_master_cf_runs_postscreen_on_25_and_both_submission_ports(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text(render("postfix/main.cf"))
    (tmp_path / "master.cf").write_text(render("postfix/master.cf"))
    services = subprocess.run(["postconf", "-c", str(tmp_path), "-M"], capture_output=True, text=True).stdout
    by_name = {tuple(line.split()[:2]): line.split()[7] for line in services.splitlines()}
    assert by_name[("smtp", "inet")] == "postscreen"
    assert by_name[("submission", "inet")] == "smtpd"
    assert by_name[("submissions", "inet")] == "smtpd"


def test_transport_map_lists_each_route() -> None:
    assert "example.net smtp:[192.0.2.25]:25" in render("postfix/transport")
