"""deploys.runtime gives pyinfra's operation order (and so the same operation hashes) faster."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pyinfra
import pytest
from pyinfra.api import util

from deploys import runtime

Order = Callable[[Any], list[int]]


def _called_from_pyinfra(order: Order, state: Any) -> list[int]:
    # Both functions run one frame below the same caller, as in pyinfra's solve_operation_consistency.
    return order(state)


def _nested(depth: int, order: Order, state: Any) -> list[int]:
    if depth:
        return _nested(depth - 1, order, state)
    return _called_from_pyinfra(order, state)


@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("deploy_file", [__file__, "/elsewhere/deploy.py", ""], ids=["in-stack", "absent", "none"])
@pytest.mark.parametrize("depth", [0, 3])
def test_same_order_as_pyinfra(monkeypatch: pytest.MonkeyPatch, is_cli: bool, deploy_file: str, depth: int) -> None:
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
    # From the same line, so that every frame but the two functions' own is the same.
    theirs, ours = (
        _nested(depth, f, state) for f in (util.get_operation_order_from_stack, runtime.operation_order_from_stack)
    )
    assert ours == theirs
    assert len(ours) > (1 if is_cli else 0) or deploy_file == "/elsewhere/deploy.py"


def test_install_replaces_the_name_pyinfra_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    module = runtime.OPERATION_MODULE
    monkeypatch.setattr(module, "get_operation_order_from_stack", util.get_operation_order_from_stack)
    runtime.install_operation_order()
    assert module.get_operation_order_from_stack is runtime.operation_order_from_stack
