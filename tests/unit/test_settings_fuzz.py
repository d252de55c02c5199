"""Issue 8: fuzzing the settings model with random inventories.

Whatever an inventory holds (wrong types, wrong shapes, missing keys, unicode, huge numbers), load_settings
either returns Settings or raises SettingsError whose problems each name an inventory key; nothing else
ever escapes (no TypeError, AttributeError, KeyError...). An inventory made invalid at one known place is
refused with that place's key, and inventories generated valid load with their values intact.

That a refused inventory stops `pyinfra` before any host is touched is proven end to end in
tests/e2e/test_mail_core.py (test_bad_settings_stop_before_the_host_is_touched).
"""

from __future__ import annotations

import copy
import re
import zoneinfo
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailforge.settings import KEYS as SETTINGS_KEYS
from mailforge.settings import Settings, SettingsError, load_settings

STRONG = "Correct-Horse-42-battery"
ENVIRON = {"ALICE_PW": STRONG, "WEAK_PW": "short", "RELAY_PW": "relay-secret"}
# Every settings key: those with a default and the required ones (mailforge/settings/load.py).
KEYS = sorted(SETTINGS_KEYS)
ENTRY_KEYS = ("domain", "mailboxes", "aliases", "alias_domains", "catch_all", "description")
ITEM_KEYS = ("address", "name", "quota_mb", "password_env", "password", "goto")
EXAMPLES = (
    "",
    "example.org",
    "mail.example.org",
    "alice@example.org",
    "@example.org",
    "UTC",
    "ALICE_PW",
    "WEAK_PW",
    "192.0.2.1",
    "2001:db8::1",
    "certbot",
    "rainloop",
    "https://example.org/a.tar.gz",
)
RUNS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Per broken key (there are dozens): fewer examples each, hundreds in all.
RUNS_PER_KEY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(data: dict[str, Any]) -> Settings:
    return load_settings(data, host="fuzz", environ=ENVIRON)


# --- junk: anything an inventory file could hold ----------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**31),  # beyond what the daemons read into a C int
    st.integers(max_value=-1),
    st.floats(),
    st.text(max_size=30),
    st.binary(max_size=10),
    st.sampled_from(EXAMPLES),
)
hashables = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.sampled_from(EXAMPLES))
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(hashables, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(ENTRY_KEYS + ITEM_KEYS), hashables), inner, max_size=4),
    ),
    max_leaves=12,
)


def check_refusal(err: SettingsError, data: dict[str, Any]) -> None:
    """Each problem names a key of the inventory (its root is a key the settings read) and says why."""
    assert err.problems
    for problem in err.problems:
        root = re.split(r"[\[. ]", problem.key, maxsplit=1)[0]
        assert root in KEYS, problem
        assert problem.message and problem.fix, problem
        assert problem.key in str(err)


def outcome(data: dict[str, Any]) -> None:
    try:
        load(data)
    except SettingsError as err:
        check_refusal(err, data)


@RUNS
@given(st.dictionaries(st.sampled_from(KEYS), junk, max_size=8))
def test_random_inventory_is_loaded_or_refused_with_a_key(data: dict[str, Any]) -> None:
    outcome(data)


# --- valid inventories, generated ------------------------------------------------------------------

