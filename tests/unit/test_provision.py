"""Issue 2: reading pyinfra's closing table (`lab.provision.parse_result`).

The inputs are real outputs of `pyinfra -y inventories/testhost.py deploys/mailserver.py --limit cli-p`
against a test host: the first deploy, the second one (which must change nothing), and a run that failed
before any table was printed (`pyinfra ... exec -- false`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.provision import DeployResult, parse_result

DATA = Path(__file__).parent / "data" / "pyinfra"


def parsed(name: str, returncode: int = 0) -> DeployResult:
    return parse_result(returncode, (DATA / name).read_text())


def test_first_deploy_counts_operations() -> None:
    assert parsed("first-deploy.txt").operations == 66


def test_first_deploy_counts_changes() -> None:
    assert parsed("first-deploy.txt").changed == 61


def test_first_deploy_has_no_errors() -> None:
    assert parsed("first-deploy.txt").errors == 0


def test_second_deploy_reports_zero_changes_from_a_dash() -> None:
    assert parsed("second-deploy.txt").changed == 0


def test_second_deploy_counts_operations() -> None:
    assert parsed("second-deploy.txt").operations == 64


@pytest.mark.parametrize("name", ["first-deploy.txt", "second-deploy.txt"])
def test_successful_runs_are_ok(name: str) -> None:
    assert parsed(name).ok


def test_a_run_without_a_table_counts_nothing() -> None:
    result = parsed("failed-exec.txt", returncode=1)
    assert (result.operations, result.changed, result.errors) == (0, 0, 0)


def test_a_failed_run_is_not_ok() -> None:
    assert not parsed("failed-exec.txt", returncode=1).ok


def test_errors_in_the_table_make_a_run_not_ok() -> None:
    table = "    Grand total                                                              12      3         2       7\n"
    assert not parse_result(0, table).ok


def test_the_last_table_is_the_summary() -> None:
    output = "    Grand total   5   5   -   -\n...\n    Grand total   9   -   -   9\n"
    assert parse_result(0, output).changed == 0


def test_output_is_kept_for_error_messages() -> None:
    text = (DATA / "failed-exec.txt").read_text()
    assert parse_result(1, text).output == text
