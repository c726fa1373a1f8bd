"""A real HTTP server for tests, serving feed bodies with ETag/Last-Modified, delays,
redirects, gzip and status codes, and recording the requests it got. It can misbehave on
request: drip a body a byte at a time, stream an endless one with or without Content-Length,
or send bytes already compressed under any Content-Encoding."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The server listens on loopback, which the collector refuses unless allowed: settings for
# tests that collect from it (make_settings keywords; the TOML line).
ALLOW_LOOPBACK: dict[str, Any] = {"collect_allow_hosts": ["127.0.0.1"]}
ALLOW_LOOPBACK_TOML = 'allow_hosts = ["127.0.0.1"]\n'


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    delay: float = 0.0
    location: str | None = None  # for redirects
    gzip: bool = False
    etag: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds between the bytes of the body (sent with its Content-Length), a slow drip.
    drip: float = 0.0
    # A body made while it is sent, chunked unless `length` is given as its Content-Length.
    stream: Callable[[], Iterable[bytes]] | None = None
    length: int | None = None
    # The body is sent as it is, labelled with this Content-Encoding (a prepared gzip bomb).
    encoded_as: str | None = None


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Collect opens a connection per source at once; the default backlog of 5 drops the rest
    # for a second, longer than the short timeouts that tests use.
    request_queue_size = 128


class FeedHttpServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append(Request(self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.drip or route.stream is not None:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._misbehave(route)
                    return
                tag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
                if route.etag and self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = gzip.compress(route.body) if route.gzip else route.body
                self.send_response(route.status)
                if route.location:
                    self.send_header("Location", route.location)
                self.send_header("Content-Type", route.content_type)
                if route.etag:
                    self.send_header("ETag", tag)
                if route.gzip:
                    self.send_header("Content-Encoding", "gzip")
                if route.encoded_as:
                    self.send_header("Content-Encoding", route.encoded_as)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def _misbehave(self, route: Route) -> None:
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                if route.drip:
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    for byte in route.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(route.drip)
                    return
                assert route.stream is not None
                if route.length is not None:
                    self.send_header("Content-Length", str(route.length))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in route.stream():
                    if route.length is not None:
                        self.wfile.write(chunk)
                    elif chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if route.length is None:
                    self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        # A short poll interval makes stop() return quickly at the end of every test.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def start(self) -> FeedHttpServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
