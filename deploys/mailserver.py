"""The entry point: `pyinfra INVENTORY deploys/mailserver.py`. Ordered component calls, nothing else."""

from __future__ import annotations

from pyinfra import host

from deploys import base
from deploys.settings import settings_for

settings = settings_for(host)

base.base(settings.base)
