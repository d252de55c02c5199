"""Issue 16: what the release table chooses (Dovecot's template tree, PHP's version, Nginx's HTTP/2 syntax, the
Postfix unit), and the Dovecot 2.4 tree rendered (the daemons' own proof is tests/e2e/test_trixie.py)."""

from __future__ import annotations

import re

import pytest

from deploys import dovecot
from deploys.web import nginx_php
from mailforge import releases
from tests.unit.test_templates import render

BOOKWORM = releases.by_codename("bookworm")
TRIXIE = releases.by_codename("trixie")
TREE_24 = [f"dovecot/2.4/{name}" for name in dovecot.config_files(TRIXIE)]


def _settings(text: str) -> list[str]:
    """The lines that set something: comments and blank lines left out."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# --- the table chooses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("release", "tree"), [(BOOKWORM, "2.3"), (TRIXIE, "2.4")], ids=["12", "13"])
def test_the_release_chooses_the_dovecot_tree(release: releases.Release, tree: str) -> None:
    assert dovecot.tree(release).name == tree


def test_both_trees_write_the_same_conf_d_files() -> None:
    def conf_d(release: releases.Release) -> list[str]:
        return [name for name in dovecot.config_files(release) if name.startswith("conf.d/")]

    assert conf_d(BOOKWORM) == conf_d(TRIXIE)


def test_dovecot_24_keeps_its_sql_settings_inline() -> None:
    # 2.3 points passdb/userdb at dovecot-sql.conf.ext; 2.4 has no such file, and owns dovecot.conf for its
    # version lines.
    assert (
        "dovecot-sql.conf.ext" in dovecot.config_files(BOOKWORM),
        "dovecot.conf" in dovecot.config_files(BOOKWORM),
    ) == (True, False)
    assert ("dovecot-sql.conf.ext" in dovecot.config_files(TRIXIE), "dovecot.conf" in dovecot.config_files(TRIXIE)) == (
        False,
        True,
    )


@pytest.mark.parametrize(
    ("release", "packages", "socket"),
    [
        (BOOKWORM, ["nginx", "php8.2-fpm", "php8.2-cli"], "/run/php/php8.2-fpm-roundcube.sock"),
        (TRIXIE, ["nginx", "php8.4-fpm", "php8.4-cli"], "/run/php/php8.4-fpm-roundcube.sock"),
    ],
    ids=["12", "13"],
)
def test_the_release_chooses_php(release: releases.Release, packages: list[str], socket: str) -> None:
    assert (nginx_php.packages(release), nginx_php.socket("roundcube", release)) == (packages, socket)


@pytest.mark.parametrize(("release", "instance"), [(BOOKWORM, "postfix@-"), (TRIXIE, "")], ids=["12", "13"])
def test_the_release_names_the_unit_running_postfix(release: releases.Release, instance: str) -> None:
    assert release.postfix_instance == instance


# --- Nginx's HTTP/2 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("site", ["mailforge-https", "postfixadmin", "webmail"])
def test_nginx_122_turns_http2_on_in_listen(site: str) -> None:
    listens = re.findall(r"^\s*listen (.*);$", render(f"nginx/sites-available/{site}.conf", http2=" http2"), re.M)
    assert listens and all(" ssl http2" in line for line in listens), listens


@pytest.mark.parametrize("site", ["mailforge-https", "postfixadmin", "webmail"])
def test_nginx_126_listens_without_the_deprecated_parameter(site: str) -> None:
    listens = re.findall(r"^\s*listen (.*);$", render(f"nginx/sites-available/{site}.conf", http2=""), re.M)
    assert listens and not any("http2" in line for line in listens), listens


@pytest.mark.parametrize(("directive", "lines"), [(False, 0), (True, 1)], ids=["1.22", "1.26"])
def test_tls_snippet_says_http2_on_only_for_nginx_126(directive: bool, lines: int) -> None:
    rendered = _settings(render("nginx/snippets/mailforge-tls.conf", http2_directive=directive))
    assert rendered.count("http2 on;") == lines


# --- the Dovecot 2.4 tree ----------------------------------------------------------------------------------


def test_dovecot_24_config_version_comes_first() -> None:
    # Dovecot 2.4 refuses a dovecot.conf whose first setting is anything else.
    assert _settings(render("dovecot/2.4/dovecot.conf"))[:2] == [
        "dovecot_config_version = 2.4.1",
        "dovecot_storage_version = 2.4.0",
    ]


@pytest.mark.parametrize("name", TREE_24)
def test_dovecot_24_uses_no_one_letter_variables(name: str) -> None:
    # 2.4 removed %u, %d, %n, %Lu ...: %{user}, %{user | domain}, %{user | username}, %{user | lower}.
    assert not re.findall(r"%[A-Za-z]", "\n".join(_settings(render(name)))), name


@pytest.mark.parametrize(
    "removed",
    ["mail_location", "disable_plaintext_auth", "ssl_cert ", "ssl_key ", "ssl_prefer_server_ciphers", "$mail_plugins",
     "quota_rule", "quota_vsizes", "driver = sql", "args ="],
)  # fmt: skip
def test_dovecot_24_tree_has_no_23_setting(removed: str) -> None:
    text = "\n".join("\n".join(_settings(render(name))) for name in TREE_24)
    assert removed not in text


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("conf.d/10-auth.conf", "auth_allow_cleartext = no"),
        ("conf.d/10-auth.conf", "auth_username_format = %{user | lower}"),
        ("conf.d/10-mail.conf", "mail_driver = maildir"),
        ("conf.d/10-mail.conf", "mail_path = /var/vmail/%{user | domain}/%{user | username}"),
        ("conf.d/10-ssl.conf", "ssl_server_cert_file = /etc/mailforge/tls/mail.example.org.crt"),
        ("conf.d/10-ssl.conf", "ssl_server_key_file = /etc/mailforge/tls/mail.example.org.key"),
        ("conf.d/auth-sql.conf.ext", "sql_driver = mysql"),
        ("conf.d/auth-sql.conf.ext", "mysql /run/mysqld/mysqld.sock {"),
        ("conf.d/auth-sql.conf.ext", "passdb sql {"),
        ("conf.d/auth-sql.conf.ext", "userdb sql {"),
        ("conf.d/90-quota.conf", 'quota "User quota" {'),
        ("conf.d/90-quota.conf", "driver = count"),
        ("conf.d/90-quota.conf", "quota_full_tempfail = yes"),
        ("conf.d/10-master.conf", "user = $SET:default_internal_user"),
    ],
)
def test_dovecot_24_sets(name: str, line: str) -> None:
    assert line in _settings(render(f"dovecot/2.4/{name}"))


@pytest.mark.parametrize(("name", "plugin"), [("conf.d/10-mail.conf", "quota"), ("conf.d/20-imap.conf", "imap_quota")])
def test_dovecot_24_enables_plugins_in_a_block(name: str, plugin: str) -> None:
    assert re.search(rf"mail_plugins \{{\s*{plugin} = yes\s*\}}", render(f"dovecot/2.4/{name}"))


def test_dovecot_24_takes_the_quota_limit_from_postfixadmin() -> None:
    userdb = render("dovecot/2.4/conf.d/auth-sql.conf.ext")
    assert "IF(quota = 0, 'unlimited', quota) AS quota_storage_size" in userdb
    # 2.3's grace (10 % of the limit), where 2.4's default is a flat 10M.
    assert "FLOOR(quota / 10) AS quota_storage_grace FROM mailbox" in userdb


def test_dovecot_24_reads_hashes_with_their_own_scheme() -> None:
    # {ARGON2I} and {BLF-CRYPT} hashes carry their scheme; the default is only for a bare one.
    assert "default_password_scheme = ARGON2I" in _settings(render("dovecot/2.4/conf.d/auth-sql.conf.ext"))
