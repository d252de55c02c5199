"""Issue 8: the key permission audit. The script deploys/key_audit.py runs on hosts, run here with the local
shell and stat against files in a temporary directory; and the list of files it checks for given settings."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from deploys.key_audit import secret_files
from mailforge.keyaudit import SecretFile, audit_script
from mailforge.settings import load_settings

ME = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"


def run(files: list[SecretFile], *, fail: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", audit_script(files, fail=fail)], capture_output=True, text=True)


def secret(tmp_path: Path, name: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text("secret\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("mode", "allowed"), [(0o600, 0o600), (0o400, 0o600), (0o640, 0o640), (0o600, 0o640)])
def test_owner_only_or_group_read_passes(tmp_path: Path, mode: int, allowed: int) -> None:
    path = secret(tmp_path, "key", mode)
    result = run([SecretFile(str(path), ME, allowed)])
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("mode", "allowed"),
    [(0o644, 0o600), (0o640, 0o600), (0o604, 0o600), (0o660, 0o640), (0o2600, 0o600), (0o700, 0o600)],
)
def test_any_bit_beyond_the_allowed_mode_fails_naming_the_file(tmp_path: Path, mode: int, allowed: int) -> None:
    path = secret(tmp_path, "key", mode)
    result = run([SecretFile(str(path), ME, allowed)])
    assert result.returncode == 1
    assert result.stderr == f"{path} is {ME} with mode 0{mode:o}: want {ME}, mode 0{allowed:o} or stricter\n"


def test_wrong_owner_fails(tmp_path: Path) -> None:
    path = secret(tmp_path, "key", 0o600)
    result = run([SecretFile(str(path), "opendkim:opendkim", 0o600)])
    assert result.returncode == 1
    assert f"{path} is {ME} with mode 0600: want opendkim:opendkim" in result.stderr


def test_missing_required_file_fails_and_optional_passes(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.key")
    assert run([SecretFile(absent, ME, 0o600, required=False)]).returncode == 0
    result = run([SecretFile(absent, ME, 0o600)])
    assert (result.returncode, result.stderr) == (1, f"{absent} is missing\n")


def test_a_glob_checks_every_match(tmp_path: Path) -> None:
    secret(tmp_path, "a.private", 0o600)
    loose = secret(tmp_path, "b.private", 0o644)
    secret(tmp_path, "c.txt", 0o644)  # not matched
    result = run([SecretFile(f"{tmp_path}/*.private", ME, 0o600, required=False)])
    assert result.stderr.splitlines() == [f"{loose} is {ME} with mode 0644: want {ME}, mode 0600 or stricter"]


def test_a_directory_in_place_of_a_key_fails(tmp_path: Path) -> None:
    (tmp_path / "key").mkdir(mode=0o700)
    (tmp_path / "key").chmod(0o600)
    assert run([SecretFile(str(tmp_path / "key"), ME, 0o600)]).returncode == 1


def test_a_symlink_is_judged_by_its_target(tmp_path: Path) -> None:
    # Certbot's live/ names are links into archive/.
    target = secret(tmp_path, "privkey1.pem", 0o644)
    (tmp_path / "privkey.pem").symlink_to(target)
    assert "mode 0644" in run([SecretFile(str(tmp_path / "privkey.pem"), ME, 0o600)]).stderr


def test_a_file_named_twice_is_reported_once(tmp_path: Path) -> None:
    # A current DKIM key is listed by its path and matched again by the glob covering earlier selectors.
    path = secret(tmp_path, "mail.private", 0o644)
    files = [SecretFile(str(path), ME, 0o600), SecretFile(f"{tmp_path}/*.private", ME, 0o600, required=False)]
    assert len(run(files).stderr.splitlines()) == 1


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    files = [SecretFile(str(secret(tmp_path, f"k{i}", 0o644)), ME, 0o600) for i in range(3)]
    assert len(run(files).stderr.splitlines()) == 3


def test_fact_form_reports_on_stdout_and_exits_zero(tmp_path: Path) -> None:
    path = secret(tmp_path, "key", 0o644)
    result = run([SecretFile(str(path), ME, 0o600)], fail=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"{path} is {ME} with mode 0644")


@pytest.mark.parametrize("pattern", ["/etc/a b", "/etc/a'b", "/etc/a\nb"])
def test_patterns_that_the_shell_would_split_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="bad SecretFile"):
        SecretFile(pattern, "root:root", 0o600)


# --- which files, for which settings


def settings(**data: object):
    base = {
        "mail_hostname": "mail.example.org",
        "mail_domains": [{"domain": "example.org", "alias_domains": ["example.net"]}],
    }
    return load_settings({**base, **data}, environ={"RELAY_PW": "x"})


def patterns(**data: object) -> dict[str, tuple[str, int, bool]]:
    return {f.pattern: (f.owner, f.mode, f.required) for f in secret_files(settings(**data))}


def test_selfsigned_host_lists_tls_and_ca_keys_and_dkim_keys_of_every_domain() -> None:
    found = patterns()
    assert found["/etc/mailforge/tls/mail.example.org.key"] == ("root:root", 0o600, True)
    assert found["/etc/mailforge/ca/ca.key"] == ("root:root", 0o600, True)
    for domain in ("example.org", "example.net"):
        assert found[f"/etc/opendkim/keys/{domain}/mail.private"] == ("opendkim:opendkim", 0o600, True)
    assert found["/etc/postfixadmin/dbconfig.inc.php"] == ("root:www-data", 0o640, True)


def test_relay_credentials_are_listed_only_with_a_relay() -> None:
    assert "/etc/postfix/sasl_passwd" not in patterns()
    relay = patterns(postfix_relay_host="smtp.example.net", postfix_relay_username="u",
                     postfix_relay_password_env="RELAY_PW")  # fmt: skip
    assert relay["/etc/postfix/sasl_passwd"] == relay["/etc/postfix/sasl_passwd.db"] == ("root:root", 0o600, True)


def test_certbot_host_lists_its_live_key_and_no_local_ca() -> None:
    found = patterns(tls_mode="certbot")
    assert found["/etc/letsencrypt/live/mail.example.org/privkey.pem"] == ("root:root", 0o600, True)
    assert "/etc/mailforge/ca/ca.key" not in found


@pytest.mark.parametrize(
    ("webmail", "path"),
    [
        ("roundcube", "/etc/roundcube/config.inc.php"),
        ("snappymail", "/var/www/snappymail/data/_data_/_default_/configs/application.ini"),
    ],
)
def test_webmail_secrets_follow_the_chosen_webmail(webmail: str, path: str) -> None:
    archive = {f"{webmail}_version": "2.38.2", f"{webmail}_archive_url": "https://example.org/a.tar.gz",
               f"{webmail}_archive_sha256": "0" * 64}  # fmt: skip
    assert path in patterns(webmail=webmail, **archive)
    assert path not in patterns(webmail="none")
