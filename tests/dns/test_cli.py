"""Issue 5: `mailforge dns audit` exit codes and output against knotd; `--help` documents every code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mailforge.cli import main
from mailforge.dns.findings import CODES

from .conftest import Lab
from .lab import DBL_ZONE, DNSBL_ZONE, SCENARIOS, scenario_addresses


def _audit_args(lab: Lab, name: str, *extra: str) -> list[str]:
    index = next(i for i, s in enumerate(SCENARIOS) if s.name == name)
    v4, v6 = scenario_addresses(index)
    domain = SCENARIOS[index].domain
    return [
        "dns",
        "audit",
        domain,
        "--hostname",
        f"mail.{domain}",
        "--ip",
        v4,
        "--ip",
        v6,
        "--nameserver",
        f"127.0.0.1:{lab.port}",
        "--dnsbl",
        DNSBL_ZONE,
        "--dnsbl-domain",
        DBL_ZONE,
        *extra,
    ]


@pytest.mark.parametrize(
    ("scenario", "code"),
    [("good", 0), ("dmarc-none", 1), ("spf-multiple", 2), ("dnsbl-refused", 3), ("mtasts-missing", 0)],
)
def test_exit_code(lab: Lab, scenario: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_audit_args(lab, scenario)) == code


def test_json_output_lists_codes(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    main(_audit_args(lab, "spf-multiple", "--json"))
    data = json.loads(capsys.readouterr().out)
    (domain,) = data["domains"].values()
    assert [f["code"] for f in domain["findings"]] == ["SPF_MULTIPLE_RECORDS"]


def test_text_output_explains_the_fix(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    main(_audit_args(lab, "spf-multiple"))
    assert CODES["SPF_MULTIPLE_RECORDS"].fix in capsys.readouterr().out


def test_authoritative_flag_compares_servers(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    args = _audit_args(lab, "ns-inconsistent", "--authoritative", "--authoritative-port", str(lab.port), "--json")
    main(args)
    data = json.loads(capsys.readouterr().out)
    (domain,) = data["domains"].values()
    assert {f["code"] for f in domain["findings"]} == {"NS_INCONSISTENT"}


def test_help_documents_every_code() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mailforge.cli", "dns", "audit", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert [c for c in CODES if c not in out] == []


def test_records_command_prints_a_zone(capsys: pytest.CaptureFixture[str]) -> None:
    main(["dns", "records", "--domain", "example.test", "--hostname", "mail.example.test", "--ip", "10.213.7.1"])
    assert "example.test.\t3600\tIN\tMX\t10 mail.example.test." in capsys.readouterr().out
