"""The backup archive's layout, its manifest and its checks: pure code (no SSH, no gpg, no pyinfra).

An archive is one gzip-compressed tar stream (then encrypted as a whole, see crypto.py)::

    meta/host.env            what the host said about itself: mail name, mail root, domains, versions
    db/postfixadmin.sql      mariadb-dump --single-transaction (domains, mailboxes, aliases, admins, ...)
    db/roundcube.sql         the same for Roundcube's database, when the host has one
    db/users/<user>@<host>.sql   other MariaDB accounts and their grants (the deploy does not recreate them)
    files/<absolute path>    secrets and keys, with owner, group and mode (see remote.ROOTS)
    maildirs/<domain>/<user>/...   every Maildir (a point-in-time snapshot, see backup.sh)
    SHA256SUMS               sha256sum(1) format: every regular file and hard link above
    MANIFEST.json            last: format, source, settings hash, counts, and the digest of SHA256SUMS

The writer (``write_archive``) re-packs the tar stream the host sends, hashing every member on the way, and
appends SHA256SUMS and MANIFEST.json. ``verify_archive`` reads an archive back and checks every member
against them; restore runs it before it touches a host, and the host runs ``sha256sum -c SHA256SUMS`` on
what it received before anything is put in place.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import re
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

FORMAT = "mailforge-backup/1"
MANIFEST = "MANIFEST.json"
SUMS = "SHA256SUMS"
META = "meta/host.env"
# Where each kind of member lives; anything else in a stream is refused (it did not come from backup.sh).
PREFIXES = ("meta/", "db/", "files/", "maildirs/")
# Settings fields whose values are secrets: left out of the settings hash (a hash of a password is a way to
# test guesses offline, and the archive may be kept where the passwords are not).
SECRET_FIELDS = frozenset({"password", "superadmin_password", "webmail_admin_password"})
CHUNK = 1 << 20


class ArchiveError(ValueError):
    """The archive (or the stream a host sent) is not what mailforge writes, or was changed since."""


# -- names ------------------------------------------------------------------------------------------


def check_name(name: str) -> None:
    """Member names stay inside the layout: relative, no '..', no characters sha256sum(1) would escape."""
    if name in (SUMS, MANIFEST) or name + "/" in PREFIXES:
        return
    if not name.startswith(PREFIXES):
        raise ArchiveError(f"unexpected member {name!r}: not under {', '.join(PREFIXES)}")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts[1:]) or name.startswith("/"):
        raise ArchiveError(f"unsafe member name {name!r}")
    if any(c in name for c in "\\\n\r"):
        raise ArchiveError(f"member name {name!r} holds a backslash or a line break")


def maildir_of(name: str) -> str | None:
    """``maildirs/<domain>/<user>/[.Folder/](cur|new)/<file>`` -> ``<domain>/<user>``; None if not a message."""
    m = re.match(r"^maildirs/([^/]+)/([^/]+)/(?:\.[^/]+/)?(?:cur|new)/[^/]+$", name)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def root_of(name: str, roots: tuple[str, ...]) -> str | None:
    """``files/etc/mailforge/ca/ca.key`` -> ``/etc/mailforge`` (the backed-up root it belongs to)."""
    path = "/" + name.removeprefix("files/")
    for root in roots:
        if path == root or path.startswith(root + "/"):
            return root
    return None


# -- the settings hash ------------------------------------------------------------------------------


def _without_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list | tuple):
        return [_without_secrets(v) for v in value]
    return value


def settings_fingerprint(settings: Any) -> str:
    """SHA-256 of the validated settings (a frozen dataclass tree) as canonical JSON, secrets left out.

    Two inventories that deploy the same server hash the same, whatever their SSH details or layout; any
    declared domain, mailbox, alias, host name or component setting changes the hash."""
    data = _without_secrets(dataclasses.asdict(settings))
    # The target's Debian release is found on the host, not declared: a backup restores onto the same
    # server rebuilt on the next release, and archives written before releases were read keep their hash.
    data.pop("release", None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- the manifest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    created: str  # UTC, ISO 8601
    source: str  # the host as named on the command line
    mail_hostname: str  # /etc/mailname on the host
    mail_root: str  # where the Maildirs were (the vmail user's home)
    domains: tuple[str, ...]  # PostfixAdmin's domain table, alias domains included
    databases: tuple[str, ...]
    roots: tuple[str, ...]  # files/ members belong to these host paths
    mailboxes: tuple[tuple[str, int], ...]  # (<domain>/<user>, messages in every folder)
    files: int  # regular files and hard links (the lines of SHA256SUMS)
    bytes: int  # their uncompressed size
    sha256sums: str  # SHA-256 of the SHA256SUMS member
    settings_sha256: str | None = None  # None: backed up without an inventory to hash
    mailforge_version: str = ""
    format: str = FORMAT
    host: dict[str, str] = field(default_factory=dict)  # the rest of meta/host.env (versions)

    @property
    def messages(self) -> int:
        return sum(n for _, n in self.mailboxes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ArchiveError(f"{MANIFEST} is not JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else None
            raise ArchiveError(f"unknown archive format {found!r} (this mailforge reads {FORMAT})")
        try:
            return cls(
                created=str(raw["created"]),
                source=str(raw["source"]),
                mail_hostname=str(raw["mail_hostname"]),
                mail_root=str(raw["mail_root"]),
                domains=tuple(raw["domains"]),
                databases=tuple(raw["databases"]),
                roots=tuple(raw["roots"]),
                mailboxes=tuple((str(k), int(v)) for k, v in raw["mailboxes"]),
                files=int(raw["files"]),
                bytes=int(raw["bytes"]),
                sha256sums=str(raw["sha256sums"]),
                settings_sha256=raw.get("settings_sha256"),
                mailforge_version=str(raw.get("mailforge_version", "")),
                host={str(k): str(v) for k, v in raw.get("host", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"{MANIFEST} lacks or garbles {exc}") from None

    def summary(self) -> list[str]:
        boxes = len(self.mailboxes)
        return [
            f"archive of {self.source} ({self.mail_hostname}), made {self.created}"
            f" by mailforge {self.mailforge_version}",
            f"  domains: {', '.join(self.domains) or '(none)'}",
            f"  databases: {', '.join(self.databases)}; {boxes} Maildir(s), {self.messages} message(s)",
            f"  {self.files} file(s), {self.bytes} bytes; host paths: {', '.join(self.roots) or '(none)'}",
        ]


def parse_env(text: str) -> dict[str, str]:
    """``key=value`` lines (meta/host.env); blank lines and ``#`` comments ignored."""
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def sums_text(hashes: Mapping[str, str]) -> str:
    """sha256sum(1)'s format: digest, two spaces, name; sorted so equal contents give equal bytes."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(hashes.items()))


def parse_sums(text: str) -> dict[str, str]:
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not m:
            raise ArchiveError(f"{SUMS} line {number} is not `<sha256>  <name>`")
        out[m.group(2)] = m.group(1)
    return out


# -- writing ----------------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    """Reads from ``source`` and hashes what passes through (tarfile.addfile reads exactly member.size)."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.data = bytearray()  # kept only for meta/ members (small)
        self.keep = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.digest.update(chunk)
        if self.keep:
            self.data += chunk
        return chunk


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uname, info.gname = len(data), 0o600, mtime, "root", "root"
    tar.addfile(info, io.BytesIO(data))


