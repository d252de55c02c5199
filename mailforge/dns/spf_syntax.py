"""SPF record syntax: the RFC 7208 section 12 grammar, checked in full before anything is evaluated.

RFC 7208 section 4.6: "if there are any syntax errors anywhere in the record, check_host() returns
immediately with the result permerror", so ``parse`` either returns a whole record or raises
``SpfSyntaxError``, and never anything else, whatever the input.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Mechanisms whose evaluation queries DNS: they count towards the limit of 10 (section 4.6.4).
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}

_MACRO = re.compile(r"%(?:\{(?P<letter>[A-Za-z])(?P<digits>[0-9]*)(?P<rev>[rR]?)(?P<delims>[.\-+,/_=]*)\}|%|_|-)")
_MODIFIER = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_.\-]*)=(?P<value>.*)$", re.S)
_MECHANISM = re.compile(r"^(?P<name>[A-Za-z0-9]*)(?P<rest>.*)$", re.S)
_DUAL_CIDR = re.compile(r"^(?P<domain>.*?)(?:/(?P<v4>[0-9]+))?(?://(?P<v6>[0-9]+))?$", re.S)
# toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
_TOPLABEL = re.compile(r"^(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])$")
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
_IP4 = re.compile(rf"^{_QNUM}\.{_QNUM}\.{_QNUM}\.{_QNUM}$")
_CIDR = re.compile(r"^(?:0|[1-9][0-9]*)$")

# Macro letters (section 7.2); c, r and t only in explanation strings.
DOMAIN_LETTERS = frozenset("slodiphv")
EXP_LETTERS = DOMAIN_LETTERS | frozenset("crt")


class SpfSyntaxError(ValueError):
    """The record (or a macro string) does not follow RFC 7208 section 12."""


class SpfCharsetError(SpfSyntaxError):
    """Non-ASCII or control characters (RFC 7208 section 3.1, 4.6.1)."""


@dataclass(frozen=True)
class MacroExpand:
    # As written: upper case asks for URL escaping (section 7.3); "%", "_" and "-" stand for the
    # escapes %%, %_ and %- (a percent sign, a space, a URL-encoded space).
    letter: str
    digits: int | None
    reverse: bool
    delimiters: str


MacroToken = str | MacroExpand


@dataclass(frozen=True)
class Mechanism:
    qualifier: str  # one of + - ~ ?
    kind: str  # all include a mx ptr ip4 ip6 exists
    domain: tuple[MacroToken, ...] | None = None  # domain-spec, None when omitted
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128
    text: str = ""

    @property
    def result(self) -> str:
        return QUALIFIERS[self.qualifier]


@dataclass(frozen=True)
class SpfRecord:
    text: str
    mechanisms: tuple[Mechanism, ...]
    redirect: tuple[MacroToken, ...] | None
    redirect_text: str | None
    exp: tuple[MacroToken, ...] | None
    unknown_modifiers: tuple[str, ...]


def is_spf(text: bytes | str) -> bool:
    """Section 4.5: the record starts with "v=spf1" (any case), then a space or the end."""
    raw = text.encode("latin-1", "replace") if isinstance(text, str) else text
    return raw[:6].lower() == b"v=spf1" and (len(raw) == 6 or raw[6:7] == b" ")


def parse_macro_string(
    text: str, *, letters: frozenset[str] = DOMAIN_LETTERS, spaces: bool = False
) -> tuple[MacroToken, ...]:
    """macro-string (section 7.1); ``spaces`` allows SP, as in explanation strings."""
    tokens: list[MacroToken] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "%":
            match = _MACRO.match(text, pos)
            if match is None:
                raise SpfSyntaxError(f"invalid macro at {text[pos : pos + 4]!r} in {text!r}")
            body = match.group(0)
            if body in ("%%", "%_", "%-"):
                tokens.append(MacroExpand(body[1], None, False, ""))
            else:
                letter = match.group("letter")
                if letter.lower() not in letters:
                    raise SpfSyntaxError(f"macro letter {letter!r} not allowed here ({body})")
                digits = match.group("digits")
                if digits and int(digits) == 0:
                    raise SpfSyntaxError(f"zero transformer in {body} (section 7.3)")
                tokens.append(
                    MacroExpand(
                        letter, int(digits) if digits else None, bool(match.group("rev")), match.group("delims")
                    )
                )
            pos = match.end()
            continue
        if not ("\x21" <= char <= "\x7e" or (spaces and char == " ")):
            raise SpfSyntaxError(f"character {char!r} not allowed in {text!r}")
        tokens.append(char)
        pos += 1
    return tuple(tokens)


def parse_domain_spec(text: str) -> tuple[MacroToken, ...]:
    """domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand."""
    if not text:
        raise SpfSyntaxError("empty domain-spec")
    tokens = parse_macro_string(text)
    if isinstance(tokens[-1], MacroExpand):
        return tokens
    tail: list[str] = []
    for token in reversed(tokens):
        if isinstance(token, MacroExpand):
            break
        tail.append(token)
    literal = "".join(reversed(tail))
    if literal.endswith("."):
        literal = literal[:-1]
    _, dot, top = literal.rpartition(".")
    if not dot or not _TOPLABEL.match(top):
        raise SpfSyntaxError(f"domain-spec {text!r} must end in a dot and a valid top label (section 7.1)")
    return tokens


def _cidr(value: str | None, maximum: int, default: int) -> int:
    if value is None:
        return default
    if not _CIDR.match(value) or int(value) > maximum:
        raise SpfSyntaxError(f"invalid prefix length /{value}")
    return int(value)


def _mechanism(term: str) -> Mechanism:
    qualifier = "+"
    body = term
    if body[:1] in QUALIFIERS:
        qualifier, body = body[0], body[1:]
    match = _MECHANISM.match(body)
    assert match is not None  # the pattern accepts any string
    name, rest = match.group("name").lower(), match.group("rest")
    if name == "all":
        if rest:
            raise SpfSyntaxError(f"'all' takes no argument: {term!r}")
        return Mechanism(qualifier, "all", text=term)
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"{name} needs ':domain': {term!r}")
        return Mechanism(qualifier, name, domain=parse_domain_spec(rest[1:]), text=term)
    if name == "ptr":
        if rest and not rest.startswith(":"):
            raise SpfSyntaxError(f"ptr takes no prefix length: {term!r}")
        domain = parse_domain_spec(rest[1:]) if rest else None
        return Mechanism(qualifier, "ptr", domain=domain, text=term)
    if name in ("a", "mx"):
        if rest and rest[0] not in ":/":
            raise SpfSyntaxError(f"unknown mechanism {term!r}")
        arg = rest[1:] if rest.startswith(":") else rest
        cidr = _DUAL_CIDR.match(arg)
        assert cidr is not None
        domain_text = cidr.group("domain")
        if rest.startswith("/") and domain_text:
            raise SpfSyntaxError(f"invalid prefix length in {term!r}")
        domain = parse_domain_spec(domain_text) if rest.startswith(":") else None
        return Mechanism(
            qualifier,
            name,
            domain=domain,
            cidr4=_cidr(cidr.group("v4"), 32, 32),
            cidr6=_cidr(cidr.group("v6"), 128, 128),
            text=term,
        )
    if name in ("ip4", "ip6"):
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"{name} needs ':network': {term!r}")
        addr, slash, length = rest[1:].partition("/") if name == "ip4" else rest[1:].rpartition("/")
        if name == "ip6" and not slash:
            addr, length = rest[1:], ""
        return _ip_mechanism(qualifier, name, addr, length if slash else None, term)
    raise SpfSyntaxError(f"unknown mechanism {term!r}")


def _ip_mechanism(qualifier: str, name: str, addr: str, length: str | None, term: str) -> Mechanism:
    if name == "ip4":
        if not _IP4.match(addr):
            raise SpfSyntaxError(f"invalid IPv4 address in {term!r}")
        prefix = _cidr(length, 32, 32)
        network: ipaddress.IPv4Network | ipaddress.IPv6Network = ipaddress.IPv4Network((addr, prefix), strict=False)
        return Mechanism(qualifier, name, network=network, cidr4=prefix, text=term)
    if "%" in addr or not re.match(r"^[0-9A-Fa-f:.]+$", addr):
        raise SpfSyntaxError(f"invalid IPv6 address in {term!r}")
    try:
        ipaddress.IPv6Address(addr)
    except ValueError as exc:
        raise SpfSyntaxError(f"invalid IPv6 address in {term!r}") from exc
    prefix = _cidr(length, 128, 128)
    return Mechanism(
        qualifier, name, network=ipaddress.IPv6Network((addr, prefix), strict=False), cidr6=prefix, text=term
    )


def parse(record: str | bytes) -> SpfRecord:
    """Parse a whole SPF record (the strings of one TXT record, already joined)."""
    if isinstance(record, bytes):
        if any(b < 0x20 or b > 0x7E for b in record):
            raise SpfCharsetError("record holds non-ASCII or control characters")
        text = record.decode("ascii")
    else:
        text = record
        if any(not " " <= ch <= "~" for ch in text):
            raise SpfCharsetError("record holds non-ASCII or control characters")
    if not is_spf(text):
        raise SpfSyntaxError("record does not start with 'v=spf1'")
    mechanisms: list[Mechanism] = []
    redirect: tuple[MacroToken, ...] | None = None
    redirect_text: str | None = None
    exp: tuple[MacroToken, ...] | None = None
    unknown: list[str] = []
    for term in text[6:].split(" "):
        if not term:
            continue  # 1*SP between terms, trailing SP allowed (section 12)
        modifier = _MODIFIER.match(term)
        if modifier is None:
            mechanisms.append(_mechanism(term))
            continue
        name, value = modifier.group("name").lower(), modifier.group("value")
        if name == "redirect":
            if redirect is not None:
                raise SpfSyntaxError("redirect= appears twice (section 6)")
            redirect, redirect_text = parse_domain_spec(value), value
        elif name == "exp":
            if exp is not None:
                raise SpfSyntaxError("exp= appears twice (section 6)")
            exp = parse_domain_spec(value)
        else:
            parse_macro_string(value)  # unknown modifiers are ignored, but must be well-formed
            unknown.append(term)
    return SpfRecord(text, tuple(mechanisms), redirect, redirect_text, exp, tuple(unknown))
