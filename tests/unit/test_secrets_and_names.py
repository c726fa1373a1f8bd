"""Secret settings are never echoed and keys must be long; names carry no invisible tricks
and can never become a header or a second address in To:."""

from __future__ import annotations

import email
import email.policy
import secrets
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.model import Recipient
from digest.send.message import Links, build_template
from digest.settings import documented_settings, load_settings, starter_file
from subscribers.addresses import clean_name
from tests.support.clock import NOW
from tests.support.keys import TEST_SECRET_KEY

SECRET = "12345678"
SECRETS = {
    "database.url",
    "smtp.password",
    "security.secret_key",
    "security.old_secret_keys",
    "bounces.imap_password",
    "bounces.webhook_secret",
    "bounces.mailgun_signing_key",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return path


# 12. Secret settings ----------------------------------------------------------------------


def test_the_secret_settings_are_marked_secret() -> None:
    marked = {f"{d.section}.{d.key}" for d in documented_settings() if d.secret}
    assert marked == SECRETS


@pytest.mark.parametrize("dotted", sorted(SECRETS))
@pytest.mark.parametrize("value", [SECRET, f"[{SECRET}]", f'["ok", {SECRET}]', "true"])
def test_a_wrong_secret_value_is_named_but_never_shown(
    tmp_path: Path, dotted: str, value: str
) -> None:
    section, key = dotted.split(".")
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"DIGEST_SECURITY_SECRET_KEY": TEST_SECRET_KEY})
    message = str(caught.value)
    assert message.startswith(f"{path}: {dotted}")
    assert SECRET not in message and "not shown" in message


@pytest.mark.parametrize("value", [SECRET, f"[{SECRET}]"])
def test_smtp_password_error_has_no_value(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"[smtp]\npassword = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "smtp.password" in str(caught.value) and SECRET not in str(caught.value)


def test_an_ordinary_setting_still_shows_the_wrong_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="12345678"):
        load_settings(write(tmp_path, f"[newsletter]\nname = {SECRET}\n"), env={})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DIGEST_SECURITY_SECRET_KEY": "x"}, "security.secret_key"),
        ({"DIGEST_SECURITY_SECRET_KEY": "short-key-0123456789"}, "security.secret_key"),
        ({"DIGEST_SECURITY_SECRET_KEY": "a" * 64}, "security.secret_key"),
        ({"DIGEST_SECURITY_SECRET_KEY": secrets.token_urlsafe(31)}, "security.secret_key"),
        (
            {
                "DIGEST_SECURITY_SECRET_KEY": TEST_SECRET_KEY,
                "DIGEST_SECURITY_OLD_SECRET_KEYS": "old-short-key-42",
            },
            "security.old_secret_keys[0]",
        ),
    ],
)
def test_a_short_or_repetitive_key_is_refused_in_one_line(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env=env)
    message = str(caught.value)
    assert named in message and "\n" not in message
    assert all(value not in message for value in env.values())


def test_keys_as_digest_init_makes_them_are_accepted(tmp_path: Path) -> None:
    for _ in range(20):
        assert len(secrets.token_urlsafe(32)) == 43
    settings = load_settings(write(tmp_path, starter_file()), env={})
    assert len(settings.signing_keys[-1]) >= 43
    hex_key = secrets.token_hex(32)
    assert load_settings(None, env={"DIGEST_SECURITY_SECRET_KEY": hex_key}).signing_keys


# 16. Names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Invoice \u202egpj.exe\u202c", "Invoice gpj.exe"),
        ("A\u200bd\u200ba", "Ada"),
        ("Ann \u2066Lee\u2069", "Ann Lee"),
        ("\ufeffBom", "Bom"),
        ("Zoë  Müller", "Zoë Müller"),
        ("Ada\r\nBcc: evil@example.com", "Ada Bcc: evil@example.com"),
        ("\U0001f469\u200d\U0001f4bb Dev", "\U0001f469\u200d\U0001f4bb Dev"),
    ],
)
def test_names_lose_bidi_overrides_and_zero_width_characters(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


HOSTILE_NAMES = [
    "=?utf-8?q?Bcc=3A_evil=40example.org?=",
    "=?utf-8?b?QmNjOiBldmlsQGV4YW1wbGUub3Jn?=",
    "Zoë =?utf-8?q?Bcc=3A_evil=40example.org?=",
    'Ann "The Boss", Smith',
    "Eve, evil@example.org",
    "Bob <bob@evil.example.org>",
    "back\\slash",
    "x" * 200,
    "日本語の名前" * 20,
    "Plain Name",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_in_to_is_one_display_name_of_one_address(name: str) -> None:
    from digest.settings import load_settings as load

    settings = load(None, env={"DIGEST_SECURITY_SECRET_KEY": TEST_SECRET_KEY})
    template = build_template(
        settings=settings, subject="S", html_body="<p>x</p>", text_body="x", number=1, date=NOW
    )
    recipient = Recipient(
        delivery_id=1, subscriber_id=1, email="reader@example.org", name=name, message_id="<m@x>"
    )
    raw = template.personalize(recipient, Links(unsubscribe="https://x/u", preferences="p"))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line[:1] not in b" \t"]
    assert names.count(b"To") == 1 and b"Bcc" not in names
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    (address,) = message["To"].addresses
    assert address.addr_spec == "reader@example.org"
    # What a client shows is the name as given, decoded once (Python's parser puts a space
    # where a long name was cut into several encoded words; RFC 2047 clients do not).
    shown = address.display_name
    assert shown == name or shown.replace(" ", "") == name.replace(" ", "")
    assert message["Bcc"] is None
