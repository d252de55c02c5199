"""Issue 14: what submission's cleanup (master.cf "subcleanup") does to headers, as Postfix itself reads the
rendered table: `postmap -h` passes each logical header of a message, folded lines included, as cleanup's
header_checks sees it. The e2e proof (a real message through a real server) is in tests/e2e/test_outbound.py."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

from deploys.templating import TEMPLATES
from tests.unit.test_templates import SETTINGS, render

TLS = (
    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
    "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\n"
    "\t(No client certificate requested)\n"
)
DATE = "Fri,  4 Dec 2026 19:12:47 +0000 (UTC)"
KEPT = f"Received: by mail.example.org (Postfix) with ESMTPSA id 4ABC123DEF; {DATE}"


def checked(tmp_path: Path, header: str) -> str:
    """What cleanup would do with this one header: the table's action, or "" when nothing matches."""
    if shutil.which("postmap") is None:
        pytest.fail("postmap is missing: run scripts/bootstrap.sh (apt-packages.txt lists postfix)")
    (tmp_path / "main.cf").write_text("")
    (tmp_path / "checks").write_text(render("postfix/submission_header_checks"))
    result = subprocess.run(
        ["postmap", "-c", str(tmp_path), "-hq", "-", f"regexp:{tmp_path / 'checks'}"],
        input=f"{header}\nSubject: s\n\nbody\n",
        capture_output=True,
        text=True,
    )
    assert result.stderr == ""
    return result.stdout.rsplit("\t", 1)[1].strip() if result.stdout else ""


@pytest.mark.parametrize(
    "header",
    [
        # One recipient: "for <...>; date" on the last line.
        f"Received: from client.example.test (unknown [10.213.249.1])\n{TLS}"
        f"\tby mail.example.org (Postfix) with ESMTPSA id 4ABC123DEF\n\tfor <bob@example.org>; {DATE}",
        # Several recipients: no "for", the date on a line of its own.
        f"Received: from [127.0.0.1] (unknown [10.213.249.1])\n{TLS}"
        f"\tby mail.example.org (Postfix) with ESMTPSA id 4ABC123DEF;\n\t{DATE}",
    ],
    ids=["one-recipient", "several-recipients"],
)
def test_submission_hop_keeps_only_the_servers_part(tmp_path: Path, header: str) -> None:
    assert checked(tmp_path, header) == f"REPLACE {KEPT}"


@pytest.mark.parametrize(
    "header",
    [
        # An earlier hop at another server, passed on by the client: not ours to rewrite.
        f"Received: from pc.example.net (pc.example.net [10.213.7.9])\n"
        f"\tby mail.example.net (Postfix) with ESMTPSA id 99AA;\n\t{DATE}",
        # Unauthenticated mail (port 25's protocol) never goes through this cleanup; nor is it rewritten.
        f"Received: from mx.example.net (mx.example.net [10.213.7.9])\n"
        f"\tby mail.example.org (Postfix) with ESMTPS id 4ABC123DEF\n\tfor <bob@example.org>; {DATE}",
    ],
    ids=["another-server", "unauthenticated"],
)
def test_other_received_headers_stay(tmp_path: Path, header: str) -> None:
    assert checked(tmp_path, header) == ""


@pytest.mark.parametrize(("hide", "expected"), [(True, "subcleanup"), (False, None)])
@pytest.mark.parametrize("service", ["submission", "submissions"])
def test_submission_uses_its_own_cleanup_only_when_hiding(
    tmp_path: Path, service: str, hide: bool, expected: str | None
) -> None:
    settings = dataclasses.replace(SETTINGS.postfix, hide_submission_client=hide)
    (tmp_path / "main.cf").write_text(render("postfix/main.cf"))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    master = env.get_template("postfix/master.cf.j2").render(managed_header="#", settings=settings, tls=SETTINGS.tls)
    (tmp_path / "master.cf").write_text(master)
    result = subprocess.run(["postconf", "-c", str(tmp_path), "-P"], capture_output=True, text=True, check=True)
    options = {k: v.strip() for k, _, v in (line.partition(" =") for line in result.stdout.splitlines())}
    assert options.get(f"{service}/inet/cleanup_service_name") == expected


@pytest.mark.parametrize("service", ["submission", "submissions"])
def test_submission_adds_missing_headers_for_authenticated_users(tmp_path: Path, service: str) -> None:
    (tmp_path / "main.cf").write_text(render("postfix/main.cf"))
    (tmp_path / "master.cf").write_text(render("postfix/master.cf"))
    result = subprocess.run(["postconf", "-c", str(tmp_path), "-P"], capture_output=True, text=True, check=True)
    assert f"{service}/inet/local_header_rewrite_clients = permit_sasl_authenticated" in result.stdout.splitlines()
