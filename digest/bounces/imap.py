"""The IMAP folder bounces arrive in (stdlib imaplib): TLS, STARTTLS or none, messages read
by UID without marking them seen, and each processed one moved to the done folder (MOVE, else
COPY + \\Deleted + EXPUNGE) or deleted."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from digest.bounces.mailboxes import MailboxError, MailboxGone
from digest.settings import BounceSettings

SECURITY = ("tls", "starttls", "none")

# An imaplib call: its status word and its data.
Command = Callable[[], tuple[str, Any]]


class ImapError(MailboxError):
    """The IMAP server cannot be reached, refused the login, or refused a command."""


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3), the only form servers take
    for names beyond ASCII."""
    out: list[str] = []
    wide: list[str] = []

    def flush() -> None:
        if wide:
            encoded = base64.b64encode("".join(wide).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            wide.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            wide.append(char)
    flush()
    return "".join(out)


def quoted(name: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends arguments as they are)."""
    escaped = imap_utf7(name).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class ImapFolder:
    """One selected folder on a logged-in connection; `ref` is a message's UID, which, unlike
    a sequence number, does not shift when other messages are expunged."""

    channel = "imap"

    def __init__(self, conn: imaplib.IMAP4, cfg: BounceSettings) -> None:
        self._conn = conn
        self._cfg = cfg
        self.capabilities = self._capabilities()
        self.can_move = "MOVE" in self.capabilities
        self.has_uidplus = "UIDPLUS" in self.capabilities
        if cfg.imap_done_folder:
            self._ensure_folder(cfg.imap_done_folder)
        typ, data = self._call("SELECT", lambda: conn.select(quoted(cfg.imap_folder)))
        if typ != "OK":
            raise ImapError(f"cannot open the folder {cfg.imap_folder!r}: {_text(data)}")

    def refs(self) -> list[str]:
        # A message a previous run copied and flagged \Deleted, but did not expunge, is done.
        typ, data = self._call("UID SEARCH", lambda: self._conn.uid("SEARCH", "UNDELETED"))
        self._check(typ, data, "UID SEARCH")
        return [
            uid.decode("ascii") for item in data if isinstance(item, bytes) for uid in item.split()
        ]

    def where(self, ref: str) -> str:
        return f"imap {self._cfg.imap_folder} uid {ref}"

    def read(self, ref: str) -> bytes | None:
        # BODY.PEEK leaves the \Seen flag alone: a person reading the folder sees it unread.
        typ, data = self._call("UID FETCH", lambda: self._conn.uid("FETCH", ref, "(BODY.PEEK[])"))
        self._check(typ, data, "UID FETCH")
        for item in data:
            if isinstance(item, tuple) and b"BODY[]" in item[0]:
                return bytes(item[1])
        return None  # expunged by another client since the search

    def done(self, ref: str) -> None:
        conn, folder = self._conn, self._cfg.imap_done_folder
        if folder and self.can_move:
            typ, data = self._call("UID MOVE", lambda: conn.uid("MOVE", ref, quoted(folder)))
            self._check(typ, data, f"UID MOVE to {folder!r}")
            return
        if folder:
            typ, data = self._call("UID COPY", lambda: conn.uid("COPY", ref, quoted(folder)))
            self._check(typ, data, f"UID COPY to {folder!r}")
        typ, data = self._call(
            "UID STORE", lambda: conn.uid("STORE", ref, "+FLAGS.SILENT", "(\\Deleted)")
        )
        self._check(typ, data, "UID STORE \\Deleted")
        if self.has_uidplus:
            typ, data = self._call("UID EXPUNGE", lambda: conn.uid("EXPUNGE", ref))
        else:
            # Without UIDPLUS, EXPUNGE also removes any other message someone flagged
            # \Deleted in this folder, as their own client's expunge would.
            typ, data = self._call("EXPUNGE", conn.expunge)
        self._check(typ, data, "EXPUNGE")

    def _capabilities(self) -> set[str]:
        # Servers announce more after login (Dovecot's MOVE and UIDPLUS among them).
        typ, data = self._call("CAPABILITY", self._conn.capability)
        self._check(typ, data, "CAPABILITY")
        return {word.upper() for item in data if item for word in _text([item]).split()}

    def _ensure_folder(self, folder: str) -> None:
        typ, data = self._call("LIST", lambda: self._conn.list('""', quoted(folder)))
        self._check(typ, data, "LIST")
        if any(item is not None for item in data):
            return
        typ, data = self._call("CREATE", lambda: self._conn.create(quoted(folder)))
        # Another run may have created it meanwhile.
        if typ != "OK" and "ALREADYEXISTS" not in _text(data).upper():
            raise ImapError(f"cannot create the folder {folder!r}: {_text(data)}")

    def _call(self, what: str, command: Command) -> tuple[str, list[object]]:
        try:
            typ, data = command()
        except imaplib.IMAP4.abort as e:
            raise MailboxGone(f"the IMAP connection dropped during {what}: {e}") from e
        except OSError as e:
            raise MailboxGone(f"the IMAP connection failed during {what}: {_os_text(e)}") from e
        except imaplib.IMAP4.error as e:
            raise ImapError(f"the IMAP server refused {what}: {e}") from e
        return typ, list(data)

    @staticmethod
    def _check(typ: str, data: list[object], what: str) -> None:
        if typ != "OK":
            raise ImapError(f"the IMAP server refused {what}: {_text(data)}")


def _text(data: list[object]) -> str:
    parts = []
    for item in data:
        if isinstance(item, bytes):
            parts.append(item.decode("utf-8", "replace"))
        elif isinstance(item, tuple) and item and isinstance(item[0], bytes):
            parts.append(item[0].decode("utf-8", "replace"))
    # Dovecot appends its timings, "(0.001 + 0.000 secs)": noise in an operator's line.
    return re.sub(r"\s*\([\d.+ ]+secs?\)\.?$", "", " ".join(parts)).strip() or "no reason given"


def _os_text(e: OSError) -> str:
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {e.verify_message}"
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, socket.gaierror):
        return f"unknown host ({e.strerror})"
    return e.strerror or str(e) or e.__class__.__name__


def _connect(cfg: BounceSettings, context: ssl.SSLContext) -> imaplib.IMAP4:
    where = f"{cfg.imap_host}:{cfg.imap_port}"
    try:
        if cfg.imap_security == "tls":
            return imaplib.IMAP4_SSL(
                cfg.imap_host, cfg.imap_port, ssl_context=context, timeout=cfg.timeout_seconds
            )
        conn = imaplib.IMAP4(cfg.imap_host, cfg.imap_port, timeout=cfg.timeout_seconds)
    except OSError as e:
        raise ImapError(f"cannot reach the IMAP server {where}: {_os_text(e)}") from e
    except imaplib.IMAP4.error as e:
        raise ImapError(f"the IMAP server {where} did not greet properly: {e}") from e
    if cfg.imap_security == "starttls":
        try:
            conn.starttls(context)
        except (OSError, imaplib.IMAP4.error) as e:
            _close(conn)
            reason = _os_text(e) if isinstance(e, OSError) else str(e)
            raise ImapError(f"STARTTLS with the IMAP server {where} failed: {reason}") from e
    return conn


def _login(conn: imaplib.IMAP4, cfg: BounceSettings) -> None:
    try:
        conn.login(cfg.imap_user, cfg.imap_password)
    except (OSError, imaplib.IMAP4.error) as e:
        reason = _os_text(e) if isinstance(e, OSError) else _server_words(e)
        # The server's words only: the password is never in the line, even if echoed.
        if cfg.imap_password:
            reason = reason.replace(cfg.imap_password, "***")
        raise ImapError(
            f"IMAP login as {cfg.imap_user!r} at {cfg.imap_host}:{cfg.imap_port} failed: {reason}"
        ) from e


def _server_words(e: Exception) -> str:
    text = str(e)
    if text.startswith(("b'", 'b"')):  # imaplib hands on the server's reply as bytes' repr
        text = text[2:-1]
    return text


def _close(conn: imaplib.IMAP4) -> None:
    # Closing a broken connection: nothing is left to do when the goodbye fails too.
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        conn.logout()


@contextmanager
def open_imap(cfg: BounceSettings, context: ssl.SSLContext | None = None) -> Iterator[ImapFolder]:
    """The configured folder, logged in and selected; `context` trusts the server's certificate
    (default: the system's CAs, with host name checks)."""
    if cfg.imap_security not in SECURITY:
        raise ImapError(
            f"bounces.imap_security must be tls, starttls or none, not {cfg.imap_security!r}"
        )
    if not cfg.imap_user:
        raise ImapError("bounces.imap_user is empty: the IMAP mailbox needs a login")
    if cfg.imap_done_folder and cfg.imap_done_folder == cfg.imap_folder:
        raise ImapError("bounces.imap_done_folder must not be bounces.imap_folder")
    # Not imaplib's default context, which checks no certificate at all.
    conn = _connect(cfg, context or ssl.create_default_context())
    try:
        _login(conn, cfg)
        yield ImapFolder(conn, cfg)
    finally:
        _close(conn)
