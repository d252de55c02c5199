"""Issue 4: RainLoop/SnappyMail from pinned upstream archives. The files mailforge writes for them, checked
against the formats the applications read (verified in their source: RainLoop 1.17.0, SnappyMail 2.38.2), and
the archive pins.

The INI files go through PHP's own parser (both apps read them with parse_ini_string/parse_ini_file), the
admin password through PHP's password_verify, as the apps do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest

from deploys.templating import TEMPLATES, header
from deploys.web.webmail import ADMIN_INI_PHP
from mailforge.settings import SettingsError, load_settings

HOSTNAME = "mail.example.org"
CAFILE = "/etc/mailforge/ca/ca.crt"


def render(name: str) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    return env.get_template(name).render(managed_header=header("webmail", ";"), hostname=HOSTNAME, cafile=CAFILE)


def php(code: str, *args: str, stdin: str = "") -> str:
    if shutil.which("php") is None:
        pytest.fail("php is missing: run scripts/bootstrap.sh (apt-packages.txt lists php-cli)")
    return subprocess.run(["php", "-r", code, *args], input=stdin, check=True, capture_output=True, text=True).stdout


# --- SnappyMail: domains/<domain>.json, read by RainLoop\Model\Domain::fromArray ---------------------------


@pytest.fixture(scope="module")
def snappymail_domain() -> dict[str, Any]:
    return json.loads(render("snappymail/domain.json.j2"))


@pytest.mark.parametrize(
    ("section", "port", "kind"),
    # ConnectionSecurityType: 1 = TLS from the first byte, 2 = STARTTLS.
    [("IMAP", 993, 1), ("SMTP", 587, 2), ("Sieve", 4190, 2)],
)
def test_snappymail_domain_gives_each_connection_what_connect_settings_reads(
    snappymail_domain: dict[str, Any], section: str, port: int, kind: int
) -> None:
    # MailSo\Net\ConnectSettings::fromArray assigns host and port unconditionally to typed properties: a
    # section without them (Sieve once was {"enabled": false}) is a TypeError on every login.
    settings = snappymail_domain[section]
    assert (settings["host"], settings["port"], settings["type"]) == (HOSTNAME, port, kind)


@pytest.mark.parametrize("section", ["IMAP", "SMTP", "Sieve"])
def test_snappymail_domain_verifies_the_server_against_the_local_ca(
    snappymail_domain: dict[str, Any], section: str
) -> None:
    ssl = snappymail_domain[section]["ssl"]
    assert (ssl["verify_peer"], ssl["verify_peer_name"], ssl["allow_self_signed"], ssl["cafile"]) == (
        True,
        True,
        False,
        CAFILE,
    )


def test_snappymail_domain_top_level_keys_are_the_ones_from_array_reads(snappymail_domain: dict[str, Any]) -> None:
    # fromArray reads IMAP, SMTP, Sieve and whiteList (unconditionally); anything else is ignored.
    assert {"IMAP", "SMTP", "Sieve", "whiteList"} <= snappymail_domain.keys()
    assert set(snappymail_domain) - {"IMAP", "SMTP", "Sieve", "whiteList"} == {"_comment"}


def test_snappymail_domain_authenticates_submission_and_leaves_sieve_off(snappymail_domain: dict[str, Any]) -> None:
    smtp, sieve = snappymail_domain["SMTP"], snappymail_domain["Sieve"]
    assert (smtp["useAuth"], smtp["usePhpMail"], sieve["enabled"]) == (True, False, False)


# --- RainLoop: domains/<domain>.ini, read by RainLoop\Model\Domain::NewInstanceFromDomainConfigArray ----------


def test_rainloop_domain_ini_parses_in_php_to_exactly_the_keys_rainloop_reads() -> None:
    code = "echo json_encode(parse_ini_string(stream_get_contents(STDIN)));"
    parsed = json.loads(php(code, stdin=render("rainloop/domain.ini.j2")))
    # PHP's INI parser turns On into "1" and Off into ""; RainLoop casts with (bool) and (int).
    assert parsed == {
        "imap_host": HOSTNAME,
        "imap_port": "993",
        "imap_secure": "SSL",  # StrConnectionSecurityTypeToCons: SSL = TLS from the first byte
        "imap_short_login": "",
        "sieve_use": "",
        "smtp_host": HOSTNAME,
        "smtp_port": "587",
        "smtp_secure": "TLS",  # ... and TLS = STARTTLS
        "smtp_short_login": "",
        "smtp_auth": "1",
        "smtp_php_mail": "",
        "white_list": "",
    }


# --- application.ini: the admin panel's login and password -----------------------------------------------


@pytest.mark.parametrize("password", ["Admin-Horse-42-staple", 'has $dollar "quotes" ;semicolon', " spaces kept "])
def test_admin_ini_holds_a_hash_that_password_verify_accepts(tmp_path: Path, password: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text(password + "\n")  # as the deploy writes it: printf '%s\n'
    ini = tmp_path / "application.ini"
    ini.write_text(php(ADMIN_INI_PHP, str(secret)))
    # Both apps: AbstractConfig::Load is parse_ini_file(..., true); ValidatePassword is password_verify().
    check = (
        '$c = parse_ini_file($argv[1], true); $s = $c["security"];'
        " echo json_encode([$s['admin_login'], password_verify($argv[2], $s['admin_password']),"
        " substr($s['admin_password'], 0, 4)]);"
    )
    assert json.loads(php(check, str(ini), password)) == ["admin", True, "$2y$"]


def test_admin_ini_keeps_no_clear_text_password(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("Admin-Horse-42-staple\n")
    assert "Admin-Horse-42-staple" not in php(ADMIN_INI_PHP, str(secret))


# --- the archive pins --------------------------------------------------------------------------------------


def web(**data: Any):
    base = {"mail_hostname": HOSTNAME, "mail_domains": [{"domain": "example.org"}]}
    return load_settings({**base, **data}, host="mail", environ={}).web


def problems(**data: Any) -> list[str]:
    with pytest.raises(SettingsError) as err:
        web(**data)
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize(
    ("app", "version", "archive"),
    [
        ("snappymail", "2.38.2", "https://github.com/the-djmaze/snappymail/releases/download/v2.38.2/snappymail-2.38.2.tar.gz"),
        ("rainloop", "1.17.0", "https://github.com/RainLoop/rainloop-webmail/releases/download/v1.17.0/rainloop-legacy-1.17.0.zip"),
    ],
)  # fmt: skip
def test_each_archive_webmail_has_a_pinned_default_release(app: str, version: str, archive: str) -> None:
    settings = web(webmail=app)
    assert (settings.webmail_version, settings.webmail_archive_url) == (version, archive)
    assert len(settings.webmail_archive_sha256) == 64


@pytest.mark.parametrize("key", ["snappymail_version", "snappymail_archive_url", "snappymail_archive_sha256"])
def test_a_pin_overridden_alone_names_the_keys_still_missing(key: str) -> None:
    value = {"snappymail_version": "2.38.3", "snappymail_archive_url": "https://example.org/sm.tar.gz",
             "snappymail_archive_sha256": "a" * 64}[key]  # fmt: skip
    [problem] = problems(webmail="snappymail", **{key: value})
    missing = [k for k in ("snappymail_version", "snappymail_archive_url", "snappymail_archive_sha256") if k != key]
    assert problem.startswith(key) and all(k in problem for k in missing), problem


@pytest.mark.parametrize(
    ("app", "version", "floor"), [("rainloop", "1.14.0", "1.15.0"), ("snappymail", "2.21.3", "2.21.4")]
)
def test_a_release_older_than_the_formats_mailforge_writes_is_refused(app: str, version: str, floor: str) -> None:
    pins = {
        f"{app}_version": version,
        f"{app}_archive_url": "https://example.org/w.zip",
        f"{app}_archive_sha256": "a" * 64,
    }
    [problem] = problems(webmail=app, **pins)
    assert f"{app} {version} predates {floor}" in problem, problem


def test_a_release_label_that_is_not_a_version_number_is_accepted() -> None:
    # The e2e tests pin archives they build or are given under the label "e2e".
    pins = {"snappymail_version": "e2e", "snappymail_archive_url": "http://10.213.0.1:8080/s.tar.gz",
            "snappymail_archive_sha256": "b" * 64}  # fmt: skip
    assert web(webmail="snappymail", **pins).webmail_version == "e2e"
