"""The public web app of `digest serve`: signup, confirm, unsubscribe and preferences
(digest.web.subscribe), the archive of sent issues and its Atom feed, branded error pages
that never show an exception, and the Guard around it all (security headers, body cap);
the relays' bounce webhooks (digest.web.webhooks) when bounces.webhook_secret is set."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from digest.db.engine import Database
from digest.send.wiring import Relay
from digest.settings import Settings
from digest.web.archive import ISSUE_CSP, atom_feed, sent_issues, web_version
from digest.web.guard import Guard
from digest.web.outbox_worker import OutboxWorker
from digest.web.pages import Pages
from digest.web.subscribe import SubscriptionPages
from digest.web.webhooks import MAX_BODY as WEBHOOK_MAX_BODY
from digest.web.webhooks import PREFIX as WEBHOOK_PREFIX
from digest.web.webhooks import ByPrefix, too_large, webhook_app

LOG = logging.getLogger(__name__)
ARCHIVE_CACHE = {"Cache-Control": "public, max-age=300"}
ROBOTS = "User-agent: *\nDisallow: /confirm/\nDisallow: /unsubscribe/\nDisallow: /preferences/\n"


BOTH = ["GET", "POST"]
Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(get: Endpoint, post: Endpoint) -> Endpoint:
    """One endpoint for a page and its form, so a 405 names both methods in Allow."""

    async def endpoint(request: Request) -> Response:
        return await (post if request.method == "POST" else get)(request)

    return endpoint


class Archive:
    """The archive pages; only sent issues, never a draft."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], datetime], pages: Pages
    ) -> None:
        self.db, self.settings, self.clock, self.pages = db, settings, clock, pages

    async def index(self, request: Request) -> Response:
        issues = await run_in_threadpool(sent_issues, self.db)
        return self.pages.render(
            "archive.html.j2",
            "Past issues",
            headers=ARCHIVE_CACHE,
            issues=issues,
            noindex=False,
        )

    async def issue(self, request: Request) -> Response:
        number: int = request.path_params["number"]
        html = await run_in_threadpool(web_version, self.db, number, self.settings)
        if html is None:
            raise HTTPException(404)
        return HTMLResponse(html, headers={**ARCHIVE_CACHE, "Content-Security-Policy": ISSUE_CSP})

    async def feed(self, request: Request) -> Response:
        issues = await run_in_threadpool(sent_issues, self.db)
        return Response(
            atom_feed(issues, self.settings, self.clock()),
            media_type="application/atom+xml; charset=utf-8",
            headers=ARCHIVE_CACHE,
        )


def public_app(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    relay: Relay,
) -> ASGIApp:
    """The whole public site as one ASGI app; settings are read once and the relay for the
    confirmation mail is made by the caller. Its lifespan runs the sender of the queued
    mails (digest.web.outbox_worker); without it (a test client outside `with`), the mails
    wait in the outbox for another sender."""
    pages = Pages(settings)
    sender = OutboxWorker(db, relay, clock, settings.web.outbox_poll_seconds)
    people = SubscriptionPages(db, settings, clock, pages, relay, sender.wake)
    archive = Archive(db, settings, clock, pages)

    async def stylesheet(request: Request) -> Response:
        return pages.stylesheet()

    async def robots(request: Request) -> Response:
        return PlainTextResponse(ROBOTS, headers={"Cache-Control": "public, max-age=3600"})

    async def token_help(request: Request) -> Response:
        return people.token_help(request)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # Only headers we chose travel on (Allow with 405, Retry-After with 429).
        headers = {k: v for k, v in (exc.headers or {}).items() if k in ("Allow", "Retry-After")}
        return pages.error(exc.status_code, headers=headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        # The traceback goes to the log; the page says nothing about it.
        LOG.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return pages.error(500)

    routes = [
        Route("/", people.signup_form, methods=["GET"]),
        Route("/subscribe", by_method(people.signup_form, people.signup), methods=BOTH),
        Route("/confirm/{token}", by_method(people.confirm_page, people.confirm), methods=BOTH),
        Route("/unsubscribe", token_help, methods=["GET"]),
        Route(
            "/unsubscribe/{token}",
            by_method(people.unsubscribe_page, people.unsubscribe),
            methods=BOTH,
        ),
        Route("/preferences", token_help, methods=["GET"]),
        Route(
            "/preferences/{token}",
            by_method(people.preferences_page, people.save_preferences),
            methods=BOTH,
        ),
        Route("/archive", archive.index, methods=["GET"]),
        Route("/archive/", archive.index, methods=["GET"]),
        Route("/archive/feed.atom", archive.feed, methods=["GET"]),
        Route("/archive/{number:int}", archive.issue, methods=["GET"]),
        Route("/site.css", stylesheet, methods=["GET"]),
        Route("/robots.txt", robots, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sender.start()
        try:
            yield
        finally:
            sender.stop()

    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    # No redirects at all: a trailing-slash redirect is built from the Host header.
    app.router.redirect_slashes = False
    https = settings.newsletter.base_url.startswith("https://")
    site = Guard(
        app,
        max_body=settings.web.max_form_bytes,
        https=https,
        too_large=lambda: pages.error(413),
    )
    if not settings.bounces.webhook_secret:
        return site
    # The relays post batches far larger than a form: the webhooks have their own cap.
    hooks = Guard(
        webhook_app(db, settings, clock, pages.error),
        max_body=WEBHOOK_MAX_BODY,
        https=https,
        too_large=too_large,
    )
    return ByPrefix(WEBHOOK_PREFIX, hooks, site)
