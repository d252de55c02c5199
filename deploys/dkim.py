"""DKIM signing with OpenDKIM as a Postfix milter: one RSA key per domain and selector, generated on the host
once and never replaced by a re-run; signs mail from authenticated submission and local senders, verifies
inbound mail (Authentication-Results). http://www.opendkim.org/opendkim.conf.5.html

Rotation: set dkim_selector to a new name and deploy; the new key signs from then on, the old key stays on
the host (and is still listed by `mailforge dns records` until you remove it) so mail in flight verifies.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, deploy, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import apt, files

from deploys.facts import FileExists
from deploys.service import check_then_reload
from deploys.templating import template
from mailforge.settings import DkimSettings

PACKAGES = ["opendkim", "opendkim-tools"]
KEY_DIR = "/etc/opendkim/keys"
# Inside Postfix's queue directory: chrooted smtpd and cleanup reach it as opendkim/opendkim.sock.
SOCKET_DIR = "/var/spool/postfix/opendkim"


def key_path(domain: str, selector: str) -> str:
    return f"{KEY_DIR}/{domain}/{selector}.private"


class DkimPublicKeys(FactBase[dict[str, str]]):
    """The p= value (base64 DER SubjectPublicKeyInfo) of each existing private key, by path."""

    default = dict

    def command(self, paths: tuple[str, ...]) -> StringCommand:
        loop = "; ".join(
            f"test -s {p} && printf '%s %s\\n' {p} \"$(openssl pkey -in {p} -pubout -outform DER | base64 -w0)\""
            for p in paths
        )
        return StringCommand(f"{loop}; true")

    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split(" ", 1) for line in output if " " in line)


def public_keys(settings: DkimSettings, domains: tuple[str, ...]) -> dict[str, str]:
    """Domain -> published key, for the keys that exist now (read while operations are prepared)."""
    paths = tuple(key_path(d, settings.selector) for d in domains)
    found = host.get_fact(DkimPublicKeys, paths=paths)
    return {d: found[key_path(d, settings.selector)] for d in domains if key_path(d, settings.selector) in found}


def public_keys_now(settings: DkimSettings, domains: tuple[str, ...]) -> dict[str, str]:
    """The same, read while operations execute (after this run generated a key: the fact read while they were
    prepared predates it), with the fact's own command."""
    paths = tuple(key_path(d, settings.selector) for d in domains)
    fact = DkimPublicKeys()
    ok, output = host.run_shell_command(fact.command(paths))
    found = fact.process(output.stdout_lines) if ok else {}
    return {d: found[key_path(d, settings.selector)] for d in domains if key_path(d, settings.selector) in found}


@operation()
def signing_key(domain: str, selector: str, bits: int):
    path = key_path(domain, selector)
    if host.get_fact(FileExists, path=path):
        host.noop(f"DKIM key {selector} of {domain} exists")
        return
    directory = str(Path(path).parent)
    yield StringCommand("install -d -m 750 -o opendkim -g opendkim", QuoteString(directory))
    yield StringCommand(
        "umask 077 && openssl genpkey -algorithm RSA -pkeyopt", f"rsa_keygen_bits:{bits}", "-out", QuoteString(path)
    )
    yield StringCommand("chown opendkim:opendkim", QuoteString(path))


@deploy("DKIM")
def dkim(settings: DkimSettings, domains: tuple[str, ...]) -> list[OperationMeta]:
    """Returns the key-generation operations, so the caller can act when a new key appeared."""
    apt.packages(name="Install OpenDKIM", packages=PACKAGES, no_recommends=True)
    files.directory(name="Key directory", path=KEY_DIR, user="opendkim", group="opendkim", mode="750")
    keys = [
        signing_key(name=f"DKIM key for {d}", domain=d, selector=settings.selector, bits=settings.bits) for d in domains
    ]
    files.directory(name="Milter socket directory", path=SOCKET_DIR, user="opendkim", group="postfix", mode="750")
    entries = [(d, settings.selector, key_path(d, settings.selector)) for d in domains]
    changes = [
        template("/etc/opendkim.conf", component="dkim", socket=f"local:{SOCKET_DIR}/opendkim.sock"),
        template("/etc/opendkim/key.table", component="dkim", entries=entries),
        template("/etc/opendkim/signing.table", component="dkim", entries=entries),
        template("/etc/opendkim/trusted.hosts", component="dkim"),
    ]
    # OpenDKIM reads its key and signing tables at start only; a reload (USR1) rereads opendkim.conf alone.
    check_then_reload("OpenDKIM", "opendkim", "opendkim -n", [*changes, *keys], restart=True)
    return keys
