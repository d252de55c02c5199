"""Issue 8 (backup and restore): the pure parts: archive layout, manifest, checksums, the settings hash, the
restore's preflight, and option validation. Archives here are built from tar streams shaped like the one
backup.sh sends (tests/e2e/test_backup.py runs the real one)."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mailforge.backup.archive import (
    MANIFEST,
    SUMS,
    ArchiveError,
    Manifest,
    check_name,
    maildir_of,
    parse_env,
    parse_sums,
    root_of,
    settings_fingerprint,
    sums_text,
    verify_archive,
    write_archive,
)
from mailforge.backup.cli import (
    Inventoried,
    Target,
    UsageError,
    encryption_key,
    load_inventory_host,
    preflight,
    restore_positionals,
    target_of,
)
from mailforge.backup.remote import ROOTS, default_output
from mailforge.cli import main
from mailforge.settings import load_settings

STRONG = "Correct-Horse-42-battery"
META = (
    "mailname=mail.example.test\nmail_root=/var/vmail\ndomains=alias.test example.test \n"
    "roots=/etc/mailforge /etc/opendkim/keys \ndebian=12.8\nmariadb=10.11.6-MariaDB-0+deb12u1\n"
)
MESSAGE = b"From: a@example.test\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n\r\nbody\r\n"


# --- a host's tar stream, as backup.sh sends it ----------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, **attrs: Any) -> None:
    info = tarfile.TarInfo(name)
    for key, value in attrs.items():
        setattr(info, key, value)
    if data is None:
        if info.type == tarfile.REGTYPE:
            info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def host_stream(*, meta: str | None = META, extra: list[tuple[str, bytes | None, dict[str, Any]]] = ()) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "meta/")
        if meta is not None:
            _add(tar, "meta/host.env", meta.encode())
        _add(tar, "db/")
        _add(tar, "db/postfixadmin.sql", b"CREATE DATABASE postfixadmin;\n")
        _add(tar, "db/users/")
        _add(tar, "db/users/monitor@localhost.sql", b"CREATE USER IF NOT EXISTS monitor;\n")
        _add(tar, "files/etc/mailforge/")
        _add(tar, "files/etc/mailforge/ca/ca.key", b"-----BEGIN PRIVATE KEY-----\n", mode=0o600)
        _add(tar, "files/etc/opendkim/keys/example.test/mail.private", b"key", uname="opendkim", gname="opendkim")
        _add(tar, "maildirs/example.test/alice/cur/1.M1P1.host,S=40:2,S", MESSAGE, uname="vmail")
        _add(tar, "maildirs/example.test/alice/.Archive/cur/2.M2P2.host,S=40:2,", MESSAGE, uname="vmail")
        _add(tar, "maildirs/example.test/alice/dovecot-uidlist", b"3 V1 N3\n", uname="vmail")
        _add(
            tar,
            "maildirs/example.test/bob/new/1.M1P1.host,S=40",
            type=tarfile.LNKTYPE,
            linkname="maildirs/example.test/alice/cur/1.M1P1.host,S=40:2,S",
        )
        for name, data, attrs in extra:
            _add(tar, name, data, **attrs)
    out.seek(0)
    return out


def archive_bytes(stream: io.BytesIO | None = None, **kwargs: Any) -> tuple[bytes, Manifest]:
    sink = io.BytesIO()
    manifest = write_archive(
        stream or host_stream(),
        sink,
        source="mail",
        created="2026-01-01T00:00:00Z",
        settings_sha256=kwargs.get("settings_sha256", "ab" * 32),
        mailforge_version="0.1.0",
    )
    return sink.getvalue(), manifest


def members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar:
            f = tar.extractfile(m) if m.isreg() else None
            out.append((m, f.read() if f else None))
    return out


def repack(data: bytes, change: Any) -> bytes:
    """Rebuild an archive member by member, letting ``change(info, content)`` alter or drop (None) one."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for info, content in members(data):
            result = change(info, content)
            if result is None:
                continue
            info, content = result
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return out.getvalue()


