"""pyinfra's operation order, computed without `inspect.stack()`.

In CLI mode pyinfra names every operation by the line numbers of the call stack from the deploy file down
(`pyinfra.api.util.get_operation_order_from_stack`), and gets them with `inspect.stack()`, which also reads
a line of source for every frame and searches `sys.modules` for each frame's module. With our stack depth
and module count that was about a quarter of a no-op run. `install()` puts in a walk of the same frames that
reads only their file names and line numbers (`inspect.getframeinfo(frame, context=0)`, as pyinfra's own
loop gets them), so the order and the operation hashes are the same (tests/unit/test_op_order.py compares
the two). https://docs.python.org/3/library/inspect.html#the-interpreter-stack
"""

from __future__ import annotations

import importlib
import sys
from inspect import getframeinfo
from types import FrameType
from typing import Any

import pyinfra
from pyinfra.api import util

# The module, not the `operation` decorator that `pyinfra.api` exports under the same name.
OPERATION_MODULE = importlib.import_module("pyinfra.api.operation")


def operation_order_from_stack(state: Any) -> list[int]:
    """pyinfra's `get_operation_order_from_stack`, for a caller in pyinfra (where the original is called)."""
    frames: list[FrameType] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    infos = [getframeinfo(f, context=0) for f in reversed(frames)]  # outermost first
    start = 0
    if state.current_deploy_filename:
        start = next(
            (i for i, info in enumerate(infos) if info.filename == state.current_deploy_filename),
            # pyinfra's loop ends on its own frame when no frame is the deploy file's: nothing after it counts.
            len(infos),
        )
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    line_numbers += [info.lineno for info in infos[start:] if not info.filename.startswith(util.PYINFRA_INSTALL_DIR)]
    return line_numbers


def install() -> None:
    """Make pyinfra's operation decorator use `operation_order_from_stack` (it looks the name up per call)."""
    OPERATION_MODULE.get_operation_order_from_stack = operation_order_from_stack
