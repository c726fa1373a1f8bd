"""DKIM signing of the personalized message: it verifies with dkimpy against the public key
from openssl, breaks when a signed header or the body changes, and a bad key is a
ConfigError found when the signer is built."""

from __future__ import annotations

import base64
import importlib.util
import random
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest
from dkim.canonicalization import Relaxed
from dkim.util import parse_tag_value

from digest.errors import ConfigError
from digest.model import IssuePlan, ItemKind, QueuedItem, Recipient
from digest.render import render_issue
from digest.send.dkim import DkimSigner, relaxed_body, signer_from_settings
from digest.send.message import Links, MessageTemplate, build_template
from digest.send.personalize import Personalizer
from digest.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
READER = Recipient(
    delivery_id=17,
    subscriber_id=101,
    email="reader@example.com",
    name="Zoë Reader",
    message_id="<issue9.101.aaaa@example.org>",
)
LINKS = Links(
    unsubscribe="https://news.example.org/unsubscribe/abc",
    unsubscribe_mailto="mailto:leave@example.org?subject=unsubscribe%20abc",
    preferences="https://news.example.org/preferences/def",
)
DNS_NAME = b"mail._domainkey.example.org."
HAS_NACL = importlib.util.find_spec("nacl") is not None


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True)
    return done.stdout