# --- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["meta", "meta/host.env", "db/postfixadmin.sql", "files/etc/mailforge/ca/ca.key", "maildirs/a.test/b/cur/1:2,S",
     SUMS, MANIFEST],
)  # fmt: skip
def test_layout_names_accepted(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize(
    "name",
    ["etc/passwd", "/files/etc/x", "files/../etc/shadow", "maildirs/a/../../x", "files//etc", "files/a\\b",
     "maildirs/a\nb", "other/x"],
)  # fmt: skip
def test_names_outside_the_layout_refused(name: str) -> None:
    with pytest.raises(ArchiveError):
        check_name(name)


@pytest.mark.parametrize(
    ("name", "box"),
    [
        ("maildirs/example.test/alice/cur/1.M1:2,S", "example.test/alice"),
        ("maildirs/example.test/alice/new/1.M1", "example.test/alice"),
        ("maildirs/example.test/alice/.Archive/cur/1.M1:2,", "example.test/alice"),
        ("maildirs/example.test/alice/tmp/1.M1", None),
        ("maildirs/example.test/alice/dovecot-uidlist", None),
        ("maildirs/example.test/alice/cur", None),
    ],
)
def test_maildir_of(name: str, box: str | None) -> None:
    assert maildir_of(name) == box


@pytest.mark.parametrize(
    ("name", "root"),
    [
        ("files/etc/mailforge", "/etc/mailforge"),
        ("files/etc/mailforge/ca/ca.key", "/etc/mailforge"),
        ("files/etc/mailforgex/y", None),
        ("files/etc/postfixadmin/setup_password.inc.php", "/etc/postfixadmin/setup_password.inc.php"),
    ],
)
def test_root_of(name: str, root: str | None) -> None:
    assert root_of(name, ROOTS) == root


# --- writing ---------------------------------------------------------------------------------------


def test_manifest_counts_messages_per_mailbox() -> None:
    _, manifest = archive_bytes()
    assert manifest.mailboxes == (("example.test/alice", 2), ("example.test/bob", 1))


def test_manifest_records_the_host_description() -> None:
    _, manifest = archive_bytes()
    assert (manifest.mail_hostname, manifest.mail_root, manifest.domains) == (
        "mail.example.test",
        "/var/vmail",
        ("alias.test", "example.test"),
    )


def test_manifest_lists_databases_not_accounts() -> None:
    _, manifest = archive_bytes()
    assert manifest.databases == ("postfixadmin",)


def test_manifest_records_roots_and_versions() -> None:
    _, manifest = archive_bytes()
    assert manifest.roots == ("/etc/mailforge", "/etc/opendkim/keys")
    assert manifest.host == {"debian": "12.8", "mariadb": "10.11.6-MariaDB-0+deb12u1"}


def test_hard_links_are_listed_with_their_targets_digest() -> None:
    data, _ = archive_bytes()
    sums = parse_sums(dict((m.name, c) for m, c in members(data))[SUMS].decode())  # type: ignore[union-attr]
    assert (
        sums["maildirs/example.test/bob/new/1.M1P1.host,S=40"]
        == sums["maildirs/example.test/alice/cur/1.M1P1.host,S=40:2,S"]
    )


def test_archive_ends_with_checksums_then_manifest() -> None:
    data, manifest = archive_bytes()
    names = [m.name for m, _ in members(data)]
    assert names[-2:] == [SUMS, MANIFEST]
    assert manifest.files == 9  # eight regular files and the hard link


def test_owners_and_modes_travel() -> None:
    data, _ = archive_bytes()
    found = {m.name: m for m, _ in members(data)}
    assert found["files/etc/opendkim/keys/example.test/mail.private"].uname == "opendkim"
    assert found["files/etc/mailforge/ca/ca.key"].mode == 0o600


def test_stream_without_meta_refused() -> None:
    with pytest.raises(ArchiveError, match=r"meta/host\.env"):
        archive_bytes(host_stream(meta=None))


def test_empty_stream_refused() -> None:
    with pytest.raises(ArchiveError, match="missing or broke off"):
        archive_bytes(io.BytesIO(b""))


def test_stream_cut_inside_a_file_refused() -> None:
    whole = host_stream().getvalue()
    inside = whole.index(MESSAGE) + 5
    with pytest.raises(ArchiveError, match="broke off"):
        archive_bytes(io.BytesIO(whole[:inside]))


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (("files/etc/shadow", b"x", {}), "outside the paths"),
        (("home/user/.ssh/id_rsa", b"x", {}), "unexpected member"),
        (("SHA256SUMS", b"x", {}), "member named"),
        (("maildirs/example.test/fifo", None, {"type": tarfile.FIFOTYPE}), "not a file"),
        (("maildirs/example.test/link", None, {"type": tarfile.LNKTYPE, "linkname": "maildirs/nowhere"}), "hard link"),
    ],
    ids=["outside-roots", "outside-layout", "reserved-name", "fifo", "dangling-hard-link"],
)
def test_unexpected_members_refused(extra: tuple[str, bytes | None, dict[str, Any]], match: str) -> None:
    with pytest.raises(ArchiveError, match=match):
        archive_bytes(host_stream(extra=[extra]))


