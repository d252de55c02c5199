"""Issue 4: RainLoop and SnappyMail installed from a pinned upstream release archive: data and internals
denied, admin and mailbox logins through each app's API, an admin password changed in settings, a second
deploy after the app's first run. Runs when MAILFORGE_RAINLOOP_ARCHIVE / MAILFORGE_SNAPPYMAIL_ARCHIVE name a
release archive and is skipped otherwise (these machines cannot download it). A checksum mismatch is tested
on the web tier's host (tests/e2e/test_web_tier.py).

One host per app ("web-rainl", "web-snapp"), each deployed once for the module.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.mail import DEPLOY_ENV, PASSWORD_ENV, Server, server_of
from lab.provision import run_deploy, write_inventory
from lab.web import ENV, MAIL_NAME, WEBMAIL_NAME, archive_data, get, serve_file
from mailforge.testhost import Host, StateDir
from tests.e2e.conftest import infra

# --- RainLoop / SnappyMail from a pinned upstream archive -------------------------------------------
# lab.web.serve_file serves the archive from this machine on the test host's gateway address.


ARCHIVE_ADMIN_PASSWORD = "Webmail-Admin-42-staple"
NEW_ARCHIVE_ADMIN_PASSWORD = "Webmail-Admin-43-changed"
# RainLoop\Notifications::AuthError, a refused login (both apps).
AUTH_ERROR = 102
ARCHIVE_ADMIN_ENV = "MAILFORGE_E2E_WEBMAIL_ADMIN_PASSWORD"


@dataclass(frozen=True)
class ArchiveSite:
    app: str
    host: Host
    server: Server
    inventory: Path
    env: dict[str, str]
    internal: str  # a file upstream hides with .htaccess: <app>/v/<version>/app/...


def archive_internal_file(archive: Path, app: str) -> str:
    """The URL path of a file the archive ships under <app>/v/<version>/app/ (a sample domain config)."""
    import re
    import tarfile
    import zipfile

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
    else:
        with tarfile.open(archive) as t:
            names = t.getnames()
    pattern = re.compile(rf"^(\./)?{app}/v/[^/]+/app/domains/[^/]+$")
    return "/" + next(n for n in names if pattern.match(n)).removeprefix("./")


@pytest.fixture(scope="module", params=["rainloop", "snappymail"])
def archive_site(request, make_host, module_tmp: Path, state: StateDir) -> ArchiveSite:
    app = request.param
    variable = f"MAILFORGE_{app.upper()}_ARCHIVE"
    archive = os.environ.get(variable)
    if not archive:
        pytest.skip(f"{variable} does not name a {app} release archive (these machines cannot download it)")
    import hashlib

    source = Path(archive)
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    host = make_host(f"web-{app[:5]}")
    gateway = host.address.rsplit(".", 1)[0] + ".1"
    env = {**ENV, ARCHIVE_ADMIN_ENV: ARCHIVE_ADMIN_PASSWORD}
    with serve_file(source, gateway) as url:
        data = {**archive_data(app, url, sha256), f"{app}_admin_password_env": ARCHIVE_ADMIN_ENV}
        inventory = write_inventory(module_tmp / f"{app}_inventory.py", [(host.name, host.address, data)],
                                    state.ssh_key)  # fmt: skip
        result = run_deploy(inventory, env=env)
    assert result.ok, result.explain()
    (module_tmp / app).mkdir()
    site = ArchiveSite(app, host, server_of(host, MAIL_NAME, module_tmp / app), inventory, env,
                       archive_internal_file(source, app))  # fmt: skip
    # The app's first run (its setup: data/ checks, sample domains, SALT.php) happens on the first request.
    assert get(site.server, WEBMAIL_NAME, "/").status == 200
    return site


def webmail_request(
    site: ArchiveSite,
    path: str,
    body: str = "",
    content_type: str = "",
    cookies: dict[str, str] | None = None,
    token: str = "",
) -> tuple[str, dict[str, str]]:
    """GET (or POST a body) over HTTPS by the webmail's name; returns the answer's text and the cookies sent,
    updated with those the server set."""
    ctx = ssl.create_default_context(cafile=site.server.cafile)
    conn = http.client.HTTPSConnection(site.server.address, 443, timeout=60, context=ctx)
    conn.sock = ctx.wrap_socket(socket.create_connection((site.server.address, 443), timeout=60),
                                server_hostname=WEBMAIL_NAME)  # fmt: skip
    jar = dict(cookies or {})
    headers = {"Host": WEBMAIL_NAME, "Accept": "application/json"}
    if body:
        headers["Content-Type"] = content_type
    if jar:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    if token:
        headers["X-SM-Token"] = token
    try:
        conn.request("POST" if body else "GET", path, body=body or None, headers=headers)
        reply = conn.getresponse()
        text = reply.read().decode()
        for key, value in reply.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.split(";")[0].partition("=")
                jar[name.strip()] = rest
    finally:
        conn.close()
    return text, jar


def snappymail_json(site: ArchiveSite, action: str, admin: bool = False, **params: str) -> dict[str, Any]:
    """One call of SnappyMail's JSON API as its own front end makes it (dev/boot.js): the app data
    (?/AppData/ or ?/AdminAppData/) sets the smtoken cookie and carries System.token, derived from it and the
    SALT (RainLoop/Utils.php GetConnectionToken); the call POSTs JSON to ?/Json/&q[]=/0/ (?admin/Json/... for the
    admin panel) with that token in X-SM-Token."""
    text, jar = webmail_request(site, f"/?/{'Admin' if admin else ''}AppData/0/1/")
    token = json.loads(text)["System"]["token"]
    body = json.dumps({"Action": action, **params})
    answer, _ = webmail_request(site, f"/?{'admin' if admin else ''}/Json/&q[]=/0/", body, "application/json", jar,
                                token)  # fmt: skip
    return json.loads(answer)


def rainloop_ajax(site: ArchiveSite, action: str, admin: bool = False, **params: str) -> dict[str, Any]:
    """One call of RainLoop's API as its front end makes it (1.17.0: dev/Common/Links.js, Remote/AbstractAjax.js):
    the app data (?/AppData/ or ?/AdminAppData/, JavaScript that hands a JSON object to window.__initAppData)
    sets the rltoken cookie and carries System.token, the CSRF token derived from it and the SALT
    (RainLoop/Utils.php GetCsrfToken); the call POSTs a form to ?/Ajax/&q[]=/0/ with that token as XToken."""
    import urllib.parse

    text, jar = webmail_request(site, f"/?/{'Admin' if admin else ''}AppData/0/1/")
    data = json.loads(text.rsplit("__initAppData(", 1)[1].removesuffix(");}"))
    body = urllib.parse.urlencode({"Action": action, "XToken": data["System"]["token"], **params})
    answer, _ = webmail_request(site, "/?/Ajax/&q[]=/0/", body, "application/x-www-form-urlencoded", jar)
    return json.loads(answer)


def webmail_call(site: ArchiveSite, action: str, admin: bool = False, **params: str) -> dict[str, Any]:
    call = snappymail_json if site.app == "snappymail" else rainloop_ajax
    return call(site, action, admin, **params)


def accepted(site: ArchiveSite, answer: dict[str, Any]) -> bool:
    """Whether a login was accepted: SnappyMail answers {"Result": {"Auth": true, ...}}, RainLoop {"Result": true}."""
    result = answer["Result"]
    return (result.get("Auth") if isinstance(result, dict) else result) is True


def refused_code(site: ArchiveSite, answer: dict[str, Any]) -> tuple[Any, Any]:
    """(Result, error code) of a refused call: SnappyMail names the code "code", RainLoop "ErrorCode"."""
    return answer["Result"], answer["code" if site.app == "snappymail" else "ErrorCode"]


@pytest.mark.parametrize(
    "path", ["/data/", "/data/VERSION", "/data/SALT.php", "/data/_data_/_default_/configs/application.ini"]
)
def test_archive_webmail_hides_its_data(archive_site: ArchiveSite, path: str) -> None:
    assert get(archive_site.server, WEBMAIL_NAME, path).status in (403, 404), path


def test_archive_webmail_hides_what_upstream_hides_with_htaccess(archive_site: ArchiveSite) -> None:
    # The file exists in the tree: only the deny rule keeps it from being served (200 without it).
    in_tree = f"/var/www/{archive_site.app}{archive_site.internal}"
    assert archive_site.host.run(f"test -f {in_tree}", check=False).returncode == 0, in_tree
    assert get(archive_site.server, WEBMAIL_NAME, archive_site.internal).status == 403


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        ("data/_data_", 0o700),
        ("data/_data_/_default_/domains", 0o700),
        ("data/_data_/_default_/configs", 0o700),
        ("data/_data_/_default_/configs/application.ini", 0o600),
        ("data/SALT.php", 0o600),
    ],
)
def test_archive_webmail_private_data_is_its_pool_users_only(archive_site: ArchiveSite, path: str, mode: int) -> None:
    f = infra(archive_site.host).file(f"/var/www/{archive_site.app}/{path}")
    assert (f.mode, f.user, f.group) == (mode, archive_site.app, archive_site.app)


def test_archive_webmail_serves_the_declared_domains_only(archive_site: ArchiveSite) -> None:
    # Upstream copies its sample domains (gmail.com, a localhost:143 wildcard) on first run unless
    # domains/disabled exists; after the first request only mailforge's files are there.
    listing = archive_site.host.run(f"ls /var/www/{archive_site.app}/data/_data_/_default_/domains").stdout.split()
    ext = "json" if archive_site.app == "snappymail" else "ini"
    # Every name the host receives mail for, alias domains included (settings.domain_names).
    assert sorted(listing) == sorted(
        ["disabled", *(f"{d}.{ext}" for d in ("example.test", "alias.test", "catchall.test"))]
    )


def test_archive_webmail_has_no_generated_admin_password(archive_site: ArchiveSite) -> None:
    # SnappyMail writes admin_password.txt when application.ini has no admin_password: ours has one.
    default = f"/var/www/{archive_site.app}/data/_data_/_default_"
    assert archive_site.host.run(f"test -e {default}/admin_password.txt", check=False).returncode == 1


@pytest.mark.parametrize(("password", "expected"), [(ARCHIVE_ADMIN_PASSWORD, True), ("wrong-password", False)])
def test_archive_webmail_admin_panel_takes_the_password_from_settings(
    archive_site: ArchiveSite, password: str, expected: bool
) -> None:
    answer = webmail_call(archive_site, "AdminLogin", admin=True, Login="admin", Password=password)
    if expected:
        assert accepted(archive_site, answer), answer
    else:
        assert refused_code(archive_site, answer) == (False, AUTH_ERROR), answer


def test_archive_webmail_logs_a_mailbox_in_over_imaps_with_the_domain_settings(archive_site: ArchiveSite) -> None:
    # Login reads domains/example.test.json (RainLoop: .ini) and connects to IMAPS 993 by name (SnappyMail verifies
    # the local CA; RainLoop cannot, see templates/rainloop/domain.ini.j2).
    answer = webmail_call(archive_site, "Login", Email="alice@example.test", Password=DEPLOY_ENV[PASSWORD_ENV])
    assert accepted(archive_site, answer), answer


def test_archive_webmail_admin_password_change_is_applied(archive_site: ArchiveSite) -> None:
    # The app rewrote application.ini on its first run; the new password replaces the old in that file.
    changed = {**archive_site.env, ARCHIVE_ADMIN_ENV: NEW_ARCHIVE_ADMIN_PASSWORD}
    try:
        result = run_deploy(archive_site.inventory, env=changed)
        assert result.ok, result.explain()
        answers = [
            accepted(archive_site, webmail_call(archive_site, "AdminLogin", admin=True, Login="admin", Password=p))
            for p in (NEW_ARCHIVE_ADMIN_PASSWORD, ARCHIVE_ADMIN_PASSWORD)
        ]
        assert answers == [True, False]
    finally:
        # Back to the module's password, for the tests that follow.
        assert run_deploy(archive_site.inventory, env=archive_site.env).ok


def test_archive_webmail_second_deploy_changes_nothing(archive_site: ArchiveSite) -> None:
    # After the app's own first run (it chmods and writes under data/): mailforge and the app agree.
    # The release is installed: nothing is fetched again (the URL's one-off server is gone).
    again = run_deploy(archive_site.inventory, env=archive_site.env)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()
