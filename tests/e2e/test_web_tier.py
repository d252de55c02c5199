"""Issue 4: the web tier and TLS. Nginx + PHP-FPM serve PostfixAdmin's UI and the webmail over HTTPS only
(HTTP redirects, except the ACME challenge), with HSTS and security headers, TLS 1.2+, setup.php out of
reach, one PHP-FPM pool per app under its own user; the superadmin is created from settings; a webmail
archive that fails its checksum leaves the tier as it was; a second deploy changes nothing.

One host ("web", mail_hostname web.example.test, so postfixadmin.example.test and webmail.example.test)
deployed once for the module with the local CA (conftest's web_* fixtures); HTTP clients connect to its
address with the name as SNI and Host header, trusting the host's CA (lab.web.get).
"""

from __future__ import annotations

import shlex
import socket
import ssl
from pathlib import Path

import pytest

from lab.mail import Server
from lab.provision import DeployResult, run_deploy, write_inventory
from lab.web import ENV, MAIL_NAME, NAMES, PFA_NAME, SUPERADMIN, WEBMAIL_NAME, archive_data, get, serve_file
from mailforge.releases import Release
from mailforge.testhost import Host, StateDir

WEB_HOST = "web"  # conftest's web_host fixture creates and deploys it
# Run on both supported releases by default (tests/e2e/conftest.py): PHP 8.2 and 8.4, Nginx 1.22 and 1.26.
RELEASES = ("trixie", "bookworm")


# --- the host -------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [80, 443])
def test_web_ports_listen(web, port: int) -> None:
    assert web.socket(f"tcp://0.0.0.0:{port}").is_listening


@pytest.mark.parametrize("service", ["nginx", "php-fpm"])
def test_web_services_active_and_enabled(web, release: Release, service: str) -> None:
    # PHP-FPM's unit carries the release's PHP version (php8.2-fpm on Debian 12, php8.4-fpm on 13).
    unit = f"php{release.php}-fpm" if service == "php-fpm" else service
    assert web.service(unit).is_running
    assert web.service(unit).is_enabled


@pytest.mark.parametrize(("pool", "user"), [("postfixadmin", "postfixadmin"), ("roundcube", "roundcube")])
def test_each_app_has_its_own_php_pool_user(web, release: Release, pool: str, user: str) -> None:
    processes = web.check_output(f"ps -C php-fpm{release.php} -o user:32=,args=").splitlines()
    users = {line.split()[0] for line in processes if line.endswith(f"pool {pool}")}
    assert users == {user}


def test_debian_www_pool_is_gone(web, release: Release) -> None:
    assert not web.file(f"/etc/php/{release.php}/fpm/pool.d/www.conf").exists


@pytest.mark.parametrize("package", ["apache2", "libapache2-mod-php", "lighttpd"])
def test_other_web_servers_can_never_be_installed(web_host: Host, package: str) -> None:
    # apt's preferences give them no candidate, so no dependency (PHP's, PostfixAdmin's) pulls one in.
    result = web_host.run(f"apt-get install -s {package}", check=False)
    assert result.returncode != 0 and "no installation candidate" in result.stderr, result.stdout + result.stderr


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
def test_web_files_are_protected(web, path: str, mode: int, user: str, group: str) -> None:
    f = web.file(path)
    assert (f.mode, f.user, f.group) == (mode, user, group)


def test_setup_password_is_stored_only_as_a_bcrypt_hash(web) -> None:
    stored = web.file("/etc/postfixadmin/setup_password.inc.php").content_string
    assert "$CONF['setup_password'] = '$2y$" in stored
    # PostfixAdmin itself reads the hash (not the default 'changeme').
    php = "require '/usr/share/postfixadmin/config.inc.php'; echo substr($CONF['setup_password'], 0, 4);"
    assert web.check_output(f"cd /usr/share/postfixadmin && php -r {shlex.quote(php)}") == "$2y$"


def test_superadmin_is_created_from_settings(web) -> None:
    query = f"SELECT superadmin, active FROM postfixadmin.admin WHERE username='{SUPERADMIN}'"
    assert web.check_output(f'mysql -N -e "{query}"').split() == ["1", "1"]


