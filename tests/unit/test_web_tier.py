"""Issue 14: the web tier's settings and files. PHP-FPM pools sized from the host, PostfixAdmin's default
aliases and admin address (config.local.php read by PHP itself), the archive webmail's admin password change."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest

from deploys.facts import MachineSize
from deploys.postfixadmin import default_aliases
from deploys.templating import TEMPLATES, header
from deploys.web.nginx_php import spare_servers
from deploys.web.webmail import ADMIN_INI_PHP, ADMIN_UPDATE_PHP
from mailforge.settings import Machine, SettingsError, fpm_children, load_settings


def data(**extra: Any) -> dict[str, Any]:
    return {
        "mail_hostname": "mail.example.org",
        "mail_domains": [
            {
                "domain": "example.org",
                "mailboxes": [{"address": "alice@example.org"}, {"address": "bob@example.org"}],
                "aliases": [{"address": "team@example.org", "goto": ["alice@example.org", "bob@example.org"]}],
            }
        ],
        **extra,
    }


def load(machine: Machine | None = None, **extra: Any):
    return load_settings(data(**extra), environ={}, machine=machine)


def problem_keys(**extra: Any) -> list[str]:
    with pytest.raises(SettingsError) as err:
        load(**extra)
    return [p.key for p in err.value.problems]


def php(code: str, *args: str) -> str:
    if shutil.which("php") is None:
        pytest.fail("php is missing: run scripts/bootstrap.sh (apt-packages.txt lists php-cli)")
    return subprocess.run(["php", "-r", code, *args], check=True, capture_output=True, text=True).stdout


# --- PHP-FPM pool size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "memory_mb", "pools", "children"),
    [
        (2, 24000, 2, 6),  # three per CPU
        (8, 65536, 2, 24),
        (1, 1024, 2, 2),  # a small VPS: 1024 / 4 / (2 x 64) = 2
        (4, 2048, 2, 4),  # memory bounds it below 3 x CPUs
        (4, 512, 2, 1),  # never below one
        (4, 1024, 1, 4),  # one pool (webmail = none) gets the whole share
    ],
)
def test_pool_size_follows_cpus_bounded_by_memory(cpus: int, memory_mb: int, pools: int, children: int) -> None:
    assert fpm_children(Machine(cpus, memory_mb), pools) == children


def test_pool_size_is_read_from_the_machine_the_deploy_reports() -> None:
    assert load(Machine(cpus=3, memory_mb=32768)).web.fpm_max_children == 9


def test_pool_size_set_by_the_operator_wins() -> None:
    assert load(Machine(cpus=3, memory_mb=32768), nginx_php_fpm_max_children=7).web.fpm_max_children == 7


@pytest.mark.parametrize("value", [0, -1, "8", True])
def test_pool_size_set_to_nonsense_is_refused(value: object) -> None:
    assert problem_keys(nginx_php_fpm_max_children=value) == ["nginx_php_fpm_max_children"]


@pytest.mark.parametrize("children", [1, 2, 3, 5, 8, 32])
def test_spare_servers_are_what_php_fpm_accepts(children: int) -> None:
    start, low, high = spare_servers(children)
    assert 1 <= low <= start <= high <= children


@pytest.mark.parametrize(("children", "expected"), [(5, (2, 1, 3)), (6, (3, 1, 4)), (8, (4, 2, 6))])
def test_spare_servers_follow_debians_proportions(children: int, expected: tuple[int, int, int]) -> None:
    assert spare_servers(children) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [(["2", "24105", "max"], (2, 24105)), (["4", "16000", "2147483648"], (4, 2048)), (["1", "512"], (1, 512))],
    ids=["no-cgroup-limit", "cgroup-limit-lower", "no-cgroup-file"],
)
def test_machine_size_fact_reads_nproc_meminfo_and_the_cgroup_limit(
    output: list[str], expected: tuple[int, int]
) -> None:
    assert MachineSize().process(output) == expected


# --- PostfixAdmin's default aliases --------------------------------------------------------------------


def test_default_aliases_go_to_the_domains_postmaster_and_postmaster_to_the_target() -> None:
    assert dict(default_aliases("alice@example.org")) == {
        "abuse": "postmaster",
        "hostmaster": "postmaster",
        "postmaster": "alice@example.org",
        "webmaster": "postmaster",
    }


def test_no_default_aliases_without_an_address_here() -> None:
    assert default_aliases("") == []


@pytest.mark.parametrize("target", ["bob@example.org", "team@example.org"], ids=["mailbox", "alias"])
def test_default_aliases_target_from_settings(target: str) -> None:
    assert load(postfixadmin_default_aliases_to=target).web.default_aliases_to == target


@pytest.mark.parametrize(
    "target", ["nobody@example.org", "ops@example.net", "not-an-address"], ids=["unknown", "elsewhere", "invalid"]
)
def test_default_aliases_target_not_an_address_here_is_refused(target: str) -> None:
    assert problem_keys(postfixadmin_default_aliases_to=target) == ["postfixadmin_default_aliases_to"]


@pytest.mark.parametrize(
    ("superadmin", "expected"),
    [("bob@example.org", "bob@example.org"), ("admin@example.org", "alice@example.org")],
    ids=["superadmin-is-a-mailbox", "else-the-first-mailbox"],
)
def test_default_aliases_target_unset(superadmin: str, expected: str) -> None:
    assert load(postfixadmin_superadmin=superadmin).web.default_aliases_to == expected


def render_config_local(tmp_path: Path, **context: object) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    text = env.get_template("postfixadmin/config.local.php.j2").render(
        managed_header=header("postfixadmin", "<?php //"), password_scheme="ARGON2I", **context
    )
    path = tmp_path / "config.local.php"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("webmail", "footer"),
    [("roundcube", ["YES", "Webmail: webmail.example.org", "https://webmail.example.org/"]), ("none", ["NO"])],
)
def test_config_local_sets_what_debian_leaves_as_placeholders(tmp_path: Path, webmail: str, footer: list[str]) -> None:
    web = load(webmail=webmail).web
    path = render_config_local(
        tmp_path,
        footer_name=web.webmail_hostname,
        footer_link=f"https://{web.webmail_hostname}/" if webmail != "none" else "",
        default_aliases=default_aliases(web.default_aliases_to),
        admin_email=web.default_aliases_to,
    )
    # PHP's own reading of the file, as PostfixAdmin includes it after Debian's config.inc.php.
    code = (
        "$CONF = []; include $argv[1]; echo json_encode([array_values(array_filter([$CONF['show_footer_text'],"
        " $CONF['footer_text'] ?? null, $CONF['footer_link'] ?? null])), $CONF['default_aliases'],"
        " $CONF['admin_email'], $CONF['theme_custom_css']]);"
    )
    assert json.loads(php(code, str(path))) == [
        footer,
        {
            "abuse": "postmaster",
            "hostmaster": "postmaster",
            "postmaster": "alice@example.org",
            "webmaster": "postmaster",
        },
        "alice@example.org",
        "css/mailforge.css",
    ]


# --- RainLoop/SnappyMail: an admin password changed in settings ------------------------------------------


def test_admin_password_change_replaces_only_the_hash_in_the_apps_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("Old-Admin-42-staple\n")
    ini = tmp_path / "application.ini"
    # As the app leaves it after its first run: every section, our hash among them.
    ini.write_text('[webmail]\ntitle = "Mail"\n\n' + php(ADMIN_INI_PHP, str(secret)) + "\n[labs]\ncache = On\n")
    secret.write_text("New-Admin-43-changed\n")
    php(ADMIN_UPDATE_PHP, str(secret), str(ini))
    check = (
        '$c = parse_ini_file($argv[1], true); $p = $c["security"]["admin_password"];'
        " echo json_encode([password_verify('New-Admin-43-changed', $p), password_verify('Old-Admin-42-staple', $p),"
        " $c['webmail']['title'], $c['security']['admin_login'], array_keys($c)]);"
    )
    assert json.loads(php(check, str(ini))) == [True, False, "Mail", "admin", ["webmail", "security", "labs"]]


def test_admin_password_change_without_the_line_fails_and_leaves_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("New-Admin-43-changed\n")
    ini = tmp_path / "application.ini"
    ini.write_text('[security]\nadmin_login = "admin"\n')
    result = subprocess.run(["php", "-r", ADMIN_UPDATE_PHP, str(secret), str(ini)], capture_output=True, text=True)
    assert (result.returncode, ini.read_text()) == (1, '[security]\nadmin_login = "admin"\n')
