"""Several test hosts removed together, whatever happens in between: the one teardown of the benches and the
e2e fixtures (a run that fails, or is stopped with Ctrl-C, leaves no host behind).

    with torn_down(state, ("bn-a", "bn-b")) as owned:   # leftovers of a killed earlier run removed first
        ...                                             # hosts.up(...) and the work
    # every host of `owned` is down here; one that would not go down is reported, the others still go
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator

from mailforge.testhost import StateDir, TesthostError, hosts


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


class Owned:
    """The hosts a `torn_down` block removes at its end, in the order they were added."""

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.names: list[str] = []
        self.errors: list[str] = []  # one message per host that could not be removed

    def add(self, name: str) -> str:
        """Own ``name``: a leftover of that name (from a killed earlier run, which would make `up` refuse) goes
        now, and the host goes at the end of the block."""
        if name not in self.names:
            self.names.append(name)
        hosts.down(name, state=self.state)
        return name


@contextlib.contextmanager
def torn_down(
    state: StateDir, names: Iterable[str] = (), *, report: Callable[[str], None] | None = _to_stderr
) -> Iterator[Owned]:
    """Own ``names`` (and whatever the block adds); remove each at the end. A host that cannot be removed is
    reported (``report``, standard error by default) and listed in ``Owned.errors``; it does not stop the others,
    nor replace an exception the block raised."""
    owned = Owned(state)
    try:
        for name in names:
            owned.add(name)
        yield owned
    finally:
        for name in owned.names:
            try:
                hosts.down(name, state=state)
            except TesthostError as exc:
                owned.errors.append(f"cleanup of {name} failed: {exc}")
                if report is not None:
                    report(owned.errors[-1])