@dataclass
class _Repack:
    """What write_archive learns while it copies the host's members (everything but the bytes)."""

    hashes: dict[str, str] = field(default_factory=dict)
    total: int = 0
    meta: str = ""
    roots: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)

    def copy(self, incoming: tarfile.TarFile, member: tarfile.TarInfo, out: tarfile.TarFile) -> None:
        member.name = member.name.rstrip("/")
        check_name(member.name)
        if member.name in (SUMS, MANIFEST):
            raise ArchiveError(f"the host sent a member named {member.name}")
        if member.name.startswith("files/") and not root_of(member.name, self.roots):
            raise ArchiveError(f"{member.name} is outside the paths the host declared ({META} first)")
        if member.isreg():
            source_file = incoming.extractfile(member)
            assert source_file is not None
            reader = _HashingReader(source_file)
            reader.keep = member.name.startswith("meta/")
            out.addfile(member, reader)  # type: ignore[arg-type]
            self.hashes[member.name] = reader.digest.hexdigest()
            self.total += member.size
            if member.name == META:
                self.meta = reader.data.decode(errors="replace")
                self.roots = tuple(r for r in parse_env(self.meta).get("roots", "").split() if r)
            if member.name.startswith("db/") and member.name.count("/") == 1:
                self.databases.append(member.name.removeprefix("db/").removesuffix(".sql"))
        elif member.islnk():
            target = member.linkname.rstrip("/")
            if target not in self.hashes:
                raise ArchiveError(f"hard link {member.name} points to {target}, not sent before it")
            self.hashes[member.name] = self.hashes[target]
            out.addfile(member)
        elif member.isdir() or member.issym():
            out.addfile(member)
        else:
            raise ArchiveError(f"{member.name}: not a file, directory or link")
        box = maildir_of(member.name)
        if box and (member.isreg() or member.islnk()):
            self.counts[box] = self.counts.get(box, 0) + 1


