"""A local HTTP server for the demo's sample feeds, with dates relative to today."""

from __future__ import annotations

import importlib.resources
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jinja2

FEEDS = ("news", "events", "calls")


def feed_environment(now: datetime) -> jinja2.Environment:
    """Templates of the sample feeds; `at(days, hours)` is relative to `now`.

    Past offsets count from the current hour; future ones from today's midnight UTC, so that
    `at(days=12, hours=9)` is nine in the morning twelve days from now.
    """
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    midnight = hour.replace(hour=0)

    def at(days: int = 0, hours: int = 0) -> datetime:
        base = midnight if days > 0 else hour
        return base + timedelta(days=days, hours=hours)

    folder = importlib.resources.files("digest.demo") / "feeds"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=False)  # noqa: S701 - XML feeds written by us
    env.globals["at"] = at
    env.filters.update(
        {
            "rfc822": format_datetime,
            "iso": lambda d: d.isoformat(),
            "human": lambda d: f"{d.day} {d:%B %Y}",
            "dmy": lambda d: f"{d:%d/%m/%Y}",
        }
    )
    return env


class FeedServer:
    """Serves /news.xml, /events.xml and /calls.xml on 127.0.0.1 in a thread."""

    def __init__(self, now: datetime) -> None:
        env = feed_environment(now)
        bodies = {
            f"/{name}.xml": env.get_template(f"{name}.xml.j2").render().encode() for name in FEEDS
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = bodies.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}.xml"

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
