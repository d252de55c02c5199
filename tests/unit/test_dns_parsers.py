"""Issue 5: the SPF, DMARC, DKIM, MTA-STS and TLS-RPT parsers on random input raise only their own error."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailforge.dns import dkim, dmarc, spf_syntax, sts

# Text that looks like the records often enough to reach deep into the parsers.
PIECES = st.sampled_from(
    [
        "v=spf1",
        "v=DMARC1",
        "v=DKIM1",
        "v=STSv1",
        "v=TLSRPTv1",
        " ",
        ";",
        "=",
        ":",
        "/",
        "%{",
        "}",
        "%%",
        "ip4:",
        "ip6:",
        "a",
        "mx",
        "include:",
        "redirect=",
        "exp=",
        "all",
        "-",
        "+",
        "~",
        "?",
        "p=",
        "rua=",
        "mailto:",
        "@",
        "k=rsa",
        "t=y",
        "id=",
        "1.2.3.4",
        "::1",
        "/33",
        "//64",
        "example.org",
        ".",
        "\x00",
        "\xff",
        "pct=",
        "0",
    ]
)
RECORDS = st.one_of(st.text(), st.lists(PIECES, max_size=30).map("".join))


@settings(max_examples=400, deadline=None)
@given(RECORDS)
def test_spf_parser_raises_only_its_error(text: str) -> None:
    with contextlib.suppress(spf_syntax.SpfSyntaxError):
        spf_syntax.parse(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_spf_parser_on_raw_bytes(raw: bytes) -> None:
    with contextlib.suppress(spf_syntax.SpfSyntaxError):
        spf_syntax.parse(b"v=spf1 " + raw)


@settings(max_examples=400, deadline=None)
@given(RECORDS)
def test_dmarc_parser_raises_only_its_error(text: str) -> None:
    with contextlib.suppress(dmarc.DmarcError):
        dmarc.parse(text)


@settings(max_examples=400, deadline=None)
@given(RECORDS)
def test_dkim_parser_raises_only_its_error(text: str) -> None:
    with contextlib.suppress(dkim.DkimError):
        dkim.parse(text)


@settings(max_examples=200, deadline=None)
@given(RECORDS)
def test_mta_sts_parser_raises_only_its_error(text: str) -> None:
    with contextlib.suppress(sts.StsError):
        sts.parse_sts(text)


@settings(max_examples=200, deadline=None)
@given(RECORDS)
def test_tlsrpt_parser_raises_only_its_error(text: str) -> None:
    with contextlib.suppress(sts.StsError):
        sts.parse_tlsrpt(text)


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 -all",
        "v=spf1 mx a:mail.example.org/24//64 ip6:2001:db8::/32 include:_spf.example.org ~all",
        "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
        "V=SPF1 redirect=_spf.example.org",
        "v=spf1 ",
    ],
)
def test_spf_valid(record: str) -> None:
    spf_syntax.parse(record)


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:1.2.3.4/33",
        "v=spf1 a:museum",
        "v=spf1 -all.",
        "v=spf1 exp=%{r}.example.org",
        "v=spf10",
        "v=spf1 redirect=a.example.org redirect=b.example.org",
        "v=spf1 ip4:010.1.1.1",
        "v=spf1 include:%{z}.x.org",
    ],
)
def test_spf_invalid(record: str) -> None:
    with pytest.raises(spf_syntax.SpfSyntaxError):
        spf_syntax.parse(record)


@pytest.mark.parametrize(
    "record",
    [
        "v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=s; aspf=r; pct=100; fo=0:1:d:s; "
        "rua=mailto:a@example.org,mailto:b@example.net!10m; ruf=mailto:f@example.org; ri=86400; rf=afrf"
    ],
)
def test_dmarc_valid(record: str) -> None:
    assert dmarc.parse(record).policy == "quarantine"


@pytest.mark.parametrize(
    "record",
    [
        "v=DMARC1",
        "v=DMARC1; p=block",
        "v=DMARC1; rua=mailto:a@example.org; p=none",
        "v=DMARC1; p=none; pct=101",
        "v=DMARC1; p=none; adkim=x",
        "v=DMARC1; p=none; fo=2",
        "v=DMARC1; p=none; p=reject",
        "v=DMARC2; p=none",
    ],
)
def test_dmarc_invalid(record: str) -> None:
    with pytest.raises(dmarc.DmarcError):
        dmarc.parse(record)


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("v=DKIM1; k=dsa; p=AAAA", dkim.DkimError),
        ("k=rsa; v=DKIM1; p=", dkim.DkimError),
        ("v=DKIM1; p=!!!!", dkim.DkimKeyError),
        ("v=DKIM1; k=ed25519; p=AAAA", dkim.DkimKeyError),
    ],
)
def test_dkim_invalid(record: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        dkim.parse(record)


def test_dkim_revoked() -> None:
    assert dkim.parse("v=DKIM1; k=rsa; p=").revoked


@pytest.mark.parametrize(
    ("record", "valid"),
    [
        ("v=STSv1; id=20240101T000000", True),
        ("v=STSv1; id=", False),
        ("id=abc; v=STSv1", False),
        ("v=STSv1; id=" + "a" * 33, False),
    ],
)
def test_mta_sts_id(record: str, valid: bool) -> None:
    if valid:
        sts.parse_sts(record)
    else:
        with pytest.raises(sts.StsError):
            sts.parse_sts(record)