def write_archive(
    host_stream: IO[bytes],
    sink: IO[bytes],
    *,
    source: str,
    created: str,
    settings_sha256: str | None,
    mailforge_version: str,
    mtime: float = 0,
) -> Manifest:
    """Re-pack the tar stream a host sent (backup.sh) into the archive layout, hashing every member.

    The host's tar is read member by member and nothing is held in memory but meta/ members, so the
    archive can be far larger than this machine's memory."""
    state = _Repack()
    gz = gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0)
    try:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as out:
            try:
                with tarfile.open(fileobj=host_stream, mode="r|") as incoming:
                    for member in incoming:
                        state.copy(incoming, member, out)
            except (tarfile.TarError, EOFError) as exc:
                raise ArchiveError(f"the host's tar stream is missing or broke off ({exc})") from None
            if not state.meta:
                raise ArchiveError(f"the host sent no {META}: the stream did not come from mailforge's backup.sh")
            host = parse_env(state.meta)
            sums = sums_text(state.hashes).encode()
            manifest = Manifest(
                created=created,
                source=source,
                mail_hostname=host.pop("mailname", ""),
                mail_root=host.pop("mail_root", ""),
                domains=tuple(host.pop("domains", "").split()),
                databases=tuple(sorted(state.databases)),
                roots=state.roots,
                mailboxes=tuple(sorted(state.counts.items())),
                files=len(state.hashes),
                bytes=state.total,
                sha256sums=hashlib.sha256(sums).hexdigest(),
                settings_sha256=settings_sha256,
                mailforge_version=mailforge_version,
                host={k: v for k, v in host.items() if k != "roots"},
            )
            _add_bytes(out, SUMS, sums, mtime)
            _add_bytes(out, MANIFEST, manifest.to_json().encode(), mtime)
    finally:
        gz.close()
    return manifest


# -- reading ----------------------------------------------------------------------------------------


def _members(plain: IO[bytes]) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    try:
        with (
            gzip.GzipFile(fileobj=plain, mode="rb") as gz,
            tarfile.open(fileobj=gz, mode="r|") as tar,  # type: ignore[call-overload]
        ):
            for member in tar:
                yield tar, member
            # Read to the end: gzip checks its CRC and length only there (a cut trailer shows up here).
            while gz.read(CHUNK):
                pass
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        # gzip.BadGzipFile is an OSError; a cut archive ends in EOFError; a flipped byte in zlib.error.
        raise ArchiveError(
            f"the archive is damaged or not a mailforge backup ({exc.__class__.__name__}: {exc})"
        ) from None


def verify_archive(plain: IO[bytes]) -> Manifest:
    """Read the whole (decrypted) archive and check every member against SHA256SUMS and MANIFEST.json.

    Raises ArchiveError naming the first problems; returns the manifest when everything matches."""
    hashes: dict[str, str] = {}
    sums: str | None = None
    manifest_text: bytes | None = None
    for tar, member in _members(plain):
        if manifest_text is not None:
            raise ArchiveError(f"member {member.name!r} after {MANIFEST}: the archive was altered")
        check_name(member.name)
        if member.isreg():
            f = tar.extractfile(member)
            assert f is not None
            if member.name in (SUMS, MANIFEST):
                data = f.read()
                if member.name == SUMS:
                    sums = data.decode()
                else:
                    manifest_text = data
                continue
            digest = hashlib.sha256()
            while chunk := f.read(CHUNK):
                digest.update(chunk)
            hashes[member.name] = digest.hexdigest()
        elif member.islnk():
            hashes[member.name] = hashes.get(member.linkname, "missing link target")
    if manifest_text is None or sums is None:
        raise ArchiveError(f"no {MANIFEST} or {SUMS} at the end: the archive is cut short or not a mailforge backup")
    manifest = Manifest.from_json(manifest_text)
    if hashlib.sha256(sums.encode()).hexdigest() != manifest.sha256sums:
        raise ArchiveError(f"{SUMS} does not match the digest {MANIFEST} records: the archive was altered")
    expected = parse_sums(sums)
    problems = [
        f"{name}: content differs" for name in sorted(set(expected) & set(hashes)) if hashes[name] != expected[name]
    ]
    problems += [f"{name}: missing" for name in sorted(set(expected) - set(hashes))]
    problems += [f"{name}: not listed in {SUMS}" for name in sorted(set(hashes) - set(expected))]
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ArchiveError("the archive does not match its checksums: " + "; ".join(problems[:5]) + more)
    if len(expected) != manifest.files:
        raise ArchiveError(f"{MANIFEST} counts {manifest.files} files, {SUMS} lists {len(expected)}")
    return manifest
