"""`mailforge backup` and `mailforge restore` (see mailforge/backup/__init__.py for the design).

The host is an inventory host (``HOST`` with ``--inventory``: its SSH details, and its settings for the
settings hash), a test host (``--testhost NAME``) or any SSH destination (``--host USER@ADDR``), as for
`mailforge queue` (mailforge/remote.py chooses the host and runs the commands).

Exit status: 0 done; 1 refused (the host is not deployed, or holds mail without --force); 2 an error (bad
options, a key that does not open the archive, an altered archive, a failed host step).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailforge import remote
from mailforge.backup.archive import ArchiveError, Manifest, settings_fingerprint
from mailforge.backup.crypto import CryptoError, Key, key_from
from mailforge.remote import DEFAULT_INVENTORY, SshRunner, Target, TargetError
from mailforge.settings import SettingsError, load_settings

REFUSED, FAILED = 1, 2
# Bad options, about the host (raised by mailforge/remote.py) or the rest: one error type, exit status 2.
UsageError = TargetError


def _where(p: argparse.ArgumentParser) -> None:
    remote.add_arguments(
        p,
        "which host (one of HOST, --testhost, --host)",
        inventory="positional",
        inventory_help=f"pyinfra inventory HOST is in (default {DEFAULT_INVENTORY})",
        testhost_help="a mailforge test host (`mailforge testhost list`)",
        host_help="any host over SSH (no settings hash without an inventory)",
        sudo_help="run the host-side steps through sudo -n",
    )


def _key_options(p: argparse.ArgumentParser, *, plain_flag: bool) -> None:
    g = p.add_argument_group("encryption key (on this machine; never sent to the host or stored in the archive)")
    g.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the passphrase")
    g.add_argument("--key-file", metavar="PATH", help="file whose first line is the passphrase (mode 0600)")
    if plain_flag:
        g.add_argument(
            "--no-encryption", action="store_true", help="write a plain archive (it holds private keys: keep it safe)"
        )


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = subparsers.add_parser(
        "backup",
        help="back up a mail server into one (encrypted) archive",
        usage="mailforge backup (HOST [--inventory FILE] | --testhost NAME | --host USER@ADDR) "
        "(--passphrase-env VAR | --key-file PATH | --no-encryption) [-o ARCHIVE]",
    )
    b.add_argument("target", nargs="?", metavar="HOST", help="an inventory host (see --inventory)")
    _where(b)
    b.add_argument("-o", "--output", metavar="PATH", help="archive path (default build/backups/HOST-TIME.tar.gz.gpg)")
    _key_options(b, plain_flag=True)
    b.set_defaults(func=cmd_backup)

    r = subparsers.add_parser(
        "restore",
        help="restore an archive onto a (freshly deployed) mail server",
        usage="mailforge restore (HOST [--inventory FILE] | --testhost NAME | --host USER@ADDR) ARCHIVE "
        "[--passphrase-env VAR | --key-file PATH] [--force] [--dry-run]",
    )
    r.add_argument("positionals", nargs="+", metavar="[HOST] ARCHIVE", help="an inventory host, then the archive")
    _where(r)
    _key_options(r, plain_flag=False)
    r.add_argument("--force", action="store_true", help="restore even though the host already holds mail")
    r.add_argument(
        "--dry-run", action="store_true", help="check the archive and the host, print the plan, change nothing"
    )
    r.set_defaults(func=cmd_restore)


# -- option validation (pure) -----------------------------------------------------------------------


def target_of(host: str | None, args: argparse.Namespace) -> Target:
    """Exactly one of HOST (an inventory host), --testhost, --host."""
    return remote.target_from(args, host, inventory="positional")


def restore_positionals(positionals: Sequence[str]) -> tuple[str | None, str]:
    """``[HOST] ARCHIVE``: with --testhost or --host the only positional is the archive."""
    if len(positionals) > 2:
        raise UsageError(f"expected [HOST] ARCHIVE, got {len(positionals)} arguments")
    if len(positionals) == 2:
        return positionals[0], positionals[1]
    return None, positionals[0]


def encryption_key(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Key | None:
    """backup: exactly one of --passphrase-env, --key-file, --no-encryption (an archive holds private keys,
    so a plain one is never written by omission)."""
    plain = getattr(args, "no_encryption", False)
    if plain and (args.passphrase_env or args.key_file):
        raise UsageError("--no-encryption and a key contradict each other: give one")
    if plain:
        return None
    if not (args.passphrase_env or args.key_file):
        raise UsageError("give --passphrase-env VAR or --key-file PATH (or --no-encryption for a plain archive)")
    return key_from(args.passphrase_env, args.key_file, environ)


# -- inventory and settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Inventoried:
    data: dict[str, Any]
    settings_sha256: str | None
    domains: tuple[str, ...] | None  # every domain the settings declare (alias domains included)
    problem: str | None  # why there is no hash (the settings do not validate)


def load_inventory_host(inventory: str, name: str) -> Inventoried:
    """The host's data, validated into settings for the settings hash (a bad inventory gives no hash)."""
    data = remote.inventory_host_data(inventory, name)
    try:
        settings = load_settings(data, host=name)
    except SettingsError as exc:
        return Inventoried(data, None, None, str(exc))
    return Inventoried(data, settings_fingerprint(settings), settings.domain_names, None)


