"""Issue 4: the web tier and TLS. Nginx + PHP-FPM serve PostfixAdmin's UI and the webmail over HTTPS only
(HTTP redirects, except the ACME challenge), with HSTS and security headers, TLS 1.2+, setup.php out of
reach, one PHP-FPM pool per app under its own user; the superadmin is created from settings.

One host ("web", mail_hostname web.example.test, so postfixadmin.example.test and webmail.example.test)
deployed once for the module with the local CA; HTTP clients connect to its address with the name as SNI
and Host header, trusting the host's CA.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.mail import DEPLOY_ENV, PASSWORD_ENV, Server, fetch, message, server_of, smtp
from lab.mail import server_data as mail_server_data
from lab.provision import DeployResult, run_deploy, write_inventory
from lab.web import (
    DEFAULT_ALIASES_TO,
    ENV,
    MAIL_NAME,
    NAMES,
    PFA_NAME,
    SUPERADMIN,
    SUPERADMIN_PASSWORD,
    WEBMAIL_NAME,
    web_data,
)
from mailforge.testhost import Host, StateDir
from tests.e2e.conftest import infra


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value (see raw_headers)
    body: str
    raw_headers: tuple[tuple[str, str], ...] = ()


def get(
    server: Server, name: str, path: str = "/", *, tls: bool = True, context: ssl.SSLContext | None = None
) -> Response:
    """GET http(s)://NAME/PATH from the host's address, with NAME as SNI and Host header (no DNS needed)."""
    if tls:
        ctx = context or ssl.create_default_context(cafile=server.cafile)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(server.address, 443, timeout=15, context=ctx)
        raw = socket.create_connection((server.address, 443), timeout=15)
        conn.sock = ctx.wrap_socket(raw, server_hostname=name)
    else:
        conn = http.client.HTTPConnection(server.address, 80, timeout=15)
    try:
        conn.request("GET", path, headers={"Host": name, "User-Agent": "mailforge-e2e"})
        reply = conn.getresponse()
        headers = {k.lower(): v for k, v in reply.getheaders()}
        return Response(reply.status, headers, reply.read().decode(errors="replace"), tuple(reply.getheaders()))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def web_host(make_host) -> Host:  # type: ignore[no-untyped-def]
    return make_host("web")


@pytest.fixture(scope="module")
def inventory(web_host: Host, module_tmp: Path, state: StateDir) -> Path:
    entry = (web_host.name, web_host.address, web_data())
    return write_inventory(module_tmp / "web_inventory.py", [entry], state.ssh_key)


@pytest.fixture(scope="module")
def deployed(inventory: Path) -> DeployResult:
    result = run_deploy(inventory, env=ENV)
    assert result.ok, result.explain()
    return result


@pytest.fixture(scope="module")
def server(deployed: DeployResult, web_host: Host, module_tmp: Path) -> Server:
    return server_of(web_host, MAIL_NAME, module_tmp)


@pytest.fixture(scope="module")
def web(deployed: DeployResult, web_host: Host):  # type: ignore[no-untyped-def]
    return infra(web_host)


# --- the host -------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [80, 443])
def test_web_ports_listen(web, port: int) -> None:  # type: ignore[no-untyped-def]
    assert web.socket(f"tcp://0.0.0.0:{port}").is_listening


@pytest.mark.parametrize("service", ["nginx", "php8.2-fpm"])
def test_web_services_active_and_enabled(web, service: str) -> None:  # type: ignore[no-untyped-def]
    assert web.service(service).is_running
    assert web.service(service).is_enabled


@pytest.mark.parametrize(("pool", "user"), [("postfixadmin", "postfixadmin"), ("roundcube", "roundcube")])
def test_each_app_has_its_own_php_pool_user(web, pool: str, user: str) -> None:  # type: ignore[no-untyped-def]
    processes = web.check_output("ps -C php-fpm8.2 -o user:32=,args=").splitlines()
    users = {line.split()[0] for line in processes if line.endswith(f"pool {pool}")}
    assert users == {user}


