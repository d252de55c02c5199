"""Encryption at rest with GnuPG's symmetric mode, run on the control machine (the key never reaches a host).

Why gpg: the archive is one file to keep anywhere and restore anywhere, and the key must come from an
environment variable or a key file, without a terminal. ``gpg --symmetric`` reads the passphrase from a file
descriptor (never a command line), encrypts a stream with AES-256 and protects it with an integrity check
(MDC) that fails on any changed byte; it is in every Debian release and has kept this file format for two
decades. age refuses passphrases that do not come from a terminal by design; restic and borg keep
repositories (chunks, indexes, locks), not a file, which suits nightly runs to a backup store but not "one
archive that rebuilds this host".

gpg writes plain text before it has checked the integrity of the whole stream, so nothing decrypted is
trusted until ``finish()`` has seen gpg's DECRYPTION_OKAY and GOODMDC status lines.
https://www.gnupg.org/documentation/manuals/gnupg/GPG-Esoteric-Options.html (--passphrase-fd, --status-fd)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# The first bytes of a symmetric OpenPGP message: a symmetric-key session key packet (tag 3), in the old
# packet format gpg writes (0x8c) or the new one (0xc3). A gzip stream starts with 1f 8b.
OPENPGP_MAGIC = (b"\x8c", b"\xc3")
GZIP_MAGIC = b"\x1f\x8b"
MIN_KEY_LENGTH = 12
GPG = "gpg"
# AES-256; S2K iterated and salted with SHA-512 at gpg's highest count, so each guess costs ~0.3 s of CPU.
ENCRYPT_OPTIONS = (
    "--symmetric", "--cipher-algo", "AES256", "--s2k-mode", "3", "--s2k-digest-algo", "SHA512",
    "--s2k-count", "65011712",
    # The archive is gzip already.
    "--compress-algo", "none",
)  # fmt: skip


class CryptoError(RuntimeError):
    """The archive cannot be opened: wrong key, altered or damaged file, or gpg missing."""


@dataclass(frozen=True)
class Key:
    """Where the passphrase comes from, for messages: ``$VAR`` or a key file's path."""

    origin: str
    secret: bytes

    def __repr__(self) -> str:  # never the secret, even in a traceback
        return f"Key({self.origin})"


def key_from(passphrase_env: str | None, key_file: str | None, environ: Mapping[str, str] | None = None) -> Key:
    """Read the key named on the command line now, so a missing one stops the run before any host is touched."""
    env = os.environ if environ is None else environ
    if passphrase_env and key_file:
        raise CryptoError("give --passphrase-env or --key-file, not both")
    if passphrase_env:
        value = env.get(passphrase_env, "")
        if not value:
            raise CryptoError(f"environment variable {passphrase_env} is not set (or empty)")
        secret, origin = value.encode(), f"${passphrase_env}"
    elif key_file:
        path = Path(key_file).expanduser()
        try:
            # The first line, as gpg's own --passphrase-file reads it.
            secret = path.read_bytes().split(b"\n", 1)[0].rstrip(b"\r")
        except OSError as exc:
            raise CryptoError(f"cannot read the key file {key_file}: {exc.strerror}") from None
        if path.stat().st_mode & 0o077:
            raise CryptoError(f"the key file {key_file} is readable by others; fix: chmod 600 {key_file}")
        origin = str(path)
    else:
        raise CryptoError("no key: give --passphrase-env VAR or --key-file PATH")
    if len(secret) < MIN_KEY_LENGTH:
        raise CryptoError(f"the key in {origin} is shorter than {MIN_KEY_LENGTH} characters")
    return Key(origin, secret)