def runner_for(target: Target, args: argparse.Namespace) -> tuple[SshRunner, Inventoried | None]:
    if target.kind == "inventory":
        assert target.inventory is not None
        found = load_inventory_host(target.inventory, target.name)
        return remote.ssh_runner_for(target, args, found.data), found
    return remote.ssh_runner_for(target, args), None


# -- the restore plan (pure) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Preflight:
    blockers: tuple[str, ...]  # the restore would be refused
    warnings: tuple[str, ...]


def preflight(
    manifest: Manifest, facts: Mapping[str, str], inventoried: Inventoried | None, *, force: bool
) -> Preflight:
    blockers, warnings = [], []
    if not facts.get("mail_root") or facts.get("postfixadmin_db") != "yes":
        blockers.append("the host is not deployed (no vmail mail root or PostfixAdmin database): run the deploy first")
    if facts.get("missing"):
        blockers.append(f"the host lacks {facts['missing']}: run the deploy first")
    messages = int(facts.get("messages") or 0)
    if messages and not force:
        blockers.append(f"the host already holds mail ({messages} message file(s)): --force replaces its Maildirs")
    if facts.get("mailname") and manifest.mail_hostname and facts["mailname"] != manifest.mail_hostname:
        warnings.append(f"the archive is of {manifest.mail_hostname}; this host is {facts['mailname']}")
    if "roundcube" in manifest.databases and facts.get("roundcube_db") != "yes":
        warnings.append("the archive has Roundcube's database, this host has no Roundcube: that database is skipped")
    if inventoried is not None:
        if inventoried.problem:
            warnings.append(
                f"the inventory's settings do not validate, so they cannot be compared: {inventoried.problem}"
            )
        elif manifest.settings_sha256 is None:
            warnings.append("the archive records no settings hash (made without an inventory): settings not compared")
        elif inventoried.settings_sha256 != manifest.settings_sha256:
            ours, theirs = (inventoried.settings_sha256 or "?")[:12], manifest.settings_sha256[:12]
            warnings.append(
                f"the inventory's settings differ from those the archive was made with ({ours} vs {theirs}): "
                "the deploy after the restore applies the inventory"
            )
        if inventoried.domains is not None:
            missing = sorted(set(manifest.domains) - set(inventoried.domains))
            if missing:
                warnings.append(f"the archive holds domains the inventory does not declare: {', '.join(missing)}")
    return Preflight(tuple(blockers), tuple(warnings))


