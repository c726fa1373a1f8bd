"""Connection limits of `digest serve` for running it without a proxy in front: uvicorn's
HTTP/1.1 protocol with a deadline for a request's headers and one for its body, a cap on
open connections that closes the longest idle one to make room, a keep-alive timeout and a
cap on the size of the request head. uvicorn itself times out only the pause between two
requests on one connection, so a client that connects and sends nothing, or sends its
headers a byte at a time, would otherwise hold its connection for ever."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from digest.settings import WebSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    header_seconds: float
    body_seconds: float
    keep_alive_seconds: int
    max_connections: int
    max_header_bytes: int

    @classmethod
    def of(cls, web: WebSettings) -> ConnectionLimits:
        return cls(
            header_seconds=web.header_timeout_seconds,
            body_seconds=web.body_timeout_seconds,
            keep_alive_seconds=web.keep_alive_seconds,
            max_connections=web.max_connections,
            max_header_bytes=web.max_header_bytes,
        )


def limited_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the deadlines and the connection cap of `limits`."""

    class LimitedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._body_phase = False
            self._idle_since = time.monotonic()
            self._refused = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if len(self.connections) >= limits.max_connections and not self._make_room():
                # Every connection is busy with a request: this one waits for none.
                self._refused = True
                transport.close()
                return
            assert isinstance(transport, asyncio.Transport)
            super().connection_made(transport)
            self._idle_since = time.monotonic()
            self._arm(limits.header_seconds, body=False)

        def _make_room(self) -> bool:
            """Close the connection that has been idle longest (between requests, or
            still sending its first one); False when every connection is busy."""
            idle = [
                c
                for c in self.connections
                if isinstance(c, LimitedH11Protocol) and not c._busy() and c is not self
            ]
            if not idle:
                return False
            oldest = min(idle, key=lambda c: c._idle_since)
            oldest._close()
            self.connections.discard(oldest)
            return True

        def _busy(self) -> bool:
            # A request is being answered: its headers and body are in.
            return self.cycle is not None and not self.cycle.response_complete

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                # The first byte of a new request on a kept-alive connection.
                self._arm(limits.header_seconds, body=False)
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.SEND_BODY and not self._body_phase:
                self._arm(limits.body_seconds, body=True)
            elif state is not h11.IDLE and state is not h11.SEND_BODY:
                self._disarm()  # the request is complete (or the connection is done)

        def on_response_complete(self) -> None:
            self._idle_since = time.monotonic()
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if not self._refused:
                super().connection_lost(exc)

        def _arm(self, seconds: float, *, body: bool) -> None:
            self._disarm()
            self._body_phase = body
            self._deadline = self.loop.call_later(seconds, self._close)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._body_phase = False

        def _close(self) -> None:
            self._deadline = None
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()

    return LimitedH11Protocol


def server(app: ASGIApp, limits: ConnectionLimits) -> uvicorn.Server:
    """The uvicorn server of `digest serve`, with the app's lifespan (the mail sender)."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        http=limited_protocol(limits),
        timeout_keep_alive=limits.keep_alive_seconds,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        backlog=limits.max_connections,
    )
    return uvicorn.Server(config)


def serve_limited(app: ASGIApp, sock: socket.socket, limits: ConnectionLimits) -> None:
    """Serve `app` on `sock` until Ctrl-C or SIGTERM; returns when stopped."""
    # uvicorn stops on the signal, then raises it again for the previous handler: the
    # KeyboardInterrupt that follows is the normal way out.
    with contextlib.suppress(KeyboardInterrupt):
        server(app, limits).run(sockets=[sock])
    sock.close()
