"""Zones to publish are kept per inventory host: build/dns/<host>/<domain>.zone (mailforge.dns.zonefiles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailforge.dns.generate import domain_records, to_zone
from mailforge.dns.inputs import DomainDnsInputs, MailDnsInputs
from mailforge.dns.zonefiles import host_dir, write_host_zones, zone_path


def inputs(hostname: str, address: str, *domains: str) -> MailDnsInputs:
    return MailDnsInputs(domains=tuple(DomainDnsInputs(domain=d, hostname=hostname, ipv4=(address,)) for d in domains))


MAIL_A = inputs("mail-a.example.test", "10.213.1.2", "example.test")
MAIL_B = inputs("mail-b.example.test", "10.213.2.2", "example.test")


@pytest.mark.parametrize(
    ("host", "domain", "expected"),
    [
        ("demo", "example.test", "demo/example.test.zone"),
        ("demo", "Example.TEST.", "demo/example.test.zone"),
        ("mail.example.org", "example.org", "mail.example.org/example.org.zone"),
        ("@vagrant/mailforge", "example.test", "@vagrant%2Fmailforge/example.test.zone"),
    ],
)
def test_zone_path_is_one_directory_per_host(tmp_path: Path, host: str, domain: str, expected: str) -> None:
    assert zone_path(host, domain, tmp_path) == tmp_path / expected


@pytest.mark.parametrize("host", ["", ".", ".."])
def test_a_host_name_that_is_no_directory_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="cannot name a directory"):
        host_dir(host, tmp_path)


def test_writes_what_zone_path_names(tmp_path: Path) -> None:
    assert write_host_zones(MAIL_A, "mail-a", tmp_path).written == [zone_path("mail-a", "example.test", tmp_path)]


@pytest.mark.parametrize(("host", "settings"), [("mail-a", MAIL_A), ("mail-b", MAIL_B)])
def test_two_hosts_of_one_domain_keep_their_own_zone(tmp_path: Path, host: str, settings: MailDnsInputs) -> None:
    write_host_zones(MAIL_A, "mail-a", tmp_path)
    write_host_zones(MAIL_B, "mail-b", tmp_path)
    [domain] = settings.domains
    assert zone_path(host, "example.test", tmp_path).read_text() == to_zone(domain, domain_records(domain))


def test_a_domain_the_host_no_longer_serves_loses_its_zone(tmp_path: Path) -> None:
    write_host_zones(inputs("mail-a.example.test", "10.213.1.2", "example.test", "example.org"), "mail-a", tmp_path)
    removed = write_host_zones(MAIL_A, "mail-a", tmp_path).removed
    assert (removed, zone_path("mail-a", "example.org", tmp_path).exists()) == (
        [zone_path("mail-a", "example.org", tmp_path)],
        False,
    )


def test_another_hosts_zones_are_left_alone(tmp_path: Path) -> None:
    write_host_zones(inputs("mail-b.example.test", "10.213.2.2", "example.org"), "mail-b", tmp_path)
    write_host_zones(MAIL_A, "mail-a", tmp_path)
    assert zone_path("mail-b", "example.org", tmp_path).exists()


def test_a_zone_of_the_old_per_domain_layout_is_removed(tmp_path: Path) -> None:
    (tmp_path / "example.test.zone").write_text("; whichever host deployed last\n")
    assert write_host_zones(MAIL_A, "mail-a", tmp_path).removed == [tmp_path / "example.test.zone"]


def test_no_partial_file_is_left_beside_the_zone(tmp_path: Path) -> None:
    write_host_zones(MAIL_A, "mail-a", tmp_path)
    assert sorted(p.name for p in host_dir("mail-a", tmp_path).iterdir()) == ["example.test.zone"]