def test_debian_www_pool_is_gone(web) -> None:  # type: ignore[no-untyped-def]
    assert not web.file("/etc/php/8.2/fpm/pool.d/www.conf").exists


@pytest.mark.parametrize(
    ("path", "mode", "user", "group"),
    [
        ("/var/cache/postfixadmin/templates_c", 0o700, "postfixadmin", "root"),
        ("/etc/postfixadmin/setup_password.inc.php", 0o640, "root", "www-data"),
        ("/etc/roundcube/debian-db.php", 0o640, "root", "www-data"),
        ("/etc/roundcube/mailforge.inc.php", 0o640, "root", "www-data"),
        ("/var/lib/roundcube/temp", 0o750, "roundcube", "roundcube"),
    ],
)
def test_web_files_are_protected(web, path: str, mode: int, user: str, group: str) -> None:  # type: ignore[no-untyped-def]
    f = web.file(path)
    assert (f.mode, f.user, f.group) == (mode, user, group)


def test_setup_password_is_stored_only_as_a_bcrypt_hash(web) -> None:  # type: ignore[no-untyped-def]
    stored = web.file("/etc/postfixadmin/setup_password.inc.php").content_string
    assert "$CONF['setup_password'] = '$2y$" in stored
    # PostfixAdmin itself reads the hash (not the default 'changeme').
    php = "require '/usr/share/postfixadmin/config.inc.php'; echo substr($CONF['setup_password'], 0, 4);"
    assert web.check_output(f"cd /usr/share/postfixadmin && php -r {shlex.quote(php)}") == "$2y$"


def test_superadmin_is_created_from_settings(web) -> None:  # type: ignore[no-untyped-def]
    query = f"SELECT superadmin, active FROM postfixadmin.admin WHERE username='{SUPERADMIN}'"
    assert web.check_output(f'mysql -N -e "{query}"').split() == ["1", "1"]


def test_roundcube_database_is_in_mariadb(web) -> None:  # type: ignore[no-untyped-def]
    assert int(web.check_output("mysql -N -e 'SELECT COUNT(*) FROM information_schema.tables "
                                "WHERE table_schema=\"roundcube\"'")) > 5  # fmt: skip


def test_roundcube_log_is_its_pool_users_after_rotation(web) -> None:  # type: ignore[no-untyped-def]
    # fail2ban's roundcube-auth jail reads this file; Roundcube (pool user roundcube) must keep writing it.
    web.run_expect([0], "echo rotation-probe >> /var/log/roundcube/errors.log")
    web.run_expect([0], "logrotate -f /etc/logrotate.d/roundcube-core")
    f = web.file("/var/log/roundcube/errors.log")
    assert (f.exists, f.user, f.mode) == (True, "roundcube", 0o640)


PHP_POOLS = [
    ("postfixadmin", PFA_NAME, "/usr/share/postfixadmin/public"),
    ("roundcube", WEBMAIL_NAME, "/var/lib/roundcube/public_html"),
]


def php_warning(server: Server, host: Host, name: str, root: str, marker: str) -> None:
    """Have the app's pool run a PHP warning, through Nginx, from a probe script in the app's web root."""
    probe = f"{root}/mailforge-e2e-probe.php"
    code = f'<?php trigger_error("{marker}", E_USER_WARNING); echo "probed";'
    host.run(f"printf '%s' {shlex.quote(code)} > {probe}")
    try:
        assert get(server, name, "/mailforge-e2e-probe.php").body == "probed"
    finally:
        host.run(f"rm -f {probe}")


@pytest.mark.parametrize(("pool", "name", "root"), PHP_POOLS, ids=[p[0] for p in PHP_POOLS])
def test_php_errors_of_each_pool_reach_its_own_log(
    server: Server, web_host: Host, pool: str, name: str, root: str
) -> None:
    php_warning(server, web_host, name, root, f"e2e-warning-of-{pool}")
    assert f"PHP Warning:  e2e-warning-of-{pool}" in web_host.run(f"cat /var/log/php-fpm/{pool}/error.log").stdout


