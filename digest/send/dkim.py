"""DKIM signing (RFC 6376) of each personalized message, with dkimpy.

The key is read, parsed and checked once, when the signer is built; per message only the
header block is parsed, the body is canonicalized in one pass over the bytes as they are,
and dkimpy's own signature header builder is given the parsed key. `dkim.sign()` would
instead parse the PEM file and split the whole 50 KB message into lines again for every
recipient (benchmarks/dkim_sign.py measures both).

dkimpy's RSA is pure Python (two 1024-bit modular exponentiations for a 2048-bit key, about
6 ms), so an RSA key is signed with `cryptography` (OpenSSL) instead, over the header hash
that dkimpy's own canonicalization and header selection make; dkimpy still parses the key,
builds and folds the header, and verifies the start-up probe. Ed25519 keys (with PyNaCl
installed) go through dkimpy entirely.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import (
    CanonicalizationPolicy,
    correct_empty_body,
    strip_trailing_lines,
)
from dkim.crypto import parse_pem_private_key

from digest.errors import ConfigError
from digest.settings import Settings

# Signed once each and once more (an absent instance), so that none of them can be added
# on the way without breaking the signature ("oversigning", RFC 6376 section 8.15).
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"feedback-id",
    b"mime-version",
    b"content-type",
)
INCLUDE = SIGNED_HEADERS + SIGNED_HEADERS
MAX_KEY_BYTES = 64 * 1024
MIN_RSA_BITS = 1024  # receivers ignore signatures made with shorter keys (RFC 8301)
RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
# PKCS#8 wrapping of an Ed25519 private key (RFC 8410): this prefix, then the 32-byte seed.
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
# AlgorithmIdentifier of rsaEncryption (1.2.840.113549.1.1.1), for the public key's DER.
RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")
_TRAILING_SPACE = re.compile(rb"[\t ]+\r\n")
_SPACES = re.compile(rb"  +")
_RUN = re.compile(rb"\t[\t ]*| [\t ]+")
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\n(.*?)\n-----END \1-----", re.DOTALL)


class DkimSigner:
    """Signs messages for one domain and selector with one key; build it once per run and
    share it between the sending threads (`sign` keeps no state between calls)."""

    def __init__(self, settings: Settings) -> None:
        path = settings.dkim_key_path
        if path is None:
            raise ConfigError("DKIM signing needs smtp.dkim_selector and smtp.dkim_key_file")
        selector = settings.smtp.dkim_selector.strip()
        domain = (
            settings.smtp.dkim_domain.strip() or settings.newsletter.from_address.rpartition("@")[2]
        ).lower()
        for setting, value in (("smtp.dkim_selector", selector), ("smtp.dkim_domain", domain)):
            if not _NAME.fullmatch(value) or len(value) > 253:
                raise ConfigError(f"{setting}: {value!r} is not a DNS name")
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")
        self.algorithm, self._key, self._record = _load_key(path)
        self._rsa = _openssl_key(self._key, path) if self.algorithm == b"rsa-sha256" else None
        self._check(path)

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front of it.

        `message` has CRLF line ends, as message.py writes it; ValueError when it has no
        empty line between header and body.
        """
        end = message.find(b"\r\n\r\n")
        if end < 0:
            raise ValueError("cannot DKIM-sign a message without an empty line after its header")
        body = message[end + 4 :]
        try:
            # Only the header block goes through dkimpy's parser, which splits it into lines.
            signer = dkim.DKIM(message[: end + 4], signature_algorithm=self.algorithm)
        except dkim.DKIMException as e:
            raise ValueError(f"message cannot be DKIM-signed: {e}") from e
        signer.hasher = hashlib.sha256
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", self.algorithm),
            (b"c", b"relaxed/relaxed"),
            (b"d", self.domain),
            (b"s", self.selector),
            (b"t", str(int(time.time())).encode("ascii")),
            (b"h", b" : ".join(INCLUDE)),
            (b"bh", body_hash),
            # Put b= on a line of its own before signing, as DKIM.sign() does, so that
            # folding the final value does not move the tags hashed before it.
            (b"b", b"0" * 60),
        ]
        try:
            if self._rsa is None:
                value = signer.gen_header(fields, INCLUDE, RELAXED, b"DKIM-Signature", self._key)
            else:
                value = _rsa_header(signer, fields, self._rsa)
        except dkim.DKIMException as e:
            raise ValueError(f"message cannot be DKIM-signed: {e}") from e
        return b"DKIM-Signature: " + bytes(value) + message

    @property
    def dns_record(self) -> str:
        """The TXT record to publish at `<selector>._domainkey.<domain>`."""
        return self._record

    def _check(self, path: Path) -> None:
        """Sign a small message and verify it against the key's public half: a key that
        parses but cannot sign (truncated, inconsistent) is a ConfigError now, not one
        failed recipient per message."""
        probe = b"From: probe@example.org\r\nSubject: probe\r\n\r\nprobe\r\n"
        record = self._record.encode("ascii")
        try:
            signed = self.sign(probe)
            valid = dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
        # The probe is our own well-formed message: whatever fails (dkimpy's arithmetic
        # asserts on some broken keys) is the key's fault.
        except Exception as e:
            raise ConfigError(f"smtp.dkim_key_file: {path}: the key cannot sign: {e}") from e
        if not valid:
            raise ConfigError(f"smtp.dkim_key_file: {path}: a test signature does not verify")


