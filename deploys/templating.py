"""Render templates/<path under /etc>.j2 to the host; every template starts with the managed-by header.

The templates folder mirrors /etc: templates/postfix/main.cf.j2 is /etc/postfix/main.cf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


DEPLOYS = Path(__file__).resolve().parent


def header(component: str, comment: str = "#") -> str:
    """The first line of every file mailforge writes, naming the module that writes it (deploys/web/ for the
    web tier's components)."""
    module = "web/" + component if (DEPLOYS / "web" / f"{component}.py").exists() else component
    return f"{comment} Managed by mailforge (deploys/{module}.py); local edits are overwritten."


def template(
    dest: str,
    *,
    component: str,
    mode: str = "644",
    user: str = "root",
    group: str = "root",
    comment: str = "#",
    create_remote_dir: bool = False,
    source: str | None = None,
    **context: Any,
) -> OperationMeta:
    """`create_remote_dir`: only for a directory that neither a package nor an earlier operation makes. Off,
    pyinfra does not read the directory's state on every run (one fact of three per template).
    `source`: the template under templates/ (without .j2) where it is not the destination's path, as in a
    per-release tree (templates/dovecot/2.4/conf.d/10-mail.conf for /etc/dovecot/conf.d/10-mail.conf)."""
    template_path = TEMPLATES / ((source or dest.removeprefix("/etc/")) + ".j2")
    return files.template(
        name=f"Write {dest}",
        src=str(template_path),
        dest=dest,
        mode=mode,
        user=user,
        group=group,
        create_remote_dir=create_remote_dir,
        managed_header=header(component, comment),
        **context,
    )