# --- verifying -------------------------------------------------------------------------------------


def test_untouched_archive_verifies() -> None:
    data, manifest = archive_bytes()
    assert verify_archive(io.BytesIO(data)) == manifest


def _change_content(info: tarfile.TarInfo, content: bytes | None) -> Any:
    if info.name.endswith("mail.private"):
        return info, b"another key"
    return info, content


def _drop_member(info: tarfile.TarInfo, content: bytes | None) -> Any:
    return None if info.name.endswith("dovecot-uidlist") else (info, content)


def _change_sums(info: tarfile.TarInfo, content: bytes | None) -> Any:
    return (info, content + b"0" * 64 + b"  files/etc/extra\n") if info.name == SUMS else (info, content)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (_change_content, "mail.private: content differs"),
        (_drop_member, "dovecot-uidlist: missing"),
        (_change_sums, "SHA256SUMS does not match"),
    ],
    ids=["changed-file", "removed-file", "changed-checksums"],
)
def test_altered_archive_detected(change: Any, match: str) -> None:
    data, _ = archive_bytes()
    with pytest.raises(ArchiveError, match=match):
        verify_archive(io.BytesIO(repack(data, change)))


def test_member_added_after_the_manifest_detected() -> None:
    data, _ = archive_bytes()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for info, content in members(data):
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
        _add(tar, "files/etc/mailforge/evil", b"x")
    with pytest.raises(ArchiveError, match=r"after MANIFEST\.json"):
        verify_archive(io.BytesIO(out.getvalue()))


def test_unlisted_member_detected() -> None:
    data, _ = archive_bytes()

    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for info, content in members(data):
            if info.name == SUMS:
                _add(tar, "files/etc/mailforge/planted", b"x")
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    with pytest.raises(ArchiveError, match="planted: not listed"):
        verify_archive(io.BytesIO(out.getvalue()))


@pytest.mark.parametrize("cut", [0.3, 0.9, 0.999])
def test_cut_archive_detected(cut: float) -> None:
    data, _ = archive_bytes()
    with pytest.raises(ArchiveError):
        verify_archive(io.BytesIO(data[: int(len(data) * cut)]))


def test_not_an_archive_detected() -> None:
    with pytest.raises(ArchiveError, match="damaged or not a mailforge backup"):
        verify_archive(io.BytesIO(b"PK\x03\x04 a zip file"))


# --- manifest and small formats --------------------------------------------------------------------


def test_manifest_json_round_trip() -> None:
    _, manifest = archive_bytes()
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_manifest_of_another_format_refused() -> None:
    _, manifest = archive_bytes()
    raw = json.loads(manifest.to_json())
    raw["format"] = "mailforge-backup/99"
    with pytest.raises(ArchiveError, match="unknown archive format"):
        Manifest.from_json(json.dumps(raw))


def test_manifest_missing_a_field_refused() -> None:
    _, manifest = archive_bytes()
    raw = json.loads(manifest.to_json())
    del raw["sha256sums"]
    with pytest.raises(ArchiveError, match="sha256sums"):
        Manifest.from_json(json.dumps(raw))


def test_sums_round_trip_in_sha256sum_format() -> None:
    hashes = {"b/x": "1" * 64, "a/y z": "2" * 64}
    text = sums_text(hashes)
    assert text == f"{'2' * 64}  a/y z\n{'1' * 64}  b/x\n"
    assert parse_sums(text) == hashes


def test_garbled_sums_line_refused() -> None:
    with pytest.raises(ArchiveError, match="line 1"):
        parse_sums("not a checksum line\n")


def test_parse_env() -> None:
    assert parse_env("# comment\na=1\n\nb = two words \nbad line\n") == {"a": "1", "b": "two words"}


