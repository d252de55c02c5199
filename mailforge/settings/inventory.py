"""A host's settings from a pyinfra inventory FILE and HOST name, exactly as the deploy sees them.

pyinfra's own inventory loading reads the file and layers group_data/ (all.py, then each group the host is in,
then the host's own data), so the demo, `mailforge backup` and every later command learn the same data the
deploy gets as host.data. The one module of mailforge.settings that uses pyinfra: the rest stays pure.

pyinfra's loader lives in its command-line package, and importing that package monkey-patches the whole
process with gevent (pyinfra_cli/__init__.py: sockets, threads, subprocesses, sleep), which would change how the
caller's own SSH runs, threads and process pools behave. So the loading runs in a child Python
(`python -m mailforge.settings.inventory`), from the directory pyinfra would run in, and hands the host's data
back pickled through a file, Python types intact.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailforge import releases
from mailforge.releases import Release
from mailforge.settings.load import Settings, load_settings
from mailforge.settings.nginx_php import Machine

TIMEOUT = 120  # seconds: an inventory file is code (the test hosts' lists its running hosts)


class InventoryError(ValueError):
    """The inventory file is missing, does not load, or does not list the host."""


def host_data(inventory: str | Path, host: str, *, cwd: str | Path | None = None) -> dict[str, Any]:
    """The host's data as `pyinfra INVENTORY ...` run from `cwd` (default: the current directory) gives it:
    group_data/ is looked up in `cwd` and beside the inventory file, as pyinfra's command line does."""
    path = Path(inventory)
    if not path.is_file():
        raise InventoryError(f"no inventory file {inventory}")
    with tempfile.TemporaryDirectory(prefix="mailforge-inventory-") as scratch:
        out = Path(scratch) / "data.pickle"
        proc = subprocess.run(
            [sys.executable, "-m", __name__, str(path.resolve()), host, str(out)],
            cwd=Path(cwd) if cwd is not None else None,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        if proc.returncode != 0 or not out.is_file():
            raise InventoryError(f"pyinfra cannot read {inventory}: {proc.stderr.strip()[-500:]}")
        with out.open("rb") as found:
            kind, value = pickle.load(found)
    if kind == "error":
        raise InventoryError(f"pyinfra cannot read {inventory}: {value}")
    if kind == "hosts":
        raise InventoryError(f"{inventory} has no host {host!r} (it has: {', '.join(value) or 'none'})")
    data: dict[str, Any] = value
    return data


def host_settings(
    inventory: str | Path,
    host: str,
    *,
    cwd: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    release: Release = releases.DEPLOY_DEFAULT,
    machine: Machine | None = None,
) -> Settings:
    """host_data() validated into Settings (every default applied), or SettingsError naming every problem."""
    data = host_data(inventory, host, cwd=cwd)
    return load_settings(data, host=host, environ=environ, release=release, machine=machine)


def _load(inventory: str, host: str) -> tuple[str, Any]:
    """In the child: ("data", the host's data), ("hosts", the names the inventory has) or ("error", why)."""
    from pyinfra.api.config import Config
    from pyinfra.api.state import State
    from pyinfra.context import ctx_config, ctx_state
    from pyinfra_cli.inventory import make_inventory  # type: ignore[import-untyped]

    # `python -m` put the directory it runs in on the import path, as pyinfra's command line does: inventory
    # files may import from there.
    cwd = os.getcwd()
    # The inventory and group_data files run in pyinfra's context (a state, a config), as under its CLI.
    # Config's __init__ is unannotated: an untyped call for mypy's strict mode (unused where it is not strict).
    config = Config()  # type: ignore[no-untyped-call,unused-ignore]
    try:
        with ctx_state.use(State()), ctx_config.use(config):
            loaded = make_inventory(inventory, cwd=cwd)
    except Exception as exc:  # the files are code: anything they raise means they do not load
        cause = getattr(exc, "exception", exc)  # pyinfra wraps what a file raised, naming the file
        where = getattr(exc, "filename", inventory)
        return "error", f"{type(cause).__name__}: {cause} (in {where})"
    names = [found.name for found in loaded]
    if host not in names:
        return "hosts", names
    return "data", dict(loaded.get_host(host).data.dict())


if __name__ == "__main__":
    inventory_file, host_name, output = sys.argv[1:4]
    result = _load(inventory_file, host_name)
    with open(output, "wb") as written:
        pickle.dump(result, written)
