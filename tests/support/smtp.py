"""A real SMTP server for tests (aiosmtpd, in-process) that records what it accepts and can
be told to fail: refuse a recipient with a code, defer it N times, or drop the connection."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Received:
    mail_from: str
    rcpt: str
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Faults:
    """What to do wrong. Keys are recipient addresses."""

    refuse: dict[str, str] = field(default_factory=dict)  # rcpt -> "550 5.1.1 ..." always
    defer: dict[str, int] = field(default_factory=dict)  # rcpt -> how many times to 451
    drop_after: int | None = None  # drop the connection after accepting this many in total
    drop_once: bool = True
    delay: float = 0.0  # seconds to wait before answering DATA
    close_after_data: set[str] = field(default_factory=set)  # rcpt: 421 and close, once


class RecordingHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.faults = Faults()
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.dropped = 0
        self.pipelining = True

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # Like most relays, offer PIPELINING (aiosmtpd reads pipelined commands in order).
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        with self.lock:
            self.attempts[address] = self.attempts.get(address, 0) + 1
            if address in self.faults.refuse:
                return self.faults.refuse[address]
            remaining = self.faults.defer.get(address, 0)
            if remaining > 0:
                self.faults.defer[address] = remaining - 1
                return "451 4.3.0 Temporary failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        with self.lock:
            limit = self.faults.drop_after
            if limit is not None and len(self.received) >= limit:
                if self.faults.drop_once:
                    self.faults.drop_after = None
                self.dropped += 1
                # Close without answering: the client cannot know whether we kept it.
                assert server.transport is not None
                server.transport.close()
                return "421 4.3.0 closing"
            closing = self.faults.close_after_data & set(envelope.rcpt_tos)
            if closing:
                # 421 after the message, as a server going down does (RFC 5321 3.8).
                self.faults.close_after_data -= closing
                assert isinstance(server.transport, asyncio.WriteTransport)
                server.transport.write(b"421 4.3.2 Service shutting down\r\n")
                server.transport.close()
                return "421 4.3.2 Service shutting down"
            for rcpt in envelope.rcpt_tos:
                self.received.append(
                    Received(str(envelope.mail_from), rcpt, envelope.original_content or b"")
                )
        return "250 2.0.0 OK queued"


class SmtpTestServer:
    def __init__(self, port: int | None = None) -> None:
        self.handler = RecordingHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port or free_port())

    def start(self) -> SmtpTestServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def faults(self) -> Faults:
        return self.handler.faults
