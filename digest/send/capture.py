"""An embedded SMTP server (aiosmtpd on 127.0.0.1) that keeps what it receives in a Maildir.

The demo sends to it; operators can point a test install at it instead of a real relay.
"""

from __future__ import annotations

import argparse
import contextlib
import mailbox
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from digest.files import PRIVATE_FILE, private_folder

# The empty line that ends the header, CRLF or LF (the body starts after it).
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class MaildirHandler:
    """Stores each message's bytes as received, with the envelope in two headers on top:
    `Return-Path` (the envelope sender, as a delivering MTA writes it, replacing any the
    message brought) and `X-Envelope-To`."""

    def __init__(self, folder: Path) -> None:
        private_folder(folder.parent)
        self.folder = folder
        self.maildir = mailbox.Maildir(folder, create=True)
        self.received = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # aiosmtpd gives the null sender of a bounce as "<>", any other without brackets.
        sender = _one_line(envelope.mail_from or "").removeprefix("<").removesuffix(">")
        rcpts = _one_line(", ".join(envelope.rcpt_tos))
        stamped = (
            f"Return-Path: <{sender}>\r\nX-Envelope-To: {rcpts}\r\n".encode()
            + _without_return_path(content)
        )
        with self._lock:
            key = self.maildir.add(stamped)
            # mailbox makes the folders owner-only but each message as the umask says; the
            # messages hold addresses and live unsubscribe links.
            (self.folder / "new" / key).chmod(PRIVATE_FILE)
            self.received += 1
        return "250 2.0.0 OK: stored"


class CaptureServer:
    """Start with `with CaptureServer(folder) as server:`; `server.port` is the bound port."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = folder
        self.handler = MaildirHandler(folder)
        self.controller = Controller(
            self.handler,
            hostname=host,
            port=port or _free_port(host),
            data_size_limit=50 * 1024 * 1024,
        )

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def __enter__(self) -> CaptureServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()


class CaptureProcess:
    """The same server in a child process, so that on a machine with two cores the sender
    and the capture do not share one interpreter lock (the demo sends 5000 messages)."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder, self.host = folder, host
        self.port = port or _free_port(host)
        self._child: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CaptureProcess:
        self._child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "digest.send.capture",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--maildir",
                str(self.folder),
            ]
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                raise OSError(f"the SMTP capture exited with status {self._child.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise OSError(f"the SMTP capture did not start on {self.host}:{self.port}")

    def __exit__(self, *exc: Any) -> None:
        if self._child is not None:
            self._child.terminate()
            self._child.wait(timeout=10)
            self._child = None


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")


def _without_return_path(message: bytes) -> bytes:
    """The message without the Return-Path fields of its header (and their continuation
    lines); the body is left as it is."""
    end = _HEADER_END.search(message)
    head, rest = (message[: end.end()], message[end.end() :]) if end else (message, b"")
    kept: list[bytes] = []
    dropping = False
    for line in head.splitlines(keepends=True):
        if line[:1] not in (b" ", b"\t"):  # not a continuation: a field of its own
            dropping = line[:12].lower() == b"return-path:"
        if not dropping:
            kept.append(line)
    return b"".join(kept) + rest


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description="SMTP capture into a Maildir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    with CaptureServer(args.maildir, args.host, args.port), contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


if __name__ == "__main__":
    main()