def pem(label: str, der: bytes) -> bytes:
    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]).encode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An RSA 2048 key in PKCS#8 (rsa.pem) and in PKCS#1 (rsa1.pem), its DNS record
    (rsa.txt), an Ed25519 key (ed25519.pem) and its record, made by openssl."""
    folder = tmp_path_factory.mktemp("dkim-keys")
    rsa = ("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    openssl(*rsa, "-out", str(folder / "rsa.pem"))
    openssl("rsa", "-in", str(folder / "rsa.pem"), "-traditional", "-out", str(folder / "rsa1.pem"))
    public = openssl("pkey", "-in", str(folder / "rsa.pem"), "-pubout", "-outform", "DER")
    (folder / "rsa.txt").write_text(f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}")
    openssl("genpkey", "-algorithm", "ed25519", "-out", str(folder / "ed25519.pem"))
    raw = openssl("pkey", "-in", str(folder / "ed25519.pem"), "-pubout", "-outform", "DER")[-32:]
    (folder / "ed25519.txt").write_text(f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}")
    return folder


def dns(record: str) -> Callable[..., bytes | None]:
    """A stand-in for the DNS lookup that dkimpy makes: the record at our selector only."""

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return record.encode() if name == DNS_NAME else None

    return lookup


def settings_with(
    make_settings: Callable[..., Settings], key_file: Path | str, **values: str
) -> Settings:
    defaults = {
        "newsletter_from_address": "news@example.org",
        "newsletter_reply_to": "editors@example.org",
        "newsletter_unsubscribe_mailto": "leave@example.org",
        "smtp_dkim_selector": "mail",
        "smtp_dkim_key_file": str(key_file),
    }
    return make_settings(**(defaults | values))


def issue_template(settings: Settings) -> MessageTemplate:
    plan = IssuePlan(
        number=9,
        date=NOW,
        news=tuple(
            QueuedItem(
                id=n,
                kind=ItemKind.NEWS,
                title=f"Story {n} – with “quotes”",
                link=f"https://example.org/news/{n}",
                summary="<p>" + "Words  with  double  spaces and\ttabs. " * 20 + "</p>",
                published_at=NOW - timedelta(hours=n),
            )
            for n in range(1, 6)
        ),
    )
    rendered = render_issue(plan, settings)
    return build_template(
        settings=settings,
        subject=rendered.subject,
        html_body=rendered.html,
        text_body=rendered.text,
        number=9,
        placeholders=rendered.placeholders,
        date=NOW,
    )


def signed_message(settings: Settings) -> bytes:
    signer = DkimSigner(settings)
    return signer.sign(issue_template(settings).personalize(READER, LINKS))


def signature_tags(message: bytes) -> dict[bytes, bytes]:
    head = message.split(b"\r\n\r\n", 1)[0]
    first, *rest = head.split(b"\r\n")
    value = [first.removeprefix(b"DKIM-Signature:")]
    for line in rest:
        if not line.startswith((b" ", b"\t")):
            break
        value.append(line)
    tags: dict[bytes, bytes] = parse_tag_value(b"".join(value))
    return tags


@pytest.mark.parametrize("key_name", ["rsa.pem", "rsa1.pem"])
def test_a_signed_issue_verifies(
    keys: Path, make_settings: Callable[..., Settings], key_name: str
) -> None:
    settings = settings_with(make_settings, keys / key_name)
    message = signed_message(settings)
    assert message.startswith(b"DKIM-Signature: ")
    assert dkim.verify(message, dnsfunc=dns((keys / "rsa.txt").read_text()))
    tags = signature_tags(message)
    assert tags[b"a"] == b"rsa-sha256"
    assert tags[b"c"] == b"relaxed/relaxed"
    assert tags[b"d"] == b"example.org"
    assert tags[b"s"] == b"mail"
    signed = {name.strip() for name in tags[b"h"].split(b":")}
    required = {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"list-id",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
    }
    assert required <= signed
    assert max(len(line) for line in message.split(b"\r\n")) <= 998


def test_the_signer_knows_the_record_to_publish(
    keys: Path, make_settings: Callable[..., Settings]
) -> None:
    signer = DkimSigner(settings_with(make_settings, keys / "rsa.pem"))
    assert signer.dns_record == (keys / "rsa.txt").read_text()


def test_the_signing_domain_can_differ_from_the_from_domain(
    keys: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = settings_with(make_settings, keys / "rsa.pem", smtp_dkim_domain="Mail.Example.NET")
    message = signed_message(settings)
    assert signature_tags(message)[b"d"] == b"mail.example.net"
    record = (keys / "rsa.txt").read_text().encode()

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == b"mail._domainkey.mail.example.net." else None

    assert dkim.verify(message, dnsfunc=lookup)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"\r\nSubject: ", b"\r\nSubject: RE: "),
        (b"\r\nTo: ", b"\r\nTo: other@example.net, "),
        (b"\r\nList-Unsubscribe: <", b"\r\nList-Unsubscribe: <https://evil.example/>, <"),
        (b"\r\nFeedback-ID: ", b"\r\nFeedback-ID: 1"),
    ],
    ids=["subject", "to", "list-unsubscribe", "feedback-id"],
)
def test_a_changed_header_breaks_the_signature(
    keys: Path, make_settings: Callable[..., Settings], before: bytes, after: bytes
) -> None:
    message = signed_message(settings_with(make_settings, keys / "rsa.pem"))
    record = dns((keys / "rsa.txt").read_text())
    assert dkim.verify(message, dnsfunc=record)
    assert before in message
    assert not dkim.verify(message.replace(before, after, 1), dnsfunc=record)


@pytest.mark.parametrize(
    "added",
    [b"From: Mallory <mallory@evil.example>\r\n", b"Subject: Urgent\r\n", b"Reply-To: x@e.org\r\n"],
    ids=["from", "subject", "reply-to"],
)
def test_an_added_header_breaks_the_signature(
    keys: Path, make_settings: Callable[..., Settings], added: bytes
) -> None:
    message = signed_message(settings_with(make_settings, keys / "rsa.pem"))
    head, body = message.split(b"\r\n\r\n", 1)
    tampered = head + b"\r\n" + added + b"\r\n" + body
    assert not dkim.verify(tampered, dnsfunc=dns((keys / "rsa.txt").read_text()))


def test_a_changed_body_breaks_the_signature(
    keys: Path, make_settings: Callable[..., Settings]
) -> None:
    message = signed_message(settings_with(make_settings, keys / "rsa.pem"))
    record = dns((keys / "rsa.txt").read_text())
    link = b"https://news.example.org/unsubscribe/abc"
    head, body = message.split(b"\r\n\r\n", 1)
    assert link in body
    assert not dkim.verify(
        head + b"\r\n\r\n" + body.replace(link, b"https://evil.example/x", 1), dnsfunc=record
    )
    assert not dkim.verify(message + b"P.S. one more line\r\n", dnsfunc=record)
    # Relaxed canonicalization: whitespace changes a relay may make do not matter.
    assert dkim.verify(message.replace(b"Subject: ", b"Subject:   ", 1), dnsfunc=record)


def test_the_personalizer_signs_each_message(
    keys: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = settings_with(make_settings, keys / "rsa.pem")
    personalizer = Personalizer(issue_template(settings), settings)
    record = dns((keys / "rsa.txt").read_text())
    first = personalizer.message(READER)
    second = personalizer.message(
        Recipient(
            delivery_id=18,
            subscriber_id=102,
            email="other@example.net",
            name="",
            message_id="<issue9.102.bbbb@example.org>",
        )
    )
    assert first.startswith(b"DKIM-Signature: ") and second.startswith(b"DKIM-Signature: ")
    assert dkim.verify(first, dnsfunc=record) and dkim.verify(second, dnsfunc=record)
    assert signature_tags(first)[b"bh"] != signature_tags(second)[b"bh"]


def test_without_dkim_settings_there_is_no_signer(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    assert signer_from_settings(settings) is None
    message = Personalizer(issue_template(settings), settings).message(READER)
    assert b"DKIM-Signature" not in message


def test_the_ed25519_key_signs_when_pynacl_is_installed(
    keys: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = settings_with(make_settings, keys / "ed25519.pem")
    if not HAS_NACL:
        with pytest.raises(ConfigError, match="PyNaCl"):
            DkimSigner(settings)
        return
    message = signed_message(settings)
    assert signature_tags(message)[b"a"] == b"ed25519-sha256"
    assert dkim.verify(message, dnsfunc=dns((keys / "ed25519.txt").read_text()))


def test_a_message_without_a_body_separator_is_a_value_error(
    keys: Path, make_settings: Callable[..., Settings]
) -> None:
    signer = DkimSigner(settings_with(make_settings, keys / "rsa.pem"))
    with pytest.raises(ValueError, match="empty line"):
        signer.sign(b"From: a@example.org\r\nSubject: no body")


def broken_keys(folder: Path, keys: Path) -> dict[str, Path]:
    """Key files that must each be refused with one readable line."""
    files: dict[str, bytes] = {
        "empty": b"",
        "garbage": b"this is not a key\n",
        "truncated": (keys / "rsa.pem").read_bytes()[:400],
        "public key": openssl("pkey", "-in", str(keys / "rsa.pem"), "-pubout"),
        "encrypted": openssl(
            "pkey", "-in", str(keys / "rsa.pem"), "-aes256", "-passout", "pass:secret"
        ),
        "short": openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512"),
        "ec": openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
    }
    # A key whose CRT coefficient (the last field) is wrong: it parses, but cannot sign.
    der = bytearray(openssl("rsa", "-in", str(keys / "rsa1.pem"), "-outform", "DER"))
    der[-1] ^= 0x01
    files["inconsistent"] = pem("RSA PRIVATE KEY", bytes(der))
    paths = {}
    for name, data in files.items():
        path = folder / f"{name.replace(' ', '-')}.pem"
        path.write_bytes(data)
        paths[name] = path
    paths["missing"] = folder / "no-such-key.pem"
    paths["a folder"] = folder
    return paths


EXPECTED = {
    "empty": "not a PEM private key",
    "garbage": "not a PEM private key",
    "truncated": "not a PEM private key",
    "public key": "not an RSA or Ed25519 private key",
    "encrypted": "encrypted",
    "short": "512-bit RSA key is too short",
    "ec": "not an RSA or Ed25519 private key",
    "inconsistent": "the key cannot sign: Invalid private key",  # OpenSSL checks the numbers
    "missing": "cannot be read",
    "a folder": "cannot be read",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_an_unusable_key_is_one_config_error_line(
    keys: Path, tmp_path: Path, make_settings: Callable[..., Settings], case: str
) -> None:
    path = broken_keys(tmp_path, keys)[case]
    settings = settings_with(make_settings, path)
    with pytest.raises(ConfigError, match=r"smtp\.dkim_key_file") as raised:
        signer_from_settings(settings)
    text = str(raised.value)
    assert EXPECTED[case] in text
    assert "\n" not in text
    assert str(path) in text


def test_a_key_with_crlf_line_ends_is_read(
    keys: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    path = tmp_path / "crlf.pem"
    path.write_bytes((keys / "rsa.pem").read_bytes().replace(b"\n", b"\r\n"))
    message = signed_message(settings_with(make_settings, path))
    assert dkim.verify(message, dnsfunc=dns((keys / "rsa.txt").read_text()))


def test_a_key_file_without_a_selector_is_a_config_error(
    keys: Path, make_settings: Callable[..., Settings]
) -> None:
    # Refused when the settings are read, so DKIM never silently stays off.
    with pytest.raises(ConfigError, match=r"smtp\.dkim_selector is empty"):
        make_settings(smtp_dkim_key_file=str(keys / "rsa.pem"))


@pytest.mark.parametrize(
    ("setting", "value"),
    [("smtp_dkim_selector", "mail;x=1"), ("smtp_dkim_domain", "example.org\r\nBcc: e@x.org")],
)
def test_a_selector_or_domain_that_is_not_a_dns_name_is_a_config_error(
    keys: Path, make_settings: Callable[..., Settings], setting: str, value: str
) -> None:
    settings = settings_with(make_settings, keys / "rsa.pem", **{setting: value})
    with pytest.raises(ConfigError, match="not a DNS name"):
        DkimSigner(settings)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b" ",
        b"\t",
        b" \r\n",
        b"a",
        b" a \r\n",
        b"a  b\t\tc \t d\t \r\n\r\n",
        b"line=\r\n  indented   text\t\r\n \r\n\t\r\n",
        b"no final line end  ",
        b"bare\nline\rends \n",
    ],
)
def test_the_relaxed_body_is_dkimpys(body: bytes) -> None:
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_the_relaxed_body_is_dkimpys_on_random_bodies() -> None:
    pieces = [b" ", b"  ", b"\t", b"\r\n", b"\r", b"\n", b"a", b"word", b"=\r\n", b"\xc3\xa9"]
    rng = random.Random(20270301)
    for _ in range(3000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        assert relaxed_body(body) == Relaxed.canonicalize_body(body), body
