"""Issue 8 (backup and restore): encryption at rest with the real gpg of this machine (Debian's), no host:
round trip, a wrong key, an altered or cut file, and keys from the environment or a key file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailforge.backup.crypto import CryptoError, Decryption, Encryption, Key, classify, is_encrypted, key_from
from mailforge.backup.remote import verify
from tests.unit.test_backup import archive_bytes

KEY = Key("$TEST", b"a passphrase for the unit tests")
OTHER = Key("$OTHER", b"another passphrase, not the one")


@pytest.fixture(scope="module")
def plain() -> bytes:
    return archive_bytes()[0]


@pytest.fixture(scope="module")
def encrypted(plain: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("crypto") / "a.tar.gz.gpg"
    with Encryption(KEY, dest) as sink:
        sink.write(plain)
    return dest


def decrypt(path: Path, key: Key) -> bytes:
    d = Decryption(key, path)
    data = d.stdout.read()
    d.finish()
    return data


def test_round_trip(encrypted: Path, plain: bytes) -> None:
    assert decrypt(encrypted, KEY) == plain


def test_encrypted_file_is_private_and_opaque(encrypted: Path, plain: bytes) -> None:
    assert encrypted.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" not in encrypted.read_bytes()
    assert is_encrypted(encrypted)


def test_wrong_key_named(encrypted: Path) -> None:
    with pytest.raises(CryptoError, match=r"the key \(\$OTHER\) does not open .*wrong passphrase"):
        decrypt(encrypted, OTHER)


@pytest.mark.parametrize("where", [0.5, 0.95])
def test_changed_byte_detected(encrypted: Path, tmp_path: Path, where: float) -> None:
    raw = bytearray(encrypted.read_bytes())
    raw[int(len(raw) * where)] ^= 0x40
    altered = tmp_path / "altered.gpg"
    altered.write_bytes(raw)
    with pytest.raises(CryptoError, match="modified or damaged"):
        decrypt(altered, KEY)


def test_cut_file_detected(encrypted: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gpg"
    cut.write_bytes(encrypted.read_bytes()[:-100])
    with pytest.raises(CryptoError):
        decrypt(cut, KEY)


def test_failed_encryption_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "b.tar.gz.gpg"
    with pytest.raises(RuntimeError), Encryption(KEY, dest) as sink:
        sink.write(b"partial")
        raise RuntimeError("the host went away")
    assert list(tmp_path.iterdir()) == []


def test_verify_reads_an_encrypted_archive(encrypted: Path) -> None:
    assert verify(encrypted, KEY).source == "mail"


def test_verify_names_the_key_not_the_stream(encrypted: Path) -> None:
    with pytest.raises(CryptoError, match="wrong passphrase"):
        verify(encrypted, OTHER)


def test_verify_needs_a_key_for_an_encrypted_archive(encrypted: Path) -> None:
    with pytest.raises(CryptoError, match="is encrypted: give --passphrase-env"):
        verify(encrypted, None)


def test_verify_reads_a_plain_archive(plain: bytes, tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    path.write_bytes(plain)
    assert not is_encrypted(path)
    assert verify(path, None).files == 9


def test_neither_gzip_nor_openpgp_named(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"hello")
    with pytest.raises(CryptoError, match="neither"):
        is_encrypted(path)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("[GNUPG:] DECRYPTION_OKAY\n[GNUPG:] GOODMDC\n", None),
        (
            "[GNUPG:] ERROR symkey_decrypt.maybe_error 11_BAD_PASSPHRASE\n[GNUPG:] DECRYPTION_FAILED\n",
            "wrong passphrase",
        ),
        ("[GNUPG:] BADMDC\n[GNUPG:] DECRYPTION_FAILED\n", "modified or damaged"),
        # Decrypted, but without an integrity check (an old or stripped packet): not trusted.
        ("[GNUPG:] DECRYPTION_OKAY\n", "modified or damaged"),
        ("[GNUPG:] NODATA 1\n", "not a mailforge archive"),
    ],
    ids=["ok", "wrong-key", "bad-mdc", "no-mdc", "no-data"],
)
def test_classify(status: str, verdict: str | None) -> None:
    found = classify(status, "gpg: no valid OpenPGP data found.\n", "a.gpg", "$K")
    assert found is None if verdict is None else verdict in (found or "")


def test_key_file_first_line(tmp_path: Path) -> None:
    path = tmp_path / "backup.key"
    path.write_bytes(b"0123456789abcdef0123\nignored second line\n")
    path.chmod(0o600)
    assert key_from(None, str(path)).secret == b"0123456789abcdef0123"


def test_key_file_readable_by_others_refused(tmp_path: Path) -> None:
    path = tmp_path / "backup.key"
    path.write_text("0123456789abcdef0123\n")
    path.chmod(0o644)
    with pytest.raises(CryptoError, match="chmod 600"):
        key_from(None, str(path))


@pytest.mark.parametrize(
    ("env", "key_file", "environ", "match"),
    [
        ("BK", None, {}, "BK is not set"),
        ("BK", None, {"BK": "short"}, "shorter than 12"),
        (None, "/nonexistent/key", {}, "cannot read the key file"),
        ("BK", "/k", {"BK": "x" * 20}, "not both"),
        (None, None, {}, "no key"),
    ],
)
def test_bad_keys_refused(env: str | None, key_file: str | None, environ: dict[str, str], match: str) -> None:
    with pytest.raises(CryptoError, match=match):
        key_from(env, key_file, environ)


def test_passphrase_never_on_a_command_line(encrypted: Path) -> None:
    d = Decryption(KEY, encrypted)
    argv = [str(a) for a in d.proc.args]  # type: ignore[union-attr]
    d.stdout.read()
    d.finish()
    assert not any(KEY.secret.decode() in a for a in argv)
    assert "--passphrase-fd" in argv