@pytest.mark.parametrize(("pool", "name", "root"), PHP_POOLS, ids=[p[0] for p in PHP_POOLS])
def test_php_error_log_is_rotated_and_written_again_for_the_operator(  # type: ignore[no-untyped-def]
    web, server: Server, web_host: Host, pool: str, name: str, root: str
) -> None:
    log = f"/var/log/php-fpm/{pool}/error.log"
    web_host.run(f"echo before-rotation >> {log} && logrotate -f /etc/logrotate.d/php-fpm-{pool}")
    php_warning(server, web_host, name, root, f"e2e-after-rotation-{pool}")
    f = web.file(log)
    content = f.content_string
    # Group adm: the operator reads it (Debian's adm group reads the system's logs).
    assert ("before-rotation" in content, f"e2e-after-rotation-{pool}" in content) == (False, True)
    assert (f.user, f.group, f.mode) == (pool, "adm", 0o640)


@pytest.mark.parametrize("pool", ["postfixadmin", "roundcube"])
def test_pool_size_follows_the_hosts_cpus_and_memory(web_host: Host, pool: str) -> None:
    from mailforge.settings import Machine, fpm_children

    cpus = int(web_host.run("nproc").stdout)
    memory_mb = int(web_host.run("awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo").stdout)
    conf = web_host.run(f"sed -n 's/^pm.max_children = //p' /etc/php/8.2/fpm/pool.d/{pool}.conf").stdout
    assert int(conf) == fpm_children(Machine(cpus, memory_mb), pools=2)


# --- HTTP and HTTPS -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_http_redirects_to_https(server: Server, name: str) -> None:
    reply = get(server, name, "/some/path?x=1", tls=False)
    assert reply.status == 301
    assert reply.headers["location"] == f"https://{name}/some/path?x=1"


@pytest.mark.parametrize("name", NAMES)
def test_acme_challenge_is_served_over_plain_http(server: Server, web_host: Host, name: str) -> None:
    web_host.run("echo probe-token > /var/www/acme/.well-known/acme-challenge/e2e-probe")
    reply = get(server, name, "/.well-known/acme-challenge/e2e-probe", tls=False)
    assert (reply.status, reply.body.strip()) == (200, "probe-token")


@pytest.mark.parametrize("name", NAMES)
def test_certificate_names_each_host_and_verifies(server: Server, name: str) -> None:
    context = ssl.create_default_context(cafile=server.cafile)  # the name is checked too
    with (
        socket.create_connection((server.address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (ssl.TLSVersion.TLSv1, False),
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ],
    ids=["1.0", "1.1", "1.2", "1.3"],
)
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_below_1_2_is_refused_on_443(server: Server, version: ssl.TLSVersion, accepted: bool) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Let this client offer the old protocols at all (OpenSSL 3 refuses them at its default security level).
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = version
    raw = socket.create_connection((server.address, 443), timeout=10)
    try:
        if accepted:
            with context.wrap_socket(raw, server_hostname=WEBMAIL_NAME) as tls:
                assert tls.version() == version.name.replace("_", ".")
        else:
            with pytest.raises(ssl.SSLError), context.wrap_socket(raw, server_hostname=WEBMAIL_NAME):
                pass
    finally:
        raw.close()


@pytest.mark.parametrize("name", NAMES)
def test_https_sends_hsts_and_security_headers(server: Server, name: str) -> None:
    headers = get(server, name, "/").headers
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["referrer-policy"] == "same-origin"
    assert "server" not in headers or "/" not in headers["server"]  # no version


SECURITY_HEADERS = ["strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy",
                    "permissions-policy"]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "path"), [(PFA_NAME, "/login.php"), (WEBMAIL_NAME, "/")], ids=["postfixadmin", "roundcube"]
)
def test_app_pages_send_each_security_header_once(server: Server, name: str, path: str) -> None:
    # PostfixAdmin sends X-Frame-Options: DENY and Roundcube its own: Nginx's policy alone reaches the browser.
    reply = get(server, name, path)
    names = [key.lower() for key, _ in reply.raw_headers]
    assert {header: names.count(header) for header in SECURITY_HEADERS} == dict.fromkeys(SECURITY_HEADERS, 1)


