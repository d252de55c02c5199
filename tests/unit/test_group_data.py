"""Issue 15: group_data/all.py documents every settings key with its real default, and nothing else.

The format (its docstring): a key with a default is a comment `# key = DEFAULT` (a Python literal, continued
on the next comment lines until complete) followed by indented comment lines saying what it does; a required
key (no default) is set in the file, with a comment above it. The defaults are mailforge/settings/<component>.py's.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mailforge.settings import DEFAULTS, KEYS, REQUIRED

ROOT = Path(__file__).resolve().parents[2]
ALL = ROOT / "group_data" / "all.py"
SETTINGS = ROOT / "mailforge" / "settings"
KEY_LINE = re.compile(r"^# ([a-z][a-z0-9_]*) = (.*)$")
DESCRIPTION = re.compile(r"^#    \s*\S")


@dataclass(frozen=True)
class Documented:
    key: str
    value: Any
    description: tuple[str, ...]


def documented(text: str) -> list[Documented]:
    """Every `# key = DEFAULT` entry, with the literal and the description lines that follow it."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        match = KEY_LINE.match(lines[i])
        i += 1
        if not match:
            continue
        source = match.group(2)
        while True:
            try:
                value = ast.literal_eval(source)
                break
            except (SyntaxError, ValueError):
                if i >= len(lines) or not lines[i].startswith("#"):
                    raise AssertionError(f"{match.group(1)}: {source!r} is not a Python literal") from None
                source += "\n" + lines[i][1:]
                i += 1
        description = []
        while i < len(lines) and DESCRIPTION.match(lines[i]):
            description.append(lines[i][1:].strip())
            i += 1
        found.append(Documented(match.group(1), value, tuple(description)))
    return found


def assigned(text: str) -> dict[str, int]:
    """Names the file sets (the required keys' examples) -> their line number."""
    return {
        target.id: node.lineno
        for node in ast.parse(text).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


DOCUMENTED = documented(ALL.read_text())
BY_KEY = {d.key: d for d in DOCUMENTED}


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_key_with_a_default_is_documented_with_it(key: str) -> None:
    assert key in BY_KEY, f"group_data/all.py does not document {key} (add: # {key} = {DEFAULTS[key]!r})"
    assert BY_KEY[key].value == DEFAULTS[key], (
        f"{key}: all.py says {BY_KEY[key].value!r}, the default is {DEFAULTS[key]!r}"
    )


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_documented_key_says_what_it_does(key: str) -> None:
    assert key in BY_KEY and BY_KEY[key].description, f"{key}: no description line (#     ...) below it"


def test_nothing_documented_is_unknown_to_the_settings() -> None:
    assert {d.key for d in DOCUMENTED} - set(DEFAULTS) == set()


def test_each_key_is_documented_once() -> None:
    keys = [d.key for d in DOCUMENTED]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


def test_the_required_keys_are_set_with_a_comment_above() -> None:
    text = ALL.read_text()
    names = assigned(text)
    assert set(names) == set(REQUIRED)
    lines = text.splitlines()
    assert [name for name, line in names.items() if not lines[line - 2].startswith("# ")] == []


def test_the_format_parses_continued_literals() -> None:
    text = '# a_key = [\n#     "x",\n#     "y",\n# ]\n#     What it does.\n# b_key = None\n#     Another.\n'
    assert documented(text) == [
        Documented("a_key", ["x", "y"], ("What it does.",)),
        Documented("b_key", None, ("Another.",)),
    ]


# --- every key the settings code reads is a declared one (no key built at run time) ----------------------

# Reader methods that read their first argument, the key, from the data (mailforge/settings/common.py); the
# checking ones read it unless a value is passed (third argument), the key then only labels problems.
ALWAYS_READ = {"get", "optional", "flag"}
READ_WITHOUT_VALUE = {"string", "integer", "fqdn"}


def _reads(node: ast.Call) -> bool:
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "read"):
        return False
    if func.attr in ALWAYS_READ:
        return True
    return func.attr in READ_WITHOUT_VALUE and len(node.args) < 3 and "value" not in {k.arg for k in node.keywords}


def _keys_read(path: Path) -> set[str]:
    """The keys read with read.<method>(KEY, ...), passed to a helper as (read, KEY, ...), or spelled out in
    webmail.ArchiveKeys(...). A key formatted at run time is reported; a variable is checked where it is set."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        args = node.args
        if args and _reads(node):
            if isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                found.add(args[0].value)
            elif isinstance(args[0], ast.JoinedStr | ast.BinOp | ast.Call):
                found.add(f"<a key built at run time, line {node.lineno}>")
        elif len(args) >= 2 and isinstance(args[0], ast.Name) and args[0].id == "read":
            if isinstance(args[1], ast.Constant) and isinstance(args[1].value, str):
                found.add(args[1].value)
        elif isinstance(node.func, ast.Name) and node.func.id == "ArchiveKeys":
            found |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return found


@pytest.mark.parametrize("path", sorted(SETTINGS.glob("*.py")), ids=lambda p: p.name)
def test_the_settings_read_only_declared_keys(path: Path) -> None:
    assert _keys_read(path) - KEYS == set()


def test_every_declared_key_is_read() -> None:
    # No key is declared (and documented) that nothing reads; this also guards the scan above, which must find
    # keys read directly, through a helper and spelled out in ArchiveKeys.
    found = set().union(*(_keys_read(path) for path in SETTINGS.glob("*.py")))
    assert KEYS - found == set()
