"""The one way a component applies its configuration: validate, keep the service running, reload on change.

A failed check stops the run with the daemon's own message before the reload, so the running service keeps
its previous configuration.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed


def check_then_reload(
    label: str,
    service: str,
    check: str,
    changes: Sequence[OperationMeta],
    *,
    restart: bool = False,
    instance: str = "",
) -> None:
    """`instance`: the unit that runs the daemon when `service` only wants it and cannot fail (Debian's
    postfix.service runs /bin/true and stays active while postfix@- is down)."""
    changed = any_changed(*changes)
    server.shell(name=f"Check the {label} configuration", commands=[check], _if=changed)
    systemd.service(name=f"Run {label}", service=service, running=True, enabled=True)
    if instance:
        # A failed start of the instance is only a failed "want" of the wrapper: started here on its own, a
        # failure stops the run with systemd's message instead of leaving a host that looks deployed.
        systemd.service(name=f"Run {label}'s {instance}", service=instance, running=True, _retries=2,
                        _retry_delay=3)  # fmt: skip
    systemd.service(
        name=f"{'Restart' if restart else 'Reload'} {label}",
        service=service,
        reloaded=not restart,
        restarted=restart,
        _if=changed,
        # Right after the first start (the step above), a unit can still be activating and refuse a reload
        # ("Job for postfix.service failed", seen once in CI): try again shortly instead of failing the run.
        _retries=2,
        _retry_delay=3,
    )
