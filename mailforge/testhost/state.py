"""Where test hosts keep their state: one directory, default /var/lib/mailforge, overridable.

Layout::

    <root>/lock                 flock() taken by up/down so concurrent runs allocate indexes safely
    <root>/ssh/id_ed25519       the project's keypair, authorised on every test host
    <root>/images/base-<release>-<h>.tar  cached base images, one per release and hash of its recipe
    <root>/hosts/<name>/        host.json, release.json, rootfs/, console.log
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from mailforge.testhost.errors import TesthostError

DEFAULT_ROOT = Path("/var/lib/mailforge")
STATE_ENV = "MAILFORGE_STATE_DIR"


@dataclass(frozen=True)
class HostRecord:
    """What `up` writes to hosts/<name>/host.json, and what every other command reads back."""

    name: str
    index: int
    address: str
    gateway: str
    netns: str
    veth: str
    created: float
    # In release.json (FIRST_FIELDS says why); hosts made before releases were a choice have none: bookworm.
    release: str = "bookworm"  # the codename in mailforge/releases.py
    image: str = ""  # the base image's file name in <root>/images: what its root filesystem is made of

    @property
    def fqdn(self) -> str:
        return f"{self.name}.example.test"


# host.json holds exactly these: older mailforge checkouts sharing this state directory read it as
# HostRecord(**json) and call any other key corruption (their `up` and `list` would fail on every host made
# here). Fields added later go in release.json beside it.
FIRST_FIELDS = ("name", "index", "address", "gateway", "netns", "veth", "created")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (created with its directory) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class StateDir:
    def __init__(self, root: Path | str | None = None) -> None:
        # Absolute: the path ends up in the supervisor's argv and in claims, compared from any cwd.
        self.root = Path(root or os.environ.get(STATE_ENV) or DEFAULT_ROOT).resolve()

    def command(self, args: str) -> str:
        """A `mailforge testhost` command line for messages, to paste into a fresh shell anywhere.

        `mailforge` alone is on no PATH until the .venv is activated: this install's console script is named
        by its absolute path. A state directory other than the default is named (a fresh shell may lack the
        environment variable that chose it).
        """
        script = Path(sys.executable).absolute().with_name("mailforge")
        program = str(script) if script.is_file() else "mailforge"
        where = "" if self.root == DEFAULT_ROOT.resolve() else f"--state-dir {shlex.quote(str(self.root))} "
        return f"{program} testhost {where}{args}"

    @property
    def hosts_dir(self) -> Path:
        return self.root / "hosts"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def ssh_key(self) -> Path:
        return self.root / "ssh" / "id_ed25519"

    def host_dir(self, name: str) -> Path:
        return self.hosts_dir / name

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return file_lock(self.root / "lock")

    def ensure_ssh_key(self) -> Path:
        """Generate the project's keypair once; the private key never leaves the state directory."""
        if not self.ssh_key.exists():
            self.ssh_key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "mailforge-testhost",
                    "-f",
                    self.ssh_key,
                ],
                check=True,
            )
        return self.ssh_key

    def write_record(self, record: HostRecord) -> None:
        """host.json, and beside it release.json (see FIRST_FIELDS), each replaced atomically."""
        fields = asdict(record)
        later = {key: value for key, value in fields.items() if key not in FIRST_FIELDS}
        first = {key: value for key, value in fields.items() if key in FIRST_FIELDS}
        host_dir = self.host_dir(record.name)
        host_dir.mkdir(parents=True, exist_ok=True)
        # host.json last: it is what makes a host exist for readers (`read_record`).
        for path, content in ((host_dir / "release.json", later), (host_dir / "host.json", first)):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(content, indent=2) + "\n")
            tmp.replace(path)

    def read_record(self, name: str) -> HostRecord | None:
        path = self.host_dir(name) / "host.json"
        try:
            fields = json.loads(path.read_text())
            later = path.with_name("release.json")
            if later.exists():  # absent for hosts made before releases: those are bookworm ones
                fields.update(json.loads(later.read_text()))
            # Keys a newer version added are not this version's business: read what it knows.
            known = {f.name for f in dataclasses.fields(HostRecord)}
            return HostRecord(**{key: value for key, value in fields.items() if key in known})
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, AttributeError) as exc:
            raise TesthostError(f"{path} is corrupt ({exc}); remove it with `{self.command('down ' + name)}`") from exc

    def names(self) -> list[str]:
        if not self.hosts_dir.is_dir():
            return []
        return sorted(p.name for p in self.hosts_dir.iterdir() if p.is_dir())