def test_roundcube_database_is_in_mariadb(web) -> None:
    assert int(web.check_output("mysql -N -e 'SELECT COUNT(*) FROM information_schema.tables "
                                "WHERE table_schema=\"roundcube\"'")) > 5  # fmt: skip


def test_roundcube_log_is_its_pool_users_after_rotation(web) -> None:
    # fail2ban's roundcube-auth jail reads this file; Roundcube (pool user roundcube) must keep writing it.
    web.run_expect([0], "echo rotation-probe >> /var/log/roundcube/errors.log")
    web.run_expect([0], "logrotate -f /etc/logrotate.d/roundcube-core")
    f = web.file("/var/log/roundcube/errors.log")
    assert (f.exists, f.user, f.mode) == (True, "roundcube", 0o640)


PHP_POOLS = [
    ("postfixadmin", PFA_NAME, "/usr/share/postfixadmin/public"),
    ("roundcube", WEBMAIL_NAME, "/var/lib/roundcube/public_html"),
]


def php_warning(web_server: Server, host: Host, name: str, root: str, marker: str) -> None:
    """Have the app's pool run a PHP warning, through Nginx, from a probe script in the app's web root."""
    probe = f"{root}/mailforge-e2e-probe.php"
    code = f'<?php trigger_error("{marker}", E_USER_WARNING); echo "probed";'
    host.run(f"printf '%s' {shlex.quote(code)} > {probe}")
    try:
        assert get(web_server, name, "/mailforge-e2e-probe.php").body == "probed"
    finally:
        host.run(f"rm -f {probe}")


@pytest.mark.parametrize(("pool", "name", "root"), PHP_POOLS, ids=[p[0] for p in PHP_POOLS])
def test_php_errors_of_each_pool_reach_its_own_log(
    web_server: Server, web_host: Host, pool: str, name: str, root: str
) -> None:
    php_warning(web_server, web_host, name, root, f"e2e-warning-of-{pool}")
    assert f"PHP Warning:  e2e-warning-of-{pool}" in web_host.run(f"cat /var/log/php-fpm/{pool}/error.log").stdout


@pytest.mark.parametrize(("pool", "name", "root"), PHP_POOLS, ids=[p[0] for p in PHP_POOLS])
def test_php_error_log_is_rotated_and_written_again_for_the_operator(
    web, web_server: Server, web_host: Host, pool: str, name: str, root: str
) -> None:
    log = f"/var/log/php-fpm/{pool}/error.log"
    web_host.run(f"echo before-rotation >> {log} && logrotate -f /etc/logrotate.d/php-fpm-{pool}")
    php_warning(web_server, web_host, name, root, f"e2e-after-rotation-{pool}")
    f = web.file(log)
    content = f.content_string
    # Group adm: the operator reads it (Debian's adm group reads the system's logs).
    assert ("before-rotation" in content, f"e2e-after-rotation-{pool}" in content) == (False, True)
    assert (f.user, f.group, f.mode) == (pool, "adm", 0o640)


@pytest.mark.parametrize("pool", ["postfixadmin", "roundcube"])
def test_pool_size_follows_the_hosts_cpus_and_memory(web_host: Host, release: Release, pool: str) -> None:
    from mailforge.settings import Machine, fpm_children

    cpus = int(web_host.run("nproc").stdout)
    memory_mb = int(web_host.run("awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo").stdout)
    conf = web_host.run(f"sed -n 's/^pm.max_children = //p' /etc/php/{release.php}/fpm/pool.d/{pool}.conf").stdout
    assert int(conf) == fpm_children(Machine(cpus, memory_mb), pools=2)


# --- HTTP and HTTPS -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_http_redirects_to_https(web_server: Server, name: str) -> None:
    reply = get(web_server, name, "/some/path?x=1", tls=False)
    assert reply.status == 301
    assert reply.headers["location"] == f"https://{name}/some/path?x=1"


