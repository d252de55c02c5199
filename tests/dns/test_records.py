"""Issue 5: `dns records` output: BIND fragment clean for named-checkzone, TXT split at 255 bytes, JSON,
table, zone files written for the deploy."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mailforge.dns.generate import domain_records, records, to_json, to_table, to_zone, txt_value, write_zone_files
from mailforge.dns.inputs import DomainDnsInputs

from .lab import Keys, soa, spki_b64

KEYS = Keys()
INPUTS = DomainDnsInputs(
    domain="example.test",
    hostname="mail.example.test",
    ipv4=("10.213.7.1",),
    ipv6=("2001:db8:213::7",),
    dkim_public_key=spki_b64(KEYS.main.public_key()),
    dmarc_rua=("dmarc@reports.example.org",),
    relay_spf_include="_spf.relay.example.test",
    caa_issuers=("letsencrypt.org",),
)


def _checkzone(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("named-checkzone") is None:
        pytest.fail("named-checkzone is missing: run scripts/bootstrap.sh (apt-packages.txt lists bind9-utils)")
    origin = "example.test."
    header = soa(origin) + f"{origin} 300 IN NS ns1.{origin}\n{origin} 300 IN NS ns2.{origin}\n"
    header += f"ns1.{origin} 300 IN A 10.213.7.53\nns2.{origin} 300 IN A 10.213.7.54\n"
    path = tmp_path / "example.test.zone"
    path.write_text(header + text)
    return subprocess.run(
        ["named-checkzone", "-k", "fail", "-m", "fail", "-M", "fail", "-n", "fail", "-S", "fail", origin, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_zone_fragment_passes_named_checkzone(tmp_path: Path) -> None:
    result = _checkzone(tmp_path, to_zone(INPUTS, domain_records(INPUTS)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_named_checkzone_catches_a_broken_fragment(tmp_path: Path) -> None:
    # The check above can fail: an MX pointing at a CNAME is refused with -M fail.
    broken = "example.test. 300 IN MX 10 alias.example.test.\nalias.example.test. 300 IN CNAME mail.example.test.\n"
    assert _checkzone(tmp_path, broken).returncode != 0


def test_dkim_txt_is_split_into_strings_of_at_most_255_bytes() -> None:
    dkim = next(r for r in domain_records(INPUTS) if r.name.startswith("mail._domainkey"))
    strings = [s.strip('"') for s in dkim.value.split('" "')]
    assert len(strings) > 1 and all(len(s) <= 255 for s in strings)


def test_txt_value_joined_is_the_input() -> None:
    text = "v=DKIM1; p=" + "A" * 600
    assert txt_value(text).replace('" "', "").strip('"') == text


def test_spf_includes_the_relay() -> None:
    spf = next(r for r in domain_records(INPUTS) if r.value.startswith('"v=spf1'))
    assert spf.value == '"v=spf1 mx include:_spf.relay.example.test -all"'


def test_external_dmarc_destination_gets_its_authorization_record() -> None:
    names = {(r.name, r.zone) for r in domain_records(INPUTS)}
    assert ("example.test._report._dmarc.reports.example.org.", "reports.example.org.") in names


@pytest.mark.parametrize(
    ("reverse", "zone"),
    [
        ("1.7.213.10.in-addr.arpa.", "7.213.10.in-addr.arpa."),
        (
            "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.1.2.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            "0.0.0.0.3.1.2.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        ),
    ],
)
def test_ptr_for_each_sending_ip_in_its_reverse_zone(reverse: str, zone: str) -> None:
    ptrs = {(r.name, r.value, r.zone) for r in domain_records(INPUTS) if r.rtype == "PTR"}
    assert (reverse, "mail.example.test.", zone) in ptrs


def test_foreign_records_are_comments_in_the_fragment() -> None:
    text = to_zone(INPUTS, domain_records(INPUTS))
    ptr_lines = [line for line in text.splitlines() if "\tPTR\t" in line]
    assert ptr_lines and all(line.startswith(";") for line in ptr_lines)


def test_json_lists_every_record() -> None:
    data = json.loads(to_json(INPUTS))
    assert len(data["example.test"]) == len(records(INPUTS)["example.test"])


def test_table_has_a_row_per_record() -> None:
    assert len(to_table(domain_records(INPUTS)).splitlines()) == len(domain_records(INPUTS)) + 1


def test_write_zone_files(tmp_path: Path) -> None:
    (path,) = write_zone_files(INPUTS, tmp_path / "zones")
    assert path.name == "example.test.zone" and path.read_text() == to_zone(INPUTS, domain_records(INPUTS))


def test_no_dkim_record_without_a_key() -> None:
    bare = DomainDnsInputs(domain="example.test", hostname="mail.example.test", ipv4=("10.213.7.1",))
    assert not [r for r in domain_records(bare) if "_domainkey" in r.name]


@pytest.mark.parametrize(
    "bad", [{"dmarc_policy": "block"}, {"ipv4": ("10.213.7.300",)}, {"mta_sts_mode": "on"}, {"dmarc_alignment": "x"}]
)
def test_inputs_reject_invalid_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DomainDnsInputs(domain="example.test", hostname="mail.example.test", **bad)  # type: ignore[arg-type]
