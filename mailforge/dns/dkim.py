"""DKIM key records (RFC 6376 section 3.6.1; RFC 8301 key sizes; RFC 8463 ed25519)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from .tags import TagListError, parse_tag_list


class DkimError(ValueError):
    """The key record breaks RFC 6376 section 3.6.1."""


class DkimKeyError(DkimError):
    """p= holds base64 that is not a usable public key (maybe truncated)."""


@dataclass(frozen=True)
class DkimKey:
    tags: dict[str, str]
    key_type: str  # rsa or ed25519
    public_der: bytes  # the decoded p= value; empty when revoked
    bits: int  # RSA modulus size; 256 for ed25519; 0 when revoked

    @property
    def revoked(self) -> bool:
        return not self.public_der

    @property
    def testing(self) -> bool:
        return "y" in [f.strip() for f in self.tags.get("t", "").split(":")]

    @property
    def hashes(self) -> list[str]:
        return [h.strip().lower() for h in self.tags.get("h", "sha256:sha1").split(":")]

    @property
    def services(self) -> list[str]:
        return [s.strip().lower() for s in self.tags.get("s", "*").split(":")]


def parse(text: str) -> DkimKey:
    """Parse one key record; raises ``DkimError`` (or its ``DkimKeyError``) and nothing else."""
    try:
        pairs = parse_tag_list(text)
    except TagListError as exc:
        raise DkimError(str(exc)) from exc
    tags = {name.lower(): value for name, value in pairs}
    if "v" in tags and (pairs[0][0].lower() != "v" or tags["v"] != "DKIM1"):
        raise DkimError("v= must be first and equal DKIM1")
    if "p" not in tags:
        raise DkimError("the required p= tag is missing")
    key_type = tags.get("k", "rsa").lower()
    if key_type not in ("rsa", "ed25519"):
        raise DkimError(f"k={key_type!r}: expected rsa or ed25519")
    for tag in ("h", "s", "t"):
        if tag in tags and not re.fullmatch(r"[A-Za-z0-9*\-]+(\s*:\s*[A-Za-z0-9*\-]+)*", tags[tag]):
            raise DkimError(f"{tag}={tags[tag]!r}: expected values separated by ':'")
    b64 = re.sub(r"\s+", "", tags["p"])
    if not b64:
        return DkimKey(tags, key_type, b"", 0)
    if not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", b64):
        raise DkimKeyError("p= is not base64")
    try:
        der = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DkimKeyError(f"p= is not valid base64 ({exc})") from exc
    return DkimKey(tags, key_type, der, _key_bits(key_type, der))


def _key_bits(key_type: str, der: bytes) -> int:
    if key_type == "ed25519":
        if len(der) != 32:
            raise DkimKeyError(f"an ed25519 key is 32 bytes, p= holds {len(der)}")
        return 256
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise DkimKeyError("p= is not a DER SubjectPublicKeyInfo RSA key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimKeyError("k=rsa but p= holds another kind of key")
    return key.key_size


def public_der_from_private(pem: bytes) -> tuple[str, bytes]:
    """(key type, the p= bytes) for a PEM private key, as the key record must publish them."""
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519", raw
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return "rsa", der
    raise ValueError("DKIM keys are RSA or ed25519")
