"""The last step of every deploy: every private key and secret this host uses is readable by its owner only
(mode 0600), or also by the one daemon group that must read it (0640), and has the expected owner.

Listed from the settings: the TLS key (and the local CA's key, or Certbot's keys), DKIM keys, the relay's
sasl_passwd, the generated passwords under /etc/mailforge, and the database credentials the packages wrote.
A looser mode or a wrong owner stops the run with one line per file (mailforge/keyaudit.py). Nothing is
repaired silently: a loosened key may already have been read, so the operator must look.

On a re-run where every file was already in order, the step reads the state once (a fact) and changes
nothing; when a file is new, missing or wrong before the run, the check runs again at the end of the run,
after every other step put its files in place.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, deploy, operation

from deploys import dkim, postfixadmin
from deploys.web import postfixadmin_ui
from mailforge.keyaudit import SecretFile, audit_script
from mailforge.settings import Settings

ROOT = "root:root"
WEB = "root:www-data"  # PHP pools read these through group www-data (Debian's packaging)
OWNER_ONLY = 0o600
GROUP_READ = 0o640


def secret_files(settings: Settings) -> tuple[SecretFile, ...]:
    """Every private key and secret a host with these settings holds, with its owner and widest mode."""
    files = [SecretFile(settings.tls.key_file, ROOT, OWNER_ONLY)]
    if settings.tls.mode == "selfsigned":
        files.append(SecretFile(str(PurePosixPath(settings.tls.ca_file).parent / "ca.key"), ROOT, OWNER_ONLY))
    else:
        # Earlier keys of every lineage, and the ACME account keys (Certbot writes those 0400).
        files += [
            SecretFile("/etc/letsencrypt/archive/*/privkey*.pem", ROOT, OWNER_ONLY, required=False),
            SecretFile("/etc/letsencrypt/accounts/*/*/*/private_key.json", ROOT, OWNER_ONLY, required=False),
        ]
    files += [SecretFile(dkim.key_path(d, settings.dkim.selector), "opendkim:opendkim", OWNER_ONLY)
              for d in settings.domain_names]  # fmt: skip
    # Keys of earlier selectors stay after a rotation (deploys/dkim.py).
    files.append(SecretFile(f"{dkim.KEY_DIR}/*/*.private", "opendkim:opendkim", OWNER_ONLY, required=False))
    if settings.postfix.relay is not None:
        files += [SecretFile(f"/etc/postfix/sasl_passwd{ext}", ROOT, OWNER_ONLY) for ext in ("", ".db")]
    files += [
        # Mailbox and superadmin passwords, written only for what mailforge itself created.
        SecretFile(f"{postfixadmin.SECRETS}/*", ROOT, OWNER_ONLY, required=False),
        SecretFile(f"{postfixadmin_ui.SECRETS}/superadmin", ROOT, OWNER_ONLY, required=False),
        # PostfixAdmin's database password (dbconfig-common) and setup_password hash.
        SecretFile("/etc/dbconfig-common/postfixadmin.conf", ROOT, OWNER_ONLY),
        SecretFile("/etc/postfixadmin/dbconfig.inc.php", WEB, GROUP_READ),
        SecretFile(postfixadmin_ui.SETUP_HASH, WEB, GROUP_READ),
    ]
    app = settings.web.webmail
    if app == "roundcube":
        files += [
            SecretFile("/etc/dbconfig-common/roundcube.conf", ROOT, OWNER_ONLY),
            SecretFile("/etc/roundcube/debian-db.php", WEB, GROUP_READ),
            SecretFile("/etc/roundcube/config.inc.php", WEB, GROUP_READ),  # holds the session des_key
        ]
    elif app in ("rainloop", "snappymail"):
        files += [
            SecretFile(f"/etc/mailforge/{app}-admin", ROOT, OWNER_ONLY),
            SecretFile(f"/var/www/{app}/data/_data_/_default_/configs/application.ini", f"{app}:{app}", OWNER_ONLY),
        ]
    return tuple(files)


class SecretFileProblems(FactBase[list[str]]):
    """One line per secret file that is missing, too open or wrongly owned; [] when all are in order."""

    default = list

    def command(self, script: str) -> StringCommand:
        return StringCommand(script)

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line.strip()]


@operation()
def audit(files: tuple[SecretFile, ...]):
    if not host.get_fact(SecretFileProblems, script=audit_script(files, fail=False)):
        host.noop(f"{len(files)} private keys and secrets have their owner and mode")
        return
    yield StringCommand(audit_script(files, fail=True))


@deploy("Key permissions")
def key_audit(settings: Settings) -> None:
    audit(name="Audit the owner and mode of every private key and secret", files=secret_files(settings))
