"""Issue 8 (security): firewall and fail2ban settings are validated; the rendered nftables ruleset is accepted by
nft and replaces only its own table (checked in a throwaway network namespace); the jails read as intended."""

from __future__ import annotations

import configparser
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2
import pytest

from deploys.fail2ban import BANNED_PORTS, jail_context
from deploys.firewall import port_rules
from deploys.templating import TEMPLATES, header
from mailforge import releases
from mailforge.settings import FIREWALL_PORTS, SettingsError, load_settings


def data(**extra: Any) -> dict[str, Any]:
    return {"mail_hostname": "mail.example.org", "mail_domains": [{"domain": "example.org"}], **extra}


def load(**extra: Any):
    return load_settings(data(**extra), environ={})


def render(name: str, component: str, **context: Any) -> str:
    """A template exactly as the deploy renders it (deploys/templating.py), with the context it passes."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    return env.get_template(f"{name}.j2").render(managed_header=header(component), **context)


# --- settings -------------------------------------------------------------------------------------


def test_firewall_and_fail2ban_are_on_with_documented_defaults() -> None:
    settings = load()
    assert settings.firewall.enabled
    assert settings.firewall.ports == (22, 25, 80, 143, 443, 465, 587, 993)
    assert (settings.fail2ban.maxretry, settings.fail2ban.findtime, settings.fail2ban.bantime) == (5, 600, 3600)
    assert settings.fail2ban.ignoreip == ()


def test_extra_ports_join_the_always_open_ones_once() -> None:
    assert load(firewall_extra_ports=[8443, 25, 8443, 4190]).firewall.ports == (
        22, 25, 80, 143, 443, 465, 587, 993, 4190, 8443,
    )  # fmt: skip


def test_ignoreip_takes_addresses_and_networks() -> None:
    ignored = load(fail2ban_ignoreip=["192.0.2.10", "198.51.100.7/24", "2001:db8::/48"]).fail2ban.ignoreip
    assert ignored == ("192.0.2.10", "198.51.100.0/24", "2001:db8::/48")


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("firewall_extra_ports", [0], "firewall_extra_ports[0]"),
        ("firewall_extra_ports", [8443, 65536], "firewall_extra_ports[1]"),
        ("firewall_extra_ports", ["8443"], "firewall_extra_ports[0]"),
        ("firewall_extra_ports", [True], "firewall_extra_ports[0]"),
        ("firewall_extra_ports", 8443, "firewall_extra_ports"),
        ("firewall_enabled", "yes", "firewall_enabled"),
        ("fail2ban_maxretry", 0, "fail2ban_maxretry"),
        ("fail2ban_findtime", "10m", "fail2ban_findtime"),
        ("fail2ban_bantime", -1, "fail2ban_bantime"),
        ("fail2ban_ignoreip", ["office"], "fail2ban_ignoreip[0]"),
        ("fail2ban_ignoreip", ["192.0.2.300"], "fail2ban_ignoreip[0]"),
        ("fail2ban_ignoreip", "192.0.2.10", "fail2ban_ignoreip"),
    ],
)
def test_bad_value_is_named_with_a_fix(key: str, value: Any, named: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(**{key: value})
    problems = {p.key: p for p in err.value.problems}
    assert named in problems, err.value
    assert problems[named].fix


# --- the nftables ruleset -------------------------------------------------------------------------

SETTINGS = load(firewall_extra_ports=[8443])


def ruleset(tmp_path: Path) -> Path:
    rules = render("nftables.d/mailforge.nft", "firewall", ports=port_rules(SETTINGS.firewall))
    path = tmp_path / "mailforge.nft"
    path.write_text(rules)
    return path


def netns(script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root of a new, empty user and network namespace: nothing on this machine is touched."""
    return subprocess.run(["unshare", "--net", "--map-root-user", "sh", "-ec", script], capture_output=True, text=True)


def test_nft_accepts_the_ruleset(tmp_path: Path) -> None:
    checked = netns(f"nft -c -f {ruleset(tmp_path)}")
    assert checked.returncode == 0, checked.stderr


