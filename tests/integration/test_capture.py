"""`digest capture`: the embedded SMTP server stores what it receives in a Maildir, with the
envelope on top as a delivering MTA writes it."""

from __future__ import annotations

import email
import email.policy
import smtplib
from pathlib import Path

from digest.send.capture import CaptureServer

MESSAGE = (
    b"Return-Path: <forged@evil.example>\r\n"
    b"From: Digest <news@example.org>\r\n"
    b"To: reader@example.com\r\n"
    b"Return-path:\r\n"
    b"  <folded@evil.example>\r\n"
    b"Subject: Hello\r\n"
    b"\r\n"
    b"Return-Path: in the body stays\r\n"
)


def stored(folder: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted((folder / "new").iterdir())]


def send(port: int, sender: str, recipients: list[str], message: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        refused = smtp.sendmail(sender, recipients, message)
    assert refused == {}


def test_the_envelope_sender_becomes_the_return_path_on_top(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    sender = "bounces+ya-abcdefghij@example.org"
    with CaptureServer(folder) as server:
        send(server.port, sender, ["reader@example.com"], MESSAGE)
        assert server.handler.received == 1
    (raw,) = stored(folder)
    lines = raw.splitlines()
    assert lines[0] == f"Return-Path: <{sender}>".encode()
    assert lines[1] == b"X-Envelope-To: reader@example.com"
    message = email.message_from_bytes(raw, policy=email.policy.default)
    # The message's own Return-Path fields, folded or not, are replaced, not kept.
    assert message.get_all("Return-Path") == [f"<{sender}>"]
    assert b"evil.example" not in raw
    assert message["Subject"] == "Hello"
    assert message["From"] == "Digest <news@example.org>"
    assert raw.endswith(b"\r\n\r\nReturn-Path: in the body stays\r\n")


def test_a_null_sender_is_an_empty_return_path(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    with CaptureServer(folder) as server:
        send(server.port, "", ["a@example.com", "b@example.com"], b"Subject: bounce\r\n\r\nx\r\n")
    (raw,) = stored(folder)
    assert raw.startswith(b"Return-Path: <>\r\nX-Envelope-To: a@example.com, b@example.com\r\n")
    assert raw.endswith(b"Subject: bounce\r\n\r\nx\r\n")
