"""Issue 14: the webmail saves drafts, sent, junk, deleted and archived mail in the special-use folders
Dovecot creates for every mailbox (rendered templates; the IMAP proof is in tests/e2e/test_mail_core.py)."""

from __future__ import annotations

import re

import pytest

from tests.unit.test_templates import render

ROLES = ["drafts", "sent", "junk", "trash", "archive"]
# Dovecot's template trees (mailforge/releases.py): the same folders under 2.3 and 2.4.
TREES = ["2.3", "2.4"]


def dovecot_folders(tree: str = "2.3") -> dict[str, str]:
    """Role -> folder name, from the rendered 15-mailboxes.conf: `mailbox Sent { special_use = \\Sent ...`."""
    conf = render(f"dovecot/{tree}/conf.d/15-mailboxes.conf")
    found = re.findall(r"mailbox (\S+) \{\s*special_use = \\(\w+)", conf)
    return {flag.lower(): name for name, flag in found}


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("role", ROLES)
def test_dovecot_creates_and_subscribes_the_folder(role: str, tree: str) -> None:
    conf = render(f"dovecot/{tree}/conf.d/15-mailboxes.conf")
    name = dovecot_folders(tree)[role]
    assert re.search(rf"mailbox {name} \{{\s*special_use = \\\w+\s*auto = subscribe\s*\}}", conf)


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("role", ROLES)
def test_roundcube_uses_dovecots_folder(role: str, tree: str) -> None:
    assert f"$config['{role}_mbox'] = '{dovecot_folders(tree)[role]}';" in render("roundcube/mailforge.inc.php")
