"""Backup and restore as they run against a host: the shell scripts shipped beside this module, run through
``bash -c`` over SSH (mailforge/remote.py's SshRunner), with tar streams piped between the host and this machine.

Nothing here parses what it streams: archive.py does; nothing here encrypts: crypto.py does.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from mailforge import __version__
from mailforge.backup.archive import ArchiveError, Manifest, parse_env, verify_archive, write_archive
from mailforge.backup.crypto import CryptoError, Decryption, Encryption, Key, is_encrypted
from mailforge.remote import SshRunner

HERE = Path(__file__).parent
# Host paths an archive holds when they exist, besides the databases and the Maildirs. Each is something the
# deploy generates once on the host and never again (so a fresh host would get a different one):
ROOTS = (
    # mailbox passwords (generated ones), the superadmin's, the webmail admin's; the local CA and its key,
    # the server certificate and key; the ACME server's CA (deploys/tls.py, postfixadmin*.py, webmail.py)
    "/etc/mailforge",
    # DKIM private keys: the public halves are published in DNS (deploys/dkim.py)
    "/etc/opendkim/keys",
    # PostfixAdmin's setup_password, as its hash (deploys/web/postfixadmin_ui.py)
    "/etc/postfixadmin/setup_password.inc.php",
    # Certbot's account, certificates and renewal settings (deploys/web/certbot.py)
    "/etc/letsencrypt",
    # RainLoop/SnappyMail: admin password hash, domain settings, users' preferences (deploys/web/webmail.py)
    "/var/www/rainloop/data",
    "/var/www/snappymail/data",
)
# Deliberately not held: PostfixAdmin's and Roundcube's database passwords (dbconfig-common). They only
# connect each app to MariaDB on the same host; a fresh host's packages create new ones that their
# configuration (files Debian's ucf tracks) already agrees with, and the restore keeps those accounts.
# Nor is Roundcube's des_key: it only protects login sessions, so users sign in again after a restore.
# Extract the upload into a private stage; print its path. Owners and modes as archived (GNU tar as root).
UPLOAD = """set -euo pipefail
umask 077
stage="$(mktemp -d /var/tmp/mailforge-restore.XXXXXX)"
if ! tar --extract --gzip --file=- --directory="$stage" --same-owner --preserve-permissions; then
    rm -rf "$stage"
    exit 1