def test_ruleset_opens_exactly_the_listed_ports(tmp_path: Path) -> None:
    opened = re.findall(r"tcp dport (\d+) accept", ruleset(tmp_path).read_text())
    assert [int(p) for p in opened] == [*sorted(FIREWALL_PORTS), 8443]


def test_ruleset_drops_the_rest(tmp_path: Path) -> None:
    assert "type filter hook input priority filter; policy drop;" in ruleset(tmp_path).read_text()


@pytest.mark.parametrize("name", ["nftables.conf", "nftables.d/mailforge.nft"])
def test_no_file_flushes_the_whole_ruleset(name: str) -> None:
    rendered = render(name, "firewall", ports=port_rules(SETTINGS.firewall))
    assert "flush ruleset" not in re.sub(r"#.*", "", rendered)


def test_reapplying_replaces_only_our_table(tmp_path: Path) -> None:
    # fail2ban's table with a ban in it, then our file twice: one copy of our rules, the ban untouched.
    loaded = netns(
        "nft add table inet f2b-table\n"
        "nft add set inet f2b-table addr-set-dovecot '{ type ipv4_addr; }'\n"
        "nft add element inet f2b-table addr-set-dovecot '{ 192.0.2.7 }'\n"
        f"nft -f {ruleset(tmp_path)}\n"
        f"nft -f {ruleset(tmp_path)}\n"
        "nft list ruleset\n"
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "elements = { 192.0.2.7 }" in loaded.stdout
    assert loaded.stdout.count("table inet mailforge_filter") == 1
    assert loaded.stdout.count("tcp dport 25 accept") == 1


# --- fail2ban -------------------------------------------------------------------------------------


def jails(webmail: str = "roundcube", release: str = "bookworm", **extra: Any) -> configparser.ConfigParser:
    settings = load(**extra)
    context = jail_context(settings.fail2ban, replace(settings.web, webmail=webmail), releases.by_codename(release))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render("fail2ban/jail.d/mailforge.local", "fail2ban", **context))
    return parser


@pytest.mark.parametrize("jail", ["postfix-sasl", "dovecot", "postfixadmin-auth", "roundcube-auth"])
def test_mail_and_web_jails_are_enabled(jail: str) -> None:
    assert jails().getboolean(jail, "enabled")


def test_no_roundcube_jail_without_roundcube() -> None:
    assert not jails("snappymail").has_section("roundcube-auth")


@pytest.mark.parametrize("jail", ["postfix-sasl", "dovecot", "postfixadmin-auth", "roundcube-auth"])
def test_a_mail_jail_bans_from_every_mail_and_web_port_but_ssh(jail: str) -> None:
    ports = jails().get(jail, "port").split(",")
    assert ports == [str(p) for p in BANNED_PORTS]
    assert "22" not in ports


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
@pytest.mark.parametrize("jail", ["dovecot", "sshd"])
def test_journal_only_daemons_are_read_from_the_journal(jail: str, release: str) -> None:
    assert jails(release=release).get(jail, "backend") == "systemd"


# Debian 12's fail2ban reads a jail's logpath by default (auto); Debian 13's paths-debian.conf makes Postfix's jails
# read the journal, where Postfix (maillog_file) writes nothing: there the jail names the backend for its file.
@pytest.mark.parametrize(("release", "backend"), [("bookworm", None), ("trixie", "auto")])
def test_postfix_sasl_jail_reads_postfixs_own_log_file(release: str, backend: str | None) -> None:
    jail = jails(release=release)["postfix-sasl"]
    assert (jail["logpath"], jail.get("backend")) == ("/var/log/mail.log", backend)


def test_settings_reach_the_jails() -> None:
    default = jails(fail2ban_maxretry=3, fail2ban_findtime=60, fail2ban_bantime=86400,
                    fail2ban_ignoreip=["192.0.2.10"])["DEFAULT"]  # fmt: skip
    assert (default["maxretry"], default["findtime"], default["bantime"]) == ("3", "60", "86400")
    assert default["ignoreip"].split() == ["127.0.0.1/8", "::1", "192.0.2.10"]
    assert default["banaction"] == "nftables-multiport"
