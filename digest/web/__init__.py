"""Web pages of digest (the editor's preview; the public pages later) and what they share:
loopback checks, a Host check against DNS rebinding, a listening socket, and uvicorn."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable

import uvicorn
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.net import is_loopback as is_loopback  # re-exported: callers know it here

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def host_of(header: str) -> str:
    """The host name of a Host header, without the port: `[::1]:8001` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.partition(":")[0]


class HostCheck:
    """Answers 400 to a request whose Host header names none of `allowed`: a web page that
    points its own domain at 127.0.0.1 (DNS rebinding) cannot read what we serve there."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = host_of(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                response = PlainTextResponse(f"unknown host {host!r}", status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on host:port (port 0: any free one); OSError when it cannot."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(app: ASGIApp, sock: socket.socket) -> None:
    """Serve `app` on `sock` until Ctrl-C or SIGTERM; returns when stopped."""
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    # uvicorn stops on the signal, then raises it again for the previous handler: the
    # KeyboardInterrupt that follows is the normal way out.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    sock.close()