# Built from alphabets rather than st.from_regex: the same shapes, several times faster to draw.
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_word = st.text(ALNUM, min_size=1, max_size=6)
label = st.one_of(_word, st.builds(lambda a, b: f"{a}-{b}", _word, _word))
_atom = st.text(ALNUM + "!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=8)
local_part = st.one_of(_atom, st.builds(lambda a, b: f"{a}.{b}", _atom, _word))
TIMEZONES = sorted(zoneinfo.available_timezones())


@st.composite
def fqdns(draw: st.DrawFn) -> str:
    labels = draw(st.lists(label, min_size=1, max_size=3))
    return ".".join([*labels, draw(st.sampled_from(["example", "test", "org", "net"]))])


@st.composite
def valid_inventories(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(fqdns(), min_size=2, max_size=6, unique=True))
    hostname = "mail." + names[0]
    assume(hostname not in names)  # mydestination holds $myhostname: the host name is never a mail domain
    domain_names, alias_domain_names = names[1:2] + names[3:4], names[2:3] + names[4:]
    domains = []
    for i, domain in enumerate(domain_names):
        locals_ = draw(st.lists(local_part, min_size=1, max_size=4, unique=True))
        boxes, alias_locals = locals_[: max(1, len(locals_) // 2)], locals_[max(1, len(locals_) // 2) :]
        mailboxes: list[dict[str, Any]] = [
            {
                "address": f"{lp}@{domain}",
                "name": draw(st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=20)),
                "quota_mb": draw(st.integers(min_value=0, max_value=2**40)),
            }
            for lp in boxes
        ]
        if i == 0 and draw(st.booleans()):
            mailboxes[0]["password_env"] = "ALICE_PW"
        targets = [m["address"] for m in mailboxes]
        entry: dict[str, Any] = {
            "domain": draw(st.sampled_from([domain, domain.upper(), domain + "."])),
            "mailboxes": mailboxes,
            "aliases": [
                {"address": f"{lp}@{domain}", "goto": draw(st.lists(st.sampled_from(targets), min_size=1))}
                for lp in alias_locals
            ],
        }
        if i == 0:
            entry["alias_domains"] = alias_domain_names
        if draw(st.booleans()):
            entry["catch_all"] = targets[0]
        domains.append(entry)
    data: dict[str, Any] = {"mail_hostname": hostname, "mail_domains": domains}
    optional = {
        "mail_timezone": st.sampled_from(TIMEZONES),
        "postfix_message_size_limit": st.integers(min_value=1_000_000, max_value=2**31 - 1),
        "dkim_selector": label,
        "dkim_key_bits": st.sampled_from([1024, 2048, 4096]),
        "dovecot_vmail_uid": st.integers(min_value=1000, max_value=60000),
        "mail_ipv4": st.lists(st.ip_addresses(v=4).map(str), max_size=2),
        "mail_ipv6": st.lists(st.ip_addresses(v=6).map(str), max_size=2),
        "dns_dmarc_policy": st.sampled_from(["none", "quarantine", "reject"]),
        "mail_dns_preflight": st.sampled_from(["off", "warn", "enforce"]),
        "postfix_outbound_tls": st.sampled_from(["may", "dane"]),
        "webmail": st.sampled_from(["roundcube", "none"]),
        "postfixadmin_password_scheme": st.sampled_from(["ARGON2I", "ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT"]),
        "dns_preflight_nameservers": st.lists(
            st.tuples(st.ip_addresses(v=4), st.integers(1, 65535)).map(lambda t: f"{t[0]}:{t[1]}"), max_size=2
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return data


@RUNS
@given(valid_inventories())
def test_generated_valid_inventory_loads(data: dict[str, Any]) -> None:
    settings_ = load(data)
    declared = [m["address"] for d in data["mail_domains"] for m in d["mailboxes"]]
    assert [m.address for m in settings_.mailboxes] == declared
    assert settings_.base.hostname == data["mail_hostname"]
    assert [d.domain for d in settings_.domains] == [d["domain"].lower().rstrip(".") for d in data["mail_domains"]]


# --- one thing broken on purpose: refused, naming that key -----------------------------------------


@st.composite
def bad_names(draw: st.DrawFn) -> str:
    """A name that is no FQDN, by construction: one bad character, a bad label, or a single label."""
    name = draw(fqdns())
    kind = draw(st.sampled_from(["char", "empty-label", "hyphen", "long-label", "single", "trailing-newline"]))
    if kind == "char":
        bad = draw(st.sampled_from([" ", "_", "@", "/", "\n", "\t", ";", "é", "\u200b", "*", "\x00", ":"]))
        at = draw(st.integers(0, len(name)))
        return name[:at] + bad + name[at:]
    if kind == "empty-label":
        return name.replace(".", "..", 1)
    if kind == "hyphen":
        return "-" + name
    if kind == "long-label":
        return "a" * 64 + "." + name
    if kind == "single":
        return draw(label)
    return name + "\n"


@st.composite
def bad_labels(draw: st.DrawFn) -> str:
    """A string that is no DNS label (the DKIM selector): a bad character, a leading hyphen, or too long."""
    name = draw(label)
    kind = draw(st.sampled_from(["char", "hyphen", "long"]))
    if kind == "char":
        at = draw(st.integers(0, len(name)))
        return name[:at] + draw(st.sampled_from([" ", "_", ".", "/", "\n", "é", "\x00"])) + name[at:]
    return "-" + name if kind == "hyphen" else "a" * 64


@st.composite
def bad_addresses(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["no-at", "two-at", "bad-domain", "bad-local", "not-a-string", "newline"]))
    lp = draw(local_part)
    if kind == "no-at":
        return lp + ".example.org"
    if kind == "two-at":
        return f"{lp}@@example.org"
    if kind == "bad-domain":
        return f"{lp}@{draw(bad_names())}"
    if kind == "bad-local":
        return lp + draw(st.sampled_from([" ", "..", "(", "\\", "\n", "ü"])) + "x@example.org"
    if kind == "newline":
        return f"{lp}@example.org\n"
    return draw(st.one_of(st.integers(), st.lists(st.just(lp), min_size=1), st.floats(), st.binary(min_size=1)))


bad_integers = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=2**63),  # beyond any counter the daemons or MariaDB keep
    st.booleans(),
    st.floats(),
    st.text(min_size=1, max_size=8),
    st.lists(st.integers(), min_size=1),
)
not_strings = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.binary(min_size=1), st.lists(st.text(), min_size=1)
)
not_lists = st.one_of(st.integers(), st.floats(min_value=1), st.text(min_size=1), st.booleans().filter(bool))
# (where in a valid inventory, the value put there, the key the refusal must name)
BREAKS: list[tuple[str, Any, str]] = [
    ("mail_hostname", bad_names(), "mail_hostname"),
    ("mail_hostname", not_strings, "mail_hostname"),
    ("mail_domains.0.domain", bad_names(), "mail_domains[0].domain"),
    ("mail_domains.0.mailboxes.0.address", bad_addresses(), "mail_domains[0].mailboxes[0].address"),
    ("mail_domains.0.mailboxes.0.quota_mb", bad_integers, "mail_domains[0].mailboxes[0].quota_mb"),
    ("mail_domains.0.mailboxes.0.name", not_strings, "mail_domains[0].mailboxes[0].name"),
    ("mail_domains.0.mailboxes", not_lists, "mail_domains[0].mailboxes"),
    ("mail_domains.0.mailboxes.0", not_lists, "mail_domains[0].mailboxes[0]"),
    ("mail_domains.0", not_lists, "mail_domains[0]"),
    ("mail_domains", not_lists, "mail_domains"),
    ("mail_domains.0.catch_all", bad_addresses(), "mail_domains[0].catch_all"),
    ("mail_domains.0.alias_domains", not_lists, "mail_domains[0].alias_domains"),
    ("mail_domains.0.description", not_strings, "mail_domains[0].description"),
    ("mail_timezone", st.text(min_size=1).filter(lambda t: t not in TIMEZONES), "mail_timezone"),
    ("postfix_message_size_limit", bad_integers, "postfix_message_size_limit"),
    ("dkim_key_bits", bad_integers, "dkim_key_bits"),
    ("dkim_selector", bad_labels(), "dkim_selector"),
    ("dovecot_vmail_uid", bad_integers, "dovecot_vmail_uid"),
    ("dovecot_vmail_gid", bad_integers, "dovecot_vmail_gid"),
    ("dovecot_mail_root", not_strings, "dovecot_mail_root"),
    (
        "dovecot_mail_root",
        st.sampled_from(["var/vmail", "/var/v mail", "/var/vmail\n", "/", "~/mail"]),
        "dovecot_mail_root",
    ),
    ("nginx_php_fpm_max_children", bad_integers, "nginx_php_fpm_max_children"),
    ("mail_ipv4", st.lists(st.ip_addresses(v=6).map(str), min_size=1, max_size=1), "mail_ipv4[0]"),
    ("mail_ipv4", not_lists, "mail_ipv4"),
    (
        "mail_ipv6",
        st.lists(st.sampled_from(["192.0.2.1", "2001:db8::g", "", "::1\n", "fe80::1%"]), min_size=1, max_size=1),
        "mail_ipv6[0]",
    ),
    ("dns_dmarc_rua", st.lists(bad_addresses(), min_size=1, max_size=1), "dns_dmarc_rua[0]"),
    ("dns_caa_issuers", st.lists(bad_names(), min_size=1, max_size=1), "dns_caa_issuers[0]"),
    (
        "dns_preflight_nameservers",
        st.sampled_from(
            [["192.0.2.1:0"], ["192.0.2.1:65536"], ["x:53"], ["192.0.2.1:-1"], ["192.0.2.1:99999999999999999999"]]
        ),
        "dns_preflight_nameservers[0]",
    ),
    ("postfix_mydestination", st.lists(not_strings, min_size=1, max_size=1), "postfix_mydestination"),
    ("postfix_transport_maps", not_lists, "postfix_transport_maps"),
    ("postfix_transport_maps", st.builds(lambda n: {n: "smtp:[192.0.2.1]:25"}, bad_names()), "postfix_transport_maps"),
    (
        "postfix_transport_maps",
        st.builds(
            lambda v: {"example.net": v},
            st.one_of(not_strings, st.sampled_from(["smtp [192.0.2.1]", "smtp:x\nexample.org error:", "[192.0.2.1]"])),
        ),
        "postfix_transport_maps",
    ),
    ("postfix_outbound_tls", st.text(min_size=1).filter(lambda t: t not in ("may", "dane")), "postfix_outbound_tls"),
    (
        "webmail",
        st.text(min_size=1).filter(lambda t: t not in ("roundcube", "rainloop", "snappymail", "none")),
        "webmail",
    ),
    ("tls_mode", not_strings, "tls_mode"),
    ("postfixadmin_superadmin", bad_addresses(), "postfixadmin_superadmin"),
    ("postfixadmin_hostname", bad_names(), "postfixadmin_hostname"),
]