def relaxed_body(body: bytes) -> bytes:
    """The body in relaxed canonical form (RFC 6376 section 3.4.4), byte for byte what
    dkimpy's `Relaxed.canonicalize_body` makes, ten times faster on our bodies.

    dkimpy replaces every run of spaces and tabs with one space, single spaces included,
    which is a substitution per word of the body. Here only runs that change are matched:
    without a tab, two spaces or more (a literal prefix the regex engine searches for
    quickly); with one, the runs that start with a tab or with two characters.
    """
    if b" \r\n" in body or b"\t\r\n" in body:
        body = _TRAILING_SPACE.sub(b"\r\n", body)
    body = _RUN.sub(b" ", body) if b"\t" in body else _SPACES.sub(b" ", body)
    canonical: bytes = correct_empty_body(strip_trailing_lines(body))
    return canonical


def signer_from_settings(settings: Settings) -> DkimSigner | None:
    """The signer when DKIM is configured (smtp.dkim_selector and smtp.dkim_key_file), else
    None; ConfigError for a key that cannot be used."""
    if settings.dkim_key_path is None:
        return None
    return DkimSigner(settings)


def _load_key(path: Path) -> tuple[bytes, Any, str]:
    """(signature algorithm, parsed key, DNS record) from a PEM file: RSA (PKCS#1 or
    PKCS#8) or Ed25519 (PKCS#8, or the bare base64 seed that dkimpy's `dknewkey` writes)."""
    where = f"smtp.dkim_key_file: {path}"
    try:
        with path.open("rb") as file:
            # A key is a few kilobytes; this stops /dev/zero or a log file given by mistake.
            data = file.read(MAX_KEY_BYTES)
    except OSError as e:
        raise ConfigError(f"{where}: cannot be read: {e.strerror or e}") from e
    data = data.replace(b"\r\n", b"\n").strip()
    pem = _PEM.search(data)
    if pem is None:
        seed = _base64(data)
        if seed is None or len(seed) != 32:
            raise ConfigError(f"{where}: not a PEM private key (RSA or Ed25519)")
        return _ed25519(seed, where)
    label, inner = pem.group(1), pem.group(2)
    if b"ENCRYPTED" in label or b"ENCRYPTED" in inner:
        raise ConfigError(f"{where}: the key is encrypted; DKIM needs it without a passphrase")
    der = _base64(inner)
    if der is None:
        raise ConfigError(f"{where}: the PEM block is not valid base64")
    if der.startswith(ED25519_PKCS8_PREFIX) and len(der) == len(ED25519_PKCS8_PREFIX) + 32:
        return _ed25519(der[len(ED25519_PKCS8_PREFIX) :], where)
    try:
        key = parse_pem_private_key(pem.group(0))
    # dkimpy's ASN.1 reader fails on malformed input in several ways, not all its own.
    except Exception as e:
        raise ConfigError(f"{where}: not an RSA or Ed25519 private key") from e
    bits = int(key["modulus"]).bit_length()
    if bits < MIN_RSA_BITS:
        raise ConfigError(f"{where}: a {bits}-bit RSA key is too short (2048 bits is usual)")
    public = _der(
        0x30, _der(0x02, _uint(key["modulus"])) + _der(0x02, _uint(key["publicExponent"]))
    )
    spki = _der(0x30, RSA_ALGORITHM + _der(0x03, b"\x00" + public))
    return b"rsa-sha256", key, f"v=DKIM1; k=rsa; p={base64.b64encode(spki).decode()}"


def _rsa_header(signer: dkim.DKIM, fields: list[tuple[bytes, bytes]], key: Any) -> bytes:
    """The DKIM-Signature value for `fields`, as dkimpy's `DKIM.gen_header` makes it (the
    same folding, header selection and relaxed canonicalization), the hash signed by
    OpenSSL."""
    name = b"DKIM-Signature"
    value = dkim.RE_BTAG.sub(
        b"\\1", dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(name))
    )
    hasher = hashlib.sha256()
    dkim.hash_headers(
        hasher,
        RELAXED,
        RELAXED.canonicalize_headers(signer.headers),
        INCLUDE,
        (name, b" " + value),
        dict(fields),
    )
    signature = key.sign(hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    signed = [*fields[:-1], (b"b", base64.b64encode(signature))]
    folded: bytes = dkim.fold(b"; ".join(b"=".join(f) for f in signed) + b"\r\n", len(name))
    return folded


def _openssl_key(key: dict[str, int], path: Path) -> rsa.RSAPrivateKey:
    """dkimpy's parsed RSA key as an OpenSSL one, from the same numbers; ConfigError when
    OpenSSL finds them inconsistent."""
    public = rsa.RSAPublicNumbers(key["publicExponent"], key["modulus"])
    try:
        return rsa.RSAPrivateNumbers(
            p=key["prime1"],
            q=key["prime2"],
            d=key["privateExponent"],
            dmp1=key["exponent1"],
            dmq1=key["exponent2"],
            iqmp=key["coefficient"],
            public_numbers=public,
        ).private_key()
    except (ValueError, TypeError) as e:
        raise ConfigError(f"smtp.dkim_key_file: {path}: the key cannot sign: {e}") from e


def _ed25519(seed: bytes, where: str) -> tuple[bytes, Any, str]:
    try:
        import nacl.signing  # only installed with dkimpy[ed25519]
    except ImportError:
        raise ConfigError(
            f"{where}: Ed25519 keys need the PyNaCl package (pip install pynacl)"
        ) from None
    key = nacl.signing.SigningKey(seed)
    public = base64.b64encode(bytes(key.verify_key)).decode()
    return b"ed25519-sha256", key, f"v=DKIM1; k=ed25519; p={public}"


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _uint(number: int) -> bytes:
    """A DER INTEGER's content: big-endian, with a zero byte in front of a high bit."""
    return number.to_bytes(number.bit_length() // 8 + 1, "big")


def _base64(text: bytes) -> bytes | None:
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", text), validate=True)
    except (binascii.Error, ValueError):
        return None
