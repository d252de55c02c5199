"""Locate and load the openspf RFC 7208 test suite (kept in shared/, never copied into the repo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = (REPO.parent / "shared/data/spf/rfc7208-tests.yml", Path("/work/shared/data/spf/rfc7208-tests.yml"))


def suite_path() -> Path:
    for path in CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError(f"RFC 7208 test suite not found at any of {[str(p) for p in CANDIDATES]}")


def load_suite() -> list[dict[str, Any]]:
    with suite_path().open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]