@pytest.mark.parametrize("tls", [False, True], ids=["80", "443"])
def test_server_header_names_no_version(server: Server, tls: bool) -> None:
    assert get(server, WEBMAIL_NAME, "/", tls=tls).headers["server"] == "nginx"


@pytest.mark.parametrize(
    ("name", "path", "marker"),
    [(PFA_NAME, "/login.php", "fUsername"), (WEBMAIL_NAME, "/", "rcmloginuser")],
    ids=["postfixadmin", "roundcube"],
)
def test_login_page_is_served(server: Server, name: str, path: str, marker: str) -> None:
    reply = get(server, name, path)
    assert reply.status == 200
    assert marker in reply.body


def test_mail_hostname_lands_on_the_webmail(server: Server) -> None:
    reply = get(server, MAIL_NAME, "/")
    assert (reply.status, reply.headers["location"]) == (302, f"https://{WEBMAIL_NAME}/")


@pytest.mark.parametrize("path", ["/setup.php", "/upgrade.php", "/setup.php?x=1"])
def test_postfixadmin_setup_is_unreachable(server: Server, path: str) -> None:
    assert get(server, PFA_NAME, path).status in (403, 404)


@pytest.mark.parametrize(
    "path", ["/config/config.inc.php", "/temp/", "/logs/errors.log", "/SQL/mysql.initial.sql", "/installer/"]
)
def test_roundcube_internals_are_not_served(server: Server, path: str) -> None:
    assert get(server, WEBMAIL_NAME, path).status in (403, 404)


# --- in a browser: PostfixAdmin creates a mailbox, mail arrives, the webmail shows it -----------------
# Debian's chromium and chromium-driver, headless, driven by Selenium. The host's names resolve to its
# address through --host-resolver-rules and every other name to nothing, so the browser reaches no other
# host. It is told to ignore certificate errors: the certificate of each name is verified separately, with
# Python's ssl against the host's CA (test_certificate_names_each_host_and_verifies).

UI_DOMAIN = "browser.test"
UI_MAILBOX = f"dana@{UI_DOMAIN}"
UI_PASSWORD = "Browser-Horse-42-lamp"