# --- the settings hash -----------------------------------------------------------------------------


def data(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "mail_hostname": "mail.example.org",
        "mail_domains": [
            {
                "domain": "example.org",
                "mailboxes": [
                    {"address": "alice@example.org", "password_env": "ALICE_PW"},
                    {"address": "bob@example.org"},
                ],
                "aliases": [{"address": "info@example.org", "goto": ["alice@example.org"]}],
            }
        ],
    }
    return {**base, **changes}


def fingerprint(host_data: dict[str, Any], password: str = STRONG) -> str:
    return settings_fingerprint(load_settings(host_data, environ={"ALICE_PW": password}))


def test_settings_hash_is_stable() -> None:
    assert fingerprint(data()) == fingerprint(data())


def test_settings_hash_ignores_connection_details() -> None:
    assert fingerprint(data(ssh_hostname="10.213.1.2", ssh_user="root")) == fingerprint(data())


def test_settings_hash_leaves_passwords_out() -> None:
    assert fingerprint(data(), "Another-Strong-99-pass") == fingerprint(data())


@pytest.mark.parametrize(
    "change",
    [
        {"mail_hostname": "mx.example.org"},
        {"dkim_selector": "s2026"},
        {"mail_domains": [*data()["mail_domains"], {"domain": "example.net"}]},
    ],
    ids=["hostname", "dkim-selector", "added-domain"],
)
def test_settings_hash_changes_with_the_server(change: dict[str, Any]) -> None:
    assert fingerprint(data(**change)) != fingerprint(data())


def test_settings_hash_of_an_inventory_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_PW", STRONG)
    inventory = tmp_path / "inv.py"
    inventory.write_text(f"mailservers = [('mail1', {data(ssh_hostname='192.0.2.10')!r})]\n")
    found = load_inventory_host(str(inventory), "mail1")
    assert found.problem is None
    assert found.settings_sha256 == fingerprint(data())
    assert found.domains == ("example.org",)


