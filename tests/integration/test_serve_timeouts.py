"""`digest serve`'s connection limits with real sockets against the served public app (the
same uvicorn server the command runs): an idle connection, slow headers and a slow body are
cut off, and many idle connections do not keep anyone else out."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digest.db.engine import Database
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from digest.web import listen
from digest.web.connections import ConnectionLimits, server
from digest.web.public import public_app
from tests.support.clock import fixed

HEADER_SECONDS = 0.5
BODY_SECONDS = 0.5


def serve(
    tmp_path: Path, make_settings: Callable[..., Settings], **web: object
) -> Iterator[tuple[str, int]]:
    limits: dict[str, object] = {
        "header_timeout_seconds": HEADER_SECONDS,
        "body_timeout_seconds": BODY_SECONDS,
        "keep_alive_seconds": 1,
        **web,
    }
    settings = make_settings(
        f"sqlite:///{tmp_path / 'serve.sqlite3'}", **{f"web_{k}": v for k, v in limits.items()}
    )
    db = Database(settings.database_url)
    sock = listen("127.0.0.1", 0)
    running = server(
        public_app(db, settings, fixed, smtp_relay(settings)), ConnectionLimits.of(settings.web)
    )
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield sock.getsockname()[:2]
    finally:
        running.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


@pytest.fixture
def address(tmp_path: Path, make_settings: Callable[..., Settings]) -> Iterator[tuple[str, int]]:
    yield from serve(tmp_path, make_settings)


def closed_within(conn: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `conn` (what it sent meanwhile is read and dropped);
    None when it was still open after `seconds`."""
    started = time.monotonic()
    conn.settimeout(seconds)
    try:
        while conn.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def get(address: tuple[str, int], path: str = "/archive") -> bytes:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply


def test_a_connection_that_sends_nothing_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as conn:
        took = closed_within(conn, 5)
    print(f"\nidle connection closed after {took} s (header timeout {HEADER_SECONDS} s)")
    assert took is not None and took < HEADER_SECONDS + 2


def test_headers_sent_a_byte_at_a_time_are_cut_off(address: tuple[str, int]) -> None:
    request = b"GET /archive HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    started = time.monotonic()
    with socket.create_connection(address) as conn:
        try:
            for byte in request:
                conn.sendall(bytes([byte]))
                time.sleep(0.05)
                assert time.monotonic() - started < 5, "still open after 5 s of slow headers"
        except (BrokenPipeError, ConnectionResetError):
            pass
        took = closed_within(conn, 5)
    total = time.monotonic() - started
    print(f"\nslow headers cut off after {total:.2f} s")
    assert took is not None and total < HEADER_SECONDS + 2


def test_a_body_that_never_comes_is_cut_off(address: tuple[str, int]) -> None:
    head = (
        b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail="
    )
    with socket.create_connection(address) as conn:
        conn.sendall(head)
        took = closed_within(conn, 5)
    print(f"\nslow body cut off after {took} s (body timeout {BODY_SECONDS} s)")
    assert took is not None and took < BODY_SECONDS + 2


def test_an_idle_keep_alive_connection_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as conn:
        conn.sendall(b"GET /robots.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        took = closed_within(conn, 5)
    assert took is not None and took < 1 + 2


def test_many_idle_connections_do_not_keep_others_out(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    # Header deadline far away: only the connection cap can close the idle ones.
    for address in serve(tmp_path, make_settings, max_connections=20, header_timeout_seconds=60):
        idle = [socket.create_connection(address) for _ in range(100)]
        try:
            started = time.monotonic()
            reply = get(address)
            took = time.monotonic() - started
            assert reply.startswith(b"HTTP/1.1 200"), reply[:100]
            closed = sum(1 for conn in idle if closed_within(conn, 0.2) is not None)
            print(
                f"\n100 idle connections, cap 20: GET /archive in {took * 1000:.1f} ms, "
                f"{closed} idle closed"
            )
            assert closed >= 80
        finally:
            for conn in idle:
                conn.close()
