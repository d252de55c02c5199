"""Audit output: a plain-words text report and JSON."""

from __future__ import annotations

import json
from collections import Counter

from .findings import Finding, Severity, exit_code

_ORDER = {Severity.ERROR: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2, Severity.INFO: 3}


def _count(n: int, severity: str) -> str:
    plural = "s" if n != 1 and severity in ("error", "warning") else ""
    return f"{n} {severity}{plural}"


def text_report(results: dict[str, list[Finding]]) -> str:
    lines: list[str] = []
    for domain, findings in results.items():
        counts = Counter(str(f.severity) for f in findings)
        summary = ", ".join(_count(counts[s], s) for s in ("error", "unknown", "warning", "info") if counts[s])
        lines.append(f"{domain}: {summary or 'clean'}")
        for f in sorted(findings, key=lambda f: (_ORDER[f.severity], f.code)):
            lines.append(f"  {str(f.severity).upper():8} {f.code}: {f.detail}")
            if f.seen:
                lines.append(f"           seen: {f.seen}")
            lines.append(f"           rule: {f.rule}")
            lines.append(f"           fix:  {f.fix}")
        lines.append("")
    return "\n".join(lines)


def json_report(results: dict[str, list[Finding]], queries: int) -> str:
    data = {
        "exit_code": exit_code([f for fs in results.values() for f in fs]),
        "queries": queries,
        "domains": {
            domain: {"exit_code": exit_code(findings), "findings": [f.to_dict() for f in findings]}
            for domain, findings in results.items()
        },
    }
    return json.dumps(data, indent=2)