class Browser:
    """One headless Chromium; every step leaves a screenshot under the module's tmp dir."""

    def __init__(self, address: str, directory: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shots: list[Path] = []
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        rules = ", ".join(f"MAP {n} {address}" for n in (PFA_NAME, WEBMAIL_NAME))
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--ignore-certificate-errors",
            "--window-size=1280,900",
            f"--user-data-dir={directory / 'profile'}",
            f"--host-resolver-rules={rules}, MAP * ~NOTFOUND",
        ):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        self.driver.set_page_load_timeout(60)

    def shot(self, name: str) -> Path:
        path = self.directory / f"{len(self.shots):02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def open(self, url: str, step: str) -> None:
        self.driver.get(url)
        self.shot(step)

    def fill(self, fields: dict[str, str]) -> None:
        from selenium.webdriver.common.by import By

        for name, value in fields.items():
            element = self.driver.find_element(By.NAME, name)
            element.clear()
            element.send_keys(value)

    def tick(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        box = self.driver.find_element(By.NAME, name)
        if not box.is_selected():
            box.click()

    def displayed(self, css: str) -> list[bool]:
        """Whether each element CSS selects is shown on the page."""
        from selenium.webdriver.common.by import By

        return [e.is_displayed() for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def submit(self, css: str, step: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).click()
        self.shot(step)

    def wait_for_text(self, text: str, step: str, timeout: float = 30) -> bool:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            WebDriverWait(self.driver, timeout).until(lambda d: text in d.find_element("tag name", "body").text)
            return True
        except TimeoutException:
            return False
        finally:
            self.shot(step)

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def browser(server: Server, module_tmp: Path) -> Iterator[Browser]:
    chrome = Browser(server.address, module_tmp / "browser")
    yield chrome
    chrome.quit()


@pytest.fixture(autouse=True)
def _screenshots_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Attach the browser's screenshots to a failing test's report (conftest's makereport hook lists them)."""
    if "browser" in request.fixturenames:
        chrome: Browser = request.getfixturevalue("browser")
        request.node.screenshots = chrome.shots  # type: ignore[attr-defined]  # filled as the test runs
    yield


@pytest.fixture(scope="module")
def admin_logged_in(browser: Browser) -> bool:
    browser.open(f"https://{PFA_NAME}/login.php", "postfixadmin-login")
    browser.fill({"fUsername": SUPERADMIN, "fPassword": SUPERADMIN_PASSWORD})
    browser.submit("button[name=submit]", "postfixadmin-logged-in")
    return browser.wait_for_text("Admin List", "postfixadmin-main")


@pytest.fixture(scope="module")
def ui_mailbox(browser: Browser, admin_logged_in: bool) -> str:
    assert admin_logged_in, f"the superadmin could not log in; screenshots: {browser.shots}"
    browser.open(f"https://{PFA_NAME}/edit.php?table=domain", "new-domain-form")
    browser.fill({"value[domain]": UI_DOMAIN, "value[description]": "made in the browser"})
    browser.tick("value[default_aliases]")
    browser.submit("input[name=submit]", "domain-added")
    browser.open(f"https://{PFA_NAME}/edit.php?table=mailbox&domain={UI_DOMAIN}", "new-mailbox-form")
    browser.fill({
        "value[local_part]": UI_MAILBOX.split("@")[0],
        "value[password]": UI_PASSWORD,
        "value[password2]": UI_PASSWORD,
        "value[name]": "Dana Browser",
        "value[quota]": "10",
    })  # fmt: skip
    browser.submit("input[name=submit]", "mailbox-added")
    return UI_MAILBOX


def test_superadmin_logs_into_postfixadmin(admin_logged_in: bool) -> None:
    assert admin_logged_in


def test_postfixadmin_ui_creates_the_domain_and_mailbox(web, ui_mailbox: str) -> None:  # type: ignore[no-untyped-def]
    query = f"SELECT COUNT(*) FROM postfixadmin.mailbox WHERE username='{ui_mailbox}' AND active=1"
    assert web.check_output(f'mysql -N -e "{query}"') == "1"


def test_postfixadmin_ui_adds_default_aliases_to_this_servers_addresses(web, ui_mailbox: str) -> None:  # type: ignore[no-untyped-def]
    query = f"SELECT address, goto FROM postfixadmin.alias WHERE domain='{UI_DOMAIN}' AND address<>goto"
    rows = dict(line.split("\t") for line in web.check_output(f'mysql -N -e "{query}"').splitlines())
    postmaster = f"postmaster@{UI_DOMAIN}"
    assert {k: v for k, v in rows.items() if k != ui_mailbox} == {
        f"abuse@{UI_DOMAIN}": postmaster,
        f"hostmaster@{UI_DOMAIN}": postmaster,
        f"webmaster@{UI_DOMAIN}": postmaster,
        postmaster: DEFAULT_ALIASES_TO,
    }


@pytest.mark.parametrize("local_part", ["abuse", "hostmaster", "postmaster", "webmaster"])
def test_mail_to_a_default_alias_reaches_a_mailbox_here(server: Server, ui_mailbox: str, local_part: str) -> None:
    msg = message("sender@remote.test", f"{local_part}@{UI_DOMAIN}")
    with smtp(server) as client:
        client.send_message(msg)
    assert fetch(server, DEFAULT_ALIASES_TO, DEPLOY_ENV[PASSWORD_ENV], str(msg["Subject"])) is not None


def test_postfixadmin_menu_hides_the_denied_setup_link(browser: Browser, admin_logged_in: bool) -> None:
    assert admin_logged_in, f"the superadmin could not log in; screenshots: {browser.shots}"
    browser.open(f"https://{PFA_NAME}/main.php", "postfixadmin-menu")
    # Upstream's menu always has the link (templates/menu.tpl); the site CSS hides it.
    assert browser.displayed('a[href="setup.php"]') == [False]


def test_postfixadmin_footer_links_the_webmail(server: Server) -> None:
    body = get(server, PFA_NAME, "/login.php").body
    assert (f'href="https://{WEBMAIL_NAME}/"' in body, "change-this-to-your.domain.tld" in body) == (True, False)


def test_postfixadmin_sends_its_mail_from_an_address_here(web) -> None:  # type: ignore[no-untyped-def]
    php = "require '/usr/share/postfixadmin/config.inc.php'; echo $CONF['admin_email'];"
    assert web.check_output(f"cd /usr/share/postfixadmin && php -r {shlex.quote(php)}") == DEFAULT_ALIASES_TO


@pytest.fixture(scope="module")
def ui_message(server: Server, ui_mailbox: str) -> str:
    msg = message("sender@remote.test", ui_mailbox)
    with smtp(server) as client:
        client.send_message(msg)
    return str(msg["Subject"])


def test_mail_to_the_mailbox_made_in_the_ui_arrives(server: Server, ui_mailbox: str, ui_message: str) -> None:
    assert fetch(server, ui_mailbox, UI_PASSWORD, ui_message) is not None


def test_webmail_shows_the_message(browser: Browser, server: Server, ui_mailbox: str, ui_message: str) -> None:
    fetch(server, ui_mailbox, UI_PASSWORD, ui_message)  # delivered before the browser looks
    browser.open(f"https://{WEBMAIL_NAME}/", "webmail-login")
    browser.fill({"_user": ui_mailbox, "_pass": UI_PASSWORD})
    browser.submit("#rcmloginsubmit", "webmail-logged-in")
    assert browser.wait_for_text(ui_message, "webmail-inbox"), f"subject not on screen; screenshots: {browser.shots}"


# --- certbot against a local ACME server (pebble) ----------------------------------------------------
# Debian's pebble runs on this machine at the test host's gateway address; it resolves the host's names
# through a knotd the test runs (no "always valid" shortcut: PEBBLE_VA_ALWAYS_VALID is not set) and
# validates HTTP-01 on port 80 of the host. Pebble's own HTTPS listener uses a certificate from a CA the
# test makes, which the deploy trusts through certbot_ca_bundle.

ACME_NAME = "mail.acme.test"
ACME_PFA = "postfixadmin.acme.test"
ACME_NAMES = [ACME_NAME, ACME_PFA]


def _ca_and_server_cert(directory: Path, ip: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for pebble's listener (IP SAN ip and 127.0.0.1)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailforge e2e ACME listener CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(ip)), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "acme-ca.pem", directory / "pebble.pem", directory / "pebble.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return paths


@dataclass
class Acme:
    host: Host
    listener_ca: Path
    root: Path  # pebble's issuing root, fetched from its management interface
    dns: str  # "IP:PORT" of the knotd serving acme.test
    inventory: Callable[..., Path]


def _zone(host: Host, extra: str = "") -> str:
    records = "\n".join(f"{n}. A {host.address}" for n in ACME_NAMES)
    return (f"$ORIGIN acme.test.\n$TTL 60\n@ SOA ns.acme.test. hostmaster.acme.test. 1 3600 600 86400 60\n"
            f"@ NS ns.acme.test.\nns A {host.address}\n{records}\n{extra}\n")  # fmt: skip


@pytest.fixture(scope="module")
def acme(make_host, module_tmp: Path, state: StateDir) -> Iterator[Acme]:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import time
    import urllib.request

    from lab.knot import Knot, free_port

    host = make_host("webacme")
    gateway = host.address.rsplit(".", 1)[0] + ".1"
    workdir = module_tmp / "acme"
    workdir.mkdir()
    port = free_port(gateway)
    # closed.acme.test: resolves, but to an address where nothing answers on port 80 (the gateway itself).
    knot = Knot(workdir / "knot", {"acme.test": _zone(host, f"closed A {gateway}")}, [gateway], port)
    listener_ca, cert, key = _ca_and_server_cert(workdir, gateway)
    config = workdir / "pebble.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"{gateway}:14000", "managementListenAddress": "127.0.0.1:15000",
        "certificate": str(cert), "privateKey": str(key), "httpPort": 80, "tlsPort": 443,
        "ocspResponderURL": "", "externalAccountBindingRequired": False,
    }}))  # fmt: skip
    log = (workdir / "pebble.log").open("w")
    # NOSLEEP: no random validation delays; NONCEREJECT=0: no deliberately rejected nonces (certbot retries
    # those, but they only slow the run down). https://github.com/letsencrypt/pebble#testing-at-full-speed
    env = {"PATH": "/usr/bin:/bin", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    pebble = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"{gateway}:{port}"],
                              stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    context = ssl.create_default_context(cafile=str(listener_ca))
    root = workdir / "pebble-root.pem"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen("https://127.0.0.1:15000/roots/0", context=context, timeout=5) as reply:
                root.write_bytes(reply.read())
            break
        except OSError:
            if time.monotonic() > deadline or pebble.poll() is not None:
                raise RuntimeError(f"pebble did not start: {(workdir / 'pebble.log').read_text()}") from None
            time.sleep(0.3)

    def inventory(**change: Any) -> Path:
        data = {
            **mail_server_data(ACME_NAME, {}),
            "webmail": "none",
            "tls_mode": "certbot",
            "certbot_server": f"https://{gateway}:14000/dir",
            "certbot_ca_bundle": str(listener_ca),
            "certbot_email": "hostmaster@example.test",
            "dns_preflight_nameservers": [f"{gateway}:{port}"],
            **change,
        }
        return write_inventory(module_tmp / "acme_inventory.py", [(host.name, host.address, data)], state.ssh_key)

    try:
        yield Acme(host, listener_ca, root, f"{gateway}:{port}", inventory)
    finally:
        pebble.terminate()
        pebble.wait(10)
        log.close()
        knot.stop()


