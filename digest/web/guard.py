"""What protects the public pages: security headers on every response, a cap on request
bodies, form parsing without surprises, a same-origin check and a signup rate limit."""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Our own pages: our stylesheet, images (the logo) from anywhere over https, forms only to us.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
FORM_FIELDS = 50
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

TooLargePage = Callable[[], Response]


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased; empty when it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


class Guard:
    """The outermost layer: adds the security headers to every response (error pages
    included) and answers 413 to a body that is, or grows, larger than `max_body`.

    A header a route set itself (the archive's own Content-Security-Policy, a form page's
    Referrer-Policy) is kept; the rest get the defaults.
    """

    def __init__(
        self, app: ASGIApp, *, max_body: int, https: bool, too_large: TooLargePage
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.too_large = too_large
        self.defaults = {
            "Content-Security-Policy": PAGE_CSP,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            # Token URLs must never reach another site through the Referer header.
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            # Pages behind tokens must not stay in shared caches; the archive says otherwise.
            "Cache-Control": "no-store",
        }
        if https:
            self.defaults["Strict-Transport-Security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.defaults.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared and (not declared.isdigit() or int(declared) > self.max_body):
            await self.too_large()(scope, receive, send_with_headers)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # Raised inside the endpoint that reads: it becomes the 413 page there.
                    raise HTTPException(413)
            return message

        await self.app(scope, counting_receive, send_with_headers)


async def read_form(request: Request) -> dict[str, list[str]]:
    """The fields of an application/x-www-form-urlencoded body (the only kind our forms
    send): 415 for another kind, 400 when it is not UTF-8 or not a form; the size cap is
    the Guard's. Values keep their order; a field sent twice has two values."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415)
    body = b"".join([chunk async for chunk in request.stream()])
    try:
        text = body.decode("utf-8", errors="strict")
        return parse_qs(text, keep_blank_values=True, max_num_fields=FORM_FIELDS, errors="strict")
    except ValueError:  # UnicodeDecodeError included
        raise HTTPException(400) from None


def first(form: dict[str, list[str]], name: str, limit: int = 1000) -> str:
    """The first value of a field, cut to `limit` characters; empty when absent."""
    return form.get(name, [""])[0][:limit]


def same_origin(request: Request, allowed: Iterable[str]) -> bool:
    """True unless the browser says the post came from elsewhere: the Origin header, else the
    Referer's origin, must be one of `allowed` (the site's own origin, from
    newsletter.base_url, never from the Host header, which the client chooses) or on a
    loopback host (a local run). Clients that send neither (mail providers, scripts) pass;
    the signed token in the URL is the real check."""
    origins = {o.lower() for o in allowed if o}
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True
        origin = origin_of(referer)
    origin = origin.strip().lower()
    return origin in origins or _loopback_origin(origin)


def _loopback_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS


def client_key(host: str) -> str:
    """What the signup limit counts a client by: its IPv4 address, or the /64 network of
    its IPv6 address, because one household or server holds a whole /64 and can take a new
    address in it for every request."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """At most `limit` events per `window` for each key (a client address): a sliding
    window kept in this process's memory. It forgets on restart and is not shared between
    processes, which is enough for one `digest serve` against a form-spamming script; at
    most `max_keys` addresses are remembered, the least recently seen dropped first."""

    def __init__(
        self,
        limit: int,
        window: timedelta,
        clock: Callable[[], datetime],
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> timedelta | None:
        """Count one event for `key`: None when allowed, else how long until it would be."""
        now = self.clock()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and now - events[0] >= self.window:
                events.popleft()
            self._events[key] = events
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            if len(events) >= self.limit:
                return self.window - (now - events[0])
            events.append(now)
            return None
