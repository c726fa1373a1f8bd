"""The relays' bounce webhooks on `digest serve`: POST /webhooks/bounces/{provider}/{secret}
for Amazon SES (through SNS), SendGrid, Mailgun and Postmark, read by
digest.bounces.providers and applied by digest.bounces.process, once per provider event id.

The secret path segment (bounces.webhook_secret) authenticates every request; a wrong one
gets the site's ordinary 404 page, the same as an unknown provider. The provider's own
signature is checked too where it can be offline (Mailgun, SendGrid: 403 when it does not
verify). A malformed body gets 400 and an oversized one 413, each one line of text, with
nothing changed; a database outage gets 503 so the relay tries again later (the event ids
make a retry harmless). Otherwise the answer is 200 with a small JSON summary.
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.bounces.process import Processed, process_event
from digest.bounces.providers import (
    PROVIDERS,
    SignatureError,
    WebhookError,
    parse_webhook,
    sns_notice,
    webhook_keys,
)
from digest.db.engine import Database
from digest.errors import StorageError
from digest.model import ProviderEvent
from digest.settings import Settings

LOG = logging.getLogger(__name__)
PREFIX = "/webhooks/bounces/"
# SendGrid posts batches of up to 768 KB; an SNS message is at most 256 KB.
MAX_BODY = 1024 * 1024
# Every method, so that a wrong secret is a 404 whatever the method, never a telling 405.
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

ErrorPage = Callable[..., Response]


def line(status: int, text: str) -> Response:
    """A one-line plain-text answer, for a relay's logs."""
    return PlainTextResponse(text + "\n", status_code=status)


def too_large() -> Response:
    return line(413, f"the body is larger than {MAX_BODY} bytes")


class BounceWebhooks:
    """The webhook endpoint; the keys are read once (a bad SendGrid key stops `serve`)."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.secret = settings.bounces.webhook_secret.encode()
        self.keys = webhook_keys(settings.bounces)

    async def receive(self, request: Request) -> Response:
        provider: str = request.path_params["provider"]
        secret: str = request.path_params["secret"]
        # Compared in constant time, and before anything else is looked at.
        if not hmac.compare_digest(secret.encode(), self.secret) or provider not in PROVIDERS:
            raise HTTPException(404)
        if request.method != "POST":
            raise HTTPException(405, headers={"Allow": "POST"})
        body = await request.body()
        if provider == "ses" and (notice := sns_notice(body)):
            LOG.warning("bounce webhook ses: %s", notice)
        try:
            events = parse_webhook(provider, body, request.headers, self.keys)
        except SignatureError as e:
            LOG.warning("bounce webhook %s: refused, %s (%d bytes)", provider, e, len(body))
            return line(403, str(e))
        except WebhookError as e:
            LOG.warning("bounce webhook %s: malformed, %s (%d bytes)", provider, e, len(body))
            return line(400, f"malformed {provider} webhook: {e}")
        try:
            done = await run_in_threadpool(self.process, provider, events)
        except StorageError as e:
            LOG.error("bounce webhook %s: %d events not stored: %s", provider, len(events), e)
            return line(503, "the database is unavailable; try again later")
        outcomes = Counter(p.outcome for p in done)
        return JSONResponse({"received": len(events), **dict(sorted(outcomes.items()))})

    def process(self, provider: str, events: list[ProviderEvent]) -> list[Processed]:
        """Each event in turn; a retry after a failure part-way redoes only what is missing."""
        done = []
        for event in events:
            processed = process_event(
                self.db, self.settings, event, channel=provider, now=self.clock()
            )
            LOG.info("bounce webhook %s: %s", provider, processed.line)
            done.append(processed)
        return done


def webhook_app(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    error_page: ErrorPage,
) -> ASGIApp:
    """The webhook routes as an app of their own (the caller puts its Guard around them);
    404 and 405 are the site's `error_page`, so a wrong secret looks like any unknown page."""
    hooks = BounceWebhooks(db, settings, clock)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            headers = {k: v for k, v in (exc.headers or {}).items() if k == "Allow"}
            return error_page(exc.status_code, headers=headers)
        if exc.status_code == 413:
            return too_large()
        return line(exc.status_code, "the request was refused")

    async def server_error(request: Request, exc: Exception) -> Response:
        # Never the path: it holds the secret.
        provider = request.path_params.get("provider", "?")
        LOG.error("bounce webhook %s failed", provider, exc_info=exc)
        return line(500, "the event could not be processed; nothing was changed")

    app = Starlette(
        routes=[Route(PREFIX + "{provider}/{secret}", hooks.receive, methods=METHODS)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.router.redirect_slashes = False
    return app


class ByPrefix:
    """Sends requests whose path starts with `prefix` to `inner`, the rest to `outer`: the
    webhooks get their own body cap without raising the pages' one."""

    def __init__(self, prefix: str, inner: ASGIApp, outer: ASGIApp) -> None:
        self.prefix, self.inner, self.outer = prefix, inner, outer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inside = scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefix)
        await (self.inner if inside else self.outer)(scope, receive, send)