@pytest.fixture(scope="module")
def acme_deployed(acme: Acme) -> DeployResult:
    result = run_deploy(acme.inventory(), env=ENV)
    assert result.ok, result.explain()
    return result


def _served(acme: Acme, port: int, name: str) -> tuple[int, str]:
    """(serial, protocol) of the certificate served on a port, verified against pebble's root for NAME."""
    from cryptography import x509

    context = ssl.create_default_context(cafile=str(acme.root))  # chain and name both checked
    address = acme.host.address
    if port in (25, 587):
        with smtplib.SMTP(address, port, timeout=30) as client:
            client.ehlo("client.example.test")
            client._host = name  # STARTTLS sends this as SNI and checks it; we connected by address
            client.starttls(context=context)
            der = client.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
            version = client.sock.version()  # type: ignore[union-attr]
    else:
        with (
            socket.create_connection((address, port), timeout=15) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            der, version = tls.getpeercert(binary_form=True), tls.version()
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number, str(version)


MAIL_TLS_PORTS = [25, 465, 587, 993, 443]


@pytest.fixture(scope="module")
def first_serials(acme: Acme, acme_deployed: DeployResult) -> dict[int, int]:
    return {port: _served(acme, port, ACME_NAME)[0] for port in MAIL_TLS_PORTS}


@pytest.fixture(scope="module")
def renewed(acme: Acme, first_serials: dict[int, int]) -> str:
    # What certbot.timer runs (with the unit's environment, i.e. the drop-in trusting the ACME server's CA),
    # forced: a fresh certificate is not due for renewal yet.
    return acme.host.run("env $(systemctl show -p Environment --value certbot.service) "
                         "certbot renew --force-renewal --no-random-sleep-on-renew 2>&1").stdout  # fmt: skip


def test_certbot_obtains_one_certificate_for_every_name(acme: Acme, acme_deployed: DeployResult) -> None:
    from cryptography import x509

    pem = acme.host.run(f"cat /etc/letsencrypt/live/{ACME_NAME}/cert.pem").stdout.encode()
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == sorted(ACME_NAMES)
    assert "Pebble" in cert.issuer.rfc4514_string()


def test_certbot_renews_with_debians_timer(acme: Acme, acme_deployed: DeployResult) -> None:
    host = infra(acme.host)
    assert host.service("certbot.timer").is_enabled
    assert host.service("certbot.timer").is_running


@pytest.mark.parametrize("port", MAIL_TLS_PORTS)
def test_every_daemon_serves_the_renewed_certificate(
    acme: Acme, first_serials: dict[int, int], renewed: str, port: int
) -> None:
    serial, version = _served(acme, port, ACME_NAME if port != 443 else ACME_PFA)
    assert serial != first_serials[port], renewed[-2000:]
    assert version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ghost.acme.test", "ghost.acme.test does not resolve"), ("closed.acme.test", "port 80 of closed.acme.test")],
    ids=["name-not-resolving", "port-80-unreachable"],
)
def test_unreachable_name_stops_before_certbot_runs(acme: Acme, renewed: str, name: str, expected: str) -> None:
    state = f"ls /var/log/letsencrypt/; openssl x509 -noout -serial -in /etc/letsencrypt/live/{ACME_NAME}/cert.pem"
    before = acme.host.run(state).stdout  # certbot rotates its log on every run
    result = run_deploy(acme.inventory(postfixadmin_hostname=name), env=ENV)
    assert not result.ok
    assert expected in result.output, result.output[-4000:]
    assert acme.host.run(state).stdout == before