def test_unknown_inventory_host_named(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.py"
    inventory.write_text("mailservers = [('mail1', {})]\n")
    with pytest.raises(UsageError, match=r"no host 'mail2' .*mail1"):
        load_inventory_host(str(inventory), "mail2")


# --- restore preflight -----------------------------------------------------------------------------

FRESH = {"mail_root": "/var/vmail", "postfixadmin_db": "yes", "roundcube_db": "yes", "messages": "0",
         "mailname": "mail.example.test", "missing": ""}  # fmt: skip


def manifest(**changes: Any) -> Manifest:
    _, m = archive_bytes()
    return Manifest(**{**m.__dict__, **changes})


def test_fresh_deployed_host_passes() -> None:
    assert preflight(manifest(), FRESH, None, force=False).blockers == ()


@pytest.mark.parametrize(
    ("facts", "force", "match"),
    [
        ({"messages": "12"}, False, "already holds mail"),
        ({"postfixadmin_db": "no"}, True, "not deployed"),
        ({"mail_root": ""}, True, "not deployed"),
        ({"missing": "mariadb-dump"}, True, "lacks mariadb-dump"),
    ],
    ids=["has-mail", "no-database", "no-mail-root", "missing-tool"],
)
def test_restore_refused(facts: dict[str, str], force: bool, match: str) -> None:
    blockers = preflight(manifest(), {**FRESH, **facts}, None, force=force).blockers
    assert any(match in b for b in blockers), blockers


def test_force_replaces_mail() -> None:
    assert preflight(manifest(), {**FRESH, "messages": "12"}, None, force=True).blockers == ()


@pytest.mark.parametrize(
    ("manifest_changes", "facts", "inventoried", "match"),
    [
        ({}, {"mailname": "other.example.test"}, None, "this host is other.example.test"),
        ({"databases": ("postfixadmin", "roundcube")}, {"roundcube_db": "no"}, None, "Roundcube's database"),
        ({}, {}, Inventoried({}, "cd" * 32, ("alias.test", "example.test"), None), "settings differ"),
        ({}, {}, Inventoried({}, "ab" * 32, ("example.test",), None), "does not declare: alias.test"),
        ({"settings_sha256": None}, {}, Inventoried({}, "ab" * 32, None, None), "no settings hash"),
        ({}, {}, Inventoried({}, None, None, "2 problem(s)"), "do not validate"),
    ],
    ids=["other-host-name", "no-roundcube", "settings-differ", "domain-dropped", "no-hash-recorded", "bad-inventory"],
)
def test_restore_warnings(
    manifest_changes: dict[str, Any], facts: dict[str, str], inventoried: Inventoried | None, match: str
) -> None:
    check = preflight(manifest(**manifest_changes), {**FRESH, **facts}, inventoried, force=False)
    assert check.blockers == ()
    assert any(match in w for w in check.warnings), check.warnings


def test_same_settings_no_warning() -> None:
    inventoried = Inventoried({}, "ab" * 32, ("alias.test", "example.test"), None)
    assert preflight(manifest(), FRESH, inventoried, force=False).warnings == ()


# --- options ---------------------------------------------------------------------------------------


def ns(**kwargs: Any) -> argparse.Namespace:
    base = {"testhost": None, "host": None, "inventory": None, "passphrase_env": None, "key_file": None,
            "no_encryption": False}  # fmt: skip
    return argparse.Namespace(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("host", "kwargs", "target"),
    [
        ("mail1", {}, Target("inventory", "mail1", "inventories/prod.py")),
        ("mail1", {"inventory": "inv.py"}, Target("inventory", "mail1", "inv.py")),
        (None, {"testhost": "bak-src"}, Target("testhost", "bak-src")),
        (None, {"host": "root@192.0.2.1"}, Target("ssh", "root@192.0.2.1")),
    ],
)
def test_target(host: str | None, kwargs: dict[str, Any], target: Target) -> None:
    assert target_of(host, ns(**kwargs)) == target


@pytest.mark.parametrize(
    ("host", "kwargs", "match"),
    [
        (None, {}, "got none"),
        ("mail1", {"testhost": "bak-src"}, "HOST and --testhost"),
        (None, {"testhost": "a", "host": "root@b"}, "--testhost and --host"),
        (None, {"testhost": "a", "inventory": "inv.py"}, "--inventory goes with HOST"),
    ],
)
def test_bad_target(host: str | None, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        target_of(host, ns(**kwargs))


@pytest.mark.parametrize(
    ("positionals", "expected"),
    [(["a.tar.gz.gpg"], (None, "a.tar.gz.gpg")), (["mail1", "a.tar.gz.gpg"], ("mail1", "a.tar.gz.gpg"))],
)
def test_restore_positionals(positionals: list[str], expected: tuple[str | None, str]) -> None:
    assert restore_positionals(positionals) == expected


def test_restore_takes_at_most_two_positionals() -> None:
    with pytest.raises(UsageError, match="HOST\\] ARCHIVE"):
        restore_positionals(["a", "b", "c"])


def test_backup_needs_a_key_or_an_explicit_no() -> None:
    with pytest.raises(UsageError, match="--no-encryption"):
        encryption_key(ns())


def test_no_encryption_and_a_key_contradict() -> None:
    with pytest.raises(UsageError, match="contradict"):
        encryption_key(ns(no_encryption=True, passphrase_env="X"))


def test_no_encryption_gives_no_key() -> None:
    assert encryption_key(ns(no_encryption=True)) is None


def test_passphrase_from_the_environment() -> None:
    key = encryption_key(ns(passphrase_env="BK"), {"BK": "a long enough passphrase"})
    assert key is not None and key.secret == b"a long enough passphrase"
    assert "passphrase" not in repr(key)


def test_default_output_names_host_and_time() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert default_output("mail1", True, now) == Path("build/backups/mail1-20260102T030405Z.tar.gz.gpg")
    assert default_output("mail1", False, now).name == "mail1-20260102T030405Z.tar.gz"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backup", "--testhost", "nosuch"], "give --passphrase-env VAR or --key-file PATH"),
        (["backup", "--no-encryption"], "name the host once"),
        (["restore", "--testhost", "nosuch", "missing.tar.gz.gpg"], "no archive missing.tar.gz.gpg"),
        (["backup", "--testhost", "nosuch", "--passphrase-env", "MAILFORGE_UNSET_VARIABLE"], "is not set"),
    ],
)
def test_cli_refuses_bad_options_before_any_host(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILFORGE_UNSET_VARIABLE", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
