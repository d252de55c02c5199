"""Issue 15: DESIGN.md's picture, kept by the code. The product (mailforge/) imports neither the deploys nor
the harness nor the tests; benchmarks import the harness (lab/), never tests; nothing edits sys.path."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Top-level package names a file imports (absolute imports only; relative ones stay in their package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _edits_sys_path(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            value = node.value
            if isinstance(value, ast.Name) and value.id == "sys":
                return True
    return False


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize(("folder", "forbidden"), [("mailforge", {"deploys", "lab", "tests", "bench"}),
                                                   ("bench", {"tests"}), ("lab", {"tests", "bench"})])  # fmt: skip
def test_a_layer_imports_only_what_is_below_it(folder: str, forbidden: set[str]) -> None:
    found = {(str(path.relative_to(ROOT)), name) for path in _files(folder) for name in _imports(path) & forbidden}
    assert found == set()


@pytest.mark.parametrize("folder", ["mailforge", "deploys", "lab", "bench", "tests", "inventories", "group_data"])
def test_nothing_edits_sys_path(folder: str) -> None:
    found = {(str(path.relative_to(ROOT)), "sys.path") for path in _files(folder) if _edits_sys_path(path)}
    assert found == set()


def test_settings_import_pyinfra_only_in_the_inventory_loader() -> None:
    # DESIGN.md section 1: pure settings code never imports pyinfra; mailforge/settings/inventory.py alone does
    # (and only in the child Python it starts).
    found = {str(path.relative_to(ROOT)) for path in _files("mailforge/settings")
             if _imports(path) & {"pyinfra", "pyinfra_cli"}}  # fmt: skip
    assert found == {"mailforge/settings/inventory.py"}