@pytest.mark.parametrize("name", NAMES)
def test_acme_challenge_is_served_over_plain_http(web_server: Server, web_host: Host, name: str) -> None:
    web_host.run("echo probe-token > /var/www/acme/.well-known/acme-challenge/e2e-probe")
    reply = get(web_server, name, "/.well-known/acme-challenge/e2e-probe", tls=False)
    assert (reply.status, reply.body.strip()) == (200, "probe-token")


@pytest.mark.parametrize("name", NAMES)
def test_certificate_names_each_host_and_verifies(web_server: Server, name: str) -> None:
    context = ssl.create_default_context(cafile=web_server.cafile)  # the name is checked too
    with (
        socket.create_connection((web_server.address, 443), timeout=10) as raw,
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
def test_tls_below_1_2_is_refused_on_443(web_server: Server, version: ssl.TLSVersion, accepted: bool) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Let this client offer the old protocols at all (OpenSSL 3 refuses them at its default security level).
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = version
    raw = socket.create_connection((web_server.address, 443), timeout=10)
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
def test_https_sends_hsts_and_security_headers(web_server: Server, name: str) -> None:
    headers = get(web_server, name, "/").headers
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
def test_app_pages_send_each_security_header_once(web_server: Server, name: str, path: str) -> None:
    # PostfixAdmin sends X-Frame-Options: DENY and Roundcube its own: Nginx's policy alone reaches the browser.
    reply = get(web_server, name, path)
    names = [key.lower() for key, _ in reply.raw_headers]
    assert {header: names.count(header) for header in SECURITY_HEADERS} == dict.fromkeys(SECURITY_HEADERS, 1)


@pytest.mark.parametrize("tls", [False, True], ids=["80", "443"])
def test_server_header_names_no_version(web_server: Server, tls: bool) -> None:
    assert get(web_server, WEBMAIL_NAME, "/", tls=tls).headers["server"] == "nginx"


@pytest.mark.parametrize(
    ("name", "path", "marker"),
    [(PFA_NAME, "/login.php", "fUsername"), (WEBMAIL_NAME, "/", "rcmloginuser")],
    ids=["postfixadmin", "roundcube"],
)
def test_login_page_is_served(web_server: Server, name: str, path: str, marker: str) -> None:
    reply = get(web_server, name, path)
    assert reply.status == 200
    assert marker in reply.body


def test_mail_hostname_lands_on_the_webmail(web_server: Server) -> None:
    reply = get(web_server, MAIL_NAME, "/")
    assert (reply.status, reply.headers["location"]) == (302, f"https://{WEBMAIL_NAME}/")


@pytest.mark.parametrize("path", ["/setup.php", "/upgrade.php", "/setup.php?x=1"])
def test_postfixadmin_setup_is_unreachable(web_server: Server, path: str) -> None:
    assert get(web_server, PFA_NAME, path).status in (403, 404)


@pytest.mark.parametrize(
    "path", ["/config/config.inc.php", "/temp/", "/logs/errors.log", "/SQL/mysql.initial.sql", "/installer/"]
)
def test_roundcube_internals_are_not_served(web_server: Server, path: str) -> None:
    assert get(web_server, WEBMAIL_NAME, path).status in (403, 404)


# --- a webmail release archive that fails its checksum ------------------------------------------------
# (the archive installs themselves: tests/e2e/test_webmail_archives.py)


def test_archive_checksum_mismatch_stops_with_nothing_installed(
    web_server: Server, web_host: Host, release: Release, module_tmp: Path, state: StateDir
) -> None:
    bogus = module_tmp / "snappymail-e2e.tar.gz"
    bogus.write_bytes(b"not the release archive")
    before = web_host.run(
        f"md5sum /etc/nginx/sites-available/webmail.conf; ls /etc/php/{release.php}/fpm/pool.d/"
    ).stdout
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
    after = web_host.run(
        f"md5sum /etc/nginx/sites-available/webmail.conf; ls /etc/php/{release.php}/fpm/pool.d/"
    ).stdout
    assert after == before


# --- deploy behaviour ------------------------------------------------------------------------------


def test_second_deploy_changes_nothing(web_deployed: DeployResult, web_inventory: Path) -> None:
    again = run_deploy(web_inventory, env=ENV)
    assert again.ok, again.explain()
    assert again.changed == 0, again.explain()
