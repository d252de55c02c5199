"""Issue 15 item 6: the modules of mailforge/logs import one another without a circle. The data model
(model.py: traces and verdicts; records.py: parsed lines) is at the bottom and imports none of them; every
other module imports only modules below it, whether at the top of the file or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "mailforge.logs"
LOGS = Path(__file__).resolve().parents[2] / "mailforge" / "logs"
MODULES = {path.stem for path in LOGS.glob("*.py")}


def _imported(path: Path) -> set[str]:
    """The modules of the package that ``path`` imports anywhere in it ("__init__" for the package's names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative to this package
                module = PACKAGE + (f".{module}" if module else "")
            if module == PACKAGE:
                found.update(a.name if a.name in MODULES else "__init__" for a in node.names)
            elif module.startswith(f"{PACKAGE}."):
                found.add(module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] if a.name != PACKAGE else "__init__"
                         for a in node.names if a.name == PACKAGE or a.name.startswith(f"{PACKAGE}."))  # fmt: skip
    return found - {path.stem}


def _graph() -> dict[str, set[str]]:
    return {path.stem: _imported(path) for path in sorted(LOGS.glob("*.py"))}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``graph`` (its modules in order, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            if (found := visit(nxt, [*path, node])) is not None:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        if (found := visit(start, [])) is not None:
            return found
    return None


def test_no_import_circle_between_the_logs_modules() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or ())


@pytest.mark.parametrize("module", ["model", "records"])
def test_the_data_model_is_at_the_bottom(module: str) -> None:
    assert _graph()[module] == set()


def test_the_walk_sees_the_imports() -> None:
    # A walk that found nothing would pass the tests above: it must see the imports that exist.
    graph = _graph()
    assert {"summary", "queues", "records", "events"} <= graph["fastcount"]
    assert "fastcount" in graph["parallel"]  # `from mailforge.logs import fastcount`
    assert "model" in graph["verdict"]


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
        ({"a": {"a"}}, ["a", "a"]),
    ],
)
def test_a_circle_is_found(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert _cycle(graph) == cycle