def plan_lines(manifest: Manifest, facts: Mapping[str, str], where: str) -> list[str]:
    return [
        f"Restore onto {where} ({facts.get('mailname') or '?'}):",
        "  1. stop Postfix, Dovecot, OpenDKIM and PHP-FPM (SMTP clients retry later)",
        f"  2. create the MariaDB accounts this host lacks; replace the databases {', '.join(manifest.databases)}",
        f"  3. merge into place: {', '.join(manifest.roots) or '(nothing)'}",
        f"  4. move in the Maildirs of {len(manifest.mailboxes)} mailbox(es), {manifest.messages} message(s), "
        f"into {facts.get('mail_root') or '?'} (the host has {facts.get('messages') or 0} message file(s) now)",
        "  5. start the services again (they read the restored keys), reload Nginx, flush the queue",
        "  what the host had is kept in /var/backups/mailforge-replaced-<time>",
    ]


# -- commands ---------------------------------------------------------------------------------------


def _fail(command: str, message: str, code: int = FAILED) -> int:
    print(f"mailforge {command}: {message}", file=sys.stderr)
    return code


def cmd_backup(args: argparse.Namespace) -> int:
    from mailforge.backup import remote

    try:
        target = target_of(args.target, args)
        key = encryption_key(args)
        runner, inventoried = runner_for(target, args)
    except (UsageError, CryptoError, ValueError) as exc:
        return _fail("backup", str(exc))
    if inventoried is not None and inventoried.problem:
        print(f"warning: no settings hash recorded: {inventoried.problem}", file=sys.stderr)
    dest = Path(args.output) if args.output else remote.default_output(target.label, key is not None)
    if dest.exists():
        return _fail("backup", f"{dest} exists: name another --output")
    try:
        manifest = remote.backup(
            runner,
            dest,
            key,
            source=target.name,
            settings_sha256=inventoried.settings_sha256 if inventoried else None,
        )
    except (remote.RemoteError, CryptoError, ArchiveError, OSError) as exc:
        return _fail("backup", str(exc))
    print("\n".join(manifest.summary()))
    print(f"Wrote {dest} ({dest.stat().st_size} bytes, {'encrypted with ' + key.origin if key else 'NOT encrypted'}).")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from mailforge.backup import remote

    try:
        host, archive_name = restore_positionals(args.positionals)
        target = target_of(host, args)
        archive = Path(archive_name)
        if not archive.is_file():
            raise UsageError(f"no archive {archive}")
        key = key_from(args.passphrase_env, args.key_file) if (args.passphrase_env or args.key_file) else None
        runner, inventoried = runner_for(target, args)
    except (UsageError, CryptoError, ValueError) as exc:
        return _fail("restore", str(exc))
    # 1. The whole archive, decrypted and checked here, before anything reaches the host.
    try:
        manifest = remote.verify(archive, key)
    except (CryptoError, ArchiveError) as exc:
        return _fail("restore", f"{exc}; the host was not touched")
    print("\n".join(manifest.summary()))
    # 2. The host as it is (read-only).
    try:
        facts = remote.inspect(runner)
    except remote.RemoteError as exc:
        return _fail("restore", str(exc))
    check = preflight(manifest, facts, inventoried, force=args.force)
    for warning in check.warnings:
        print(f"warning: {warning}")
    print("\n".join(plan_lines(manifest, facts, runner.describe())))
    if check.blockers:
        for blocker in check.blockers:
            print(f"refused: {blocker}", file=sys.stderr)
        print("Nothing was changed.", file=sys.stderr)
        return REFUSED
    if args.dry_run:
        print("Dry run: nothing was changed.")
        return 0
    # 3. Upload (decrypted on the way), 4. put in place (the host re-checks every file first).
    try:
        stage = remote.upload(runner, archive, key)
        applied = remote.apply(runner, stage, force=args.force)
    except remote.Refused as exc:
        return _fail("restore", str(exc), REFUSED)
    except (remote.RemoteError, CryptoError) as exc:
        return _fail("restore", str(exc))
    print(applied.output.rstrip())
    deploy = (
        f"pyinfra {target.inventory} deploys/mailserver.py --limit {target.name}"
        if target.kind == "inventory"
        else "the deploy (pyinfra INVENTORY deploys/mailserver.py --limit HOST)"
    )
    print(f"Restored. Now run {deploy}: it converges the host on the restored keys and data.")
    return 0
