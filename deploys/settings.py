"""Read the current host's data once into validated settings (mailforge/settings applies every default)."""

from __future__ import annotations

from typing import Any

from pyinfra.api.exceptions import PyinfraError

from deploys.facts import MachineSize, OsRelease
from mailforge import releases
from mailforge.settings import Machine, Settings, SettingsError, load_settings


def settings_for(host: Any) -> Settings:
    """Read the target's release and size (once: every component takes them from the settings) and validate
    the data; on an unsupported release or bad data raise pyinfra's own error, naming every problem, so the run
    stops before any operation executes. The CPUs and memory size the PHP-FPM pools."""
    problems = []
    try:
        release = releases.for_deploy(host.get_fact(OsRelease), host.name)
    except releases.UnsupportedRelease as exc:
        problems.append(str(exc))
        release = releases.DEPLOY_DEFAULT  # the data is still checked, so one run lists every problem
    cpus, memory_mb = host.get_fact(MachineSize)
    try:
        settings = load_settings(host.data.dict(), host=host.name, release=release, machine=Machine(cpus, memory_mb))
    except SettingsError as exc:
        problems.append(str(exc))
    if problems:
        raise PyinfraError("\n".join(problems))
    return settings