def broken(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return data


@RUNS_PER_KEY
@pytest.mark.parametrize(("path", "values", "key"), BREAKS, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(BREAKS)])
@given(data=st.data())
def test_one_bad_value_is_refused_naming_its_key(path: str, values: Any, key: str, data: st.DataObject) -> None:
    inventory = broken(data.draw(valid_inventories()), path, data.draw(values))
    with pytest.raises(SettingsError) as err:
        load(inventory)
    check_refusal(err.value, inventory)
    keys = [p.key for p in err.value.problems]
    assert any(k == key or k.startswith(key + ".") or k.startswith(key + "[") for k in keys), keys


@RUNS
@given(valid_inventories(), st.data())
def test_valid_inventory_with_junk_anywhere_is_loaded_or_refused(
    inventory: dict[str, Any], data: st.DataObject
) -> None:
    """One node anywhere in a valid inventory (top level or nested) replaced by junk."""
    paths: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for k, child in items:
            path = f"{prefix}.{k}" if prefix else str(k)
            paths.append(path)
            walk(child, path)

    walk(inventory, "")
    assume(paths)
    outcome(broken(inventory, data.draw(st.sampled_from(paths)), data.draw(junk)))


# Not drawn by hypothesis, which cannot print it either: str() refuses ints of more than 4300 digits, yet
# the refusal must still name the key (its message shows the value shortened).
HUGE = 10**5000
BASE = {
    "mail_hostname": "mail.example.org",
    "mail_domains": [{"domain": "example.org", "mailboxes": [{"address": "a@example.org"}]}],
}


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ("mail_hostname", HUGE, "mail_hostname"),
        ("mail_domains.0.mailboxes.0.quota_mb", HUGE, "mail_domains[0].mailboxes[0].quota_mb"),
        ("mail_domains.0.mailboxes.0.password_env", HUGE, "mail_domains[0].mailboxes[0].password_env"),
        ("dkim_key_bits", HUGE, "dkim_key_bits"),
        ("mail_ipv4", [HUGE], "mail_ipv4[0]"),
        ("dns_preflight_nameservers", [HUGE], "dns_preflight_nameservers[0]"),
        ("postfix_mydestination", [HUGE], "postfix_mydestination"),
        ("postfix_transport_maps", {HUGE: "smtp:[192.0.2.1]:25"}, "postfix_transport_maps[<int too large"),
        ("postfix_transport_maps", {"example.net": HUGE}, "postfix_transport_maps['example.net']"),
        ("postfix_relay_host", HUGE, "postfix_relay_host"),
    ],
    ids=lambda v: v if isinstance(v, str) else "value",
)
def test_number_too_long_to_print_is_refused_naming_its_key(path: str, value: Any, key: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(broken(BASE, path, value))
    assert any(p.key.startswith(key) for p in err.value.problems), err.value.problems
