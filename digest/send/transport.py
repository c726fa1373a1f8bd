"""SMTP transport: one connection that sends many messages, reconnecting when it must."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from typing import Protocol

from digest.errors import ConfigError
from digest.send.message import dot_stuffed
from digest.settings import SmtpSettings


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's last word on one message; code is None when the connection failed.
    `reached` is False when the relay could not be reached at all (refused, timeout, TLS or
    login failure): the message never left, so the recipient is not charged an attempt."""

    code: int | None
    text: str
    at_rcpt: bool = False
    reached: bool = True

    @property
    def line(self) -> str:
        return f"{self.code} {self.text}" if self.code is not None else self.text


def _reply(
    code: int | None, text: bytes | str, at_rcpt: bool = False, reached: bool = True
) -> Reply:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return Reply(code, " ".join(message.split())[:1000], at_rcpt, reached)


class Transport(Protocol):
    """What the send stage needs of a mail transport."""

    def send(
        self, envelope_from: str, recipient: str, message: bytes, *, stuffed: bool = False
    ) -> Reply:
        """Send one message; `stuffed`: the message is already dot-stuffed for DATA."""
        ...

    def close(self) -> None: ...


class SmtpTransport:
    """smtplib over one connection, used by one thread at a time."""

    def __init__(self, cfg: SmtpSettings) -> None:
        # Settings read from a file were checked already; settings made in code are not.
        if refusal := cfg.cleartext_login():
            raise ConfigError(refusal)
        self.cfg = cfg
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if cfg.security == "tls":
            smtp = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
        smtp.ehlo_or_helo_if_needed()
        if cfg.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.username:
            smtp.login(cfg.username, cfg.password)
        self._sent_on_connection = 0
        return smtp

    def send(
        self, envelope_from: str, recipient: str, message: bytes, *, stuffed: bool = False
    ) -> Reply:
        """Send one message; never raises for the server's answers or a lost connection."""
        payload = (message if stuffed else dot_stuffed(message)) + (
            b".\r\n" if message.endswith(b"\r\n") else b"\r\n.\r\n"
        )
        if self._smtp is None or self._sent_on_connection >= self.cfg.messages_per_connection:
            self.close()
            try:
                self._smtp = self._connect()
            except smtplib.SMTPAuthenticationError as e:
                self._drop()
                return _reply(
                    e.smtp_code, f"authentication failed: {e.smtp_error!r}", reached=False
                )
            except (smtplib.SMTPException, OSError) as e:
                self._drop()
                where = f"{self.cfg.host}:{self.cfg.port}"
                return _reply(None, f"cannot reach {where}: {_describe(e)}", reached=False)
        try:
            reply = self._transaction(self._smtp, envelope_from, recipient, payload)
        except smtplib.SMTPResponseException as e:
            self._drop()
            return _reply(e.smtp_code, e.smtp_error)
        except (smtplib.SMTPException, OSError) as e:
            # Dropped or timed out mid-message: nobody can say the message arrived unless
            # the server said 250, so it is retried.
            self._drop()
            return _reply(None, f"connection lost: {_describe(e)}")
        if reply.code == 421:
            # 421: the server is closing this session (RFC 5321 3.8); the next message
            # needs a new connection.
            self._drop()
        return reply

    def _transaction(self, smtp: smtplib.SMTP, sender: str, rcpt: str, payload: bytes) -> Reply:
        """One message; `payload` is the dot-stuffed DATA with its final dot line."""
        size = [f"SIZE={len(payload)}"] if smtp.has_extn("size") else []
        if smtp.has_extn("pipelining") and sender.isascii() and rcpt.isascii():
            # MAIL, RCPT and DATA in one write (RFC 2920): two round trips a message
            # instead of four.
            options = f" {size[0]}" if size else ""
            smtp.send(f"MAIL FROM:<{sender}>{options}\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
            mail, to, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
        else:
            mail = smtp.mail(sender, size)
            to = smtp.rcpt(rcpt) if mail[0] == 250 else (0, b"")
            data = smtp.docmd("DATA") if to[0] in (250, 251) else (0, b"")
        if data[0] != 354:
            # Refused before the message: reset the transaction for the next one (unless
            # the server is closing the connection).
            if 421 not in (mail[0], to[0], data[0]):
                smtp.rset()
            if mail[0] != 250:
                return _reply(mail[0], mail[1])
            if to[0] not in (250, 251):
                return _reply(to[0], to[1], at_rcpt=True)
            return _reply(data[0], data[1])
        smtp.send(payload)
        code, text = smtp.getreply()
        self._sent_on_connection += 1
        return _reply(code, text)

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._drop()


def _describe(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    return f"{error.__class__.__name__}: {text}" if text != error.__class__.__name__ else text
