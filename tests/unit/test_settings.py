"""Issue 3: inventory data is validated once, every problem named with its key and fix, before any host."""

from __future__ import annotations

from typing import Any

import pytest

from mailforge.settings import SettingsError, load_settings

STRONG = "Correct-Horse-42-battery"


def valid() -> dict[str, Any]:
    return {
        "mail_hostname": "mail.example.org",
        "mail_domains": [
            {
                "domain": "example.org",
                "mailboxes": [
                    {"address": "alice@example.org", "quota_mb": 100, "password_env": "ALICE_PW"},
                    {"address": "bob@example.org"},
                ],
                "aliases": [{"address": "team@example.org", "goto": ["alice@example.org", "bob@example.org"]}],
                "alias_domains": ["example.net"],
                "catch_all": "alice@example.org",
            }
        ],
    }


def load(data: dict[str, Any], environ: dict[str, str] | None = None):
    return load_settings(data, host="mail", environ={"ALICE_PW": STRONG} if environ is None else environ)


def problems(data: dict[str, Any], environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SettingsError) as err:
        load(data, environ)
    return [p.key for p in err.value.problems]


def test_valid_data_loads() -> None:
    settings = load(valid())
    assert [m.address for m in settings.mailboxes] == ["alice@example.org", "bob@example.org"]
    assert settings.mailboxes[0].password == STRONG
    assert settings.mailboxes[1].password is None  # generated on the host
    assert ("@example.org", ("alice@example.org",)) in [(a.address, a.goto) for a in settings.domains[0].aliases]


def test_defaults_fill_component_keys() -> None:
    settings = load(valid())
    assert (settings.dovecot.vmail_uid, settings.postfix.mydestination) == (2000, ("$myhostname", "localhost"))


def _with(path: str, value: Any) -> dict[str, Any]:
    data = valid()
    target: Any = data
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is None:
        del target[int(last) if last.isdigit() else last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ("mail_hostname", None, "mail_hostname"),
        ("mail_hostname", "localhost", "mail_hostname"),
        ("mail_hostname", "bad_name.example.org", "mail_hostname"),
        ("mail_domains", [], "mail_domains"),
        ("mail_domains.0.domain", "example..org", "mail_domains[0].domain"),
        ("mail_domains.0.mailboxes.1.address", "bob@@example.org", "mail_domains[0].mailboxes[1].address"),
        ("mail_domains.0.mailboxes.1.address", "bob@example.com", "mail_domains[0].mailboxes[1].address"),
        ("mail_domains.0.mailboxes.1.quota_mb", -1, "mail_domains[0].mailboxes[1].quota_mb"),
        ("mail_domains.0.mailboxes.1.password", "hunter2", "mail_domains[0].mailboxes[1]"),
        ("mail_domains.0.mailboxes.1.password_env", "UNSET_VAR", "mail_domains[0].mailboxes[1].password_env"),
        ("mail_domains.0.aliases.0.goto", [], "mail_domains[0].aliases[0].goto"),
        ("mail_domains.0.aliases.0.goto", ["ghost@example.org"], "mail_domains[0] alias team@example.org"),
        ("mail_domains.0.alias_domains", ["example.org"], "mail_domains[0]"),
        ("mail_domains.0.catch_all", "not an address", "mail_domains[0].catch_all"),
        ("mail_timezone", "Mars/Olympus", "mail_timezone"),
        ("postfix_mydestination", ["localhost", "example.org"], "postfix_mydestination"),
        ("postfix_message_size_limit", "big", "postfix_message_size_limit"),
        ("mail_ipv4", ["2001:db8::1"], "mail_ipv4[0]"),
        ("mail_dns_preflight", "sometimes", "mail_dns_preflight"),
        ("dns_dmarc_policy", "maybe", "dns_dmarc_policy"),
        ("tls_mode", "magic", "tls_mode"),
        ("postfixadmin_password_scheme", "MD5", "postfixadmin_password_scheme"),
        ("postfix_hide_submission_client", "yes", "postfix_hide_submission_client"),
    ],
)
def test_bad_value_is_named_by_its_key(path: str, value: Any, key: str) -> None:
    assert key in problems(_with(path, value))


def test_duplicate_mailbox_is_refused() -> None:
    data = valid()
    data["mail_domains"][0]["mailboxes"].append({"address": "bob@example.org"})
    assert "mail_domains[0]" in problems(data)


@pytest.mark.parametrize("password", ["short-1A", "alllowercaseletters", "NoDigitsOrSymbolsHere"])
def test_weak_explicit_password_is_refused(password: str) -> None:
    assert "mail_domains[0].mailboxes[0].password_env" in problems(valid(), {"ALICE_PW": password})


def test_all_problems_are_reported_together() -> None:
    data = _with("mail_hostname", "localhost")
    data["mail_domains"][0]["mailboxes"][1]["quota_mb"] = -5
    data["mail_timezone"] = "Nowhere/City"
    assert len(problems(data)) == 3


def test_message_names_key_and_fix() -> None:
    with pytest.raises(SettingsError) as err:
        load(_with("mail_hostname", "localhost"))
    assert "mail_hostname: 'localhost' is not a fully qualified domain name; fix: use a name like" in str(err.value)