def is_encrypted(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(2)
    if head[:1] in OPENPGP_MAGIC:
        return True
    if head == GZIP_MAGIC:
        return False
    raise CryptoError(f"{path} is neither a mailforge archive (gzip) nor an encrypted one (OpenPGP)")


@contextlib.contextmanager
def _gpg_home() -> Iterator[str]:
    # A throwaway home: no keyring, agent or passphrase cache of the operator's is read or written.
    with tempfile.TemporaryDirectory(prefix="mailforge-gpg-") as home:
        yield home


def _passphrase_pipe(key: Key) -> int:
    """A pipe holding the passphrase; gpg reads it on --passphrase-fd (so it is on no command line)."""
    read_end, write_end = os.pipe()
    os.write(write_end, key.secret)  # far below the pipe buffer
    os.close(write_end)
    return read_end


def _argv(home: str, fd: int, status: str) -> list[str]:
    return [
        GPG, "--homedir", home, "--batch", "--no-tty", "--quiet", "--yes", "--pinentry-mode", "loopback",
        "--no-symkey-cache", "--passphrase-fd", str(fd), "--status-file", status,
    ]  # fmt: skip


class Encryption:
    """``with Encryption(key, dest) as sink:`` write the plain archive to ``sink``; on a clean exit gpg's
    output replaces ``dest`` (0600); on any error no file is left behind."""

    def __init__(self, key: Key, dest: Path) -> None:
        self.key, self.dest = key, dest
        self.partial = dest.with_name(dest.name + ".partial")

    def __enter__(self) -> IO[bytes]:
        self._home = _gpg_home()
        home = self._home.__enter__()
        self.status = os.path.join(home, "status")
        fd = _passphrase_pipe(self.key)
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [*_argv(home, fd, self.status), *ENCRYPT_OPTIONS, "--output", str(self.partial)],
                stdin=subprocess.PIPE,
                stderr=self.stderr,
                pass_fds=(fd,),
            )
        except FileNotFoundError:
            raise CryptoError("gpg is not installed: apt-get install gpg") from None
        finally:
            os.close(fd)
        assert self.proc.stdin is not None
        return self.proc.stdin

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            rc = self.proc.wait()
            if exc_type is None and rc != 0:
                self.stderr.seek(0)
                raise CryptoError(f"gpg could not encrypt: {self.stderr.read().decode(errors='replace').strip()}")
            if exc_type is None:
                os.chmod(self.partial, 0o600)
                os.replace(self.partial, self.dest)
        finally:
            self.stderr.close()
            self._home.__exit__(None, None, None)
            if self.partial.exists():
                self.partial.unlink()


def classify(status: str, stderr: str, archive: str, key: str) -> str | None:
    """gpg's status lines -> None when decryption and its integrity check succeeded, else what went wrong."""
    if "DECRYPTION_OKAY" in status and "GOODMDC" in status and "DECRYPTION_FAILED" not in status:
        return None
    if "BAD_PASSPHRASE" in status:
        # Without the key nothing more can be said: a damaged header looks the same to gpg.
        return f"the key ({key}) does not open {archive}: wrong passphrase or key file (or a damaged header)"
    if "BADMDC" in status or "DECRYPTION_OKAY" in status:
        return f"{archive} was modified or damaged after it was written: gpg's integrity check failed"
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no OpenPGP data"
    return f"{archive} is damaged or not a mailforge archive (gpg: {detail})"


class Decryption:
    """``gpg --decrypt`` of ``archive`` into ``stdout`` (a pipe to read, or another process's stdin).

    Call ``finish()`` after the output is consumed: it raises CryptoError unless gpg verified the whole file."""

    def __init__(self, key: Key, archive: Path, stdout: int | IO[bytes] = subprocess.PIPE) -> None:
        self.key, self.archive = key, archive
        self.done = False
        self._home = _gpg_home()
        home = self._home.__enter__()
        self.status = os.path.join(home, "status")
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish() or abort())
        fd = _passphrase_pipe(key)
        try:
            self.proc = subprocess.Popen(
                [*_argv(home, fd, self.status), "--decrypt", str(archive)],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=self.stderr,
                pass_fds=(fd,),
            )
        except FileNotFoundError:
            self._home.__exit__(None, None, None)
            raise CryptoError("gpg is not installed: apt-get install gpg") from None
        finally:
            os.close(fd)

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def finish(self) -> None:
        if self.done:
            return
        try:
            if self.proc.stdout is not None:
                # Drain what the reader left (a verifier that stopped at an error), so gpg can exit.
                while self.proc.stdout.read(1 << 16):
                    pass
                self.proc.stdout.close()
            self.proc.wait()
            status = Path(self.status).read_text(errors="replace") if os.path.exists(self.status) else ""
            self.stderr.seek(0)
            problem = classify(status, self.stderr.read().decode(errors="replace"), str(self.archive), self.key.origin)
            if problem:
                raise CryptoError(problem)
        finally:
            self._close()

    def abort(self) -> None:
        if self.done:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._close()

    def _close(self) -> None:
        self.done = True
        self.stderr.close()
        self._home.__exit__(None, None, None)