fi
echo "$stage"
"""
REFUSED = 3  # restore.sh's exit status when the host is not ready or holds mail


class RemoteError(RuntimeError):
    """A host-side step failed; the message carries what the host printed."""


class Refused(RemoteError):
    """The host is not ready for a restore (not deployed) or holds mail and --force was not given."""


def script(name: str) -> str:
    return (HERE / name).read_text()


def remote_argv(runner: SshRunner, name: str, *args: str) -> list[str]:
    """ssh ... bash -c '<script>' mailforge-<name> ARGS: the script travels on the command line, which leaves
    stdin and stdout free for the tar streams."""
    return runner.argv(["bash", "-c", script(name) if name.endswith(".sh") else name, "mailforge", *args])


def _tail(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode(errors="replace").strip()


# -- backup -----------------------------------------------------------------------------------------


def default_output(label: str, encrypted: bool, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path("build/backups") / f"{label}-{stamp}.tar.gz{'.gpg' if encrypted else ''}"


class _PlainFile:
    """The unencrypted counterpart of crypto.Encryption: written beside ``dest``, renamed in on success."""

    def __init__(self, dest: Path) -> None:
        self.dest, self.partial = dest, dest.with_name(dest.name + ".partial")

    def __enter__(self) -> IO[bytes]:
        self.f = open(self.partial, "wb")
        self.partial.chmod(0o600)
        return self.f

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.f.close()
        if exc_type is None:
            self.partial.replace(self.dest)
        else:
            self.partial.unlink(missing_ok=True)


def backup(runner: SshRunner, dest: Path, key: Key | None, *, source: str, settings_sha256: str | None) -> Manifest:
    """Stream the host's backup.sh output into ``dest``: encrypted when ``key`` is given, 0600 either way."""
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            remote_argv(runner, "backup.sh", *ROOTS), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
        )
        assert proc.stdout is not None
        try:
            with Encryption(key, dest) if key else _PlainFile(dest) as sink:
                manifest = write_archive(
                    proc.stdout,
                    sink,
                    source=source,
                    created=created,
                    settings_sha256=settings_sha256,
                    mailforge_version=__version__,
                    mtime=time.time(),
                )
                proc.stdout.read()  # tar's end-of-archive padding
                if proc.wait() != 0:
                    raise RemoteError(f"the backup failed on {runner.describe()}: {_tail(errors)}")
        except ArchiveError as exc:
            proc.kill()
            proc.wait()
            raise RemoteError(f"the backup failed on {runner.describe()}: {_tail(errors) or exc}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return manifest


# -- restore ----------------------------------------------------------------------------------------


def verify(archive: Path, key: Key | None) -> Manifest:
    """Decrypt (when encrypted) and check the whole archive on this machine; nothing reaches a host."""
    if not is_encrypted(archive):
        with archive.open("rb") as f:
            return verify_archive(f)
    if key is None:
        raise CryptoError(f"{archive} is encrypted: give --passphrase-env VAR or --key-file PATH")
    decryption = Decryption(key, archive)
    try:
        manifest = verify_archive(decryption.stdout)
    except ArchiveError:
        decryption.finish()  # gpg's verdict (wrong key, altered file) explains a broken stream best
        raise
    except BaseException:
        decryption.abort()
        raise
    decryption.finish()
    return manifest


def inspect(runner: SshRunner) -> dict[str, str]:
    """What the host has now (read-only): mail root, databases, message count, missing tools."""
    proc = subprocess.run(remote_argv(runner, "inspect.sh"), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and not proc.stdout:
        raise RemoteError(f"cannot inspect {runner.describe()}: {proc.stderr.strip() or 'ssh failed'}")
    facts = parse_env(proc.stdout)
    facts["missing"] = " ".join(
        line.split("=", 1)[1] for line in proc.stdout.splitlines() if line.startswith("missing=")
    )
    return facts


@contextlib.contextmanager
def _plain_stream(archive: Path, key: Key | None) -> Iterator[tuple[IO[bytes], Decryption | None]]:
    if key is not None and is_encrypted(archive):
        decryption = Decryption(key, archive)
        try:
            yield decryption.stdout, decryption
        except BaseException:
            decryption.abort()
            raise
    else:
        with archive.open("rb") as f:
            yield f, None


def upload(runner: SshRunner, archive: Path, key: Key | None) -> str:
    """Send the plain archive into a private stage on the host (decrypted here, on the way); its path."""
    with tempfile.TemporaryFile() as errors, _plain_stream(archive, key) as (stream, decryption):
        proc = subprocess.run(remote_argv(runner, UPLOAD), stdin=stream, stdout=subprocess.PIPE, stderr=errors)
        stage = proc.stdout.decode().strip()
        try:
            if decryption is not None:
                decryption.finish()  # gpg's integrity verdict on what it just sent
        except CryptoError:
            if stage.startswith("/var/tmp/mailforge-restore."):
                subprocess.run(runner.argv(["rm", "-rf", stage]), capture_output=True, timeout=120)
            raise
        if proc.returncode != 0:
            raise RemoteError(f"the upload to {runner.describe()} failed: {_tail(errors)}")
    if not stage.startswith("/var/tmp/mailforge-restore."):
        raise RemoteError(f"the upload to {runner.describe()} did not report its stage: {stage!r}")
    return stage


@dataclass(frozen=True)
class Applied:
    output: str


def apply(runner: SshRunner, stage: str, *, force: bool) -> Applied:
    """restore.sh: checks the stage against SHA256SUMS, then databases, files, Maildirs, services."""
    proc = subprocess.run(
        remote_argv(runner, "restore.sh", stage, "yes" if force else "no"), capture_output=True, text=True
    )
    if proc.returncode == REFUSED:
        raise Refused(proc.stderr.strip())
    if proc.returncode != 0:
        raise RemoteError(f"the restore failed on {runner.describe()}: {proc.stderr.strip() or proc.stdout.strip()}")
    return Applied(proc.stdout)