# --- RainLoop / SnappyMail from a pinned upstream archive -------------------------------------------
# These machines cannot reach the upstream release archives: a test serves an archive from this machine
# over HTTP on the test host's gateway address, and the host fetches it from there.


@contextlib.contextmanager
def serve_file(path: Path, address: str) -> Iterator[str]:
    """Serve one file over HTTP on ADDRESS (a free port) for as long as the block runs; yields its URL."""
    import functools
    import http.server
    import threading

    from lab.knot import free_port

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    httpd = http.server.ThreadingHTTPServer((address, free_port(address)), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{httpd.server_address[1]}/{path.name}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def archive_data(app: str, url: str, sha256: str) -> dict[str, Any]:
    return {**web_data(), "webmail": app, f"{app}_version": "e2e", f"{app}_archive_url": url,
            f"{app}_archive_sha256": sha256}  # fmt: skip


def test_archive_checksum_mismatch_stops_with_nothing_installed(
    server: Server, web_host: Host, module_tmp: Path, state: StateDir
) -> None:
    bogus = module_tmp / "snappymail-e2e.tar.gz"
    bogus.write_bytes(b"not the release archive")
    before = web_host.run("md5sum /etc/nginx/sites-available/webmail.conf; ls /etc/php/8.2/fpm/pool.d/").stdout
    gateway = web_host.address.rsplit(".", 1)[0] + ".1"
    with serve_file(bogus, gateway) as url:
        data = archive_data("snappymail", url, "0" * 64)
        inventory = write_inventory(module_tmp / "bogus_inventory.py", [(web_host.name, web_host.address, data)],
                                    state.ssh_key)  # fmt: skip
        result = run_deploy(inventory, env=ENV)
    assert not result.ok
    assert f"checksum mismatch for {url}: expected sha256 {'0' * 64}" in result.output, result.explain()
    leftovers = web_host.run("ls -d /var/www/snappymail* /var/cache/mailforge/snappymail* 2>/dev/null", check=False)
    assert leftovers.stdout.strip() == ""
    after = web_host.run("md5sum /etc/nginx/sites-available/webmail.conf; ls /etc/php/8.2/fpm/pool.d/").stdout
    assert after == before


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
def archive_site(request, make_host, module_tmp: Path, state: StateDir) -> ArchiveSite:  # type: ignore[no-untyped-def]
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


# --- deploy behaviour ------------------------------------------------------------------------------


def test_second_deploy_changes_nothing(deployed: DeployResult, inventory: Path) -> None:
    again = run_deploy(inventory, env=ENV)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()
